import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { UpstreamError, parseRetryAfter } from './errors.js';
import type { HealthBook } from './health.js';
import type { ProxyChoice } from './proxy.js';
import { parseJson } from './json.js';
import { readCapped } from './read-body.js';
import { Limiter } from './limiter.js';

export interface UpstreamClientOptions {
  /** Label for logs and metrics, e.g. "hdhive". */
  name: string;
  baseUrl: string;
  connectTimeoutMs: number;
  /** Until headers arrive, and between body chunks. */
  timeoutMs: number;
  /** The whole call, queueing and retries included: a drip-feeding upstream cannot hold a request longer. */
  deadlineMs: number;
  /** The setting that points at this upstream, named in errors (e.g. WXCD_API_URL). */
  setting?: string;
  /** What must run there, said when it cannot be reached. */
  hint?: string;
  health?: HealthBook;
  /** Calls go through this proxy instead of a direct pool (outboundProxy()). */
  proxy?: ProxyChoice;
  retries: number;
  maxBytes: number;
  concurrency: number;
  headers?: Record<string, string>;
  metrics?: Metrics;
  /** First retry delay; doubles each time (with jitter). */
  backoffMs?: number;
  /** Each call (path without its query, status or failure, time) is a debug line. */
  logger?: Logger;
}

export interface UpstreamRequest {
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
const RETRY_STATUS = new Set([500, 502, 503, 504]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

interface CallSignal {
  signal: AbortSignal;
  /** Whether the deadline is what aborted it. */
  timedOut(): boolean;
  /** The call is over: its timer and its links to the longer-lived signals go. */
  done(): void;
}

/**
 * One call's signal, aborted by its deadline (UPSTREAM_DEADLINE), by shutdown or by its caller, and let
 * go of when the call ends. AbortSignal.timeout and AbortSignal.any say the same, but their timer lives
 * for the whole deadline and the links from the long-lived shutdown signal until a full collection
 * (nodejs/node#55351): at a hundred background refreshes a second, that kept a few KB a call alive for
 * 30 s, all of it moved to old space.
 */
function callSignal(deadlineMs: number, ...parents: Array<AbortSignal | undefined>): CallSignal {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException('The upstream call outlived its deadline', 'TimeoutError'));
  }, deadlineMs);
  timer.unref();
  const linked = parents.filter((p): p is AbortSignal => p !== undefined);
  const follow = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  for (const p of linked) {
    if (p.aborted) controller.abort(p.reason);
    else p.addEventListener('abort', follow, { once: true });
  }
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done() {
      clearTimeout(timer);
      for (const p of linked) p.removeEventListener('abort', follow);
    },
  };
}

/**
 * One upstream API: a pooled undici connection set with timeouts, bounded bodies, a concurrency
 * cap and retries (network errors and 5xx, idempotent methods only, exponential backoff).
 * Any HTTP status is returned to the caller, which knows the upstream's own error shapes;
 * only transport failures throw.
 */
export class UpstreamClient {
  /** Made on the first call: undici alone is a fifth of the idle process, and some upstreams are never called. */
  private pool?: Promise<Dispatcher>;
  private readonly limiter: Limiter;
  private readonly origin: string;
  private readonly basePath: string;
  /** Aborted by close(): shutdown does not wait on stuck calls. */
  private readonly closing = new AbortController();

