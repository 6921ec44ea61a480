import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { Metrics } from '../metrics.js';
import { UpstreamError } from './errors.js';
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
  retries: number;
  maxBytes: number;
  concurrency: number;
  headers?: Record<string, string>;
  metrics?: Metrics;
  /** First retry delay; doubles each time (with jitter). */
  backoffMs?: number;
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

/**
 * One upstream API: a pooled undici connection set with timeouts, bounded bodies, a concurrency
 * cap and retries (network errors and 5xx, idempotent methods only, exponential backoff).
 * Any HTTP status is returned to the caller, which knows the upstream's own error shapes;
 * only transport failures throw.
 */
export class UpstreamClient {
  private readonly pool: Pool;
  private readonly limiter: Limiter;
  private readonly origin: string;
  private readonly basePath: string;

  constructor(private readonly opts: UpstreamClientOptions) {
    const base = new URL(opts.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.pool = new Pool(this.origin, {
      connections: opts.concurrency,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect: { timeout: opts.connectTimeoutMs },
      keepAliveTimeout: 10_000,
    });
    this.limiter = new Limiter(opts.concurrency);
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const method = req.method ?? 'GET';
    const retries = IDEMPOTENT.has(method) ? this.opts.retries : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.limiter.run(() => this.once(method, req));
        if (RETRY_STATUS.has(res.status) && attempt < retries) {
          this.count(`http_${res.status}`);
          await this.backoff(attempt, req.signal);
          continue;
        }
        this.count(res.status < 400 ? 'ok' : `http_${res.status}`);
        return res;
      } catch (err) {
        const e = this.classify(err);
        this.count(e.kind);
        if (e.kind === 'unreachable' && attempt < retries && !req.signal?.aborted) {
          await this.backoff(attempt, req.signal);
          continue;
        }
        this.opts.metrics?.upstreamErrors.inc({ upstream: this.opts.name, kind: e.kind });
        throw e;
      }
    }
  }

  /** request() plus lossless JSON parsing of the body; garbage bodies fail as 502. */
  async json(req: UpstreamRequest): Promise<{ status: number; headers: UpstreamResponse['headers']; data: unknown }> {
    const res = await this.request({ ...req, headers: { accept: 'application/json', ...req.headers } });
    try {
      return { status: res.status, headers: res.headers, data: parseJson(res.body.toString('utf8')) };
    } catch {
      this.opts.metrics?.upstreamErrors.inc({ upstream: this.opts.name, kind: 'bad_response' });
      throw new UpstreamError(this.opts.name, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `${this.opts.name} answered HTTP ${res.status} with a body that is not JSON`);
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async once(method: string, req: UpstreamRequest): Promise<UpstreamResponse> {
    let path = this.basePath + req.path;
    if (req.query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) if (v !== undefined) qs.set(k, String(v));
      const s = qs.toString();
      if (s) path += (path.includes('?') ? '&' : '?') + s;
    }
    const res = await this.pool.request({
      method: method as Dispatcher.HttpMethod,
      path,
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

  private classify(err: unknown): UpstreamError {
    if (err instanceof UpstreamError) return err;
    const code = (err as { code?: string })?.code ?? '';
    if (TIMEOUT_CODES.has(code) || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
      return new UpstreamError(this.opts.name, 'timeout', 504, 'UPSTREAM_TIMEOUT', `${this.opts.name} did not answer in time (UPSTREAM_TIMEOUT ${this.opts.timeoutMs} ms)`);
    }
    const reason = code || (err as Error)?.message || 'unknown error';
    return new UpstreamError(this.opts.name, 'unreachable', 502, 'UPSTREAM_UNREACHABLE', `${this.opts.name} is unreachable at ${this.origin} (${reason})`);
  }

  private async backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const base = (this.opts.backoffMs ?? 200) * 2 ** attempt;
    await sleep(Math.min(5000, base * (0.5 + Math.random())), undefined, { signal }).catch(() => {});
  }

  private count(outcome: string): void {
    this.opts.metrics?.upstreamCalls.inc({ upstream: this.opts.name, outcome });
  }
}
