import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useFakeHdhive } from './fakes/hdhive.js';
import { IDS, useFakeMoments } from './fakes/moments.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { startPostgres, type PostgresProc } from './helpers/postgres.js';
import { startRedis, type RedisProc } from './helpers/redis.js';
import { startS3, type S3Proc } from './helpers/s3.js';
import { postgresTool, redisTool } from './helpers/tools.js';

/**
 * Every replica equal (issue 23): two feedgates on one PostgreSQL, one redis-server and one S3 server,
 * each with its own DATA_DIR, are interchangeable.
 */

const ok = postgresTool().ok && redisTool().ok;
const hd = useFakeHdhive();
const moments = useFakeMoments();
const mpHolder = useFakeMp();
let pg: PostgresProc;
let redis: RedisProc;
let s3: S3Proc;
beforeAll(async () => {
  if (!ok) return;
  [pg, redis, s3] = await Promise.all([startPostgres(), startRedis(), startS3()]);
  s3.useEnv();
}, 60_000);
afterAll(async () => {
  await Promise.all([pg?.stop(), redis?.stop(), s3?.close()]);
});
const apps: RunningApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redisDb = 0;
/** Two replicas on a fresh database (and Redis database): no PROXY_SECRET, separate DATA_DIRs, the same upstreams. */
async function pair(extra: Record<string, unknown> = {}): Promise<[RunningApp, RunningApp]> {
  const db = await pg.database();
  const m = moments.m;
  const config = {
    ...hd.config(),
    DATABASE_URL: db,
    REDIS_URL: redis.url.replace(/\/0$/, `/${++redisDb}`),
    ARCHIVE_S3_URL: `s3://${s3.bucket}/r${Date.now()}`,
    ARCHIVE_S3_ENDPOINT: s3.endpoint,
    WEFLOW_API_URL: m.weflowUrl,
    WEFLOW_TOKEN: m.token,
    MP_BASE_URL: mpHolder.mp.url,
    MP_CALLS_PER_MINUTE: 600,
    PROXY_ALLOW_HOSTS: `${m.cdn.host},${mpHolder.mp.host}`,
    ...extra,
  };
  // Started together: they migrate the one database once, and agree on one media link secret.
  const [a, b] = await Promise.all([startApp(config), startApp(config)]);
  apps.push(a, b);
  return [a, b];
}

