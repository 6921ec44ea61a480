import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Refresher, type RefresherOptions } from '../src/feeds/refresher.js';
import { MemoryRunner } from '../src/jobs/memory.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { refreshFeedStore, type RefreshFeedStore } from '../src/store/refresh-feeds.js';
import { openSqlite } from '../src/store/sqlite.js';
import { sampleTv101172, useFakeHdhive } from './fakes/hdhive.js';
import { tempDir, useStartApp, type RunningApp } from './helpers/app.js';
import { startPostgres, type PostgresProc } from './helpers/postgres.js';
import { startRedis, type RedisProc } from './helpers/redis.js';
import { postgresTool, redisTool } from './helpers/tools.js';

/**
 * Background refresh (issue 24, its first part): feeds people read are kept fresh on a job engine (in
 * process, pg-boss, BullMQ), so a poll after CACHE_TTL is still a hit.
 */

const hd = useFakeHdhive();
const startApp = useStartApp();
const PATH = '/feeds/hdhive/tv/101172';
const API = '/api/open/resources/tv/101172';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const calls = () => hd.fake.calls.get(API) ?? 0;
/** A refresher on `store` and the embedded engine for a test of the schedule alone: every feed is read, and a load records its URL in `loads`. */
const scheduleOnly = (store: RefreshFeedStore, loads: string[], opts: Pick<RefresherOptions, 'intervals'> & Partial<RefresherOptions>): RefresherOptions => ({
  store,
  runner: new MemoryRunner(),
  maxMs: 86_400_000,
  concurrency: 2,
  logger: createLogger('silent'),
  metrics: createMetrics(),
  isSubscribed: async () => true,
  load: async (url: string) => {
    loads.push(url);
    return { digest: 'd', newItems: 0, key: url };
  },
  ...opts,
});
const row = async (app: RunningApp) => app.db.get<{ interval_ms: number; fails: number; last_error: string; last_at: number | null }>('SELECT * FROM refresh_feeds');

