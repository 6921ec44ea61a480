import { createHmac } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alertTargets, type Alert } from '../src/alerts/targets.js';
import { ConfigError } from '../src/config.js';
import { healthOf } from '../src/feeds/health.js';
import { UpstreamError } from '../src/http/errors.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { startReceiver, type FakeReceiver } from './fakes/receiver.js';
import { useStartApp } from './helpers/app.js';

/** Source health and alerts (issue 24, its third part): states, changes told once, every alert format. */

const hd = useFakeHdhive();
const mpHolder = useFakeMp();
const startApp = useStartApp();
let rx: FakeReceiver;
beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
});
afterEach(() => {
  rx.received.length = 0;
  rx.answer = () => undefined;
});

const alert: Alert = { source: 'douyin', account: '', from: 'ok', to: 'credentials_expired', message: 'Douyin refused DOUYIN_COOKIE (HTTP 403)', setting: 'DOUYIN_COOKIE', at: Date.UTC(2026, 11, 4), reminder: false, title: 'feedgate：抖音：凭据已过期', text: '请检查 DOUYIN_COOKIE。' };
const endpoints = () => ({ telegram: rx.url, wecom: rx.url, dingtalk: rx.url, feishu: rx.url, ntfy: rx.url });
const json = (i: number) => JSON.parse(rx.received[i]!.body) as Record<string, any>;

describe('alert URLs, each against a fake receiver', () => {
  it('json:// posts the facts and the words; with ALERT_SECRET an HMAC of the exact body the receiver can check', async () => {
    const [t] = alertTargets(`json://user:pw@${rx.hostPort}/hooks/feedgate?x=1`, 's3cret');
    await t!.send(alert);
    const r = rx.received[0]!;
    expect(r.url).toBe('/hooks/feedgate?x=1');
    expect(r.headers.authorization).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
    expect(json(0)).toMatchObject({ source: 'douyin', from: 'ok', to: 'credentials_expired', setting: 'DOUYIN_COOKIE', at: '2026-12-04T00:00:00.000Z', reminder: false, title: alert.title });
    expect(r.headers['x-feedgate-signature']).toBe(`sha256=${createHmac('sha256', 's3cret').update(r.body).digest('hex')}`);
    const [plain] = alertTargets(`json://${rx.hostPort}/`, '');
    await plain!.send(alert);
    expect(rx.received[1]!.headers['x-feedgate-signature']).toBeUndefined();
  });

  it('ntfy:// publishes JSON (titles in any language) to ntfy.sh or a server of your own', async () => {
    const [own, hosted] = alertTargets(`ntfy://${rx.hostPort}/alerts ntfy://feedgate-topic`, '', endpoints());
    await own!.send(alert);
    await hosted!.send({ ...alert, to: 'ok' });
    expect(rx.received.map((r) => [r.method, r.url])).toEqual([
      ['POST', '/'],
      ['POST', '/'],
    ]);
    expect(json(0)).toMatchObject({ topic: 'alerts', title: alert.title, message: alert.text, tags: ['warning'] });
    expect(json(1)).toMatchObject({ topic: 'feedgate-topic', tags: ['white_check_mark'] });
  });

  it('tgram:// sends to each chat with the bot token (its colon kept); ok:false is a failure', async () => {
    const [t] = alertTargets('tgram://123456:ABC-def/-1001/42', '', endpoints());
    rx.answer = () => ({ status: 200, body: { ok: true } });
    await t!.send(alert);
    expect(rx.received.map((r) => r.url)).toEqual(['/bot123456:ABC-def/sendMessage', '/bot123456:ABC-def/sendMessage']);
    expect([json(0).chat_id, json(1).chat_id]).toEqual(['-1001', '42']);
    expect(json(0).text).toBe(`${alert.title}\n${alert.text}`);
    rx.answer = () => ({ status: 200, body: { ok: false, description: 'chat not found' } });
    await expect(t!.send(alert)).rejects.toThrow(/chat not found/);
  });

  it('wecombot:// posts a text message to the group bot; errcode ≠ 0 is a failure', async () => {
    const [t] = alertTargets('wecombot://abcd-key', '', endpoints());
    rx.answer = () => ({ status: 200, body: { errcode: 0, errmsg: 'ok' } });
    await t!.send(alert);
    expect(rx.received[0]!.url).toBe('/cgi-bin/webhook/send?key=abcd-key');
    expect(json(0)).toEqual({ msgtype: 'text', text: { content: `${alert.title}\n${alert.text}` } });
    rx.answer = () => ({ status: 200, body: { errcode: 93000, errmsg: 'invalid webhook url' } });
    await expect(t!.send(alert)).rejects.toThrow(/invalid webhook url/);
  });

  it('dingtalk:// with a secret signs as DingTalk checks it (timestamp, HMAC of "timestamp\\nsecret")', async () => {
    const [t] = alertTargets('dingtalk://SECxyz@tok123', '', endpoints());
    rx.answer = () => ({ status: 200, body: { errcode: 0, errmsg: 'ok' } });
    await t!.send(alert);
    const u = new URL(rx.received[0]!.url, 'http://x');
    expect(u.pathname).toBe('/robot/send');
    expect(u.searchParams.get('access_token')).toBe('tok123');
    const ts = u.searchParams.get('timestamp')!;
    expect(Math.abs(Number(ts) - Date.now())).toBeLessThan(10_000);
    expect(u.searchParams.get('sign')).toBe(createHmac('sha256', 'SECxyz').update(`${ts}\nSECxyz`).digest('base64'));
    expect(json(0)).toEqual({ msgtype: 'text', text: { content: `${alert.title}\n${alert.text}` } });
  });

  it('feishu:// with a secret signs as Feishu checks it (HMAC keyed by "timestamp\\nsecret" over nothing)', async () => {
    const [t] = alertTargets('feishu://sekret@hook-uuid', '', endpoints());
    rx.answer = () => ({ status: 200, body: { code: 0, msg: 'success' } });
    await t!.send(alert);
    expect(rx.received[0]!.url).toBe('/open-apis/bot/v2/hook/hook-uuid');
    const b = json(0);
    expect(b).toMatchObject({ msg_type: 'text', content: { text: `${alert.title}\n${alert.text}` } });
    expect(b.sign).toBe(createHmac('sha256', `${b.timestamp}\nsekret`).update('').digest('base64'));
    rx.answer = () => ({ status: 200, body: { code: 19021, msg: 'sign match fail' } });
    await expect(t!.send(alert)).rejects.toThrow(/sign match fail/);
  });

  it('a URL it cannot use stops the start with ALERT_URLS named', () => {
    expect(() => alertTargets('mailto://me@example.org', '')).toThrow(ConfigError);
    expect(() => alertTargets('mailto://me@example.org', '')).toThrow(/ALERT_URLS: mailto:\/\/ is not a kind of alert URL/);
    expect(() => alertTargets('tgram://123456:ABC', '')).toThrow(/ALERT_URLS: tgram:\/\/ needs/);
    expect(alertTargets('', '')).toEqual([]);
  });
});