describe.skipIf(!ok)(`replicas on one PostgreSQL, Redis and S3${ok ? '' : ` (${postgresTool().hint}; ${redisTool().hint})`}`, () => {
  it('MP credentials pushed through A serve MP feeds on B; /opml lists the same feeds on both', async () => {
    const [a, b] = await pair();
    await pushCredentials(a.url, mpHolder.mp);
    const res = await fetch(`${b.url}/feeds/mp/${encodeURIComponent(BIZ)}.json`);
    expect(res.status).toBe(200);
    const feed = (await res.json()) as { items: Array<{ id: string }> };
    expect(feed.items.length).toBeGreaterThan(0);
    expect(feed.items[0]!.id).not.toMatch(/^feedgate:/);
    const list = (await (await fetch(`${b.url}/api/mp/list`)).json()) as { data: { list: Array<{ biz: string; state: string }> } };
    expect(list.data.list).toEqual([expect.objectContaining({ biz: BIZ, state: 'effective' })]);

    await fetch(`${a.url}/api/opml/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: '/feeds/hdhive/movie/550.rss', title: 'Fight Club' }) });
    await fetch(`${b.url}/feeds/hdhive/tv/101172.atom`);
    // Reads are noted in the background: wait for the note to land.
    let opmlA = '';
    for (let i = 0; i < 100 && !opmlA.includes('101172'); i++, await sleep(20)) opmlA = await (await fetch(`${a.url}/opml`)).text();
    const opmlB = await (await fetch(`${b.url}/opml`)).text();
    expect(opmlA).toContain('/feeds/hdhive/movie/550.rss');
    expect(opmlA).toContain('/feeds/hdhive/tv/101172.atom');
    // The same list; only the time each was made may differ (a second apart).
    const undated = (x: string) => x.replace(/<dateCreated>[^<]*<\/dateCreated>/, '');
    expect(undated(opmlB.replaceAll(b.url, a.url))).toBe(undated(opmlA));
  });

  it('Moments media kept by A play from B after the CDN links expired; a link signed by A plays on B', async () => {
    const [a, b] = await pair();
    const m = moments.m;
    const feed = (await (await fetch(`${a.url}/feeds/moments.json`)).json()) as { items: Array<{ id: string; content_html: string; attachments?: Array<{ url: string }> }> };
    await a.app.keeper.idle();
    m.expired = true;
    try {
      const photos = feed.items.find((i) => i.id === IDS.photos)!;
      const links = [...photos.content_html.matchAll(/<img src="([^"]+)"/g)].map((x) => x[1]!.replace(/&amp;/g, '&'));
      expect(links.length).toBe(3);
      for (const [i, link] of links.entries()) {
        // A's link, on B: its signature verifies there (one secret, kept in the database), and its bytes come from the bucket.
        const res = await fetch(link.replace(a.url, b.url));
        expect(res.status, link).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(m.plain.get(['/mmsns/AbC1/0', '/mmsns/AbC2/0', '/mmsns/AbC3/0'][i]!)!)).toBe(true);
      }
      const video = feed.items.find((i) => i.id === IDS.video)!;
      const part = await fetch(video.attachments![0]!.url.replace(a.url, b.url), { headers: { range: 'bytes=131060-131080' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(m.plain.get('/102/20202/snsvideodownload')!.subarray(131060, 131081))).toBe(true);
    } finally {
      m.expired = false;
    }
  });

  it('N cold requests split between A and B make one upstream call', async () => {
    const [a, b] = await pair();
    hd.fake.delayMs = 300;
    const path = '/feeds/hdhive/tv/101172.json';
    const res = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${(i % 2 ? a : b).url}${path}`)));
    expect(res.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
  });

  it('PostgreSQL killed mid-run: feeds answer from cache and stale copies, MP says 503 naming DATABASE_URL, nothing is lost, all recovers', async () => {
    const [a, b] = await pair({ CACHE_TTL: '1s' });
    await pushCredentials(a.url, mpHolder.mp);
    const mpPath = `/feeds/mp/${encodeURIComponent(BIZ)}.json`;
    const hdPath = '/feeds/hdhive/tv/101172.json';
    const before = (await (await fetch(`${a.url}${hdPath}`)).json()) as { items: unknown[] };
    expect((await fetch(`${b.url}${mpPath}`)).status).toBe(200);
    await pg.kill();
    try {
      // Within CACHE_TTL: hits, whatever the database.
      expect((await fetch(`${a.url}${hdPath}`)).headers.get('x-cache')).toBe('HIT');
      await sleep(1100);
      // Expired, on B which never built it: HDHive answers but first-seen dates cannot be stamped, so A's copy (shared through Redis) stands in.
      const hd1 = await fetch(`${b.url}${hdPath}`);
      expect(hd1.status).toBe(200);
      expect(hd1.headers.get('x-feed-stale')).toBe('1');
      expect(((await hd1.json()) as { items: unknown[] }).items).toEqual(before.items);
      // MP's key is read from the database: a clear 503 (with the last good copy when the cache still has it).
      const mp1 = await fetch(`${a.url}${mpPath}`);
      expect([200, 503]).toContain(mp1.status);
      if (mp1.status === 503) expect(((await mp1.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', message: expect.stringContaining('DATABASE_URL') });
      // Credentials pushed meanwhile are refused with that error, never half-stored.
      const push = await fetch(`${b.url}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz: BIZ, uin: 'MTIz', key: 'k2', pass_ticket: 'pt' }) });
      expect(push.status).toBe(503);
      expect(((await push.json()) as { error: { code: string } }).error.code).toBe('DATABASE_UNAVAILABLE');
      expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    } finally {
      await pg.start();
    }
    // Back: the old credentials are intact and serve on both; writes work again.
    for (const x of [a, b]) {
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++, await sleep(50)) status = (await fetch(`${x.url}${mpPath}`)).status;
      expect(status).toBe(200);
    }
    await pushCredentials(b.url, mpHolder.mp);
    const list = (await (await fetch(`${a.url}/api/mp/list`)).json()) as { data: { list: Array<{ biz: string }> } };
    expect(list.data.list.map((x) => x.biz)).toEqual([BIZ]);
  }, 60_000);
});
