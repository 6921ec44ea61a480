import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { sampleJpeg } from './helpers/media.js';
import { rawRequest, type RawResponse } from './helpers/raw.js';

// Cache hits are answered again before koa (src/http/ready.ts). These tests hold that path to koa's:
// the same bytes and headers, and koa's answer whenever something the ready copy cannot see changed.

const hd = useFakeHdhive();
let app: RunningApp;
afterEach(async () => {
  await app?.close();
});

const FEED = '/feeds/hdhive/tv/101172';

/** How many responses were sent before koa, read from /metrics (itself always a koa request). */
async function readyCount(token = ''): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics${token ? `?token=${token}` : ''}`)).text();
  return Number(/^feedgate_http_ready_responses_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Headers as sent, less those that differ per response by nature. */
function sent(r: RawResponse): string[][] {
  const pairs: string[][] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    if (!/^(date|x-request-id|connection|keep-alive)$/i.test(r.rawHeaders[i]!)) pairs.push([r.rawHeaders[i]!, r.rawHeaders[i + 1]!]);
  }
  return pairs.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** The request as koa answers it: an Authorization header keeps it off the ready path (no token is configured, so it changes nothing else). */
const viaKoa = (target: string, headers: Record<string, string> = {}) => rawRequest(app.url, target, { headers: { ...headers, authorization: 'Bearer unused' } });

/** Asserts that exactly `n` of what `fn` sends were answered before koa. */
async function expectReady<T>(n: number, fn: () => Promise<T>): Promise<T> {
  const before = await readyCount();
  const out = await fn();
  expect((await readyCount()) - before).toBe(n);
  return out;
}

describe('cached feeds answered before koa', () => {
  it('send the very bytes and headers koa sends, per encoding, and the same 304s', async () => {
    app = await startApp(hd.config({ CACHE_TTL: '1h' }));
    await expectReady(0, () => rawRequest(app.url, FEED)); // a miss: not offered (its X-Cache says MISS)
    for (const ae of ['', 'gzip', 'br']) {
      const headers: Record<string, string> = ae ? { 'accept-encoding': ae } : {};
      await expectReady(0, () => rawRequest(app.url, FEED, { headers })); // a hit through koa: offered
      const koa = await expectReady(0, () => viaKoa(FEED, headers));
      const ready = await expectReady(1, () => rawRequest(app.url, FEED, { headers }));
      expect(ready.status).toBe(200);
      expect(ready.body.equals(koa.body)).toBe(true);
      expect(sent(ready)).toEqual(sent(koa));
      expect(ready.headers['x-cache']).toBe('HIT');
      expect(ready.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
      expect(ready.headers['x-request-id']).not.toBe(koa.headers['x-request-id']);
      expect(ready.headers['content-length']).toBe(String(ready.body.length));

      const etag = String(koa.headers.etag);
      const lastModified = String(koa.headers['last-modified']);
      const conds: Record<string, string>[] = [{ 'if-none-match': etag }, { 'if-none-match': `W/${etag}, "other"` }, { 'if-modified-since': lastModified }];
      for (const cond of conds) {
        const koa304 = await expectReady(0, () => viaKoa(FEED, { ...headers, ...cond }));
        const ready304 = await expectReady(1, () => rawRequest(app.url, FEED, { headers: { ...headers, ...cond } }));
        expect(koa304.status).toBe(304);
        expect(ready304.status).toBe(304);
        expect(ready304.body.length).toBe(0);
        expect(sent(ready304)).toEqual(sent(koa304));
      }
      // A validator of another variant or version is no match.
      const other = await expectReady(1, () => rawRequest(app.url, FEED, { headers: { ...headers, 'if-none-match': '"elsewhere"' } }));
      expect(other.status).toBe(200);
    }
    // Negotiated as koa negotiates: q-values pick among the variants already made.
    const gz = await expectReady(1, () => rawRequest(app.url, FEED, { headers: { 'accept-encoding': 'gzip;q=1, br;q=0.5' } }));
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('Accept-Encoding');
    const plain = await expectReady(1, () => rawRequest(app.url, FEED, { headers: { 'accept-encoding': 'br;q=0, gzip;q=0' } }));
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
  });

  it('leave to koa what they cannot see: an expired copy, another host, HEAD, Range, a header token', async () => {
    app = await startApp(hd.config({ CACHE_TTL: '1s' }));
    await rawRequest(app.url, FEED);
    await rawRequest(app.url, FEED);
    await expectReady(1, () => rawRequest(app.url, FEED));
    // The host shapes the links in the feed: another Host is another response.
    const other = await expectReady(0, () => rawRequest(app.url, FEED, { headers: { Host: 'feeds.example.net' } }));
    expect(other.body.toString()).toContain('http://feeds.example.net/feeds/hdhive/tv/101172');
    await expectReady(0, () => rawRequest(app.url, FEED, { method: 'HEAD' }));
    await expectReady(0, () => rawRequest(app.url, FEED, { headers: { range: 'bytes=0-9' } }));
    // Past CACHE_TTL the copy no longer stands: koa refreshes from upstream.
    await new Promise((r) => setTimeout(r, 1100));
    const calls = hd.fake.calls.get('/api/open/resources/tv/101172')!;
    const fresh = await expectReady(0, () => rawRequest(app.url, FEED));
    expect(fresh.status).toBe(200);
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(calls + 1);
  });

  it('the token in the URL is part of what is remembered: a wrong or missing one is still refused', async () => {
    app = await startApp(hd.config({ CACHE_TTL: '1h', ACCESS_TOKEN: 'right-token' }));
    const url = `${FEED}?token=right-token`;
    for (let i = 0; i < 3; i++) expect((await rawRequest(app.url, url)).status).toBe(200);
    const before = await readyCount('right-token');
    expect((await rawRequest(app.url, url)).status).toBe(200);
    expect((await rawRequest(app.url, `${FEED}?token=wrong-token`)).status).toBe(401);
    expect((await rawRequest(app.url, FEED)).status).toBe(401);
    expect((await rawRequest(app.url, `${FEED}?token=right-token&x=1`)).status).toBe(200);
    expect((await readyCount('right-token')) - before).toBe(1);
  });

  it('are counted, timed and logged like any request, the token redacted', async () => {
    const dir = tempDir();
    const logFile = join(dir, 'log.jsonl');
    app = await startApp(hd.config({ CACHE_TTL: '1h', ACCESS_TOKEN: 'log-token', LOG_LEVEL: 'info' }), { logFile });
    const url = `${FEED}.atom?token=log-token`;
    for (let i = 0; i < 3; i++) await rawRequest(app.url, url);
    const ready = await rawRequest(app.url, url, { headers: { 'x-request-id': 'reader-chosen-42' } });
    expect(ready.headers['x-request-id']).toBe('reader-chosen-42');
    const metrics = await (await fetch(`${app.url}/metrics?token=log-token`)).text();
    // A miss, a hit through koa (offered), then two answered before koa: all four counted alike.
    expect(metrics).toMatch(/^feedgate_http_ready_responses_total 2$/m);
    expect(metrics).toMatch(/^feedgate_http_requests_total\{route="\/feeds\/hdhive\/:type\/:tmdbId",method="GET",status="200"\} 4$/m);
    expect(metrics).toMatch(/^feedgate_http_request_duration_seconds_count\{route="\/feeds\/hdhive\/:type\/:tmdbId"\} 4$/m);
    await app.close(false);
    await new Promise((r) => setTimeout(r, 250)); // the log is written every 100 ms
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l.reqId === 'reader-chosen-42');
    expect(line).toMatchObject({ msg: 'request', method: 'GET', status: 200, url: `${FEED}.atom?token=[redacted]` });
    expect(readFileSync(logFile, 'utf8')).not.toContain('log-token');
  });
});

describe('cached images answered before koa', () => {
  let cdn: FakeCdn;
  beforeAll(async () => {
    cdn = await startFakeCdn();
    cdn.files.set('/mmbiz/ready.jpg', { body: await sampleJpeg(320, 240), type: 'image/jpeg', rule: 'no-referer' });
  });
  afterAll(async () => {
    await cdn.close();
  });

  it('send what koa sends; Range and fmt=auto (which follows Accept) stay with koa', async () => {
    app = await startApp({ PROXY_ALLOW_HOSTS: cdn.host });
    const image = app.app.links.image(`${cdn.url}/mmbiz/ready.jpg`, 'wechat');
    await rawRequest(app.url, image);
    const koa = await expectReady(0, () => viaKoa(image));
    const ready = await expectReady(1, () => rawRequest(app.url, image));
    expect(ready.status).toBe(200);
    expect(ready.body.equals(koa.body)).toBe(true);
    expect(sent(ready)).toEqual(sent(koa));
    const koa304 = await viaKoa(image, { 'if-none-match': String(koa.headers.etag) });
    const ready304 = await expectReady(1, () => rawRequest(app.url, image, { headers: { 'if-none-match': String(koa.headers.etag) } }));
    expect(ready304.status).toBe(304);
    expect(sent(ready304)).toEqual(sent(koa304));
    const ranged = await expectReady(0, () => rawRequest(app.url, image, { headers: { range: 'bytes=0-99' } }));
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(koa.body.subarray(0, 100))).toBe(true);

    const auto = app.app.links.image(`${cdn.url}/mmbiz/ready.jpg`, 'wechat', { fmt: 'auto', w: 100 });
    const asWebp = await expectReady(0, async () => {
      await rawRequest(app.url, auto, { headers: { accept: 'image/webp' } });
      return rawRequest(app.url, auto, { headers: { accept: 'image/webp' } });
    });
    expect(asWebp.headers['content-type']).toBe('image/webp');
    const asJpeg = await expectReady(0, () => rawRequest(app.url, auto, { headers: { accept: 'image/jpeg' } }));
    expect(asJpeg.headers['content-type']).toBe('image/jpeg');
    expect(cdn.hits.get('/mmbiz/ready.jpg')).toBe(1);
  });
});