describe('health states from upstream errors', () => {
  const names = new Set(['DOUYIN_COOKIE', 'HDHIVE_API_KEY']);
  it('names the state and the setting the error names; says nothing of aborts, the database or our faults', () => {
    expect(healthOf(new UpstreamError('douyin', 'auth', 502, 'DOUYIN_FORBIDDEN', 'Douyin refused the request (HTTP 403); paste a fresh DOUYIN_COOKIE'), names)).toEqual({ state: 'credentials_expired', message: expect.any(String), setting: 'DOUYIN_COOKIE' });
    expect(healthOf(new UpstreamError('mp', 'bad_response', 502, 'MP_BLOCKED', 'a captcha page'), names)?.state).toBe('blocked');
    expect(healthOf(new UpstreamError('hdhive', 'rate_limited', 429, 'UPSTREAM_RATE_LIMITED', 'slow down'), names)?.state).toBe('rate_limited');
    expect(healthOf(new UpstreamError('hdhive', 'bad_response', 502, 'UPSTREAM_EMPTY', 'no items'), names)?.state).toBe('changed_shape');
    expect(healthOf(new UpstreamError('hdhive', 'timeout', 504, 'UPSTREAM_TIMEOUT', 'slow'), names)?.state).toBe('unreachable');
    expect(healthOf(new UpstreamError('database', 'unavailable', 503, 'DATABASE_UNAVAILABLE', 'PostgreSQL (DATABASE_URL) away'), names)).toBeUndefined();
    expect(healthOf(new UpstreamError('hdhive', 'aborted', 499, 'CLIENT_GONE', 'gone'), names)).toBeUndefined();
    expect(healthOf(new Error('a bug'), names)).toBeUndefined();
  });
});

