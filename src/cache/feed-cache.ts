import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Gauge } from 'prom-client';
import { HttpError } from '../http/errors.js';
import { runWithProgress, type LoadProgress } from '../load-progress.js';
import type { Logger } from '../logger.js';
import { keptChildren, type Metrics } from '../metrics.js';
import type { SnapshotStore } from '../store/snapshots.js';
import { reviveError, storeError, type SharedState } from './shared.js';

export type CacheState = 'hit' | 'miss' | 'stale';

export interface CacheResult<T> {
  value: T;
  state: CacheState;
  /** When the value was fetched from upstream (ms). */
  storedAt: number;
  /** Until when it is fresh (ms): past it for a stale answer. */
  freshUntil: number;
  /** Set when state is "stale": why the refresh failed (or that it is still running). */
  error?: unknown;
  /** With `previous` asked for: the copy a failed load would have been answered with before this one. */
  previous?: unknown;
}

interface Entry {
  value: unknown;
  storedAt: number;
  freshUntil: number;
}

/**
 * The durable copy of a key, parsed once however many look at it, and only when its value is wanted: a
 * background refresh looks at the times of the copy it is about to replace and needs no more of it.
 */
interface Snapshot {
  /** Throws when the stored JSON does not parse; `parsedValue` makes that "no copy". */
  value(): unknown;
  storedAt: number;
  /** Absent: only a last good copy, never fresh. */
  freshUntil?: number;
}

/** A snapshot's value, or undefined when it does not parse: such a copy counts as none. */
function parsedValue(snap: Snapshot): { value: unknown } | undefined {
  try {
    return { value: snap.value() };
  } catch {
    return undefined;
  }
}

/** A load in flight and who waits for it. */
interface Flight {
  promise: Promise<Entry>;
  controller: AbortController;
  waiters: number;
  /** Someone was answered with a stale copy while this ran: let it finish, it will refresh the cache. */
  keep: boolean;
  /** The load waits for a call budget's slot until then (epoch ms), paced by `queuedBy`. */
  queuedUntil?: number;
  queuedBy?: string;
  /** The load said its value lacks parts still being fetched. */
  incomplete: boolean;
  /** Waiters that answer now (stale, or 503 when cold) once the load is known to miss their deadline. */
  hurry: Set<() => void>;
  /** The copy came from the durable store, still fresh: no upstream call, so it is answered as a hit. */
  durable?: boolean;
}

/** How often the durable copies too old to serve are swept. */
const PRUNE_EVERY_MS = 60_000;
/** How long an incomplete value (full texts still coming) stays fresh: the next poll builds it again. */
const INCOMPLETE_TTL_MS = 10_000;
/** Retry-After for a cold feed whose load is not waiting for a budget: about what a slow upstream takes. */
const PENDING_RETRY_S = 5;

export interface GetOptions {
  /**
   * The caller's interest (its client connection), asked for only when it has to wait: when every
   * waiter has gone, the load is aborted.
   */
  signal?: () => AbortSignal;
  /** Answer with the last good copy once a refresh has taken this long; the refresh goes on in the background. */
  staleAfterMs?: number;
  /**
   * A background refresh: load even when the copy is fresh, unless one stored at or after this time
   * (ms) stands (another replica just refreshed it). The failure memo is not consulted.
   */
  refreshedSince?: number;
  /**
   * A background refresh: its copy goes to memory only when the key is there already (read since the
   * memory bound last dropped it); otherwise to the durable and shared copies only, where a reader's
   * poll finds it. Ten thousand refreshed feeds do not fill memory with copies nobody is reading.
   */
  background?: boolean;
  /**
   * Also hand back, as `previous`, the copy this get replaces (what `lastGood` gave before it): a
   * background refresh counts its new items against it. Read with what the load reads anyway (memory,
   * or the one snapshot read), not a second time.
   */
  previous?: boolean;
}

