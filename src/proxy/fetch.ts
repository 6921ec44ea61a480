import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { HttpError } from '../http/errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Platform } from './platforms.js';
import type { ProxyChoice } from '../upstream/proxy.js';
import { checkResolved, checkTarget, guardedLookup, type Target, type TargetPolicy } from './ssrf.js';

export interface MediaFetcherOptions {
  policy: TargetPolicy;
  connectTimeoutMs: number;
  /** Until headers arrive, and between body chunks. */
  timeoutMs: number;
  metrics?: Metrics;
  /** PROXY_MEDIA_VIA_UPSTREAM_PROXY: fetch through this proxy; targets are still checked before they leave. */
  proxy?: ProxyChoice;
  /** Each media fetch (host and path, status, time to headers) is a debug line; never its query (tokens). */
  logger?: Logger;
}

export interface MediaResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** The URL that answered, after redirects. */
  url: URL;
}

const MAX_REDIRECTS = 5;
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export const header = (h: MediaResponse['headers'], name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The CDN's media type, lower case, without parameters ("" when it sent none). */
export const mediaType = (h: MediaResponse['headers']): string => (header(h, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * Opens media on CDNs for /proxy and /play: the platform's headers, redirects followed by hand with
 * every hop checked again, and connections pinned to checked addresses. Bodies are streams; nothing is
 * buffered here.
 */
export class MediaFetcher {
  /** Made on the first fetch (undici is loaded only when media is asked for). */
  private agent?: Promise<Dispatcher>;

  constructor(private readonly opts: MediaFetcherOptions) {}

  private dispatcher(): Promise<Dispatcher> {
    const opts = this.opts;
    this.agent ??=
      opts.proxy?.create() ??
      import('undici').then(
        ({ Agent }) =>
          new Agent({
            connect: { timeout: opts.connectTimeoutMs, lookup: guardedLookup(opts.policy) as never },
            headersTimeout: opts.timeoutMs,
            bodyTimeout: opts.timeoutMs,
            keepAliveTimeout: 10_000,
            connections: 32,
          }),
      );
    return this.agent;
  }

  async open(
    first: Target,
    opts: { platform?: Platform; platformOnly: boolean; range?: string; signal?: AbortSignal; headers?: Record<string, string>; allow?: (url: URL) => boolean },
  ): Promise<MediaResponse> {
    let target = first;
    if (opts.allow && !opts.allow(target.url)) throw new HttpError(400, 'TARGET_REFUSED', `${first.hostname} is not a host this link may lead to`);
    const headers: Record<string, string> = {
      ...this.opts.policy.platforms.headers(opts.platform),
      // Bytes as stored: decryption offsets and Content-Length must refer to the raw file.
      'accept-encoding': 'identity',
    };
    if (opts.range) headers.range = opts.range;
    // A source's own headers (a platform cookie) go to that platform's hosts only, never past a redirect elsewhere.
    Object.assign(headers, opts.headers);
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      const started = performance.now();
      try {
        // Through a proxy our lookup never runs: check the target's addresses before the request leaves.
        if (this.opts.proxy) await checkResolved(this.opts.policy, target.hostname);
        res = await (await this.dispatcher()).request({
          origin: target.url.origin,
          path: target.url.pathname + target.url.search,
          method: 'GET',
          headers,
          signal: opts.signal,
          // Every stage of a relay buffers the same 64 KiB, so no stage stalls the others.
          highWaterMark: 64 * 1024,
        });
      } catch (err) {
        throw this.classify(err, target);
      }
      // A body we drop must not raise an unhandled AbortError.
      res.body.on('error', () => {});
      if (this.opts.logger?.isLevelEnabled('debug')) {
        this.opts.logger.debug({ media: `${target.url.host}${target.url.pathname}`, status: res.statusCode, ms: Math.round((performance.now() - started) * 10) / 10, hop }, 'media fetch');
      }
      const location = header(res.headers, 'location');
      if (res.statusCode >= 300 && res.statusCode < 400 && location) {
        res.body.destroy();
        if (hop >= MAX_REDIRECTS) throw new HttpError(502, 'TOO_MANY_REDIRECTS', `more than ${MAX_REDIRECTS} redirects from ${first.hostname}`);
        if (!URL.canParse(location, target.url.href)) throw new HttpError(502, 'UPSTREAM_BAD_REDIRECT', `${target.hostname} redirected to an invalid location`);
        target = checkTarget(new URL(location, target.url).href, this.opts.policy, opts.platformOnly);
        if (opts.allow && !opts.allow(target.url)) throw new HttpError(400, 'TARGET_REFUSED', `${first.hostname} redirected to ${target.hostname}, which this link may not lead to`);
        if (opts.headers && target.platform !== opts.platform) for (const k of Object.keys(opts.headers)) delete headers[k];
        continue;
      }
      this.opts.metrics?.upstreamCalls.inc({ upstream: 'media', outcome: res.statusCode < 400 ? 'ok' : `http_${res.statusCode}` });
      return { status: res.statusCode, headers: res.headers, body: res.body, url: target.url };
    }
  }

  /** Ends media downloads in flight too: a video stream would otherwise hold shutdown for its whole length. */
  close(): Promise<void> {
    return this.agent ? this.agent.then((a) => a.destroy()) : Promise.resolve();
  }

  private classify(err: unknown, target: Target): HttpError {
    const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string; name?: string };
    const code = e?.code ?? '';
    const blocked = code === 'EFEEDGATE_BLOCKED' ? e : e?.cause?.code === 'EFEEDGATE_BLOCKED' ? e.cause : undefined;
    if (blocked) return new HttpError(403, 'TARGET_REFUSED', blocked.message ?? 'refused address');
    let kind = 'unreachable';
    let out: HttpError;
    if (e?.name === 'AbortError' || code === 'UND_ERR_ABORTED') {
      kind = 'aborted';
      out = new HttpError(499, 'CLIENT_CLOSED', 'the client went away');
    } else if (TIMEOUT_CODES.has(code)) {
      kind = 'timeout';
      out = new HttpError(504, 'UPSTREAM_TIMEOUT', `${target.hostname} did not answer in time (PROXY_TIMEOUT ${this.opts.timeoutMs} ms)`);
    } else {
      out = new HttpError(502, 'UPSTREAM_UNREACHABLE', `${target.hostname} is unreachable (${code || e?.message || 'unknown error'})`);
    }
    this.opts.metrics?.upstreamErrors.inc({ upstream: 'media', kind });
    return out;
  }
}

/** Maps a CDN's error status to ours: gone stays 404, everything else is the CDN's fault (502). */
export function mediaStatusError(status: number, hostname: string): HttpError {
  if (status === 404 || status === 410) return new HttpError(404, 'UPSTREAM_NOT_FOUND', `${hostname} has no such file (HTTP ${status})`);
  return new HttpError(502, 'UPSTREAM_ERROR', `${hostname} answered HTTP ${status}`);
}