  constructor(private readonly opts: UpstreamClientOptions) {
    const base = new URL(opts.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.limiter = new Limiter(opts.concurrency);
  }

  private dispatcher(): Promise<Dispatcher> {
    const opts = this.opts;
    this.pool ??=
      opts.proxy?.create() ??
      import('undici').then(
        ({ Pool }) =>
          new Pool(this.origin, {
            connections: opts.concurrency,
            headersTimeout: opts.timeoutMs,
            bodyTimeout: opts.timeoutMs,
            connect: { timeout: opts.connectTimeoutMs },
            keepAliveTimeout: 10_000,
          }),
      );
    return this.pool;
  }

  get name(): string {
    return this.opts.name;
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const method = req.method ?? 'GET';
    const call = callSignal(this.opts.deadlineMs, this.closing.signal, req.signal);
    try {
      return await this.attempts(method, req, call);
    } finally {
      call.done();
    }
  }

  private async attempts(method: string, req: UpstreamRequest, call: CallSignal): Promise<UpstreamResponse> {
    const { signal } = call;
    const retries = IDEMPOTENT.has(method) ? this.opts.retries : 0;
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        const res = await this.limiter.run(() => this.once(method, { ...req, signal }), signal);
        this.trace(method, req.path, attempt, started, `HTTP ${res.status}`);
        if (RETRY_STATUS.has(res.status) && attempt < retries) {
          this.count(`http_${res.status}`);
          await this.backoff(attempt, signal);
          continue;
        }
        this.count(res.status < 400 ? 'ok' : `http_${res.status}`);
        if (res.status < 500) this.opts.health?.ok(this.opts.name);
        else this.opts.health?.fail(this.opts.name, `HTTP ${res.status}`);
        return res;
      } catch (err) {
        const e = this.classify(err, call.timedOut(), req.signal);
        this.trace(method, req.path, attempt, started, `${e.kind}: ${e.message}`);
        this.count(e.kind);
        if (e.kind === 'unreachable' && attempt < retries && !signal.aborted) {
          await this.backoff(attempt, signal);
          continue;
        }
        this.opts.metrics?.upstreamErrors.inc({ upstream: this.opts.name, kind: e.kind });
        if (e.kind !== 'aborted') this.opts.health?.fail(this.opts.name, e.message);
        throw e;
      }
    }
  }

  /**
   * request() plus lossless JSON parsing of the body. The HTTP status is read first: a 429 is a rate
   * limit (with its Retry-After) and a 5xx an upstream error whatever the body says; a body that is not
   * JSON otherwise fails as 502. `statusError`, when given, judges the status before the body is read:
   * the error it returns is thrown (an upstream that always answers 200 says so there).
   */
  async json(req: UpstreamRequest, statusError?: (status: number) => UpstreamError | undefined): Promise<{ status: number; headers: UpstreamResponse['headers']; data: unknown }> {
    const res = await this.request({ ...req, headers: { accept: 'application/json', ...req.headers } });
    const name = this.opts.name;
    if (res.status === 429) {
      const seconds = parseRetryAfter(res.headers['retry-after']) ?? 60;
      throw new UpstreamError(name, 'rate_limited', 429, 'UPSTREAM_RATE_LIMITED', `${name} asked us to slow down; retry after ${seconds} s`, { 'Retry-After': String(seconds) });
    }
    const refused = statusError?.(res.status);
    if (refused) throw refused;
    try {
      return { status: res.status, headers: res.headers, data: parseJson(res.body.toString('utf8')) };
    } catch {
      this.opts.metrics?.upstreamErrors.inc({ upstream: name, kind: 'bad_response' });
      if (res.status >= 500) throw new UpstreamError(name, 'status', 502, 'UPSTREAM_ERROR', `${name} answered HTTP ${res.status}`);
      throw new UpstreamError(name, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `${name} answered HTTP ${res.status} with a body that is not JSON`);
    }
  }

  /** Aborts calls in flight (shutdown must not wait on a stuck upstream) and releases the pool. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new Error('shutting down'));
    await (await this.pool)?.destroy();
  }

  private async once(method: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    let path = this.basePath + req.path;
    if (req.query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) qs.set(k, String(v));
      const s = qs.toString();
      if (s) path += (path.includes('?') ? '&' : '?') + s;
    }
    const res = await (await this.dispatcher()).request({
      origin: this.origin,
      method: method as Dispatcher.HttpMethod,
      path,
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: this.opts.timeoutMs,
      headers: { 'user-agent': 'feedgate', ...this.opts.headers, ...req.headers },
      body: req.body,
      signal: req.signal,
    });
    // Destroying an undici body emits an AbortError; without a listener that would crash the process.
    res.body.on('error', () => {});
    const body = await readCapped(res.body, res.headers['content-length'], this.opts.maxBytes);
    if (!body) throw this.tooLarge();
    return { status: res.statusCode, headers: res.headers, body };
  }

  private tooLarge(): UpstreamError {
    return new UpstreamError(this.opts.name, 'too_large', 502, 'UPSTREAM_TOO_LARGE', `${this.opts.name} sent a response larger than UPSTREAM_MAX_BYTES (${this.opts.maxBytes} bytes)`);
  }

  private classify(err: unknown, timedOut: boolean, callerSignal?: AbortSignal): UpstreamError {
    if (err instanceof UpstreamError) return err;
    const name = this.opts.name;
    if (timedOut) {
      return new UpstreamError(name, 'timeout', 504, 'UPSTREAM_TIMEOUT', `${name} did not finish answering within UPSTREAM_DEADLINE (${this.opts.deadlineMs} ms)`);
    }
    if (this.closing.signal.aborted || callerSignal?.aborted) {
      return new UpstreamError(name, 'aborted', 503, 'UPSTREAM_ABORTED', `the call to ${name} was abandoned (${this.closing.signal.aborted ? 'shutting down' : 'nobody waits for it'})`);
    }
    const code = (err as { code?: string })?.code ?? '';
    if (TIMEOUT_CODES.has(code)) {
      return new UpstreamError(name, 'timeout', 504, 'UPSTREAM_TIMEOUT', `${name} did not answer in time (UPSTREAM_TIMEOUT ${this.opts.timeoutMs} ms)`);
    }
    const reason = code || (err as Error)?.message || 'unknown error';
    const fix = this.opts.setting ? `; check ${this.opts.setting}${this.opts.hint ? ` (${this.opts.hint})` : ''}` : '';
    const via = this.opts.proxy ? ` through the proxy in ${this.opts.proxy.via} (check that too)` : '';
    return new UpstreamError(name, 'unreachable', 502, 'UPSTREAM_UNREACHABLE', `${name} is unreachable at ${this.origin}${via} (${reason})${fix}`);
  }

  private async backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const base = (this.opts.backoffMs ?? 200) * 2 ** attempt;
    await sleep(Math.min(5000, base * (0.5 + Math.random())), undefined, { signal }).catch(() => {});
  }

  /** A debug line per call. The query is left out: it carries credentials (MP keys, Douyin tokens). */
  private trace(method: string, path: string, attempt: number, started: number, outcome: string): void {
    const log = this.opts.logger;
    if (!log?.isLevelEnabled('debug')) return;
    const ms = Math.round((performance.now() - started) * 10) / 10;
    log.debug({ upstream: this.opts.name, method, path: this.basePath + path.split('?')[0], attempt, outcome, ms }, 'upstream call');
  }

  private count(outcome: string): void {
    this.opts.metrics?.upstreamCalls.inc({ upstream: this.opts.name, outcome });
  }
}