describe('a source breaking and recovering, end to end', () => {
  it('one alert when HDHive starts refusing the key (signed JSON), one when it works again, a reminder while it lasts; the health feed and /api/sources say so', async () => {
    const app = await startApp(hd.config({ CACHE_TTL: '1s', STALE_TTL: '1s', ALERT_URLS: `json://${rx.hostPort}/hook`, ALERT_SECRET: 'k', ALERT_REPEAT: '2s' }));
    expect((await fetch(`${app.url}/feeds/hdhive/tv/101172.json`)).status).toBe(200);
    await app.app.health.settled();
    expect(rx.received).toHaveLength(0); // a first "ok" is no news
    hd.fake.scripted = { status: 401, body: JSON.stringify({ success: false, code: 'INVALID_API_KEY', message: 'API Key 无效' }) };
    await new Promise((r) => setTimeout(r, 2100));
    const failing = await fetch(`${app.url}/feeds/hdhive/tv/101172.json`);
    expect(failing.status).toBeGreaterThanOrEqual(400);
    await app.app.health.settled();
    await rx.until(1);
    const first = JSON.parse(rx.received[0]!.body);
    expect(first).toMatchObject({ source: 'hdhive', from: 'ok', to: 'credentials_expired', setting: 'HDHIVE_API_KEY', reminder: false });
    expect(rx.received[0]!.headers['x-feedgate-signature']).toBe(`sha256=${createHmac('sha256', 'k').update(rx.received[0]!.body).digest('hex')}`);
    // Failing again is no news; two ALERT_REPEAT ticks later, one reminder.
    await fetch(`${app.url}/feeds/hdhive/movie/550.json`);
    await rx.until(2, 8000);
    expect(JSON.parse(rx.received[1]!.body)).toMatchObject({ to: 'credentials_expired', reminder: true });
    const api = (await (await fetch(`${app.url}/api/sources`)).json()) as { sources: Array<{ name: string; health: Array<{ state: string; setting: string }> }> };
    expect(api.sources.find((s) => s.name === 'hdhive')!.health).toEqual([expect.objectContaining({ state: 'credentials_expired', setting: 'HDHIVE_API_KEY' })]);
    const page = await (await fetch(`${app.url}/?lang=zh-CN`)).text();
    expect(page).toMatch(/<p class="warn health">凭据已过期或被拒绝: [^<]*请检查 HDHIVE_API_KEY。<\/p>/);
    // Fixed: one "working again".
    hd.fake.scripted = undefined;
    const before = rx.received.length;
    await new Promise((r) => setTimeout(r, 1100));
    expect((await fetch(`${app.url}/feeds/hdhive/tv/101172.json`)).status).toBe(200);
    await app.app.health.settled();
    await rx.until(before + 1);
    expect(JSON.parse(rx.received[before]!.body)).toMatchObject({ from: 'credentials_expired', to: 'ok', reminder: false });
    // The reader's view: /feeds/feedgate/health lists both changes, newest first, in every format.
    const feed = (await (await fetch(`${app.url}/feeds/feedgate/health.json`)).json()) as { title: string; items: Array<{ title: string; content_html: string }> };
    expect(feed.title).toBe('feedgate: source health');
    expect(feed.items.map((i) => i.title)).toEqual(['feedgate: HDHive: working again', 'feedgate: HDHive: credentials expired or refused']);
    expect(feed.items[1]!.content_html).toContain('Check HDHIVE_API_KEY.');
    for (const f of ['rss', 'atom']) expect((await fetch(`${app.url}/feeds/feedgate/health.${f}`)).status).toBe(200);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^feedgate_alerts_total\{kind="change",outcome="sent"\} 2$/m);
    expect(metrics).toMatch(/^feedgate_alerts_total\{kind="reminder",outcome="sent"\} [1-9]$/m);
  }, 30_000);

  it('MP credentials alert before they expire (MP_EXPIRY_WARNING), then when they have, per account', async () => {
    const app = await startApp({ MP_BASE_URL: mpHolder.mp.url, PROXY_ALLOW_HOSTS: mpHolder.mp.host, MP_CREDENTIAL_TTL: '3s', MP_EXPIRY_WARNING: '2s', ALERT_URLS: `json://${rx.hostPort}/hook`, ALERT_REPEAT: '2s' });
    await pushCredentials(app.url, mpHolder.mp);
    await rx.until(1, 6000);
    expect(JSON.parse(rx.received[0]!.body)).toMatchObject({ source: 'mp', account: BIZ, to: 'credentials_expiring' });
    await rx.until(2, 6000);
    expect(JSON.parse(rx.received[1]!.body)).toMatchObject({ source: 'mp', account: BIZ, from: 'credentials_expiring', to: 'credentials_expired' });
  }, 20_000);
});
