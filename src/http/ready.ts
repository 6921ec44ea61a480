import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import { negotiateEncoding, type Encoding } from './compress.js';
import { isNotModified } from './conditional.js';
import type { Observer } from './observe.js';

/** What a handler offers when the response it just built can be sent again as is. */
export interface ReadyOffer {
  /** The body as sent (already compressed when `encoding` is not identity). */
  body: Buffer;
  etag: string;
  lastModified?: number;
  /** Set when the response was negotiated by Accept-Encoding: this is the variant for that encoding. */
  encoding?: Encoding;
  /** Whether the data behind the response still stands (fresh, still cached). Asked on every use. */
  valid(): boolean;
  /** Side effects of serving the response, run on every use. */
  onServe?(): void;
  /** Cache-Control worked out at each use (a max-age counting down to the next refresh), instead of the one sent. */
  cacheControl?(): string;
}

interface Ready {
  route: string;
  /** The handler's headers as [name, value, ...], without the per-response ones. */
  headers: OutgoingHttpHeader[];
  /** The same for a 304, which carries no content headers. */
  headers304: OutgoingHttpHeader[];
  body: Buffer;
  etag: string;
  lastModified?: number;
  valid(): boolean;
  onServe?(): void;
  cacheControl?(): string;
}

interface Slot {
  negotiated: boolean;
  variants: Partial<Record<Encoding, Ready>>;
}

/** Set per response, by koa, node or this module: never copied from the response a handler built. */
const PER_RESPONSE = new Set(['x-request-id', 'content-length', 'date', 'connection', 'keep-alive', 'transfer-encoding', 'content-encoding']);
/** What koa leaves out of a 304. */
const CONTENT = new Set(['content-type', 'content-encoding']);

export interface ReadyResponsesOptions {
  observer: Observer;
  /** TRUST_PROXY: X-Forwarded-Host and -Proto then shape our links, so they are part of the key. */
  trustProxy: boolean;
  /** Bytes of bodies held (they are shared with the caches they come from, but may outlive them). */
  maxBytes: number;
  /** Counted per response sent this way. */
  onHit?: () => void;
}

/**
 * Responses that depend only on the request line and a few headers (a cached feed, a cached image),
 * answered again before koa while the data behind them stands. Koa builds a context, runs the
 * middleware and the router for every request: for a cache hit that is most of the cost, so the handler
 * that built such a response offers it here, and the next request for the same URL, host and encoding
 * is answered from it, with the same request id, metrics and log line koa's path gives.
 *
 * What makes a request eligible is decided here and nowhere else: GET, no Authorization (a token in a
 * header is not part of the key; the one in the URL is, so the same URL passed the same check), no
 * Range. Conditional requests are answered here (304), by the same rules as the handlers'.
 */
export class ReadyResponses {
  private readonly slots: LRUCache<string, Slot>;

  constructor(private readonly opts: ReadyResponsesOptions) {
    this.slots = new LRUCache<string, Slot>({
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (slot) => Math.max(1, Object.values(slot.variants).reduce((n, r) => n + (r?.body.length ?? 0), 0)),
    });
  }

  /** `url` as it arrived: koa rewrites req.url when a route strips a suffix, so remember() passes ctx.originalUrl. */
  private key(req: IncomingMessage, url = req.url): string | undefined {
    const h = req.headers;
    if (req.method !== 'GET' || h.authorization !== undefined || h.range !== undefined || !url || url[0] !== '/') return undefined;
    const key = `${h.host ?? ''}\n${url}`;
    return this.opts.trustProxy ? `${key}\n${h['x-forwarded-host'] ?? ''}\n${h['x-forwarded-proto'] ?? ''}` : key;
  }

  /** Called by a handler once its response is complete (headers set, body chosen). */
  remember(ctx: Context, offer: ReadyOffer): void {
    const key = this.key(ctx.req, ctx.originalUrl);
    if (key === undefined) return;
    const res = ctx.res;
    const headers: OutgoingHttpHeader[] = [];
    const headers304: OutgoingHttpHeader[] = [];
    // Names as the handler wrote them (node >= 15.13; not in this @types/node).
    for (const name of (res as ServerResponse & { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
      const lower = name.toLowerCase();
      if (PER_RESPONSE.has(lower) || (offer.cacheControl && lower === 'cache-control')) continue;
      const value = res.getHeader(name) as OutgoingHttpHeader;
      headers.push(name, value);
      if (!CONTENT.has(lower)) headers304.push(name, value);
    }
    if (offer.encoding && offer.encoding !== 'identity') headers.push('Content-Encoding', offer.encoding);
    const ready: Ready = {
      route: (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched',
      headers,
      headers304,
      body: offer.body,
      etag: offer.etag,
      lastModified: offer.lastModified,
      valid: offer.valid,
      onServe: offer.onServe,
      cacheControl: offer.cacheControl,
    };
    const negotiated = offer.encoding !== undefined;
    const old = this.slots.get(key);
    const slot: Slot = old && old.negotiated === negotiated ? { negotiated, variants: { ...old.variants } } : { negotiated, variants: {} };
    slot.variants[offer.encoding ?? 'identity'] = ready;
    this.slots.set(key, slot);
  }

  /** Sends the ready response for this request and returns true, or returns false for koa to answer. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.slots.size === 0) return false;
    const key = this.key(req);
    if (key === undefined) return false;
    const slot = this.slots.get(key);
    if (!slot) return false;
    const ready = slot.negotiated ? slot.variants[negotiateEncoding(req.headers['accept-encoding'])] : slot.variants.identity;
    if (!ready) return false;
    if (!ready.valid()) {
      this.slots.delete(key);
      return false;
    }
    const start = performance.now();
    const reqId = this.opts.observer.requestId(req);
    const notModified = isNotModified(req.headers, ready.etag, ready.lastModified);
    const cc = ready.cacheControl ? ['Cache-Control', ready.cacheControl()] : [];
    if (notModified) {
      res.writeHead(304, [...ready.headers304, ...cc, 'X-Request-Id', reqId]);
      res.end();
    } else {
      res.writeHead(200, [...ready.headers, ...cc, 'X-Request-Id', reqId, 'Content-Length', String(ready.body.length)]);
      res.end(ready.body);
    }
    ready.onServe?.();
    this.opts.onHit?.();
    this.opts.observer.done(ready.route, 'GET', notModified ? 304 : 200, req.url!, reqId, performance.now() - start);
    return true;
  }
}