describe('in process (the embedded default)', () => {
  it('a feed read once is refreshed in the background: polls after CACHE_TTL are hits, told to come back when the next refresh is due', async () => {
    const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    expect((await fetch(`${app.url}${PATH}.json`)).headers.get('x-cache')).toBe('MISS');
    expect(calls()).toBe(1);
    // Until a refresh after the second call has finished: one still running has no next time yet (its
    // reader is told the copy's freshness instead).
    const settled = async () => ((await app.db.get<{ next_at: number }>('SELECT next_at FROM refresh_feeds'))?.next_at ?? 0) > Date.now() + 200;
    for (let i = 0; i < 60 && (calls() < 3 || !(await settled())); i++) await sleep(50);
    expect(calls()).toBeGreaterThanOrEqual(3);
    const poll = await fetch(`${app.url}${PATH}.json`);
    expect(poll.headers.get('x-cache')).toBe('HIT');
    const maxAge = Number(/max-age=(\d+)/.exec(poll.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge).toBeGreaterThanOrEqual(1);
    expect(maxAge).toBeLessThanOrEqual(4);
    // Nothing new: the interval grows (×1.5 each time), and /api/sources shows the schedule.
    expect((await row(app))!.interval_ms).toBeGreaterThan(1000);
    // Refreshes that find nothing new leave the body and its ETag alone: a conditional poll gets 304.
    const etag = (await fetch(`${app.url}${PATH}.json`)).headers.get('etag')!;
    const seen = calls();
    for (let i = 0; i < 60 && calls() < seen + 2; i++) await sleep(100);
    expect(calls()).toBeGreaterThanOrEqual(seen + 2);
    expect((await fetch(`${app.url}${PATH}.json`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const api = (await (await fetch(`${app.url}/api/sources`)).json()) as { sources: Array<{ name: string; refresh: Array<{ url: string; failures: number }> }> };
    expect(api.sources.find((s) => s.name === 'hdhive')!.refresh).toEqual([expect.objectContaining({ url: `${PATH}.json`, failures: 0 })]);
    const page = await (await fetch(`${app.url}/`)).text();
    expect(page).toMatch(/<p class="muted refresh">Kept fresh in the background: 1 feed\(s\), last refreshed \d{4}-\d\d-\d\d /);
    // And per feed: its URL, last and next refresh, interval and what the last refresh found.
    expect(page).toMatch(new RegExp(`<tr><td><code>${PATH}\\.json</code></td><td>\\d{4}-\\d\\d-\\d\\d [^<]+</td><td>\\d{4}-\\d\\d-\\d\\d [^<]+</td><td>\\d+ s</td><td>0 new item\\(s\\)</td><td>Export: <a href="/api/archive/export\\?feed=[^"]+" download>Markdown</a>`));
    const zh = await (await fetch(`${app.url}/?lang=zh-CN`)).text();
    expect(zh).toContain('<th>下次刷新</th>');
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/^feedgate_refresh_total\{source="hdhive",outcome="unchanged"\} [1-9]/m);
  });

  it('a refresh counts the items new since what readers were last given: from memory, and after a restart from the durable copy', async () => {
    const dataDir = tempDir();
    const config = hd.config({ DATA_DIR: dataDir, CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' });
    const list = hd.fake.resources.get('tv/101172')!;
    const kept = list.length;
    // The next refresh that starts after `t`, as the schedule records it.
    const refreshedAfter = async (app: RunningApp, t: number) => {
      for (let i = 0; i < 100; i++) {
        const r = await app.db.get<{ new_items: number; last_at: number | null }>('SELECT new_items, last_at FROM refresh_feeds');
        if (r && (r.last_at ?? 0) > t) return r;
        await sleep(100);
      }
      throw new Error('no refresh came');
    };
    const first = await startApp(config);
    await fetch(`${first.url}${PATH}.json`);
    try {
      list.push({ ...list[0], slug: 'aaaa0000aaaa0000aaaa0000aaaa0000' });
      expect((await refreshedAfter(first, Date.now())).new_items).toBe(1);
      // Nothing new since: none counted.
      expect((await refreshedAfter(first, Date.now())).new_items).toBe(0);
      await first.close(false);
      // Memory is gone with the process: the copy counted against is the durable one.
      list.push({ ...list[0], slug: 'bbbb0000bbbb0000bbbb0000bbbb0000' }, { ...list[0], slug: 'cccc0000cccc0000cccc0000cccc0000' });
      const second = await startApp(config);
      expect((await refreshedAfter(second, Date.now())).new_items).toBe(2);
    } finally {
      list.splice(kept);
    }
  });

  it('readers are told the schedule: <ttl> is the source interval, max-age counts down to the next refresh (also on the ready path), a conditional poll gets 304; one call per feed whatever its formats; a restart serves the refreshed copy without calling', async () => {
    const a = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '10m' }));
    expect((await fetch(`${a.url}${PATH}.rss`)).headers.get('x-cache')).toBe('MISS');
    for (let i = 0; i < 30 && !(await row(a)); i++) await sleep(50);
    await a.close(false);
    // The next refresh brought forward, as if ten minutes had passed: a new process takes the schedule up.
    const b0 = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '10m', DATA_DIR: a.dataDir }));
    await b0.db.run('UPDATE refresh_feeds SET next_at = ?', [Date.now() + 1500]);
    await b0.close(false);
    const b = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '10m', DATA_DIR: a.dataDir }));
    for (let i = 0; i < 80 && !(await row(b))?.last_at; i++) await sleep(50);
    const r = (await b.db.get<{ interval_ms: number; next_at: number; last_at: number }>('SELECT * FROM refresh_feeds'))!;
    expect(r.last_at).toBeGreaterThan(0);
    const before = calls();
    const rss = await fetch(`${b.url}${PATH}.rss`);
    expect(rss.headers.get('x-cache')).toBe('HIT');
    const body = await rss.text();
    // The source's interval (REFRESH_HDHIVE=10m), not CACHE_TTL (1 s).
    expect(Number(/<ttl>(\d+)<\/ttl>/.exec(body)?.[1])).toBe(10);
    const maxAge = (res: Response) => Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1]);
    const expected = (r.next_at - Date.now()) / 1000;
    expect(maxAge(rss)).toBeGreaterThan(expected - 2);
    expect(maxAge(rss)).toBeLessThanOrEqual(Math.ceil(expected) + 1);
    // The same feed as Atom and JSON is the same data: hits, no call of their own.
    expect((await fetch(`${b.url}${PATH}.atom`)).headers.get('x-cache')).toBe('HIT');
    expect((await fetch(`${b.url}${PATH}.json`)).headers.get('x-cache')).toBe('HIT');
    // Conditional polls: 304 (the second answered before koa), max-age still counting down.
    const etag = rss.headers.get('etag')!;
    const c1 = await fetch(`${b.url}${PATH}.rss`, { headers: { 'If-None-Match': etag } });
    expect(c1.status).toBe(304);
    await sleep(2100);
    const c2 = await fetch(`${b.url}${PATH}.rss`, { headers: { 'If-None-Match': etag } });
    expect(c2.status).toBe(304);
    expect(maxAge(c2)).toBeLessThanOrEqual(maxAge(c1) - 2);
    const again = await fetch(`${b.url}${PATH}.rss`);
    expect(again.headers.get('etag')).toBe(etag);
    expect(maxAge(again)).toBeLessThanOrEqual(maxAge(rss) - 2);
    expect(calls()).toBe(before);
    // A restart: the refreshed copy is still fresh in the database, so a poll calls nobody.
    await b.close(false);
    const c = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '10m', DATA_DIR: a.dataDir }));
    expect((await fetch(`${c.url}${PATH}.rss`)).status).toBe(200);
    expect(calls()).toBe(before);
  }, 30_000);

  it('0 turns it off; a failing upstream backs off (doubling), and the failure is on record', async () => {
    const off = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '0' }));
    await fetch(`${off.url}${PATH}.json`);
    await sleep(1500);
    expect(calls()).toBe(1);
    expect(await row(off)).toBeUndefined();
    await off.close();
    hd.fake.calls.clear();
    const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    hd.fake.mode = 'error500';
    for (let i = 0; i < 60 && !(await row(app))?.fails; i++) await sleep(100);
    const r = (await row(app))!;
    expect(r.fails).toBe(1);
    expect(r.interval_ms).toBeGreaterThanOrEqual(1800);
    expect(r.last_error).toMatch(/HTTP 500|HDHive/);
  });

  it('a feed nobody reads any more is dropped from the schedule at its next run', async () => {
    const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    for (let i = 0; i < 30 && !(await row(app)); i++) await sleep(50);
    await app.db.run('DELETE FROM opml_feeds');
    for (let i = 0; i < 40 && (await row(app)); i++) await sleep(100);
    expect(await row(app)).toBeUndefined();
  });

  it('a feed stays subscribed while read within SUBSCRIPTION_DAYS, built on the start page, or with a live WebSub lease; else its next run drops it', async () => {
    // A WebSub subscriber on loopback that confirms its intent.
    const subscriber = createServer((req, res) => res.end(new URL(req.url ?? '/', 'http://x').searchParams.get('hub.challenge') ?? ''));
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    const cb = `127.0.0.1:${(subscriber.address() as AddressInfo).port}`;
    try {
      for (const id of [1, 2, 3, 4]) hd.fake.resources.set(`tv/${id}`, sampleTv101172());
      const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s', SUBSCRIPTION_DAYS: '1', WEBSUB_CALLBACK_ALLOW: cb }));
      const feed = (id: number) => `/feeds/hdhive/tv/${id}.json`;
      // 1 and 2 read by a poller; 3 built on the start page (no JavaScript); 4 subscribed through WebSub only.
      await fetch(`${app.url}${feed(1)}`);
      await fetch(`${app.url}${feed(2)}`);
      expect((await fetch(`${app.url}/?lang=en&build=hdhive-0&type=tv&tmdbId=3&format=json`)).status).toBe(200);
      const sub = await fetch(`${app.url}/websub`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.topic': `${app.url}${feed(4)}`, 'hub.callback': `http://${cb}/cb` }).toString() });
      expect(sub.status).toBe(202);
      await app.app.websub.settled();
      const scheduled = async () => (await app.db.all<{ url: string }>('SELECT url FROM refresh_feeds ORDER BY url')).map((r) => r.url);
      for (let i = 0; i < 50 && (await scheduled()).length < 4; i++) await sleep(50);
      expect(await scheduled()).toEqual([1, 2, 3, 4].map(feed));
      // Feed 1 was last read two days ago, 2 half a day ago; the start page's and WebSub's are as old.
      const day = 86_400_000;
      const aged = Date.now();
      await app.db.run('UPDATE opml_feeds SET last_requested = ? WHERE url = ?', [aged - 2 * day, feed(1)]);
      await app.db.run('UPDATE opml_feeds SET last_requested = ? WHERE url <> ? AND url <> ?', [aged - 2 * day, feed(1), feed(2)]);
      await app.db.run('UPDATE opml_feeds SET last_requested = ? WHERE url = ?', [aged - day / 2, feed(2)]);
      const ranSince = async (url: string) => ((await app.db.get<{ last_at: number | null }>('SELECT last_at FROM refresh_feeds WHERE url = ?', [url]))?.last_at ?? 0) > aged;
      for (let i = 0; i < 100 && !((await scheduled()).length === 3 && (await ranSince(feed(2))) && (await ranSince(feed(3))) && (await ranSince(feed(4)))); i++) await sleep(100);
      expect(await scheduled()).toEqual([2, 3, 4].map(feed));
      for (const id of [2, 3, 4]) expect(await ranSince(feed(id)), `feed ${id} refreshed after the ageing`).toBe(true);
    } finally {
      subscriber.close();
    }
  });

  it("a refusal with Retry-After puts the feed's next refresh no sooner than asked", async () => {
    const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    hd.fake.mode = 'rate_limited';
    hd.fake.retryAfter = 30;
    const before = Date.now();
    for (let i = 0; i < 60 && !(await row(app))?.fails; i++) await sleep(100);
    const r = (await app.db.get<{ interval_ms: number; next_at: number; fails: number; last_error: string }>('SELECT * FROM refresh_feeds'))!;
    expect(r.fails).toBe(1);
    // Doubling alone would say 2 s (±10%); HDHive asked for 30.
    expect(r.interval_ms).toBeGreaterThanOrEqual(30_000);
    expect(r.next_at - before).toBeGreaterThanOrEqual(27_000);
    expect(r.last_error).toMatch(/30/);
  });
});

