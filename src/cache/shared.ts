import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { HttpError, UpstreamError, type UpstreamErrorKind } from '../http/errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** A cached value as every replica stores it. Times are epoch ms (replicas' clocks are assumed in sync). */
export interface SharedEntry {
  value: unknown;
  storedAt: number;
  freshUntil: number;
}

/** A remembered failure, enough to raise the same error on another replica. */
export interface StoredError {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  upstream?: string;
  kind?: UpstreamErrorKind;
}

export function storeError(err: unknown): StoredError | undefined {
  if (!(err instanceof HttpError)) return undefined;
  const e: StoredError = { status: err.status, code: err.code, message: err.message, headers: err.headers };
  if (err instanceof UpstreamError) {
    e.upstream = err.upstream;
    e.kind = err.kind;
  }
  return e;
}

export function reviveError(e: StoredError): HttpError {
  return e.upstream && e.kind ? new UpstreamError(e.upstream, e.kind, e.status, e.code, e.message, e.headers) : new HttpError(e.status, e.code, e.message, e.headers);
}

/**
 * What replicas share when REDIS_URL is set: feed data, single-flight locks, the failure memo and call
 * budgets. Every operation answers within a short deadline or not at all: while Redis is away,
 * callers get `undefined` and carry on with their own memory (a warning, a metric), and when it is
 * back they use it again. Media caches are not shared (see the README).
 */
export interface SharedState {
  readonly up: boolean;
  get(key: string): Promise<SharedEntry | undefined>;
  set(key: string, entry: SharedEntry, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
  failure(key: string): Promise<StoredError | undefined>;
  setFailure(key: string, err: StoredError, ttlMs: number): Promise<void>;
  /** A lock token when acquired; false when another replica holds it; undefined when Redis is away. */
  lock(key: string, ttlMs: number): Promise<string | false | undefined>;
  locked(key: string): Promise<boolean | undefined>;
  unlock(key: string, token: string): Promise<void>;
  /**
   * The next free call slot of a budget (ms), reserving `intervalMs` after it unless the slot is more
   * than `maxWaitMs` away (a refused call reserves nothing); undefined when Redis is away.
   */
  slot(name: string, intervalMs: number, now: number, maxWaitMs: number): Promise<number | undefined>;
  /** A shared pause of a budget (an upstream said "slow down"). */
  hold(name: string, untilMs: number): Promise<void>;
  heldUntil(name: string): Promise<number | undefined>;
  close(): Promise<void>;
}

const OP_DEADLINE_MS = 300;
const PREFIX = 'feedgate:';
const SLOT = `
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local at = math.max(now, nxt)
if at - now <= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], tostring(at + tonumber(ARGV[2])), 'PX', 600000)
end
return tostring(at)`;
const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export class RedisState implements SharedState {
  private client?: Redis;
  private ready?: Promise<Redis>;
  private isUp = false;
  private warned = false;
  private readonly errors: Counter<'op'>;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    const self = this;
    this.errors = new Counter({ name: 'feedgate_redis_errors_total', help: 'Redis operations that failed or timed out (feedgate then used its own memory)', labelNames: ['op'] as const, registers: [metrics.registry] });
    new Gauge({
      name: 'feedgate_redis_up',
      help: '1 while the shared Redis answers, 0 while feedgate runs on per-process memory',
      registers: [metrics.registry],
      collect() {
        this.set(self.isUp ? 1 : 0);
      },
    });
    this.ready = this.connect();
  }

  private async connect(): Promise<Redis> {
    const { Redis } = await import('ioredis');
    const client = new Redis(this.url, {
      // Fail fast while away instead of queueing: the caller falls back to memory.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      lazyConnect: false,
    });
    client.on('ready', () => {
      if (!this.isUp && this.warned) this.logger.warn('Redis is back: the feed cache, locks and budgets are shared again');
      this.isUp = true;
      this.warned = false;
    });
    const down = (err?: Error) => {
      if (this.isUp || !this.warned) {
        this.logger.warn({ err: err?.message }, 'Redis is unreachable: running on per-process memory until it is back (REDIS_URL)');
        this.warned = true;
      }
      this.isUp = false;
    };
    client.on('error', (err: Error) => down(err));
    client.on('close', () => down());
    this.client = client;
    return client;
  }

  get up(): boolean {
    return this.isUp;
  }

  /** Runs one operation with a deadline; undefined when Redis is away, slow or failing. */
  private async op<T>(name: string, fn: (r: Redis) => Promise<T>): Promise<T | undefined> {
    if (!this.isUp) return undefined;
    const r = await this.ready;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(r!),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), OP_DEADLINE_MS);
        }),
      ]);
    } catch {
      this.errors.inc({ op: name });
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A JSON value; undefined when absent, unreadable, or Redis is away. */
  private async getJson<T>(op: string, redisKey: string): Promise<T | undefined> {
    const raw = await this.op(op, (r) => r.get(redisKey));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  }

  private async setJson(op: string, redisKey: string, value: unknown, ttlMs: number): Promise<void> {
    await this.op(op, (r) => r.set(redisKey, JSON.stringify(value), 'PX', Math.max(1, Math.round(ttlMs))));
  }

  get(key: string): Promise<SharedEntry | undefined> {
    return this.getJson('get', `${PREFIX}data:${key}`);
  }

  set(key: string, entry: SharedEntry, ttlMs: number): Promise<void> {
    return this.setJson('set', `${PREFIX}data:${key}`, entry, ttlMs);
  }

  async del(key: string): Promise<void> {
    await this.op('del', (r) => r.del(`${PREFIX}data:${key}`, `${PREFIX}fail:${key}`));
  }

  failure(key: string): Promise<StoredError | undefined> {
    return this.getJson('failure', `${PREFIX}fail:${key}`);
  }

  setFailure(key: string, err: StoredError, ttlMs: number): Promise<void> {
    return this.setJson('setFailure', `${PREFIX}fail:${key}`, err, ttlMs);
  }

  async lock(key: string, ttlMs: number): Promise<string | false | undefined> {
    const token = randomBytes(9).toString('base64url');
    const ok = await this.op('lock', (r) => r.set(`${PREFIX}lock:${key}`, token, 'PX', Math.max(1, Math.round(ttlMs)), 'NX'));
    if (ok === undefined) return undefined;
    return ok === 'OK' ? token : false;
  }

  async locked(key: string): Promise<boolean | undefined> {
    const n = await this.op('locked', (r) => r.exists(`${PREFIX}lock:${key}`));
    return n === undefined ? undefined : n > 0;
  }

  async unlock(key: string, token: string): Promise<void> {
    await this.op('unlock', (r) => r.eval(UNLOCK, 1, `${PREFIX}lock:${key}`, token));
  }

  async slot(name: string, intervalMs: number, now: number, maxWaitMs: number): Promise<number | undefined> {
    const at = await this.op('slot', (r) => r.eval(SLOT, 1, `${PREFIX}budget:${name}`, String(now), String(Math.round(intervalMs)), String(maxWaitMs)) as Promise<string>);
    return at === undefined ? undefined : Number(at);
  }

  async hold(name: string, untilMs: number): Promise<void> {
    const ms = untilMs - Date.now();
    if (ms > 0) await this.op('hold', (r) => r.set(`${PREFIX}hold:${name}`, String(untilMs), 'PX', Math.round(ms)));
  }

  async heldUntil(name: string): Promise<number | undefined> {
    const raw = await this.op('heldUntil', (r) => r.get(`${PREFIX}hold:${name}`));
    return raw ? Number(raw) : undefined;
  }

  async close(): Promise<void> {
    const r = await this.ready;
    r?.disconnect();
  }
}