export interface FeedCacheOptions {
  maxBytes: number;
  /** How long past its TTL an entry may stand in for a failed refresh. */
  staleMs: number;
  metrics?: Metrics;
  /** Durable last-good copies, so a restart does not lose them. */
  snapshots?: SnapshotStore;
  /**
   * How long a failed refresh is remembered, by error (0: not at all). Within that time the failure is
   * answered from memory and the upstream is not called again.
   */
  failureTtl?: (err: unknown) => number;
  /** Which failures a last good copy may cover (default: all). The app lets only upstream failures through. */
  isStaleable?: (err: unknown) => boolean;
  /**
   * Replicas' shared state (REDIS_URL): before calling upstream a replica looks for another's fresh copy
   * or remembered failure, and takes a lock so that one replica calls while the others wait for its result.
   */
  shared?: SharedState;
  /** How long a shared lock holds (the longest a load may take: UPSTREAM_DEADLINE). */
  lockTtlMs?: number;
  now?: () => number;
  /** Each decision (hit, miss, coalesced, stale and why) is a debug line. */
  logger?: Logger;
}

/**
 * The answer when a refresh outlives staleAfterMs (FEED_DEADLINE): a last good copy stands in when there
 * is one; a cold feed gets this as a 503 with Retry-After, the time its load expects to need (its budget
 * slot when it waits for one). The load goes on, so the next poll after Retry-After is a hit.
 */
export class RefreshPending extends HttpError {
  constructor(ms: number, retryAfterS: number, queuedBy?: string) {
    super(
      503,
      'FEED_PENDING',
      queuedBy
        ? `this feed's upstream call waits for its turn under ${queuedBy} (about ${retryAfterS} s); it goes on in the background, and the feed is ready after Retry-After`
        : `the upstream did not answer within ${ms} ms (FEED_DEADLINE); the refresh goes on in the background, and the feed is ready after Retry-After`,
      { 'Retry-After': String(retryAfterS) },
    );
  }
}

/**
 * The progress a load reports through, holding its flight only until `detach()`. Every timer the load
 * starts keeps the store it was started in for as long as it waits (an upstream deadline's, for
 * UPSTREAM_DEADLINE): a store that held the flight kept its data, and the previous copy read for it,
 * alive that long (mid-refresh at 100 refreshes a second, about 1 200 flights' data).
 */
function progressOf(flight: Flight, answerBy: number | undefined): { store: LoadProgress; detach(): void } {
  let f: Flight | undefined = flight;
  return {
    store: {
      answerBy,
      queued(at, setting) {
        if (!f) return;
        f.queuedUntil = at;
        f.queuedBy = setting;
        if (answerBy !== undefined && at > answerBy) for (const hurry of [...f.hurry]) hurry();
      },
      incomplete() {
        if (f) f.incomplete = true;
      },
    },
    detach: () => {
      f = undefined;
    },
  };
}

/**
 * Feed data cache: memory bounded in bytes (JSON size), per-entry TTL, one upstream call per key at a
 * time (single-flight), and the last good copy served when a refresh fails or is slow.
 * It caches data, not rendered bytes, so filters and formats stay cheap and independent.
 */