describe('after a restart', () => {
  it('feeds that came due while it was down are spread over the next minute, not run at once; the queue depth is on /metrics', async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = refreshFeedStore(db);
    const now = Date.now();
    for (let i = 0; i < 100; i++) await store.add({ url: `/feeds/hdhive/tv/${i}.rss`, source: 'hdhive', intervalMs: 600_000, nextAt: now - 3_600_000 + i });
    const later = '/feeds/hdhive/tv/later.rss';
    await store.add({ url: later, source: 'hdhive', intervalMs: 600_000, nextAt: now + 300_000 });
    const loads: string[] = [];
    const metrics = createMetrics();
    // A fixed stand-in for Math.random: the hundred draws are 0, 0.37, 0.74, … (every hundredth once).
    let k = 0;
    const refresher = new Refresher(scheduleOnly(store, loads, { intervals: { hdhive: 600_000 }, metrics, random: () => ((k++ * 37) % 100) / 100 }));
    await refresher.start();
    try {
      const rows = await store.all(1000);
      const waits = rows.filter((r) => r.url !== later).map((r) => r.nextAt - now);
      expect(waits).toHaveLength(100);
      expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...waits)).toBeLessThanOrEqual(60_000 + 1000);
      // One every 0.6 s: no second of the minute holds more than two.
      const perSecond = new Map<number, number>();
      for (const w of waits) perSecond.set(Math.floor(w / 1000), (perSecond.get(Math.floor(w / 1000)) ?? 0) + 1);
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(2);
      expect(rows.find((r) => r.url === later)!.nextAt).toBe(now + 300_000);
      await sleep(400);
      expect(loads.length).toBe(1);
      expect(await metrics.registry.getSingleMetricAsString('feedgate_refresh_queue')).toMatch(/^feedgate_refresh_queue 10[01]$/m);
    } finally {
      await refresher.close();
      await db.close();
    }
  });
});

