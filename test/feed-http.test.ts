import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';

const hd = useFakeHdhive();
let app: RunningApp;
afterEach(async () => {
  await app?.close();
});

const start = (extra: Record<string, unknown> = {}) => startApp(hd.config(extra));

describe('formats and headers', () => {
  beforeEach(async () => {
    app = await start();
  });

  it('picks the format from ?format= or a path suffix, with the right Content-Type', async () => {
    const cases = [
      ['/feeds/hdhive/tv/101172', 'application/rss+xml; charset=utf-8', '<rss'],
      ['/feeds/hdhive/tv/101172?format=rss', 'application/rss+xml; charset=utf-8', '<rss'],
      ['/feeds/hdhive/tv/101172.rss', 'application/rss+xml; charset=utf-8', '<rss'],
      ['/feeds/hdhive/tv/101172?format=atom', 'application/atom+xml; charset=utf-8', '<feed'],
      ['/feeds/hdhive/tv/101172.atom', 'application/atom+xml; charset=utf-8', '<feed'],
      ['/feeds/hdhive/tv/101172?format=json', 'application/feed+json; charset=utf-8', '"version":"https://jsonfeed.org/version/1.1"'],
      ['/feeds/hdhive/tv/101172.json', 'application/feed+json; charset=utf-8', '"version":"https://jsonfeed.org/version/1.1"'],
      ['/feeds/hdhive/shares.atom', 'application/atom+xml; charset=utf-8', '<feed'],
    ] as const;
    for (const [path, type, marker] of cases) {
      const res = await fetch(app.url + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(await res.text(), path).toContain(marker);
    }
    // One upstream call served every format of the same title.
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
  });

  it('rejects an unknown format and a suffix that contradicts ?format=', async () => {
    let res = await fetch(`${app.url}/feeds/hdhive/tv/101172?format=xml`);
    expect(res.status).toBe(400);
    expect((await res.json() as any).error.message).toContain('format must be one of rss, atom, json');
    res = await fetch(`${app.url}/feeds/hdhive/tv/101172.atom?format=json`);
    expect(res.status).toBe(400);
  });

  it('sends ETag, Last-Modified and Cache-Control matching the TTL, and answers conditional requests with 304', async () => {
    const url = `${app.url}/feeds/hdhive/tv/101172`;
    const res = await fetch(url);
    const body = await res.text();
    const etag = res.headers.get('etag')!;
    const lastModified = res.headers.get('last-modified')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(lastModified).toBe('Thu, 12 Mar 2026 09:40:15 GMT');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(body).toContain('<ttl>5</ttl>');

    const again = await fetch(url);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe(body);

    let r = await fetch(url, { headers: { 'If-None-Match': etag } });
    expect(r.status).toBe(304);
    expect(await r.text()).toBe('');
    r = await fetch(url, { headers: { 'If-None-Match': '"something-else"' } });
    expect(r.status).toBe(200);
    r = await fetch(url, { headers: { 'If-Modified-Since': lastModified } });
    expect(r.status).toBe(304);
    // "Not newer than", not equality: readers send dates they never received.
    r = await fetch(url, { headers: { 'If-Modified-Since': 'Fri, 20 Nov 2026 00:00:00 GMT' } });
    expect(r.status).toBe(304);
    r = await fetch(url, { headers: { 'If-Modified-Since': 'Wed, 11 Mar 2026 00:00:00 GMT' } });
    expect(r.status).toBe(200);
    // Each format and parameter set has its own ETag.
    const atom = await fetch(`${url}.atom`);
    expect(atom.headers.get('etag')).not.toBe(etag);
    const limited = await fetch(`${url}?limit=1`);
    expect(limited.headers.get('etag')).not.toBe(etag);
  });

  it('HEAD answers with the headers and no body', async () => {
    const res = await fetch(`${app.url}/feeds/hdhive/tv/101172`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBeTruthy();
    expect(await res.text()).toBe('');
  });

  it('uses PUBLIC_URL for the self link when set', async () => {
    await app.close();
    app = await start({ PUBLIC_URL: 'https://feeds.example.org/' });
    const xml = await (await fetch(`${app.url}/feeds/hdhive/tv/101172.atom?limit=1`)).text();
    expect(xml).toContain('<link rel="self" type="application/atom+xml" href="https://feeds.example.org/feeds/hdhive/tv/101172.atom?limit=1"/>');
  });

  it('honours X-Forwarded-Proto/-Host for the self link only with TRUST_PROXY', async () => {
    const fwd = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'feeds.lan' };
    let xml = await (await fetch(`${app.url}/feeds/hdhive/tv/101172.atom`, { headers: fwd })).text();
    expect(xml).toContain(`href="${app.url}/feeds/hdhive/tv/101172.atom"`);
    await app.close();
    app = await start({ TRUST_PROXY: 'true' });
    xml = await (await fetch(`${app.url}/feeds/hdhive/tv/101172.atom`, { headers: fwd })).text();
    expect(xml).toContain('<link rel="self" type="application/atom+xml" href="https://feeds.lan/feeds/hdhive/tv/101172.atom"/>');
  });

  it('unknown routes and methods are JSON errors', async () => {
    let res = await fetch(`${app.url}/feeds/nothing/here`);
    expect(res.status).toBe(404);
    expect(await res.json() as any).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /feeds/nothing/here' } });
    res = await fetch(`${app.url}/feeds/hdhive/tv/101172`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect((await res.json() as any).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('common query parameters over HTTP', () => {
  beforeEach(async () => {
    app = await start();
  });

  const ids = async (query: string) => {
    const res = await fetch(`${app.url}/feeds/hdhive/movie/550.json?${query}`);
    expect(res.status, query).toBe(200);
    return ((await res.json() as any).items as Array<{ id: string }>).map((i) => i.id);
  };
  const OFFICIAL = 'c68ce9afa88b11ef87c60242ac120005';
  const INVALID = 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b';

  it('limit, filter, filterout, filter_title, filter_description, filter_author, filter_time, filter_case_sensitive', async () => {
    expect((await ids('')).sort()).toEqual([OFFICIAL, INVALID].sort());
    expect(await ids('limit=1')).toHaveLength(1);
    expect(await ids('filter=REMUX')).toEqual([OFFICIAL]);
    expect(await ids('filter=remux')).toEqual([]);
    expect(await ids('filter=remux&filter_case_sensitive=false')).toEqual([OFFICIAL]);
    expect(await ids('filterout=invalid')).toEqual([OFFICIAL]);
    expect(await ids('filter_title=%5C%5Binvalid%5C%5D')).toEqual([INVALID]);
    expect(await ids('filter_description=%E9%93%BE%E6%8E%A5%E5%B7%B2%E5%A4%B1%E6%95%88')).toEqual([INVALID]);
    expect(await ids('filter_author=%E5%BD%B1%E5%B7%A2')).toEqual([OFFICIAL]);
    expect(await ids('filter_author=HDHive&filter_title=REMUX')).toEqual([]);
    // The official share is dated 2026-11-01, the other one was first seen just now.
    expect(await ids('filter_time=3600')).toEqual([INVALID]);
    expect(await ids('filter=%E6%90%8F&limit=1')).toHaveLength(1);
  });

  it('bad values are 400s with a message naming the parameter', async () => {
    for (const [q, text] of [
      ['limit=0', 'limit must be a whole number'],
      ['limit=abc', 'limit must be a whole number'],
      ['limit=-1', 'limit must be a whole number'],
      ['limit=100000', 'limit must be a whole number from 1 to 500'],
      ['limit=1&limit=2', 'limit was given more than once'],
      ['filter_time=soon', 'filter_time must be a whole number'],
      ['filter_case_sensitive=maybe', 'filter_case_sensitive must be true or false'],
      ['filter=(unclosed', 'filter is not a valid regular expression'],
      ['filterout=a%5C', 'filterout is not a valid regular expression'],
      ['filter=(a)%5C1', 'filter is not a valid regular expression'],
      [`filter=${'a'.repeat(1001)}`, 'filter is longer than 1000 characters'],
    ] as const) {
      const res = await fetch(`${app.url}/feeds/hdhive/movie/550?${q}`);
      expect(res.status, q).toBe(400);
      const body = await res.json() as any;
      expect(body.error.message, q).toContain(text);
    }
  });

  it('a catastrophic-backtracking pattern answers quickly instead of hanging the server', async () => {
    const evil = encodeURIComponent('^(a+)+$');
    hd.fake.resources.set('movie/77', [{ slug: 'x'.repeat(32), title: `${'a'.repeat(5000)}!`, video_resolution: [], source: [] }]);
    const res = await fetch(`${app.url}/feeds/hdhive/movie/77.json?filter=${evil}&filter_title=${evil}`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    expect((await res.json() as any).items).toEqual([]);
    // The server is still responsive.
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });
});

describe('cache', () => {
  it('N concurrent cold requests make one upstream call', async () => {
    app = await start();
    hd.fake.delayMs = 300;
    const responses = await Promise.all(Array.from({ length: 25 }, (_, i) => fetch(`${app.url}/feeds/hdhive/tv/101172${['', '.atom', '.json'][i % 3]}`)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/feedgate_cache_events_total\{result="miss"\} 1/);
    expect(metrics).toMatch(/feedgate_cache_events_total\{result="coalesced"\} 24/);
  });

  it('serves the last good copy, marked stale, when a refresh fails; and calls upstream at most once per TTL', async () => {
    app = await start({ CACHE_TTL: '1s' });
    const url = `${app.url}/feeds/hdhive/tv/101172`;
    const good = await fetch(url);
    expect(good.headers.get('x-feed-stale')).toBeNull();
    expect(good.headers.get('x-cache')).toBe('MISS');
    const goodBody = await good.text();
    expect((await fetch(url)).headers.get('x-cache')).toBe('HIT');

    await new Promise((r) => setTimeout(r, 1100));
    hd.fake.mode = 'error500';
    const stale = await fetch(url);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-feed-stale')).toBe('1');
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(await stale.text()).toBe(goodBody);
    const callsAfterFailure = hd.fake.totalCalls();
    // Within the TTL the failure is remembered: readers still get the stale copy, HDHive gets no new call.
    const again = await fetch(url);
    expect(again.headers.get('x-feed-stale')).toBe('1');
    expect(hd.fake.totalCalls()).toBe(callsAfterFailure);

    await new Promise((r) => setTimeout(r, 1100));
    hd.fake.mode = 'ok';
    const fresh = await fetch(url);
    expect(fresh.headers.get('x-feed-stale')).toBeNull();
    expect(fresh.headers.get('x-cache')).toBe('MISS');
  });

  it('the last good copy survives a restart', async () => {
    const dataDir = tempDir();
    app = await start({ DATA_DIR: dataDir, CACHE_TTL: '3s' });
    const loadedAt = Date.now();
    const items = (await (await fetch(`${app.url}/feeds/hdhive/tv/101172.json`)).json() as any).items;
    await app.close(false);
    hd.fake.mode = 'error500';
    app = await start({ DATA_DIR: dataDir, CACHE_TTL: '3s' });
    // Still fresh: the durable copy is served as it is, the failing upstream not called.
    const fresh = await fetch(`${app.url}/feeds/hdhive/tv/101172.json`);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('x-feed-stale')).toBeNull();
    expect((await fresh.json() as any).items).toEqual(items);
    await app.close(false);
    await new Promise((r) => setTimeout(r, Math.max(0, loadedAt + 3100 - Date.now())));
    app = await start({ DATA_DIR: dataDir, CACHE_TTL: '1s' });
    const res = await fetch(`${app.url}/feeds/hdhive/tv/101172.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-feed-stale')).toBe('1');
    expect((await res.json() as any).items).toEqual(items);
  });

  it('without a last good copy an upstream failure is an error, and bad input is never covered by stale data', async () => {
    app = await start();
    hd.fake.mode = 'error500';
    expect((await fetch(`${app.url}/feeds/hdhive/tv/4242`)).status).toBe(502);
  });
});

describe('access token', () => {
  beforeEach(async () => {
    app = await start({ ACCESS_TOKEN: 's3cret-token' });
  });

  it('protects feeds and metrics; accepts ?token= and Bearer; leaves /healthz open', async () => {
    const url = `${app.url}/feeds/hdhive/tv/101172`;
    let res = await fetch(url);
    expect(res.status).toBe(401);
    expect((await res.json() as any).error.code).toBe('UNAUTHORIZED');
    res = await fetch(`${url}?token=wrong`);
    expect(res.status).toBe(401);
    res = await fetch(url, { headers: { Authorization: 'Bearer s3cret-token-but-longer' } });
    expect(res.status).toBe(401);
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}?token=s3cret-token`)).status).toBe(200);
    expect((await fetch(url, { headers: { Authorization: 'Bearer s3cret-token' } })).status).toBe(200);
    expect((await fetch(`${app.url}/metrics?token=s3cret-token`)).status).toBe(200);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    // Bad requests are not told anything before the token is checked.
    expect((await fetch(`${app.url}/feeds/hdhive/music/x`)).status).toBe(401);
  });
});

describe('metrics', () => {
  it('exposes requests by route and status, latency, cache and upstream counters in Prometheus format', async () => {
    app = await start();
    await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    await fetch(`${app.url}/feeds/hdhive/music/1`);
    const res = await fetch(`${app.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('feedgate_http_requests_total{route="/feeds/hdhive/:type/:tmdbId",method="GET",status="200"} 2');
    expect(text).toContain('feedgate_http_requests_total{route="/feeds/hdhive/:type/:tmdbId",method="GET",status="400"} 1');
    expect(text).toContain('feedgate_http_request_duration_seconds_bucket{le="0.005",route="/feeds/hdhive/:type/:tmdbId"}');
    expect(text).toContain('feedgate_cache_events_total{result="hit"} 1');
    expect(text).toContain('feedgate_upstream_requests_total{upstream="hdhive",outcome="ok"} 1');
    expect(text).toContain('feedgate_upstream_quota{upstream="hdhive",kind="limit"} 1000000');
  });
});
