import { describe, expect, it } from 'vitest';
import { FeedCache } from '../src/cache/feed-cache.js';
import { UpstreamError, isStaleable } from '../src/upstream/errors.js';
import { HttpError } from '../src/http/errors.js';
import { tempDir } from './helpers/app.js';

const upstreamDown = () => new UpstreamError('x', 'unreachable', 502, 'UPSTREAM_UNREACHABLE', 'down');

describe('FeedCache', () => {
  it('is bounded in bytes, not entries', async () => {
    const cache = new FeedCache({ maxBytes: 100_000, staleMs: 0 });
    const big = 'x'.repeat(10_000);
    for (let i = 0; i < 50; i++) await cache.get(`k${i}`, 60_000, async () => ({ big }));
    expect(cache.calculatedSize).toBeLessThanOrEqual(100_000);
    expect(cache.calculatedSize).toBeGreaterThan(80_000);
    // The oldest were evicted: asking again loads again.
    let loads = 0;
    await cache.get('k0', 60_000, async () => (loads++, { big }));
    await cache.get('k49', 60_000, async () => (loads++, { big }));
    expect(loads).toBe(1);
  });

  it('single-flight: concurrent misses share one load, and a failed load is not kept in flight', async () => {
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 0 });
    let loads = 0;
    const slow = () => new Promise<number>((r) => setTimeout(() => r(++loads), 50));
    const results = await Promise.all(Array.from({ length: 20 }, () => cache.get('k', 60_000, slow)));
    expect(loads).toBe(1);
    expect(new Set(results.map((r) => r.value))).toEqual(new Set([1]));

    let attempts = 0;
    await expect(cache.get('f', 60_000, async () => (attempts++, Promise.reject(upstreamDown())))).rejects.toThrow('down');
    await expect(cache.get('f', 60_000, async () => (attempts++, 1))).resolves.toMatchObject({ value: 1, state: 'miss' });
    expect(attempts).toBe(2);
  });

  it('serves the last good copy within the stale window, and not after it', async () => {
    let now = 1_000_000;
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 10_000, isStaleable, now: () => now });
    await cache.get('k', 1000, async () => 'good');
    now += 1500;
    const r = await cache.get('k', 1000, async () => Promise.reject(upstreamDown()));
    expect(r).toMatchObject({ value: 'good', state: 'stale' });
    now += 20_000;
    await expect(cache.get('k', 1000, async () => Promise.reject(upstreamDown()))).rejects.toThrow('down');
  });

  it('errors that are not upstream failures are never covered by a stale copy', async () => {
    let now = 0;
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 10_000, isStaleable, now: () => now });
    await cache.get('k', 1000, async () => 'good');
    now += 1500;
    await expect(cache.get('k', 1000, async () => Promise.reject(new HttpError(404, 'NOT_FOUND', 'gone')))).rejects.toThrow('gone');
  });

  it('remembers a failure for failureTtlMs instead of calling again', async () => {
    let now = 0;
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 0, failureTtl: () => 1000, now: () => now });
    let calls = 0;
    const failing = async () => (calls++, Promise.reject(upstreamDown()));
    await expect(cache.get('k', 1000, failing)).rejects.toThrow('down');
    await expect(cache.get('k', 1000, failing)).rejects.toThrow('down');
    expect(calls).toBe(1);
  });
});

describe('FeedCache memory', () => {
  it('a timer a load leaves waiting (an upstream deadline) does not keep the loaded data alive', async () => {
    // In a child with --expose-gc: the timer keeps the async context it was started in (the load's
    // progress) until it fires, which must not reach the flight, its value or the copy read for it.
    const { execFileSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const script = `
      const { FeedCache } = await import(${JSON.stringify(fileURLToPath(new URL('../src/cache/feed-cache.ts', import.meta.url)))});
      const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 0 });
      let ref;
      await cache.get('k', 60_000, async () => {
        setTimeout(() => {}, 600_000).unref();
        const value = { items: new Array(1000).fill('x') };
        ref = new WeakRef(value);
        return value;
      }, { background: true });
      cache.invalidate('k');
      await new Promise((r) => setTimeout(r, 10));
      gc(); gc();
      console.log(ref.deref() === undefined ? 'collected' : 'retained');
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('collected');
  });
});

describe('FeedCache durable copies', () => {
  /** The snapshot store on a real SQLite database in a directory of its own. */
  async function sqliteSnapshots() {
    const { openSqlite } = await import('../src/store/sqlite.js');
    const { CORE_MIGRATIONS } = await import('../src/store/migrations.js');
    const { snapshotStore } = await import('../src/store/snapshots.js');
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    return { db, store: snapshotStore(db) };
  }

  it('a stored copy that does not parse is no copy: neither served fresh nor as the last good one', async () => {
    const { db, store: snapshots } = await sqliteSnapshots();
    const now = Date.now();
    await snapshots.put('bad', '{"items": [', now - 1000, now + 60_000);
    await snapshots.put('good', '{"items": [1]}', now - 1000, now + 60_000);
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 3_600_000, snapshots });
    expect(await cache.get('good', 60_000, async () => ({ items: [2] }))).toMatchObject({ state: 'hit', value: { items: [1] } });
    expect(await cache.get('bad', 60_000, async () => ({ items: [2] }))).toMatchObject({ state: 'miss', value: { items: [2] } });
    await snapshots.put('bad2', '{"items": [', now - 1000);
    const down = new UpstreamError('t', 'status', 502, 'UPSTREAM_ERROR', 'down');
    await expect(cache.get('bad2', 60_000, async () => { throw down; })).rejects.toBe(down);
    expect(await cache.lastGood('bad2', 60_000)).toBeUndefined();
    await db.close();
  });

  it('a background refresh gets the copy it replaced (memory, else the one snapshot read), as lastGood gave it before', async () => {
    const { db, store } = await sqliteSnapshots();
    let reads = 0;
    const snapshots = { ...store, get: (key: string) => (reads++, store.get(key)) };
    const now = Date.now();
    await store.put('k', '{"items": [1]}', now - 5000, now + 60_000);
    await store.put('bad', '{"items": [', now - 5000, now + 60_000);
    const cache = new FeedCache({ maxBytes: 1 << 20, staleMs: 3_600_000, snapshots });
    // Each asks for a copy newer than any there is, as a background refresh at its time does.
    const refresh = (key: string, items: number[]) => cache.get(key, 60_000, async () => ({ items }), { refreshedSince: Date.now() + 1, background: true, previous: true });
    expect(await cache.lastGood('k', 60_000)).toEqual({ items: [1] });
    reads = 0;
    // Only on disk: the load looks at the durable copy once, and that read is the previous copy too.
    expect(await refresh('k', [2])).toMatchObject({ state: 'miss', value: { items: [2] }, previous: { items: [1] } });
    expect(reads).toBe(1);
    // In memory (a reader polled it, finding the refreshed copy on disk): that copy; the one read is the load's own look.
    expect(await cache.get('k', 60_000, async () => ({ items: [0] }))).toMatchObject({ state: 'hit', value: { items: [2] } });
    reads = 0;
    expect(await refresh('k', [3])).toMatchObject({ value: { items: [3] }, previous: { items: [2] } });
    expect(reads).toBe(1);
    // None, or one that does not parse: no previous copy.
    expect((await refresh('none', [1])).previous).toBeUndefined();
    expect((await refresh('bad', [1])).previous).toBeUndefined();
    // Not asked for: not there.
    expect('previous' in (await cache.get('other', 60_000, async () => ({ items: [] }), { background: true }))).toBe(false);
    await db.close();
  });
});