describe('within call budgets', () => {
  it("a paced source's feeds are spread so background refresh plans for at most half its calls per minute", async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = refreshFeedStore(db);
    const loads: string[] = [];
    const options = () => scheduleOnly(store, loads, { intervals: { mp: 60_000, hdhive: 60_000 }, budgets: { mp: 6 } });
    const refresher = new Refresher(options());
    await refresher.start();
    const t0 = Date.now();
    for (let i = 0; i < 10; i++) refresher.track(`/feeds/mp/${i}.rss`, 'mp');
    for (let i = 0; i < 10; i++) refresher.track(`/feeds/hdhive/tv/${i}.rss`, 'hdhive');
    for (let i = 0; i < 50 && (await store.count()) < 20; i++) await sleep(10);
    const rows = await store.all(100);
    // Ten MP feeds at 6 calls a minute, half of it for refreshes: each every 10 × 60 s / 3 = 200 s at least.
    const mp = rows.filter((r) => r.source === 'mp');
    expect(mp).toHaveLength(10);
    expect(refresher.floorOf('mp')).toBe(200_000);
    // The first feeds were tracked while fewer were known: every one waits at least its interval, the last ones the full floor.
    for (const r of mp) expect(r.nextAt - t0).toBeGreaterThanOrEqual(60_000 * 0.9);
    expect(Math.max(...mp.map((r) => r.nextAt - t0))).toBeGreaterThanOrEqual(200_000 * 0.9);
    // HDHive has no pace of its own: its interval stands.
    for (const r of rows.filter((x) => x.source === 'hdhive')) expect(r.nextAt - t0).toBeLessThanOrEqual(60_000 * 1.1 + 100);
    // A refresh keeps the floor: the next one is at least 200 s away, not the source's 60 s.
    await store.reschedule('/feeds/mp/0.rss', mp.find((r) => r.url === '/feeds/mp/0.rss')!.nextAt, Date.now() + 300);
    await refresher.close();
    const again = new Refresher(options());
    await again.start();
    for (let i = 0; i < 100 && !loads.includes('/feeds/mp/0.rss'); i++) await sleep(20);
    for (let i = 0; i < 50 && !(await store.get('/feeds/mp/0.rss'))?.lastAt; i++) await sleep(10);
    const ran = (await store.get('/feeds/mp/0.rss'))!;
    expect(ran.lastAt).toBeGreaterThan(0);
    expect(ran.intervalMs).toBeGreaterThanOrEqual(200_000);
    expect(ran.nextAt - ran.lastAt!).toBeGreaterThanOrEqual(200_000 * 0.9);
    await again.close();
    await db.close();
  });
});

