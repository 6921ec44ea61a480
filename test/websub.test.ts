import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleTv101172, useFakeHdhive } from './fakes/hdhive.js';
import { startReceiver, type FakeReceiver } from './fakes/receiver.js';
import { useStartApp, type RunningApp } from './helpers/app.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

/**
 * feedgate as a WebSub hub (issue 24, its second part), the websub.rocks hub checklist ported: discovery,
 * subscription with a good and a wrong challenge, unsubscription, lease renewal, distribution with and
 * without a secret (the subscriber checks the signature), denial, and the SSRF and token cases.
 */

const hd = useFakeHdhive();
const startApp = useStartApp();

/** A subscriber written for the tests: answers challenges (or not), and keeps what it is sent. */
interface Subscriber {
  url: string;
  hostPort: string;
  /** What it answers to a verification: the challenge (true), something else (false). */
  echo: boolean;
  /** Status for deliveries. */
  status: number;
  verifications: Array<Record<string, string>>;
  deliveries: Array<{ headers: IncomingHttpHeaders; body: string; at: number }>;
  until(what: () => boolean, ms?: number): Promise<void>;
}
let sub: Subscriber;
let server: Server;
beforeAll(async () => {
  sub = {
    url: '',
    hostPort: '',
    echo: true,
    status: 204,
    verifications: [],
    deliveries: [],
    async until(what, ms = 8000) {
      const end = Date.now() + ms;
      while (!what()) {
        if (Date.now() > end) throw new Error('the subscriber did not see it in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'GET') {
      const q = Object.fromEntries(u.searchParams);
      sub.verifications.push(q);
      res.writeHead(200, { 'content-type': 'text/plain' });
      return res.end(q['hub.mode'] === 'denied' ? '' : sub.echo ? q['hub.challenge'] : 'not-the-challenge');
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      sub.deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(sub.status);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  sub.hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  sub.url = `http://${sub.hostPort}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  sub.echo = true;
  sub.status = 204;
  sub.verifications.length = 0;
  sub.deliveries.length = 0;
});

const hub = (app: RunningApp, form: Record<string, string>) =>
  fetch(`${app.url}/websub`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
const start = (extra: Record<string, unknown> = {}) => startApp(hd.config({ CACHE_TTL: '1s', WEBSUB_CALLBACK_ALLOW: sub.hostPort, ...extra }));
const waitFor = async (cond: () => boolean, ms = 4000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
};
/** A change at HDHive, and a poll once the cache has expired: the load that distributes. */
async function change(app: RunningApp, path: string, title: string) {
  hd.fake.resources.set('tv/101172', sampleTv101172().map((r, i) => (i === 0 ? { ...r, title } : r)));
  await new Promise((r) => setTimeout(r, 1100));
  expect((await fetch(`${app.url}${path}`)).status).toBe(200);
  await app.app.websub.settled();
}

describe('discovery', () => {
  it('every feed names the hub and itself: HTTP Link header, atom:link in RSS, link in Atom, hubs in JSON Feed', async () => {
    const app = await start();
    for (const f of ['rss', 'atom', 'json']) {
      const res = await fetch(`${app.url}/feeds/hdhive/tv/101172.${f}`);
      expect(res.headers.get('link')).toBe(`<${app.url}/websub>; rel="hub", <${app.url}/feeds/hdhive/tv/101172.${f}>; rel="self"`);
      const text = await res.text();
      if (f === 'json') expect(JSON.parse(text).hubs).toEqual([{ type: 'WebSub', url: `${app.url}/websub` }]);
      else {
        const doc = parseXml(text);
        const top = f === 'rss' ? child(doc, 'channel')! : doc;
        const links = childrenNamed(top, f === 'rss' ? 'atom:link' : 'link').map((l) => [l.attrs.rel, l.attrs.href]);
        expect(links).toContainEqual(['hub', `${app.url}/websub`]);
        expect(links).toContainEqual(['self', `${app.url}/feeds/hdhive/tv/101172.${f}`]);
      }
    }
  });
});

describe('subscriptions', () => {
  it('subscribe: 202, the intent verified with a challenge (lease bounded), then each change is delivered once, signed with hub.secret', async () => {
    const app = await start();
    const topic = `${app.url}/feeds/hdhive/tv/101172.json`;
    const res = await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/cb?u=1`, 'hub.secret': 'shh', 'hub.lease_seconds': '5' });
    expect(res.status).toBe(202);
    await sub.until(() => sub.verifications.length === 1);
    expect(sub.verifications[0]).toMatchObject({ u: '1', 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.lease_seconds': '3600' });
    await app.app.websub.settled();
    await change(app, '/feeds/hdhive/tv/101172.atom', 'changed once');
    await sub.until(() => sub.deliveries.length === 1);
    const d = sub.deliveries[0]!;
    // The topic's own format and self link, whichever format the poll that loaded it asked for.
    expect(d.headers['content-type']).toMatch(/^application\/feed\+json/);
    expect(d.headers.link).toBe(`<${app.url}/websub>; rel="hub", <${topic}>; rel="self"`);
    expect(JSON.parse(d.body).items[0].title).toContain('changed once');
    expect(d.headers['x-hub-signature']).toBe(`sha256=${createHmac('sha256', 'shh').update(d.body).digest('hex')}`);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^feedgate_websub_deliveries_total\{outcome="delivered"\} 1$/m);
    expect(metrics).toMatch(/^feedgate_websub_verifications_total\{mode="subscribe",outcome="verified"\} 1$/m);
    // Nothing changed: nothing delivered.
    await new Promise((r) => setTimeout(r, 1100));
    await fetch(`${app.url}/feeds/hdhive/tv/101172.json`);
    await app.app.websub.settled();
    expect(sub.deliveries).toHaveLength(1);
  });

  it('without a secret the delivery is unsigned; a wrong challenge subscribes nothing', async () => {
    const app = await start();
    const topic = `${app.url}/feeds/hdhive/tv/101172.rss`;
    sub.echo = false;
    expect((await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/wrong` })).status).toBe(202);
    await sub.until(() => sub.verifications.length === 1);
    await app.app.websub.settled();
    sub.echo = true;
    expect((await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/right` })).status).toBe(202);
    await sub.until(() => sub.verifications.length === 2);
    await app.app.websub.settled();
    await change(app, '/feeds/hdhive/tv/101172.rss', 'changed twice');
    await sub.until(() => sub.deliveries.length >= 1);
    await waitFor(() => false, 300);
    expect(sub.deliveries).toHaveLength(1);
    expect(sub.deliveries[0]!.headers['x-hub-signature']).toBeUndefined();
    expect(sub.deliveries[0]!.headers['content-type']).toMatch(/^application\/rss\+xml/);
  });

  it('unsubscribe is verified too, then nothing more arrives; renewing moves the lease; a 410 from the subscriber ends it', async () => {
    const app = await start();
    const topic = `${app.url}/feeds/hdhive/tv/101172.json`;
    const form = { 'hub.topic': topic, 'hub.callback': `${sub.url}/cb` };
    await hub(app, { ...form, 'hub.mode': 'subscribe', 'hub.lease_seconds': '7200' });
    await sub.until(() => sub.verifications.length === 1);
    await app.app.websub.settled();
    const lease = async () => (await app.db.get<{ expires_at: number }>('SELECT expires_at FROM websub_subscriptions'))?.expires_at;
    const first = (await lease())!;
    expect(first - Date.now()).toBeGreaterThan(7100_000);
    await hub(app, { ...form, 'hub.mode': 'subscribe', 'hub.lease_seconds': '86400' });
    await sub.until(() => sub.verifications.length === 2);
    await app.app.websub.settled();
    expect((await lease())! - first).toBeGreaterThan(78_000_000);
    expect((await hub(app, { ...form, 'hub.mode': 'unsubscribe' })).status).toBe(202);
    await sub.until(() => sub.verifications.length === 3);
    expect(sub.verifications[2]).toMatchObject({ 'hub.mode': 'unsubscribe', 'hub.topic': topic });
    await app.app.websub.settled();
    expect(await lease()).toBeUndefined();
    await change(app, '/feeds/hdhive/tv/101172.json', 'after unsubscribing');
    expect(sub.deliveries).toHaveLength(0);
    // Subscribed again; the subscriber answers 410 Gone: the subscription ends.
    await hub(app, { ...form, 'hub.mode': 'subscribe' });
    await sub.until(() => sub.verifications.length === 4);
    await app.app.websub.settled();
    sub.status = 410;
    await change(app, '/feeds/hdhive/tv/101172.json', 'gone');
    await sub.until(() => sub.deliveries.length === 1);
    await app.app.websub.settled();
    expect(await lease()).toBeUndefined();
  });

  it('a subscriber that fails is tried three times, waiting longer each time, then counted failed, and still gets the next change; a lease that ran out gets nothing', async () => {
    const app = await start();
    const topic = `${app.url}/feeds/hdhive/tv/101172.json`;
    await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/flaky` });
    await sub.until(() => sub.verifications.length === 1);
    await app.app.websub.settled();
    sub.status = 503;
    // change() waits for the hub to settle: through every try.
    await change(app, '/feeds/hdhive/tv/101172.json', 'refused three times');
    expect(sub.deliveries).toHaveLength(3);
    const [a, b, c] = sub.deliveries.map((d) => d.at) as [number, number, number];
    expect(b - a).toBeGreaterThanOrEqual(900);
    expect(c - b).toBeGreaterThanOrEqual(3600);
    expect(new Set(sub.deliveries.map((d) => d.body)).size).toBe(1);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^feedgate_websub_deliveries_total\{outcome="failed"\} 1$/m);
    sub.status = 204;
    await change(app, '/feeds/hdhive/tv/101172.json', 'the next change');
    await sub.until(() => sub.deliveries.length === 4);
    expect(JSON.parse(sub.deliveries[3]!.body).items[0].title).toContain('the next change');
    // The lease ran out (as if its hours had passed): nothing more is delivered.
    await app.db.run('UPDATE websub_subscriptions SET expires_at = ?', [Date.now() - 1]);
    await change(app, '/feeds/hdhive/tv/101172.json', 'after the lease');
    await waitFor(() => false, 300);
    expect(sub.deliveries).toHaveLength(4);
  });
});

describe('refusals', () => {
  it('bad requests are 400 naming the parameter; a callback on a private address outside WEBSUB_CALLBACK_ALLOW is 403', async () => {
    const app = await start({ WEBSUB_CALLBACK_ALLOW: '' });
    const topic = `${app.url}/feeds/hdhive/tv/101172.json`;
    const err = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;
    const noMode = await hub(app, { 'hub.topic': topic, 'hub.callback': `${sub.url}/cb` });
    expect(noMode.status).toBe(400);
    expect((await err(noMode)).message).toMatch(/hub\.mode/);
    const notOurs = await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': 'https://example.org/feed.xml', 'hub.callback': `${sub.url}/cb` });
    expect(notOurs.status).toBe(400);
    expect((await err(notOurs)).message).toMatch(/not a feed of this feedgate/);
    expect((await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': 'ftp://x/y' })).status).toBe(400);
    const priv = await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/cb` });
    expect(priv.status).toBe(403);
    expect((await err(priv)).message).toMatch(/WEBSUB_CALLBACK_ALLOW/);
    // A name that resolves to a private address passes the first look and is refused where the socket connects.
    expect((await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `http://localhost:${sub.hostPort.split(':')[1]}/cb` })).status).toBe(202);
    await app.app.websub.settled();
    expect(sub.verifications).toHaveLength(0);
    expect((await fetch(`${app.url}/websub`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(415);
  });

  it('a private feed: a topic without its access token (or with a wrong one) is denied to the callback; with it, verified', async () => {
    const app = await start({ ACCESS_TOKEN: 'tok' });
    const topic = `${app.url}/feeds/hdhive/tv/101172.json`;
    await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `${sub.url}/a` });
    await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': `${topic}?token=nope`, 'hub.callback': `${sub.url}/b` });
    await sub.until(() => sub.verifications.length === 2);
    expect(sub.verifications.map((v) => v['hub.mode'])).toEqual(['denied', 'denied']);
    expect(sub.verifications[0]!['hub.reason']).toMatch(/access token/);
    await hub(app, { 'hub.mode': 'subscribe', 'hub.topic': `${topic}?token=tok`, 'hub.callback': `${sub.url}/c` });
    await sub.until(() => sub.verifications.length === 3);
    expect(sub.verifications[2]!['hub.mode']).toBe('subscribe');
    await app.app.websub.settled();
    await change(app, '/feeds/hdhive/tv/101172.json?token=tok', 'private change');
    await sub.until(() => sub.deliveries.length === 1);
    expect(sub.deliveries[0]!.headers.link).toContain(`<${topic}?token=tok>; rel="self"`);
  });
});

describe('WEBSUB_PUBLISH_TO', () => {
  let ext: FakeReceiver;
  beforeAll(async () => {
    ext = await startReceiver();
  });
  afterAll(async () => {
    await ext.close();
  });

  it('pings external hubs (hub.mode=publish) when a public feed changes, not at the first load', async () => {
    const app = await start({ WEBSUB_PUBLISH_TO: `${ext.url}/hub` });
    await fetch(`${app.url}/feeds/hdhive/tv/101172.rss`);
    await app.app.websub.settled();
    expect(ext.received).toHaveLength(0);
    await change(app, '/feeds/hdhive/tv/101172.rss', 'public change');
    await ext.until(1);
    expect(ext.received[0]!.url).toBe('/hub');
    expect(Object.fromEntries(new URLSearchParams(ext.received[0]!.body))).toEqual({ 'hub.mode': 'publish', 'hub.url': `${app.url}/feeds/hdhive/tv/101172.rss` });
  });
});
