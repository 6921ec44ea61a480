import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SOURCES, platformsOf } from '../src/feeds/sources.js';
import { MediaArchive } from '../src/cache/media-archive.js';
import { createMetrics } from '../src/metrics.js';
import { MediaFetcher } from '../src/proxy/fetch.js';
import { MediaKeeper } from '../src/proxy/keeper.js';
import { KeystreamCache } from '../src/proxy/keystream-cache.js';
import { DiskBlobs } from '../src/store/blobs.js';
import { keepQueueStore } from '../src/store/keep-queue.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import type { Sql } from '../src/store/sql.js';
import { openSqlite } from '../src/store/sqlite.js';
import { startFakeCdn } from './fakes/cdn.js';
import { IDS, useFakeMoments } from './fakes/moments.js';
import { tempDir } from './helpers/app.js';
import { sampleJpeg } from './helpers/media.js';
import { boot, exitOf } from './helpers/process.js';

/** Media keeping survives failures and crashes (issue 21, item 5): the queue is durable and retried. */

const moments = useFakeMoments();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dbs: Sql[] = [];
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close();
});

describe('the keep queue', () => {
  it('a failed fetch stays queued and is retried with backoff until kept; permanent outcomes leave the queue', async () => {
    const cdn = await startFakeCdn();
    const jpeg = await sampleJpeg(40, 30);
    let refusing = true;
    cdn.files.set('/a.jpg', { body: jpeg, type: 'image/jpeg', validate: () => !refusing });
    cdn.files.set('/b.jpg', { body: Buffer.from('not an image at all'), type: 'image/jpeg' });
    const dir = tempDir();
    const db = openSqlite(dir);
    await db.migrate(CORE_MIGRATIONS);
    dbs.push(db);
    const queue = keepQueueStore(db);
    const policy = { extraHosts: new Set([cdn.host]), platforms: platformsOf(SOURCES) };
    const metrics = createMetrics();
    const archive = new MediaArchive(db, new DiskBlobs(join(dir, 'archive')), 1 << 30);
    const keeper = new MediaKeeper({
      fetcher: new MediaFetcher({ policy, connectTimeoutMs: 1000, timeoutMs: 2000 }),
      policy,
      keystreams: new KeystreamCache(4),
      archive,
      maxImageBytes: 1 << 20,
      maxVideoBytes: 1 << 20,
      concurrency: 2,
      metrics,
      queue,
      retryBaseMs: 150,
      maxAttempts: 3,
    });
    try {
      keeper.keep([{ url: `${cdn.url}/a.jpg`, platform: 'moments', kind: 'image' }]);
      keeper.keep([{ url: `${cdn.url}/a.jpg`, platform: 'moments', kind: 'image' }]);
      for (let i = 0; i < 50 && (await queue.size()) === 0; i++) await sleep(10);
      expect(await queue.size()).toBe(1);
      await keeper.idle();
      // Refused once: still queued, due later.
      expect(await queue.size()).toBe(1);
      expect(await queue.nextDue(Date.now())).toBeGreaterThan(Date.now());
      expect(cdn.hits.get('/a.jpg')).toBe(1);
      refusing = false;
      for (let i = 0; i < 50 && (await queue.size()) > 0; i++) await sleep(20);
      expect(await queue.size()).toBe(0);
      expect(cdn.hits.get('/a.jpg')).toBe(2);
      expect(await archive.bytes()).toBe(jpeg.length);
      // Gives up after maxAttempts, counted.
      cdn.files.set('/gone.jpg', { body: jpeg, type: 'image/jpeg', status: 500 });
      keeper.keep([{ url: `${cdn.url}/gone.jpg`, platform: 'moments', kind: 'image' }]);
      await keeper.idle();
      for (let i = 0; i < 100 && (await queue.size()) > 0; i++) await sleep(20);
      expect(await queue.size()).toBe(0);
      expect(cdn.hits.get('/gone.jpg')).toBe(3);
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/feedgate_media_keep_total\{kind="image",outcome="gave_up"\} 1/);
      expect(text).toMatch(/feedgate_media_keep_total\{kind="image",outcome="retry"\} 3/);
    } finally {
      keeper.close();
      await cdn.close();
    }
  });

  it('kill -9 with media queued: after a restart every medium is kept, and plays after the CDN links expire', async () => {
    const { m } = moments;
    const media = ['/mmsns/AbC1/0', '/mmsns/AbC2/0', '/mmsns/AbC3/0'];
    // Slow CDN: the keeper's fetches hang while the process dies.
    for (const p of media) m.cdn.files.get(p)!.headerDelayMs = 60_000;
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir, WEFLOW_API_URL: m.weflowUrl, WEFLOW_TOKEN: m.token, PROXY_ALLOW_HOSTS: m.cdn.host, PROXY_SECRET: 'k'.repeat(32) };
    let server = await boot(env);
    let feed: any;
    try {
      feed = await (await fetch(`${server.url}/feeds/moments.json`)).json();
      // Fetches under way (as many as MOMENTS_ARCHIVE_CONCURRENCY), the rest waiting behind them.
      for (let i = 0; i < 250 && !media.some((p) => m.cdn.hits.get(p)); i++) await sleep(20);
      expect(media.some((p) => m.cdn.hits.get(p))).toBe(true);
    } finally {
      server.child.kill('SIGKILL');
      await exitOf(server.child);
    }
    const peek = new Database(join(dataDir, 'feedgate.db'), { readonly: true });
    const queued = (peek.prepare('SELECT COUNT(*) AS n FROM media_keep_queue').get() as { n: number }).n;
    const kept = (peek.prepare('SELECT COUNT(*) AS n FROM media_archive').get() as { n: number }).n;
    peek.close();
    expect(queued).toBeGreaterThanOrEqual(media.length);
    expect(kept).toBe(0);

    for (const p of media) m.cdn.files.get(p)!.headerDelayMs = 0;
    server = await boot(env);
    try {
      const archived = () => {
        const db = new Database(join(dataDir, 'feedgate.db'), { readonly: true });
        try {
          return {
            queued: (db.prepare('SELECT COUNT(*) AS n FROM media_keep_queue').get() as { n: number }).n,
            kept: (db.prepare('SELECT COUNT(*) AS n FROM media_archive').get() as { n: number }).n,
          };
        } finally {
          db.close();
        }
      };
      // Nothing asks for the feed again: the restart alone resumes the queue.
      for (let i = 0; i < 500 && archived().queued > 0; i++) await sleep(20);
      expect(archived()).toEqual({ queued: 0, kept: queued });
      m.expired = true;
      const photos = feed.items.find((i: any) => i.id === IDS.photos);
      const links = [...(photos.content_html as string).matchAll(/<img src="([^"]+)"/g)].map((x) => x[1]!.replace(/&amp;/g, '&'));
      expect(links.length).toBe(3);
      for (const [i, link] of links.entries()) {
        const res = await fetch(link.replace(/^http:\/\/[^/]+/, server.url));
        expect(res.status, link).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(m.plain.get(media[i]!)!)).toBe(true);
      }
    } finally {
      server.child.kill('SIGTERM');
      await exitOf(server.child);
    }
  }, 60_000);
});