describe("within HDHive's daily quota", () => {
  it('feeds are planned within half the quota the upstream states; with less than a tenth left, refreshes wait for the reset without calling', async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = refreshFeedStore(db);
    const loads: string[] = [];
    const quota = { limit: 1000, remaining: 900, resetAt: Date.now() + 3_600_000 };
    const options = () => scheduleOnly(store, loads, { intervals: { hdhive: 60_000 }, quotas: { hdhive: () => quota }, random: () => 0 });
    const refresher = new Refresher(options());
    await refresher.start();
    try {
      for (let i = 0; i < 10; i++) refresher.track(`/feeds/hdhive/tv/${i}.rss`, 'hdhive');
      for (let i = 0; i < 50 && (await store.count()) < 10; i++) await sleep(10);
      // Ten feeds, 1 000 calls a day, half of them for refreshes: each every 10 × 86 400 s / 500 at least.
      expect(refresher.floorOf('hdhive')).toBe(1_728_000);
      const rows = await store.all(100);
      expect(Math.max(...rows.map((r) => r.intervalMs))).toBe(1_728_000);
      // 50 calls left of 1 000, the reset two seconds away: a feed due now is not refreshed before it.
      quota.remaining = 50;
      quota.resetAt = Date.now() + 2000;
      const t0 = Date.now();
      await store.reschedule('/feeds/hdhive/tv/0.rss', rows.find((r) => r.url === '/feeds/hdhive/tv/0.rss')!.nextAt, t0);
      await refresher.close();
      // Taken up by a restart (the schedule is read back), as a feed due at once.
      const again = new Refresher(options());
      await again.start();
      for (let i = 0; i < 50 && !((await store.get('/feeds/hdhive/tv/0.rss'))!.nextAt >= quota.resetAt); i++) await sleep(20);
      expect((await store.get('/feeds/hdhive/tv/0.rss'))!.nextAt).toBe(quota.resetAt);
      expect(loads).toEqual([]);
      // The quota starts again: the feed is refreshed.
      quota.remaining = 1000;
      for (let i = 0; i < 100 && loads.length === 0; i++) await sleep(50);
      expect(loads).toEqual(['/feeds/hdhive/tv/0.rss']);
      expect(Date.now()).toBeGreaterThanOrEqual(quota.resetAt);
      await again.close();
    } finally {
      await refresher.close();
      await db.close();
    }
  });

  it("HDHive's headers set it: with less than a tenth of the day's calls left, the feed a reader read waits for the stated reset, then is refreshed", async () => {
    const reset = Math.ceil(Date.now() / 1000) + 3;
    hd.fake.quota = { limit: 1_000_000, remaining: 50_000, reset };
    const app = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    expect(calls()).toBe(1);
    for (let i = 0; i < 60 && ((await app.db.get<{ next_at: number }>('SELECT next_at FROM refresh_feeds'))?.next_at ?? 0) < reset * 1000; i++) await sleep(50);
    expect((await app.db.get<{ next_at: number }>('SELECT next_at FROM refresh_feeds'))!.next_at).toBeGreaterThanOrEqual(reset * 1000);
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(/^feedgate_refresh_total\{source="hdhive",outcome="deferred"\} 1$/m);
    hd.fake.quota = { limit: 1_000_000, reset: reset + 86_400 };
    await sleep(Math.max(0, reset * 1000 - Date.now() - 200));
    expect(calls(), 'no call before the reset').toBe(1);
    for (let i = 0; i < 60 && calls() < 2; i++) await sleep(100);
    expect(calls()).toBeGreaterThanOrEqual(2);
  });
});