export class FeedCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Flight>();
  /** Recent failed refreshes: within their memo a failure is answered from memory, not by calling upstream again. */
  private readonly failures: LRUCache<string, { error: unknown }>;
  private readonly now: () => number;
  /** When the durable copies were last swept (0: not yet, so the first write sweeps). */
  private prunedAt = 0;
  /** What this process last wrote to the snapshot store per key: its hash and time. */
  private readonly written = new LRUCache<string, { hash: string; storedAt: number }>({ max: 100_000 });
  /** When each key was last invalidated here: a durable copy from before it is not taken as fresh. */
  private readonly invalidated = new LRUCache<string, number>({ max: 10_000 });
  /** Worked out once: a cache hit is the hot path. */
  private readonly debug: boolean;

  constructor(private readonly opts: FeedCacheOptions) {
    this.now = opts.now ?? Date.now;
    this.debug = opts.logger?.isLevelEnabled('debug') ?? false;
    this.lru = new LRUCache<string, Entry>({
      maxSize: opts.maxBytes,
      // Entries larger than a quarter of the cache would evict too much; they are kept in the snapshot only.
      maxEntrySize: Math.max(1, Math.floor(opts.maxBytes / 4)),
    });
    this.failures = new LRUCache({ max: 10_000 });
    const lru = this.lru;
    if (opts.metrics)
      new Gauge({
        name: 'feedgate_feed_cache_bytes',
        help: 'Feed data held in memory, as its JSON size (the measure CACHE_MAX_BYTES bounds)',
        registers: [opts.metrics.registry],
        collect() {
          this.set(lru.calculatedSize);
        },
      });
  }

  /**
   * Whether `value` is still this key's fresh copy (a ready response built from it may be sent again);
   * counted as a hit when it is.
   */
  holds(key: string, value: unknown): boolean {
    const cached = this.lru.get(key);
    if (!cached || cached.value !== value || this.now() >= cached.freshUntil) return false;
    this.count('hit', key);
    return true;
  }

  /** Returns the cached value, loading it (once, however many callers ask at the same time) when missing or expired. */
  async get<T>(key: string, ttlMs: number, load: (signal: AbortSignal) => Promise<T>, opts: GetOptions = {}): Promise<CacheResult<T>> {
    const now = this.now();
    const cached = this.lru.get(key);
    const since = opts.refreshedSince;
    if (cached && now < cached.freshUntil && (since === undefined || cached.storedAt >= since)) {
      this.count('hit', key);
      return { value: cached.value as T, state: 'hit', storedAt: cached.storedAt, freshUntil: cached.freshUntil, ...(opts.previous ? { previous: cached.value } : {}) };
    }
    const failed = since === undefined ? this.failures.get(key) : undefined;
    if (failed) return this.staleOr(key, ttlMs, cached, failed.error);
    // Read at most once per request: the load looks for a fresh copy in it, the answer for a last good one.
    let snap: Promise<Snapshot | undefined> | undefined;
    const snapshot = () => (snap ??= this.readSnapshot(key));
    // Asked before the load starts: a peer's copy (Redis) is read ahead of the one this load shares.
    const previous = opts.previous ? this.lastGoodOf(cached ?? this.lastCopy(key, ttlMs, snapshot)) : undefined;
    let flight = this.inflight.get(key);
    if (flight) {
      this.count('coalesced', key);
    } else {
      const controller = new AbortController();
      const f: Flight = { promise: Promise.resolve(undefined as never), controller, waiters: 0, keep: false, incomplete: false, hurry: new Set() };
      const progress = progressOf(f, opts.staleAfterMs !== undefined ? now + opts.staleAfterMs : undefined);
      f.promise = this.load(key, ttlMs, () => runWithProgress(progress.store, () => load(controller.signal)), { signal: controller.signal, incomplete: () => f.incomplete, since, background: opts.background, durable: () => (f.durable = true), snapshot });
      flight = f;
      this.inflight.set(key, f);
      // Release the slot whatever happens, so the next request after a failure tries again.
      const release = () => {
        progress.detach();
        if (this.inflight.get(key) === f) this.inflight.delete(key);
      };
      f.promise.then(release, release);
      this.count('miss', key);
    }
    // The copy that may stand in: read from a peer or the snapshot store once, only when it could be needed.
    const last = opts.staleAfterMs !== undefined && !cached ? this.lastCopy(key, ttlMs, snapshot) : cached;
    try {
      const entry = await this.wait(flight, opts);
      if (entry === undefined) {
        const queued = flight.queuedUntil !== undefined && flight.queuedUntil > this.now();
        const retryAfter = queued ? Math.ceil((flight.queuedUntil! - this.now()) / 1000) + 2 : PENDING_RETRY_S;
        return this.staleOr(key, ttlMs, last, new RefreshPending(opts.staleAfterMs!, retryAfter, queued ? flight.queuedBy : undefined));
      }
      return { value: entry.value as T, state: flight.durable ? 'hit' : 'miss', storedAt: entry.storedAt, freshUntil: entry.freshUntil, ...(previous ? { previous: await previous } : {}) };
    } catch (err) {
      return this.staleOr(key, ttlMs, last, err);
    }
  }

  /**
   * The load's entry; undefined when staleAfterMs passed first, or the load is known to miss it (it waits
   * for a budget slot beyond it): the caller answers with the last good copy, or 503 when there is none.
   */
  private wait(flight: Flight, opts: GetOptions): Promise<Entry | undefined> {
    flight.waiters++;
    const signal = opts.signal?.();
    return new Promise<Entry | undefined>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let left = false;
      // Each waiter leaves once, by whichever comes first: the load, the deadline, or its client going.
      const leave = () => {
        if (left) return false;
        left = true;
        flight.waiters--;
        clearTimeout(timer);
        flight.hurry.delete(hurry);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const hurry = () => {
        if (!leave()) return;
        flight.keep = true;
        resolve(undefined);
      };
      const onAbort = () => {
        if (!leave()) return;
        if (flight.waiters === 0 && !flight.keep) flight.controller.abort(new Error('every client waiting for this feed has gone'));
        reject(signal!.reason);
      };
      if (signal?.aborted) return onAbort();
      if (opts.staleAfterMs !== undefined) {
        if (flight.queuedUntil !== undefined && flight.queuedUntil > this.now() + opts.staleAfterMs) return hurry();
        timer = setTimeout(hurry, opts.staleAfterMs);
        flight.hurry.add(hurry);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (e) => leave() && resolve(e),
        (err) => leave() && reject(err),
      );
    });
  }

  /** The last good copy when there is one young enough and the error allows it; the error otherwise. */
  private async staleOr<T>(key: string, ttlMs: number, cached: Entry | Promise<Entry | undefined> | undefined, err: unknown): Promise<CacheResult<T>> {
    const last = this.servable((await cached) ?? (await this.lastCopy(key, ttlMs)));
    const staleable = err instanceof RefreshPending || (this.opts.isStaleable?.(err) ?? true);
    if (last && staleable) {
      this.count('stale', key, err);
      return { value: last.value as T, state: 'stale', storedAt: last.storedAt, freshUntil: last.freshUntil, error: err };
    }
    throw err;
  }

  /** This process's copy of `key`, fresh or not, without counting a lookup. */
  peek(key: string): unknown {
    return this.lru.peek(key)?.value;
  }

  /** The copy a failed refresh of `key` would be answered with now, if any (memory, else the snapshot). */
  async lastGood(key: string, ttlMs: number): Promise<unknown> {
    return this.lastGoodOf(this.lru.peek(key) ?? this.lastCopy(key, ttlMs));
  }

  private async lastGoodOf(entry: Entry | Promise<Entry | undefined>): Promise<unknown> {
    return this.servable(await entry)?.value;
  }

  /** The entry when it is young enough to stand in for a failed refresh (STALE_TTL past its freshness). */
  private servable(entry: Entry | undefined): Entry | undefined {
    return entry && this.now() <= entry.freshUntil + this.opts.staleMs ? entry : undefined;
  }

  /** Forgets a key (memory, failure memo, and the shared copy); the next get() loads it again. */
  invalidate(key: string): void {
    this.lru.delete(key);
    this.failures.delete(key);
    this.invalidated.set(key, this.now());
    void this.opts.shared?.del(key);
    this.opts.snapshots?.expire(key).catch(() => {});
  }

  /**
   * The durable copy when it is still fresh (a background refresh keeps it until after the next one):
   * after a restart, or once the memory bound dropped it, a poll is a hit instead of an upstream call.
   */
  private async freshSnapshot(key: string, snapshot: () => Promise<Snapshot | undefined>, since?: number): Promise<Entry | undefined> {
    const snap = await snapshot();
    if (!snap || snap.freshUntil === undefined || snap.freshUntil <= this.now()) return undefined;
    if (since !== undefined && snap.storedAt < since) return undefined;
    if (snap.storedAt <= (this.invalidated.get(key) ?? -Infinity)) return undefined;
    const parsed = parsedValue(snap);
    return parsed && { value: parsed.value, storedAt: snap.storedAt, freshUntil: snap.freshUntil };
  }

  /** The durable copy, parsed; none when there is none, the database is away or it does not parse. */
  private async readSnapshot(key: string): Promise<Snapshot | undefined> {
    try {
      const snap = await this.opts.snapshots?.get(key);
      if (!snap) return undefined;
      let parsed: { value: unknown } | undefined;
      return { value: () => (parsed ??= { value: JSON.parse(snap.data) }).value, storedAt: snap.storedAt, freshUntil: snap.freshUntil };
    } catch {
      return undefined;
    }
  }

  /** Keeps an entry another replica (or the durable store) has, as if loaded here; in memory unless `memory` is false. */
  private adopt(key: string, entry: Entry, memory = true): Entry {
    this.failures.delete(key);
    if (memory) this.lru.set(key, entry, { size: Buffer.byteLength(JSON.stringify(entry.value)), ttl: Math.max(1, entry.freshUntil - this.now()) + this.opts.staleMs });
    return entry;
  }

  /**
   * With shared state: another replica's fresh copy or remembered failure, else the lock. While another
   * replica holds the lock, its result is awaited (polled; the lock's expiry bounds the wait). Returns
   * what to do: use an entry, raise an error, or load here (with the lock token when we hold it).
   */
  private async viaShared(key: string, signal: AbortSignal, since?: number): Promise<{ entry: Entry } | { error: unknown } | { token?: string }> {
    const shared = this.opts.shared!;
    const lockTtl = this.opts.lockTtlMs ?? 60_000;
    const until = this.now() + lockTtl;
    for (let round = 0; ; round++) {
      const usable = (e: Entry | undefined): e is Entry => !!e && this.now() < e.freshUntil && (since === undefined || e.storedAt >= since);
      const found = await shared.get(key);
      if (usable(found)) return { entry: found };
      const failed = since === undefined ? await shared.failure(key) : undefined;
      if (failed) return { error: reviveError(failed) };
      if (round === 0 || !(await shared.locked(key))) {
        const token = await shared.lock(key, lockTtl);
        if (token === undefined) return {};
        if (token) {
          // The holder may have finished between our look and our lock: look once more.
          const late = await shared.get(key);
          if (usable(late)) {
            await shared.unlock(key, token);
            return { entry: late };
          }
          return { token };
        }
      }
      if (this.now() >= until || signal.aborted || !shared.up) return {};
      await new Promise((r) => setTimeout(r, Math.min(50 * (round + 1), 250)));
    }
  }

  private async load<T>(
    key: string,
    ttlMs: number,
    load: () => Promise<T>,
    o: { signal: AbortSignal; incomplete: () => boolean; since?: number; background?: boolean; durable: () => void; snapshot: () => Promise<Snapshot | undefined> },
  ): Promise<Entry> {
    const { signal, incomplete, since } = o;
    // A background refresh keeps its copy in memory only for a key someone is reading (it is there).
    const inMemory = () => !o.background || this.lru.has(key) || !this.opts.snapshots;
    let token: string | undefined;
    if (this.opts.shared?.up) {
      const via = await this.viaShared(key, signal, since);
      if ('entry' in via) {
        this.opts.metrics?.sharedLoads.inc({ how: 'peer' });
        return this.adopt(key, via.entry, inMemory());
      }
      if ('error' in via) {
        this.opts.metrics?.sharedLoads.inc({ how: 'peer_failure' });
        throw via.error;
      }
      token = via.token;
      this.opts.metrics?.sharedLoads.inc({ how: token ? 'locked' : 'unlocked' });
    } else if (this.opts.shared) this.opts.metrics?.sharedLoads.inc({ how: 'redis_down' });
    const durable = await this.freshSnapshot(key, o.snapshot, since);
    if (durable) {
      if (token) await this.opts.shared?.unlock(key, token);
      this.opts.metrics?.sharedLoads.inc({ how: 'snapshot' });
      o.durable();
      return this.adopt(key, durable, inMemory());
    }
    let value: T;
    try {
      value = await load();
    } catch (err) {
      const memo = this.opts.failureTtl?.(err) ?? 0;
      if (memo > 0) {
        this.failures.set(key, { error: err }, { ttl: memo });
        const stored = storeError(err);
        if (stored) await this.opts.shared?.setFailure(key, stored, memo);
      }
      if (token) await this.opts.shared?.unlock(key, token);
      throw err;
    }
    this.failures.delete(key);
    const storedAt = this.now();
    const json = JSON.stringify(value);
    const entry: Entry = { value, storedAt, freshUntil: storedAt + (incomplete() ? Math.min(ttlMs, INCOMPLETE_TTL_MS) : ttlMs) };
    if (inMemory()) this.lru.set(key, entry, { size: Buffer.byteLength(json), ttl: ttlMs + this.opts.staleMs });
    // Both are no-ops while Redis is away.
    await this.opts.shared?.set(key, entry, ttlMs + this.opts.staleMs);
    if (token) await this.opts.shared?.unlock(key, token);
    if (this.opts.snapshots) {
      // Not waited for: the answer does not depend on it. One that fails (the database away) is reported;
      // the next refresh of the feed writes it again.
      const snapshots = this.opts.snapshots;
      const failed = (err: unknown) => this.opts.logger?.warn({ key, err: (err as Error)?.message }, 'the feed snapshot could not be written; it is written at the next refresh');
      const put = this.writeSnapshot(snapshots, key, json, storedAt, entry.freshUntil).catch(failed);
      // A background refresh that left memory alone has only this copy: a poll right after must find it.
      if (!inMemory()) await put;
      // Copies too old to be served stale are dead weight; sweep once a minute at most (a sweep per so
      // many writes came every 2 s at 10 000 feeds, each one a statement holding the event loop).
      if (storedAt - this.prunedAt >= PRUNE_EVERY_MS) {
        this.prunedAt = storedAt;
        snapshots.prune(storedAt - ttlMs - this.opts.staleMs).catch(failed);
      }
    }
    return entry;
  }

  /**
   * Writes the durable copy; when it is the same as the one this process wrote last (most background
   * refreshes find nothing new), only its times are updated: the whole copy rewritten ten thousand times
   * an hour fills SQLite's WAL and its checkpoints stall every request for milliseconds.
   */
  private async writeSnapshot(snapshots: SnapshotStore, key: string, json: string, storedAt: number, freshUntil: number): Promise<void> {
    const hash = createHash('sha1').update(json).digest('base64url');
    const last = this.written.get(key);
    if (!(last?.hash === hash && (await snapshots.touch(key, last.storedAt, storedAt, freshUntil)))) await snapshots.put(key, json, storedAt, freshUntil);
    this.written.set(key, { hash, storedAt });
  }

  /**
   * The copy another replica shares (Redis keeps it through STALE_TTL), else the durable snapshot; none
   * when neither has one or they cannot be read (Redis or the database away) or parsed.
   */
  private async lastCopy(key: string, ttlMs: number, snapshot = () => this.readSnapshot(key)): Promise<Entry | undefined> {
    if (this.opts.shared?.up) {
      const peer = await this.opts.shared.get(key).catch(() => undefined);
      if (peer) return peer;
    }
    const snap = await snapshot();
    if (!snap) return undefined;
    const parsed = parsedValue(snap);
    return parsed && { value: parsed.value, storedAt: snap.storedAt, freshUntil: snap.storedAt + ttlMs };
  }

  private readonly counters = keptChildren<{ inc(): void }>();
  private count(result: 'hit' | 'miss' | 'stale' | 'coalesced', key: string, err?: unknown): void {
    if (this.debug) this.opts.logger!.debug({ key, cache: result, ...(err ? { why: (err as Error)?.message } : {}) }, 'feed cache');
    const metrics = this.opts.metrics;
    if (metrics) this.counters(result, () => metrics.cacheEvents.labels(result)).inc();
  }

  get calculatedSize(): number {
    return this.lru.calculatedSize;
  }
}
