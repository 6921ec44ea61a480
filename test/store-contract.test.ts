import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedCache } from '../src/cache/feed-cache.js';
import { MediaArchive } from '../src/cache/media-archive.js';
import { DiskBlobs, type BlobStore } from '../src/store/blobs.js';
import { firstSeenStore } from '../src/store/first-seen.js';
import { keepQueueStore } from '../src/store/keep-queue.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { momentsPostStore, type StoredPost } from '../src/store/moments-posts.js';
import { mpAccountStore } from '../src/store/mp-accounts.js';
import { mpArticleStore } from '../src/store/mp-articles.js';
import { opmlFeedStore } from '../src/store/opml-feeds.js';
import { PostgresSql } from '../src/store/postgres.js';
import { S3Blobs } from '../src/store/s3-blobs.js';
import { settingStore } from '../src/store/settings.js';
import { sourceHealthStore } from '../src/store/source-health.js';
import { archiveStore } from '../src/store/archive.js';
import { backfillStore } from '../src/store/archive-backfill.js';
import { parseSearch } from '../src/store/search-text.js';
import { snapshotStore } from '../src/store/snapshots.js';
import { refreshFeedStore } from '../src/store/refresh-feeds.js';
import type { Migration, Sql } from '../src/store/sql.js';
import { openSqlite } from '../src/store/sqlite.js';
import { tempDir } from './helpers/app.js';
import { startPostgres, type PostgresProc } from './helpers/postgres.js';
import { startS3, type S3Proc } from './helpers/s3.js';
import { postgresTool } from './helpers/tools.js';

/**
 * One contract, both engines (issue 23): every store behaves the same on SQLite and on a real
 * PostgreSQL started here. A store added later gets its block in this file.
 */

const pgOk = postgresTool().ok;
let server: PostgresProc | undefined;
let s3: S3Proc;
beforeAll(async () => {
  if (pgOk) server = await startPostgres();
  s3 = await startS3();
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await s3?.close();
});

const opened: Sql[] = [];
afterAll(async () => {
  for (const db of opened) await db.close().catch(() => {});
});

type Engine = { name: 'sqlite' | 'postgres'; open(): Promise<Sql> };
const engines: Engine[] = [
  {
    name: 'sqlite',
    async open() {
      const db = openSqlite(tempDir());
      opened.push(db);
      await db.migrate(CORE_MIGRATIONS);
      return db;
    },
  },
  {
    name: 'postgres',
    async open() {
      const db = new PostgresSql({ url: await server!.database(), poolMax: 5, statementTimeoutMs: 5000 });
      opened.push(db);
      await db.migrate(CORE_MIGRATIONS);
      return db;
    },
  },
];

interface Post extends StoredPost {
  text: string;
}