const pgOk = postgresTool().ok;
const redisOk = redisTool().ok;
let pg: PostgresProc | undefined;
let redis: RedisProc | undefined;
beforeAll(async () => {
  if (pgOk) pg = await startPostgres();
  if (redisOk) redis = await startRedis();
}, 60_000);
afterAll(async () => {
  await pg?.stop();
  await redis?.stop();
});

/** Two replicas on one engine, both reading the feed: it is refreshed once per interval between them, and on when one stops. */
async function twoReplicas(extra: () => Promise<Record<string, unknown>>) {
  const config = hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s', ...(await extra()) });
  const [a, b] = await Promise.all([startApp(config), startApp(config)]);
  await fetch(`${a.url}${PATH}.json`);
  await fetch(`${b.url}${PATH}.json`);
  const t0 = Date.now();
  const start = calls();
  await sleep(4000);
  const during = calls() - start;
  // Intervals of 1 s growing ×1.5 over 4 s: three or four refreshes at most, not one per replica.
  expect(during).toBeGreaterThanOrEqual(1);
  expect(during).toBeLessThanOrEqual(4);
  expect(await a.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM refresh_feeds')).toEqual({ n: 1 });
  await a.close();
  const afterA = calls();
  for (let i = 0; i < 100 && calls() === afterA; i++) await sleep(100);
  expect(calls(), `refreshes went on after replica A stopped (${Date.now() - t0} ms)`).toBeGreaterThan(afterA);
}

describe.skipIf(!pgOk)(`pg-boss, with DATABASE_URL${pgOk ? '' : ` (${postgresTool().hint})`}`, () => {
  it('two replicas refresh each feed once per interval between them; when one stops, the other goes on', async () => {
    await twoReplicas(async () => ({ DATABASE_URL: await pg!.database() }));
  }, 30_000);
});

let redisDb = 3;
describe.skipIf(!redisOk)(`BullMQ, with REDIS_URL${redisOk ? '' : ` (${redisTool().hint})`}`, () => {
  it('two replicas refresh each feed once per interval between them; when one stops, the other goes on', async () => {
    await twoReplicas(async () => ({ REDIS_URL: redis!.url.replace(/\/0$/, `/${++redisDb}`), ...(pgOk ? { DATABASE_URL: await pg!.database() } : {}) }));
  }, 30_000);
});
