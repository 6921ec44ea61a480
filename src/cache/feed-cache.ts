import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics.js';
import type { SnapshotStore } from '../store/snapshots.js';

export type CacheState = 'hit' | 'miss' | 'stale';

export interface CacheResult<T> {
  value: T;
  state: CacheState;
  /** When the value was fetched from upstream (ms). */
  storedAt: number;
  /** Set when state is "stale": why the refresh failed. */
  error?: unknown;
}

interface Entry {
  value: unknown;
  storedAt: number;
  freshUntil: number;
}

export interface FeedCacheOptions {
  maxBytes: number;
  /** How long past its TTL an entry may stand in for a failed refresh. */
  staleMs: number;
  metrics?: Metrics;
  /** Durable last-good copies, so a restart does not lose them. */
  snapshots?: SnapshotStore;
  /**
   * How long a failed refresh is remembered (0: not at all). Upstreams with quotas count failed calls
   * too, so by default the app remembers a failure as long as a success.
   */
  failureTtlMs?: number;
  /** Which failures a last good copy may cover (default: all). The app lets only upstream failures through. */
  isStaleable?: (err: unknown) => boolean;
  now?: () => number;
}

/**
 * Feed data cache: memory bounded in bytes (JSON size), per-entry TTL, one upstream call per key at a
 * time (single-flight), and the last good copy served when a refresh fails.
 * It caches data, not rendered bytes, so filters and formats stay cheap and independent.
 */
export class FeedCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Recent failed refreshes: within a TTL a failure is answered from memory, not by calling upstream again. */
  private readonly failures: LRUCache<string, { error: unknown }>;
  private readonly now: () => number;
  private puts = 0;

  constructor(private readonly opts: FeedCacheOptions) {
    this.now = opts.now ?? Date.now;
    this.lru = new LRUCache<string, Entry>({
      maxSize: opts.maxBytes,
      // Entries larger than a quarter of the cache would evict too much; they are kept in the snapshot only.
      maxEntrySize: Math.max(1, Math.floor(opts.maxBytes / 4)),
    });
    this.failures = new LRUCache({ max: 10_000 });
  }

  /** Returns the cached value, loading it (once, however many callers ask at the same time) when missing or expired. */
  async get<T>(key: string, ttlMs: number, load: () => Promise<T>): Promise<CacheResult<T>> {
    const now = this.now();
    const cached = this.lru.get(key);
    if (cached && now < cached.freshUntil) {
      this.count('hit');
      return { value: cached.value as T, state: 'hit', storedAt: cached.storedAt };
    }
    const failed = this.failures.get(key);
    if (failed) return this.staleOr(key, ttlMs, cached, failed.error);
    let pending = this.inflight.get(key);
    if (pending) {
      this.count('coalesced');
    } else {
      pending = this.load(key, ttlMs, load, this.opts.failureTtlMs ?? 0);
      this.inflight.set(key, pending);
      // Release the slot whatever happens, so the next request after a failure tries again.
      pending.then(
        () => this.inflight.delete(key),
        () => this.inflight.delete(key),
      );
      this.count('miss');
    }
    try {
      const entry = await pending;
      return { value: entry.value as T, state: 'miss', storedAt: entry.storedAt };
    } catch (err) {
      return this.staleOr(key, ttlMs, cached, err);
    }
  }

  /** The last good copy when there is one young enough and the error allows it; the error otherwise. */
  private staleOr<T>(key: string, ttlMs: number, cached: Entry | undefined, err: unknown): CacheResult<T> {
    const last = cached ?? this.fromSnapshot(key, ttlMs);
    if (last && (this.opts.isStaleable?.(err) ?? true) && this.now() <= last.freshUntil + this.opts.staleMs) {
      this.count('stale');
      return { value: last.value as T, state: 'stale', storedAt: last.storedAt, error: err };
    }
    throw err;
  }

  /** Forgets a key (memory, failure memo); the next get() loads it again. */
  invalidate(key: string): void {
    this.lru.delete(key);
    this.failures.delete(key);
  }

  private async load<T>(key: string, ttlMs: number, load: () => Promise<T>, failureTtlMs: number): Promise<Entry> {
    let value: T;
    try {
      value = await load();
    } catch (err) {
      if (failureTtlMs > 0) this.failures.set(key, { error: err }, { ttl: failureTtlMs });
      throw err;
    }
    this.failures.delete(key);
    const storedAt = this.now();
    const json = JSON.stringify(value);
    const entry: Entry = { value, storedAt, freshUntil: storedAt + ttlMs };
    this.lru.set(key, entry, { size: Buffer.byteLength(json), ttl: ttlMs + this.opts.staleMs });
    if (this.opts.snapshots) {
      this.opts.snapshots.put(key, json, storedAt);
      // Copies too old to be served stale are dead weight; sweep now and then.
      if (++this.puts % 200 === 0) this.opts.snapshots.prune(storedAt - ttlMs - this.opts.staleMs);
    }
    return entry;
  }

  private fromSnapshot(key: string, ttlMs: number): Entry | undefined {
    const snap = this.opts.snapshots?.get(key);
    if (!snap) return undefined;
    try {
      return { value: JSON.parse(snap.data), storedAt: snap.storedAt, freshUntil: snap.storedAt + ttlMs };
    } catch {
      return undefined;
    }
  }

  private count(result: 'hit' | 'miss' | 'stale' | 'coalesced'): void {
    this.opts.metrics?.cacheEvents.inc({ result });
  }

  get calculatedSize(): number {
    return this.lru.calculatedSize;
  }
}