for (const engine of engines) {
  describe.skipIf(engine.name === 'postgres' && !pgOk)(`stores on ${engine.name}${engine.name === 'postgres' && !pgOk ? ` (${postgresTool().hint})` : ''}`, () => {
    let db: Sql;
    beforeAll(async () => {
      db = await engine.open();
    });

    it('archive: new items numbered in order, changes rewritten, unlisted marked (gone within the window), bounds, before with ties, search in Chinese and English, two writers at once', async () => {
      const a = archiveStore(db);
      const item = (guid: string, title: string, sortAt?: number) => ({ guid, data: JSON.stringify({ guid, title }), sortAt, text: () => title });
      const base = { feed: 'x:1', source: 'x', url: '/feeds/x/1', title: 'X', head: '{}', maxItems: 4, keepAfter: 0 };
      // Newest first, as upstreams list: the oldest gets seq 1.
      expect(await a.record({ ...base, items: [item('c', '星际穿越 Interstellar', 300), item('b', '吞噬星空', 200), item('a', 'Dune', 100)], windowFrom: 100, now: 1000 })).toEqual({ nextSeq: 4 });
      expect((await a.bySeq('x:1', 1, 3)).map((r) => [r.guid, r.seq, r.listed])).toEqual([['a', 1, true], ['b', 2, true], ['c', 3, true]]);
      // b deleted (c and a still listed around it), d new, c changed.
      await a.record({ ...base, items: [item('d', 'Tenet 信条', 400), item('c', '星际穿越 (2014)', 300), item('a', 'Dune', 100)], windowFrom: 100, now: 2000 });
      const un = await a.unlisted('x:1', 10);
      expect(un.map((r) => [r.guid, r.gone])).toEqual([['b', true]]);
      expect(JSON.parse((await a.bySeq('x:1', 3, 3))[0]!.data).title).toBe('星际穿越 (2014)');
      expect((await a.search(parseSearch('星际')!, { limit: 10 })).map((r) => r.guid)).toEqual(['c']);
      expect((await a.search(parseSearch('interstellar')!, { limit: 10 })).map((r) => r.guid)).toEqual([]);
      expect((await a.search(parseSearch('噬星')!, { limit: 10 })).map((r) => r.guid)).toEqual(['b']);
      expect((await a.search(parseSearch('星')!, { limit: 10 })).map((r) => r.guid)).toEqual(['c', 'b']);
      expect((await a.search(parseSearch('tene')!, { limit: 10, source: 'x' })).map((r) => r.guid)).toEqual(['d']);
      expect((await a.search(parseSearch('tene')!, { limit: 10, source: 'y' }))).toEqual([]);
      // Over maxItems (4): the oldest unlisted go (a), never a listed one; what was marked gone stays so.
      await a.record({ ...base, items: [item('e', 'E', 500)], windowFrom: undefined, now: 3000 });
      expect(await a.count('x:1')).toBe(4);
      expect((await a.unlisted('x:1', 10)).map((r) => [r.guid, r.gone])).toEqual([['d', false], ['c', false], ['b', true]]);
      expect(await a.search(parseSearch('dune')!, { limit: 10 })).toEqual([]);
      // Unlisted and last seen before keepAfter (ARCHIVE_DAYS): dropped.
      await a.record({ ...base, items: [item('e', 'E2', 500)], now: 4000, keepAfter: 2500 });
      expect((await a.unlisted('x:1', 10)).map((r) => r.guid)).toEqual([]);
      // Items of one time are paged apart by seq.
      await a.record({ ...base, feed: 'x:2', maxItems: 100, items: [item('p', 'P', 50), item('q', 'Q', 50), item('r', 'R', 50)], now: 1000 });
      const first = await a.before('x:2', 51, 2);
      const rest = await a.before('x:2', first[1]!.sortAt, 2, first[1]!.seq);
      expect([...first, ...rest].map((r) => r.guid).sort()).toEqual(['p', 'q', 'r']);
      // Two replicas recording new items of one feed at once: distinct seqs, nothing lost.
      await Promise.all([0, 1].map((w) => a.record({ ...base, feed: 'x:3', maxItems: 100, items: Array.from({ length: 5 }, (_, i) => item(`w${w}-${i}`, 'W')), now: 1000 + w }).catch(() => a.record({ ...base, feed: 'x:3', maxItems: 100, items: Array.from({ length: 5 }, (_, i) => item(`w${w}-${i}`, 'W')), now: 5000 + w }))));
      const seqs = (await a.bySeq('x:3', 1, 100)).map((r) => r.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs.length).toBeGreaterThanOrEqual(5);
      expect(await a.lastId()).toBeGreaterThan(0);
    });

    it('archive search pages through the newest items and the older ones alike (a window of 3 on PostgreSQL)', async () => {
      const a = archiveStore(db, { searchWindow: 3 });
      const item = (n: number) => ({ guid: `s${n}`, data: JSON.stringify({ guid: `s${n}`, title: `t${n}` }), sortAt: n, text: () => (n % 2 ? `星空 odd ${n}` : `even ${n}`) });
      await a.record({ feed: 'sw:1', source: 'sw', url: '/feeds/sw/1', title: 'S', head: '{}', maxItems: 100, keepAfter: 0, items: Array.from({ length: 12 }, (_, i) => item(12 - i)), now: 1000 });
      const all: string[] = [];
      let before: number | undefined;
      for (let i = 0; i < 10; i++) {
        const page = await a.search(parseSearch('星空')!, { limit: 2, beforeId: before, source: 'sw' });
        all.push(...page.map((r) => r.guid));
        if (page.length < 2) break;
        before = page.at(-1)!.id;
      }
      expect(all).toEqual(['s11', 's9', 's7', 's5', 's3', 's1']);
      expect((await a.search(parseSearch('odd 1')!, { limit: 10, source: 'sw' })).map((r) => r.guid)).toEqual(['s11', 's1']);
      expect(await a.search(parseSearch('even 13')!, { limit: 10 })).toEqual([]);
    });

    it('archive backfill: later pages keep only what is new, as not listed, below the bound; progress begun once, saved only over the count it was read at', async () => {
      const a = archiveStore(db);
      const f = backfillStore(db);
      const item = (guid: string, sortAt: number) => ({ guid, data: JSON.stringify({ guid, title: guid }), sortAt, text: () => `旧 ${guid}` });
      const base = { feed: 'bf:1', source: 'bf', url: '/feeds/bf/1', title: 'B', head: '{}', maxItems: 5, keepAfter: 0 };
      expect(await a.older({ feed: 'bf:1', source: 'bf', items: [item('z', 1)], now: 1000, maxItems: 5 })).toBe(0);
      await a.record({ ...base, items: [item('c', 300), item('b', 200)], now: 1000 });
      expect(await a.older({ feed: 'bf:1', source: 'bf', items: [item('b', 200), item('a2', 150), item('a1', 100)], now: 2000, maxItems: 5 })).toBe(2);
      expect((await a.bySeq('bf:1', 1, 10)).map((r) => [r.guid, r.seq, r.listed, r.gone])).toEqual([['b', 1, true, false], ['c', 2, true, false], ['a1', 3, false, false], ['a2', 4, false, false]]);
      // Room for one more: the newest of the page.
      expect(await a.older({ feed: 'bf:1', source: 'bf', items: [item('x2', 90), item('x1', 80)], now: 3000, maxItems: 5 })).toBe(1);
      expect((await a.unlisted('bf:1', 10)).map((r) => r.guid)).toEqual(['a2', 'a1', 'x2']);
      expect((await a.search(parseSearch('旧 x2')!, { limit: 10 })).map((r) => r.guid)).toEqual(['x2']);
      const b = { feed: 'bf:1', url: '/feeds/bf/1', pagesDone: 0, pagesGoal: 5, nextQuery: { offset: '2' }, added: 0, error: '', updatedAt: 1 };
      expect(await f.begin(b)).toBe(true);
      expect(await f.begin({ ...b, pagesGoal: 9 })).toBe(false);
      expect(await f.save({ ...b, pagesDone: 1, nextQuery: undefined, added: 2 }, 0)).toBe(true);
      expect(await f.save({ ...b, pagesDone: 1, added: 7 }, 0)).toBe(false);
      expect(await f.get('bf:1')).toEqual({ ...b, pagesDone: 1, nextQuery: undefined, added: 2 });
      expect((await f.byUrls(['/feeds/bf/1', '/feeds/none'])).map((x) => x.feed)).toEqual(['bf:1']);
      expect(await f.byUrls([])).toEqual([]);
    });

    it('snapshots: put, get, an older copy never replaces a newer one, prune', async () => {
      const s = snapshotStore(db);
      await s.put('k', '"a"', 2000);
      await s.put('k', '"old"', 1000);
      expect(await s.get('k')).toEqual({ data: '"a"', storedAt: 2000 });
      await s.put('k', '"b"', 3000);
      expect((await s.get('k'))?.data).toBe('"b"');
      // Fetched again, unchanged: only the times move, and only on the copy it was.
      expect(await s.touch('k', 3000, 4000, 9000)).toBe(true);
      expect(await s.get('k')).toEqual({ data: '"b"', storedAt: 4000, freshUntil: 9000 });
      expect(await s.touch('k', 3000, 5000, 9000)).toBe(false);
      expect(await s.touch('missing', 0, 5000)).toBe(false);
      await s.put('gone', '1', 10);
      expect(await s.prune(500)).toBe(1);
      expect(await s.get('gone')).toBeUndefined();
      expect(await s.get('missing')).toBeUndefined();
    });

    it('snapshots: the feed cache sweeps copies too old to be served and serves from them after a restart', async () => {
      const snaps = snapshotStore(db);
      await snaps.put('old', '"x"', 1000);
      let now = 10_000_000;
      const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      for (let i = 0; i < 200; i++) await cache.get(`k${i}`, 1000, async () => i);
      // Neither the sweep (on the first write) nor the copies are waited for by the cache.
      for (let i = 0; i < 100 && ((await snaps.get('old')) || !(await snaps.get('k199'))); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await snaps.get('old')).toBeUndefined();
      expect((await snaps.get('k199'))?.data).toBe('199');
      // A new process (a new cache) with the upstream down: the snapshot stands in.
      now += 1500;
      const again = new FeedCache({ maxBytes: 1 << 20, staleMs: 10_000, snapshots: snaps, now: () => now, isStaleable: () => true });
      const r = await again.get('k199', 1000, async () => Promise.reject(new Error('down')));
      expect(r).toMatchObject({ state: 'stale', value: 199 });
    });

    it('snapshots: a copy still fresh is a hit for a new process (no upstream call); an invalidated or expired one is not', async () => {
      const snaps = snapshotStore(db);
      let now = 50_000_000;
      const first = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      await first.get('fresh', 60_000, async () => ({ v: 1 }));
      for (let i = 0; i < 50 && !(await snaps.get('fresh')); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await snaps.get('fresh')).toMatchObject({ storedAt: now, freshUntil: now + 60_000 });
      now += 30_000;
      let calls = 0;
      const load = async () => ({ v: 2, call: ++calls });
      const second = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      // No upstream call: answered as a hit (X-Cache: HIT), from the durable copy.
      expect(await second.get('fresh', 60_000, load)).toMatchObject({ state: 'hit', value: { v: 1 } });
      expect(await second.get('fresh', 60_000, load)).toMatchObject({ state: 'hit', value: { v: 1 } });
      expect(calls).toBe(0);
      const landed2 = async (key: string, test: (snap: Awaited<ReturnType<typeof snaps.get>>) => boolean) => {
        for (let i = 0; i < 100 && !test(await snaps.get(key)); i++) await new Promise((r) => setTimeout(r, 10));
        expect(test(await snaps.get(key))).toBe(true);
      };
      // Snapshot writes are not waited for by the cache: wait for each to land before the next step.
      const landed = async (test: (snap: Awaited<ReturnType<typeof snaps.get>>) => boolean) => {
        for (let i = 0; i < 100 && !test(await snaps.get('fresh')); i++) await new Promise((r) => setTimeout(r, 10));
        expect(test(await snaps.get('fresh'))).toBe(true);
      };
      // A background refresh due after the copy was stored loads anyway.
      const third = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      expect((await third.get('fresh', 60_000, load, { refreshedSince: now - 1000 })).value).toMatchObject({ v: 2 });
      expect(calls).toBe(1);
      await landed((s) => s?.data.includes('"call":1') === true);
      // Invalidated (a /play whose URL failed): neither this process nor the next takes the durable copy.
      third.invalidate('fresh');
      await landed((s) => s?.freshUntil === undefined);
      now += 1;
      expect((await third.get('fresh', 60_000, load)).value).toMatchObject({ call: 2 });
      await landed((s) => s?.data.includes('"call":2') === true && s.freshUntil !== undefined);
      await snaps.expire('fresh');
      now += 1;
      const fourth = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      expect((await fourth.get('fresh', 60_000, load)).value).toMatchObject({ call: 3 });
      // A background refresh of a key nobody reads here leaves memory alone: the copy is in the store,
      // written before the refresh returns, and the next poll takes it from there.
      const sixth = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      now += 1;
      expect(await sixth.get('bg', 60_000, async () => ({ bg: 1 }), { background: true, refreshedSince: now })).toMatchObject({ state: 'miss', value: { bg: 1 } });
      expect(sixth.peek('bg')).toBeUndefined();
      expect((await snaps.get('bg'))?.data).toBe('{"bg":1}');
      expect(await sixth.get('bg', 60_000, async () => ({ bg: 2 }))).toMatchObject({ state: 'hit', value: { bg: 1 } });
      // Now it is read here: the next background refresh replaces the copy in memory too.
      now += 1;
      await sixth.get('bg', 60_000, async () => ({ bg: 3 }), { background: true, refreshedSince: now });
      expect(sixth.peek('bg')).toEqual({ bg: 3 });
      // The same data loaded again rewrites only the times; different data rewrites the copy.
      const seventh = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      await seventh.get('same', 1000, async () => ({ s: 1 }));
      await landed2('same', (x) => x?.data === '{"s":1}');
      now += 2000;
      await seventh.get('same', 1000, async () => ({ s: 1 }));
      await landed2('same', (x) => x?.storedAt === now && x.data === '{"s":1}' && x.freshUntil === now + 1000);
      now += 2000;
      await seventh.get('same', 1000, async () => ({ s: 2 }));
      await landed2('same', (x) => x?.storedAt === now && x.data === '{"s":2}');
      // Past its freshness the copy is only a last good one.
      now += 120_000;
      const fifth = new FeedCache({ maxBytes: 1 << 20, staleMs: 1000, snapshots: snaps, now: () => now });
      expect((await fifth.get('fresh', 60_000, load)).value).toMatchObject({ call: 4 });
    });

    it('refresh schedule: added once, an outcome recorded only by the run that was due, rescheduled only from where it was, counted per source', async () => {
      const r = refreshFeedStore(db);
      expect(await r.add({ url: '/feeds/mp/a.rss', source: 'mp', intervalMs: 3_600_000, nextAt: 1000 })).toBe(true);
      expect(await r.add({ url: '/feeds/mp/a.rss', source: 'mp', intervalMs: 60_000, nextAt: 5 })).toBe(false);
      await r.add({ url: '/feeds/mp/b.rss', source: 'mp', intervalMs: 3_600_000, nextAt: 2000 });
      await r.add({ url: '/feeds/hdhive/tv/1.rss', source: 'hdhive', intervalMs: 1_800_000, nextAt: 3000 });
      expect(await r.get('/feeds/mp/a.rss')).toMatchObject({ source: 'mp', intervalMs: 3_600_000, nextAt: 1000, digest: '', fails: 0, newItems: 0, lastError: '' });
      const outcome = { intervalMs: 5_400_000, nextAt: 9000, lastAt: 1001, changedAt: 1001, digest: 'd1', newItems: 3, fails: 0, lastError: '' };
      // Two replicas finishing the same due run: only the first records.
      const [x, y] = await Promise.all([r.done('/feeds/mp/a.rss', 1000, outcome), r.done('/feeds/mp/a.rss', 1000, { ...outcome, digest: 'd2' })]);
      expect([x, y].filter(Boolean)).toHaveLength(1);
      expect(await r.get('/feeds/mp/a.rss')).toMatchObject({ nextAt: 9000, newItems: 3, lastAt: 1001 });
      expect(await r.done('/feeds/mp/a.rss', 1000, outcome)).toBe(false);
      expect(await r.reschedule('/feeds/mp/b.rss', 1, 50)).toBe(false);
      expect(await r.reschedule('/feeds/mp/b.rss', 2000, 50)).toBe(true);
      expect((await r.get('/feeds/mp/b.rss'))!.nextAt).toBe(50);
      expect(await r.count()).toBe(3);
      expect(await r.countBySource()).toEqual({ mp: 2, hdhive: 1 });
      expect((await r.all(10)).map((f) => f.url)).toEqual(['/feeds/hdhive/tv/1.rss', '/feeds/mp/a.rss', '/feeds/mp/b.rss']);
      await r.remove('/feeds/mp/a.rss');
      expect(await r.get('/feeds/mp/a.rss')).toBeUndefined();
      expect(await r.countBySource()).toEqual({ mp: 1, hdhive: 1 });
    });

    it('first-seen: the first time stands, duplicates and many guids at once', async () => {
      const f = firstSeenStore(db);
      const a = await f.stamp('src', ['a', 'b', 'a'], 100);
      expect([...a]).toEqual([
        ['a', 100],
        ['b', 100],
      ]);
      const b = await f.stamp('src', ['b', 'c'], 200);
      expect(b.get('b')).toBe(100);
      expect(b.get('c')).toBe(200);
      expect((await f.stamp('other', ['a'], 300)).get('a')).toBe(300);
      const many = Array.from({ length: 450 }, (_, i) => `g${i}`);
      const m = await f.stamp('bulk', many, 5);
      expect(m.size).toBe(450);
    });

    it('MP accounts: push, state changes, secrets only through credentials(), delete', async () => {
      const s = mpAccountStore(db);
      const a = await s.push({ biz: 'MzA1', uin: 'u', key: 'k1', pass_ticket: 'p', nickname: '号' }, 1000);
      expect(a).toMatchObject({ biz: 'MzA1', nickname: '号', createdAt: 1000, updatedAt: 1000, lastError: '' });
      expect(JSON.stringify(a)).not.toContain('k1');
      await s.rejected('MzA1', 1500);
      await s.rejected('MzA1', 1600);
      expect((await s.get('MzA1'))?.rejectedAt).toBe(1500);
      // New credentials forget the rejection; an empty nickname keeps the old one.
      await s.push({ biz: 'MzA1', uin: 'u', key: 'k2', pass_ticket: 'p' }, 2000);
      expect(await s.get('MzA1')).toMatchObject({ nickname: '号', updatedAt: 2000, createdAt: 1000, rejectedAt: undefined });
      expect(await s.credentials('MzA1')).toEqual({ biz: 'MzA1', uin: 'u', key: 'k2', passTicket: 'p' });
      await s.limited('MzA1', 2100, 9000);
      expect(await s.get('MzA1')).toMatchObject({ limitedAt: 2100, limitedUntil: 9000 });
      await s.succeeded('MzA1', 2200);
      expect(await s.get('MzA1')).toMatchObject({ lastSuccess: 2200, limitedUntil: undefined, lastError: '' });
      await s.failed('MzA1', 'x'.repeat(900) + '\u0000');
      expect((await s.get('MzA1'))?.lastError.length).toBe(500);
      await s.push({ biz: 'MzA2', uin: 'u', key: 'k', pass_ticket: 'p' }, 3000);
      expect((await s.all()).map((x) => x.biz)).toEqual(['MzA2', 'MzA1']);
      expect(await s.delete('MzA2')).toBe(true);
      expect(await s.delete('MzA2')).toBe(false);
      expect(await s.credentials('MzA2')).toBeUndefined();
    });

    it('MP articles: record keeps bodies, recent/latestPushes/getMany order, any text round-trips', async () => {
      const s = mpArticleStore(db);
      const meta = (title: string) => ({ title, digest: '', author: '', cover: '', sourceUrl: '', showType: 0 });
      const row = (n: number, pushedAt: number, idx: number) => ({ url: `https://mp.weixin.qq.com/s?__biz=B&mid=${n}&idx=${idx}&sn=x`, biz: 'B', pushedAt, idx, meta: meta(`t${n}`) });
      await s.record([row(1, 1000, 1), row(2, 1000, 2), row(3, 2000, 1), row(4, 3000, 1)], 1);
      await s.keepBody(row(1, 0, 1).url, '<p>正文</p>', 'article', 50);
      await s.record([{ ...row(1, 1000, 1), meta: meta('renamed') }], 2);
      const one = await s.get(row(1, 0, 1).url);
      expect(one).toMatchObject({ body: '<p>正文</p>', bodyKind: 'article', bodyAt: 50, meta: { title: 'renamed' } });
      expect((await s.recent('B', 10)).map((r) => r.meta.title)).toEqual(['t4', 't3', 'renamed', 't2']);
      expect((await s.recent('B', 10, 2000)).length).toBe(2);
      expect((await s.latestPushes('B', 2)).map((r) => r.pushedAt)).toEqual([3000, 2000]);
      const many = await s.getMany([row(2, 0, 2).url, 'https://nope', row(4, 0, 1).url]);
      expect([...many.keys()].sort()).toEqual([row(2, 0, 2).url, row(4, 0, 1).url].sort());
      // Whatever text an upstream sends comes back as it went in (PostgreSQL drops U+0000, which no text needs).
      const texts = fc.sample(fc.string({ unit: 'binary', maxLength: 200 }), { numRuns: 60, seed: 23 });
      for (const [i, t] of texts.entries()) {
        const url = `https://mp.weixin.qq.com/s?__biz=F&mid=${i}&idx=1&sn=x`;
        await s.record([{ url, biz: 'F', pushedAt: i, idx: 1, meta: meta(t) }]);
        await s.keepBody(url, t, 'article');
        const back = await s.get(url);
        expect(back?.meta.title).toBe(t);
        expect(back?.body).toBe(engine.name === 'postgres' ? t.replaceAll('\u0000', '') : t);
      }
    });

    it('Moments posts: first-seen ids, newer data replaces, since() by author and time, authors()', async () => {
      const s = momentsPostStore<Post>(db);
      const p = (id: string, username: string, createTime: number, text = '') => ({ id, username, nickname: `${username}-n${createTime}`, createTime, text });
      expect([...(await s.record([p('1', 'wxid_a', 100), p('2', 'wxid_b', 200)]))].sort()).toEqual(['1', '2']);
      expect([...(await s.record([p('2', 'wxid_b', 200, 'edited'), p('3', 'wxid_a', 300)]))]).toEqual(['3']);
      expect((await s.get('2'))?.text).toBe('edited');
      expect(await s.get('9')).toBeUndefined();
      expect((await s.since([], 0, 10)).map((x) => x.id)).toEqual(['3', '2', '1']);
      expect((await s.since(['wxid_a'], 150, 10)).map((x) => x.id)).toEqual(['3']);
      expect((await s.since([], 0, 2)).length).toBe(2);
      expect(await s.authors()).toEqual([
        { username: 'wxid_a', nickname: 'wxid_a-n300', posts: 2 },
        { username: 'wxid_b', nickname: 'wxid_b-n200', posts: 1 },
      ]);
      expect([...(await s.getMany(['1', '3', 'x'])).keys()].sort()).toEqual(['1', '3']);
    });

    it('OPML feeds: built and requested, titles kept, bounded per kind (trimmed every few writes), newest kept', async () => {
      const s = opmlFeedStore(db, { max: 50, trimEvery: 7 });
      await s.built({ url: '/feeds/hdhive/movie/1.rss', title: 'One', source: 'hdhive' }, 10);
      await s.requested({ url: '/feeds/hdhive/movie/1.rss', title: '', source: 'hdhive' }, 20);
      expect(await s.list(0)).toEqual([{ url: '/feeds/hdhive/movie/1.rss', title: 'One', source: 'hdhive' }]);
      await s.requested({ url: '/feeds/hdhive/tv/old.rss', title: '', source: 'hdhive' }, 5);
      expect((await s.list(6)).length).toBe(1);
      for (let i = 0; i < 120; i++) {
        await s.requested({ url: `/feeds/hdhive/movie/r${i}.rss`, title: '', source: 'hdhive' }, 1_000 + i);
        await s.built({ url: `/feeds/hdhive/tv/b${i}.rss`, title: '', source: 'hdhive' }, 1_000 + i);
      }
      const list = await s.list(0);
      // At most 50 of each, plus what came since the last trim (fewer than 7).
      const built = list.filter((f) => f.url.includes('/tv/b')).length;
      const requested = list.filter((f) => f.url.includes('/movie/r')).length;
      expect(built).toBeGreaterThanOrEqual(50);
      expect(built).toBeLessThan(57);
      expect(requested).toBeGreaterThanOrEqual(50);
      expect(requested).toBeLessThan(57);
      expect(list.some((f) => f.url === '/feeds/hdhive/movie/r0.rss')).toBe(false);
      expect(list.some((f) => f.url === '/feeds/hdhive/tv/b0.rss')).toBe(false);
      expect(list.some((f) => f.url === '/feeds/hdhive/movie/r119.rss')).toBe(true);
      expect(list.some((f) => f.url === '/feeds/hdhive/tv/b119.rss')).toBe(true);
    }, 60_000);

    it('keep queue: add once, claims are exclusive (two claimers at once), renew, retry, release, sizes', async () => {
      const q = keepQueueStore(db);
      await q.add(
        Array.from({ length: 20 }, (_, i) => ({ id: `m${i}`, request: `{"i":${i}}` })),
        100,
      );
      await q.add([{ id: 'm0', request: 'again' }], 100);
      expect(await q.size()).toBe(20);
      // Two replicas claiming at the same moment never get the same job.
      const [a, b] = await Promise.all([q.claim(200, 15, 10_000), q.claim(200, 15, 10_000)]);
      // On PostgreSQL the second may have picked the same rows and, finding them claimed, take none: a
      // later claim takes what is left.
      const rest = await q.claim(200, 15, 10_000);
      const ids = [...a, ...b, ...rest].map((j) => j.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(Math.max(a.length, b.length)).toBe(15);
      expect(ids.length).toBe(20);
      expect(await q.hasDue(200)).toBe(false);
      expect(await q.nextDue(200)).toBe(10_000);
      await q.renew(['m0'], 20_000);
      await q.retry('m1', 5_000, 'refused');
      expect(await q.claim(6_000, 5, 7_000)).toEqual([{ id: 'm1', request: '{"i":1}', attempts: 1 }]);
      // Claims run out: jobs of a replica that died are claimed again, m0's renewed claim holds longer.
      const later = (await q.claim(10_000, 50, 30_000)).map((j) => j.id);
      expect(later).not.toContain('m0');
      expect(later.length).toBe(19);
      await q.releaseAll();
      expect((await q.claim(10_001, 50, 40_000)).length).toBe(20);
      for (let i = 0; i < 20; i++) await q.remove(`m${i}`);
      expect(await q.size()).toBe(0);
      expect(await q.nextDue(0)).toBeUndefined();
    });

    it('source health: a first ok is no news, each change is made once (replicas racing), alerts claimed once, events newest first', async () => {
      const h = sourceHealthStore(db);
      const ok = { state: 'ok' as const, message: '', setting: '' };
      const dead = { state: 'credentials_expired' as const, message: 'HTTP 401: check DOUYIN_COOKIE', setting: 'DOUYIN_COOKIE' };
      expect(await h.report('douyin', '', ok, 100)).toBeUndefined();
      expect(await h.report('douyin', '', ok, 110)).toBeUndefined();
      // Two replicas find the same change at once: one event between them.
      const [x, y] = await Promise.all([h.report('douyin', '', dead, 200), h.report('douyin', '', dead, 201)]);
      const made = [x, y].filter(Boolean);
      expect(made).toHaveLength(1);
      expect(made[0]).toMatchObject({ source: 'douyin', from: 'ok', to: 'credentials_expired', setting: 'DOUYIN_COOKIE' });
      expect(await h.report('douyin', '', dead, 300)).toBeUndefined();
      // A first report that is bad is news.
      expect(await h.report('mp', 'MzA1', { state: 'credentials_expiring', message: 'soon', setting: '' }, 250)).toMatchObject({ from: 'unknown', to: 'credentials_expiring' });
      // The change's alert, claimed by one replica; then a reminder, claimed by one.
      const [c1, c2] = await Promise.all([h.claimAlert('douyin', '', 'credentials_expired', null, 400), h.claimAlert('douyin', '', 'credentials_expired', null, 401)]);
      expect([c1, c2].filter(Boolean)).toHaveLength(1);
      const [r1, r2] = await Promise.all([h.claimAlert('douyin', '', 'credentials_expired', 450, 460), h.claimAlert('douyin', '', 'credentials_expired', 450, 461)]);
      expect([r1, r2].filter(Boolean)).toHaveLength(1);
      expect(await h.claimAlert('douyin', '', 'ok', null, 470)).toBe(false);
      expect(await h.unalerted(455)).toEqual([expect.objectContaining({ source: 'mp', account: 'MzA1' })]);
      expect((await h.unalerted(1000)).map((r) => r.source).sort()).toEqual(['douyin', 'mp']);
      expect(await h.report('douyin', '', ok, 500)).toMatchObject({ from: 'credentials_expired', to: 'ok' });
      expect((await h.events(10)).map((e) => [e.source, e.to])).toEqual([
        ['douyin', 'ok'],
        ['mp', 'credentials_expiring'],
        ['douyin', 'credentials_expired'],
      ]);
      expect((await h.all()).map((r) => [r.source, r.account, r.state])).toEqual([
        ['douyin', '', 'ok'],
        ['mp', 'MzA1', 'credentials_expiring'],
      ]);
    });

    it('settings: the first value stands, whoever asks', async () => {
      const s = settingStore(db);
      const [x, y] = await Promise.all([s.once('secret', () => 'a'), s.once('secret', () => 'b')]);
      expect(x).toBe(y);
      expect(await s.keep('secret', 'c')).toBe(x);
      expect(await s.get('nothing')).toBeUndefined();
    });

    it('transactions roll back on error; statements outside one are never rolled back with it', async () => {
      const s = snapshotStore(db);
      let inside = false;
      const t = db.tx(async (q) => {
        await snapshotStore(q).put('tx', '1', 1);
        inside = true;
        await new Promise((r) => setTimeout(r, 30));
        throw new Error('no');
      });
      while (!inside) await new Promise((r) => setTimeout(r, 1));
      // Another request's write while the transaction is open (SQLite: it waits for it; PostgreSQL: another connection).
      const outside = s.put('outside', '2', 2);
      await expect(t).rejects.toThrow('no');
      await outside;
      expect(await s.get('tx')).toBeUndefined();
      expect((await s.get('outside'))?.data).toBe('2');
    });

    for (const kind of ['disk', 's3'] as const) {
      it(`media archive on ${kind}: bound with oldest out, Range reads, leftovers swept, missing blobs`, async () => {
        const dir = tempDir();
        let blobs: BlobStore;
        if (kind === 's3') {
          s3.useEnv();
          blobs = new S3Blobs(`s3://${s3.bucket}/${engine.name}-${Date.now()}`, s3.endpoint, join(dir, 'tmp'));
        } else blobs = new DiskBlobs(join(dir, 'archive'));
        const archive = new MediaArchive(db, blobs, 250, engine.name === 'postgres');
        await db.run('DELETE FROM media_archive');
        await archive.putBuffer('a', Buffer.alloc(100, 1), 'image/jpeg');
        await new Promise((r) => setTimeout(r, 5));
        await archive.putBuffer('b', Buffer.alloc(100, 2), 'image/jpeg');
        await new Promise((r) => setTimeout(r, 5));
        expect(await archive.bytes()).toBe(200);
        const body = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
        await archive.putBuffer('c', body, 'video/mp4');
        expect(await archive.has('a')).toBe(false);
        expect((await archive.has('b')) && (await archive.has('c'))).toBe(true);
        expect(await archive.bytes()).toBe(200);
        // Larger than the whole bound: not kept, nothing evicted for it.
        await archive.putBuffer('huge', Buffer.alloc(300), 'video/mp4');
        expect(await archive.has('huge')).toBe(false);
        expect(await archive.bytes()).toBe(200);
        const c = (await archive.lookup('c'))!;
        expect(c).toMatchObject({ bytes: 100, contentType: 'video/mp4' });
        const part: Buffer[] = [];
        for await (const chunk of (await archive.read('c', c, 10, 19))!) part.push(chunk as Buffer);
        expect(Buffer.concat(part)).toEqual(body.subarray(10, 20));
        expect(await archive.readAll('c', c)).toEqual(body);
        // A blob nobody names (a crash between upload and row), old enough: swept; the named ones stay.
        const tmp = blobs.tempPath();
        writeFileSync(tmp, 'orphan');
        await blobs.put('orphan', tmp, 6, 'application/octet-stream');
        expect(await archive.sweep(Date.now() + 2 * 3_600_000)).toBe(1);
        expect(await archive.readAll('c', c)).toEqual(body);
        // A row whose blob is gone: read says so, and the row is dropped.
        await blobs.remove(c.file);
        expect(await archive.read('c', c, 0, 9)).toBeUndefined();
        // Dropped when the blobs are shared or the index is this replica's own; kept for the replica that has it otherwise.
        expect(await archive.has('c')).toBe(kind === 'disk' && engine.name === 'postgres');
        blobs.close?.();
      });
    }
  });
}

describe('query plans (SQLite)', () => {
  it("a feed's newest unlisted items are read from their own index, not by reading and sorting every item of the feed", async () => {
    const db = await engines[0]!.open();
    // The statements the store runs, recorded on their way to the real database.
    const ran: string[] = [];
    const recording = new Proxy(db, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (key === 'all' || key === 'get' || key === 'run') return (sql: string, params?: unknown[]) => (ran.push(sql), (v as Sql['all']).call(target, sql, params));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Sql;
    const a = archiveStore(recording);
    const item = (n: number) => ({ guid: `g${n}`, data: JSON.stringify({ n }), sortAt: n % 7, text: () => 'x' });
    const base = { feed: 'p:1', source: 'p', url: '/feeds/p/1', title: 'P', head: '{}', maxItems: 100, keepAfter: 0 };
    await a.record({ ...base, items: Array.from({ length: 30 }, (_, n) => item(n)), now: 1000 });
    await a.record({ ...base, items: Array.from({ length: 10 }, (_, n) => item(n)), now: 2000 });
    ran.length = 0;
    const un = await a.unlisted('p:1', 5);
    // Ties on sort_at come newest seq first, as the index is ordered.
    expect(un.map((r) => [r.sortAt, r.seq])).toEqual([...un].sort((x, y) => y.sortAt - x.sortAt || y.seq - x.seq).map((r) => [r.sortAt, r.seq]));
    expect(un.every((r) => !r.listed)).toBe(true);
    expect(ran).toHaveLength(1);
    const plan = ((db as unknown as { db: Database.Database }).db.prepare(`EXPLAIN QUERY PLAN ${ran[0]}`).all('p:1', 5) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
    expect(plan).toMatch(/USING INDEX archive_items_unlisted/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });
});

describe('migrations', () => {
  const extra: Migration = { id: '999_future', sqlite: 'CREATE TABLE future (x TEXT)', postgres: 'CREATE TABLE future (x TEXT)' };

  it('SQLite: a database from before migration ids (user_version 6) is taken up without re-running them', async () => {
    const dir = tempDir();
    const raw = new Database(join(dir, 'feedgate.db'));
    for (const m of CORE_MIGRATIONS.slice(0, 6)) raw.exec(m.sqlite);
    raw.prepare("INSERT INTO first_seen VALUES ('s', 'g', 42)").run();
    raw.pragma('user_version = 6');
    raw.close();
    const db = openSqlite(dir);
    await db.migrate(CORE_MIGRATIONS);
    expect((await firstSeenStore(db).stamp('s', ['g'], 99)).get('g')).toBe(42);
    expect(await settingStore(db).once('x', () => 'y')).toBe('y');
    await db.close();
  });

  for (const engine of engines) {
    it.skipIf(engine.name === 'postgres' && !pgOk)(`${engine.name}: a schema newer than the code is refused, naming what to do; the same code migrates nothing twice`, async () => {
      const db = await engine.open();
      await db.migrate([...CORE_MIGRATIONS, extra]);
      await db.migrate([...CORE_MIGRATIONS, extra]);
      await expect(db.migrate(CORE_MIGRATIONS)).rejects.toThrow(/migrated by a newer feedgate \(it has 999_future.*run that newer feedgate, or restore a backup/);
    });
  }

  it.skipIf(!pgOk)('PostgreSQL: replicas starting together migrate once (advisory lock)', async () => {
    const url = await server!.database();
    const replicas = Array.from({ length: 4 }, () => new PostgresSql({ url, poolMax: 2, statementTimeoutMs: 5000 }));
    opened.push(...replicas);
    await Promise.all(replicas.map((r) => r.migrate([...CORE_MIGRATIONS, extra])));
    const rows = await replicas[0]!.all<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([...CORE_MIGRATIONS, extra].map((m) => m.id).sort());
  });

  it.skipIf(!pgOk)('PostgreSQL away: a store call is a 503 DATABASE_UNAVAILABLE naming DATABASE_URL; it works again once the server is back', async () => {
    const db = await engines[1]!.open();
    const s = snapshotStore(db);
    await s.put('k', '1', 1);
    await server!.kill();
    try {
      const err = await s.get('k').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ status: 503, code: 'DATABASE_UNAVAILABLE' });
      expect((err as Error).message).toMatch(/DATABASE_URL/);
    } finally {
      await server!.start();
    }
    expect((await s.get('k'))?.data).toBe('1');
  });
});
