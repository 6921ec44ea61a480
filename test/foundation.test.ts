import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError, failureMemoMs } from '../src/upstream/errors.js';
import { HttpError } from '../src/http/errors.js';
import { ACCOUNT, useFakeChannels, type FakeChannels } from './fakes/channels.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, type RunningApp } from './helpers/app.js';

const ch = useFakeChannels();
let app: RunningApp | undefined;
const hd = useFakeHdhive();
let fake: FakeChannels;
beforeEach(() => {
  fake = ch.fake;
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const FEED = `/feeds/channels/${encodeURIComponent(ACCOUNT)}`;
const upstreamCalls = () => [...fake.calls.values()].reduce((a, b) => a + b, 0);
const get = async (path: string, init?: RequestInit) => {
  const res = await fetch(app!.url + path, init);
  const text = await res.text();
  return { res, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
};
const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('source descriptors', () => {
  it('/api/sources lists every source with settings, routes, form and health, and never a secret', async () => {
    const marker = 'SECRET-MARKER-7f3a';
    app = await startApp({ ...hd.config({ HDHIVE_API_KEY: marker, HDHIVE_ACCESS_TOKEN: '' }), WXCD_API_URL: fake.wxcdUrl, ACCESS_TOKEN: `${marker}-token` });
    const auth = { headers: { authorization: `Bearer ${marker}-token` } };
    let r = await get('/api/sources', auth);
    expect(r.res.status).toBe(200);
    expect(r.text).not.toContain(marker);
    const byName = Object.fromEntries(r.body.sources.map((s: any) => [s.name, s]));
    expect(Object.keys(byName).sort()).toEqual(['channels', 'douyin', 'feedgate', 'hdhive', 'moments', 'mp']);
    expect(byName.hdhive).toMatchObject({ configured: true, missing: [] });
    expect(byName.hdhive.settings).toContainEqual(expect.objectContaining({ name: 'HDHIVE_ACCESS_TOKEN', set: false, required: false }));
    expect(byName.hdhive.routes).toContainEqual(expect.objectContaining({ kind: 'feed', path: '/feeds/hdhive/shares', needs: ['HDHIVE_ACCESS_TOKEN'] }));
    expect(byName.channels.routes.map((x: any) => x.kind).sort()).toEqual(['api', 'feed', 'feed', 'play']);
    expect(byName.channels.forms[0].fields[0]).toMatchObject({ name: 'username', helper: '/api/channels/search?keyword=' });
    expect(byName.channels.upstreams).toEqual([{ name: 'wxcd', state: 'unknown' }]);

    expect((await get(FEED, auth)).res.status).toBe(200);
    r = await get('/api/sources', auth);
    const ok = r.body.sources.find((s: any) => s.name === 'channels').upstreams[0];
    expect(ok.state).toBe('ok');
    expect(Date.parse(ok.lastSuccess)).toBeGreaterThan(Date.now() - 10_000);

    fake.mode = 'closed';
    expect((await get(`${FEED}?pages=2`, auth)).res.status).toBe(503);
    r = await get('/api/sources', auth);
    const failing = r.body.sources.find((s: any) => s.name === 'channels').upstreams[0];
    expect(failing.state).toBe('failing');
    expect(failing.lastError).toContain('Channels page is not open');
    // No upstream call was made to learn any of this.
    expect(fake.calls.get('wxcd /api/channels/contact/feed/list')).toBe(2);
  });

  it('a source with missing settings answers 503 SOURCE_NOT_CONFIGURED naming each, before any call', async () => {
    app = await startApp({ CHANNELS_PROVIDER: 'ecloud', ECLOUD_API_URL: fake.ecloudUrl, ECLOUD_AUTH: '', ECLOUD_WID: '' });
    for (const path of [FEED, '/api/channels/search?keyword=x', '/rss/channels?username=v2_a']) {
      const r = await get(path);
      expect(r.res.status, path).toBe(503);
      expect(r.body.error.code).toBe('SOURCE_NOT_CONFIGURED');
      expect(r.body.error.message).toContain('set ECLOUD_AUTH, ECLOUD_WID');
    }
    const sources = (await get('/api/sources')).body.sources;
    expect(sources.find((s: any) => s.name === 'channels')).toMatchObject({ configured: false, missing: ['ECLOUD_AUTH', 'ECLOUD_WID'] });
    expect(upstreamCalls()).toBe(0);
  });

  it('an unreachable downloader names WXCD_API_URL and what must run there', async () => {
    app = await startApp({ WXCD_API_URL: 'http://127.0.0.1:9' });
    const r = await get(FEED);
    expect(r.res.status).toBe(502);
    expect(r.body.error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(r.body.error.message).toContain('check WXCD_API_URL');
    expect(r.body.error.message).toContain('Channels page open in desktop WeChat');
  });

  it('feed path parameters are checked before any upstream call, on every route', async () => {
    app = await startApp({ ...hd.config(), WXCD_API_URL: fake.wxcdUrl });
    for (const path of ['/feeds/channels/foo', '/feeds/channels/foo.atom', '/rss/channels?username=foo', '/feeds/hdhive/movie/abc', '/feeds/hdhive/film/550', '/play/channels/1x/2']) {
      const r = await get(path);
      expect(r.res.status, path).toBe(400);
      expect(r.body.error.message.length).toBeGreaterThan(10);
    }
    expect(upstreamCalls()).toBe(0);
    expect(hd.fake.totalCalls()).toBe(0);
  });
});

describe('deadlines and failure memory', () => {
  it('a drip-feeding upstream is cut off at UPSTREAM_DEADLINE: 504 when there is no copy to serve', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, UPSTREAM_DEADLINE: '800ms', UPSTREAM_TIMEOUT: '10s' });
    fake.mode = 'drip';
    const t0 = Date.now();
    const r = await get(FEED);
    expect(r.res.status).toBe(504);
    expect(r.body.error.message).toContain('UPSTREAM_DEADLINE');
    expect(Date.now() - t0).toBeLessThan(3000);
    await until(() => fake.abandoned === 1);
  });

  it('with a last good copy, a slow refresh is answered stale at FEED_DEADLINE and still refreshes the cache', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, CACHE_TTL: '1s', FEED_DEADLINE: '200ms', UPSTREAM_DEADLINE: '5s' });
    expect((await get(FEED)).res.headers.get('x-cache')).toBe('MISS');
    await new Promise((r) => setTimeout(r, 1100));
    fake.delayMs = 700;
    const t0 = Date.now();
    const stale = await get(FEED);
    expect(Date.now() - t0).toBeLessThan(650);
    expect(stale.res.status).toBe(200);
    expect(stale.res.headers.get('x-feed-stale')).toBe('1');
    // The refresh finishes in the background; the next request is a fresh hit without another call.
    await new Promise((r) => setTimeout(r, 700));
    const calls = upstreamCalls();
    const fresh = await get(FEED);
    expect(fresh.res.headers.get('x-cache')).toBe('HIT');
    expect(fresh.res.headers.get('x-feed-stale')).toBeNull();
    expect(upstreamCalls()).toBe(calls);
  });

  it('when every client waiting for a refresh has gone, the upstream call is aborted', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, UPSTREAM_DEADLINE: '20s', UPSTREAM_TIMEOUT: '20s' });
    fake.mode = 'drip';
    const clients = [new AbortController(), new AbortController()];
    const pending = clients.map((c) => fetch(app!.url + FEED, { signal: c.signal }).catch(() => undefined));
    await until(() => (fake.calls.get('wxcd /api/channels/contact/feed/list') ?? 0) === 1);
    clients[0]!.abort();
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.abandoned).toBe(0);
    clients[1]!.abort();
    await until(() => fake.abandoned === 1, 2000);
    await Promise.all(pending);
  });

  it('shutdown aborts upstream calls in flight instead of waiting for them', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, UPSTREAM_DEADLINE: '20s', UPSTREAM_TIMEOUT: '20s' });
    fake.mode = 'drip';
    const pending = fetch(app.url + FEED).then((r) => r.status, () => 0);
    await until(() => (fake.calls.get('wxcd /api/channels/contact/feed/list') ?? 0) === 1);
    const t0 = Date.now();
    await app.app.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    await until(() => fake.abandoned === 1, 2000);
    expect([0, 502, 503]).toContain(await pending);
  });

  it('an empty answer from the downloader is a 502, and the last good copy is served', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, CACHE_TTL: '1s' });
    fake.mode = 'empty';
    let r = await get(FEED);
    expect(r.res.status).toBe(502);
    expect(r.body.error.code).toBe('UPSTREAM_BAD_RESPONSE');
    fake.mode = 'ok';
    await get(`${FEED}?pages=2`);
    await new Promise((res) => setTimeout(res, 1100));
    fake.mode = 'empty';
    r = await get(`${FEED}?pages=2`);
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get('x-feed-stale')).toBe('1');
    expect(r.text).toContain('<item>');
  });

  it("the downloader's 429 is passed on with its Retry-After and remembered only that long", async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, CACHE_TTL: '5m' });
    fake.mode = 'rate429';
    let r = await get(FEED);
    expect(r.res.status).toBe(429);
    expect(r.res.headers.get('retry-after')).toBe('1');
    r = await get(FEED);
    expect(r.res.status).toBe(429);
    expect(upstreamCalls()).toBe(1);
    await new Promise((res) => setTimeout(res, 1100));
    fake.mode = 'ok';
    expect((await get(FEED)).res.status).toBe(200);
    expect(upstreamCalls()).toBe(2);
  });

  it('failure memos follow what the upstream said, then the kind of error', () => {
    const max = 300_000;
    const err = (kind: ConstructorParameters<typeof UpstreamError>[1], headers: Record<string, string> = {}) => new UpstreamError('x', kind, 502, 'X', 'x', headers);
    expect(failureMemoMs(err('unavailable', { 'Retry-After': '30' }), max)).toBe(30_000);
    expect(failureMemoMs(err('rate_limited', { 'Retry-After': '3600' }), max)).toBe(3_600_000);
    expect(failureMemoMs(err('rate_limited'), max)).toBe(max);
    expect(failureMemoMs(err('auth'), max)).toBe(60_000);
    expect(failureMemoMs(err('timeout'), max)).toBe(30_000);
    expect(failureMemoMs(err('unreachable'), 10_000)).toBe(10_000);
    expect(failureMemoMs(err('aborted'), max)).toBe(0);
    expect(failureMemoMs(new HttpError(404, 'NOT_FOUND', 'x'), max)).toBe(max);
    expect(failureMemoMs(new HttpError(400, 'BAD_REQUEST', 'x'), max)).toBe(0);
  });

  it('the page-closed 503 is remembered for its Retry-After, not for CACHE_TTL', async () => {
    app = await startApp({ WXCD_API_URL: fake.wxcdUrl, CACHE_TTL: '5m' });
    fake.mode = 'closed';
    const r = await get(FEED);
    expect(r.res.status).toBe(503);
    expect(r.res.headers.get('retry-after')).toBe('30');
  });
});
