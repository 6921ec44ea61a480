import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import { requestLine, type Logger } from '../logger.js';
import { keptChildren, type Metrics } from '../metrics.js';
import { redactUrl } from './request-log.js';

const SAFE_ID = /^[\w.:-]{1,128}$/;

/** What every request gets, whichever path serves it (koa, or a ready response before koa). */
export interface Observer {
  /** X-Request-Id when sane, else this process's prefix and a counter: unique, and far cheaper than a UUID. */
  requestId(req: IncomingMessage): string;
  /** The request metrics, labelled by the matched route pattern, and one log line at info. */
  done(route: string, method: string, status: number, url: string, reqId: string, ms: number): void;
}

export function createObserver(logger: Logger, metrics: Metrics): Observer {
  const prefix = randomBytes(4).toString('hex');
  let counter = 0;
  const info = logger.isLevelEnabled('info');
  const line = requestLine(logger);
  const durations = keptChildren<ReturnType<Metrics['httpDuration']['labels']>>();
  const counts = keptChildren<ReturnType<Metrics['httpRequests']['labels']>>();
  return {
    requestId(req) {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : `${prefix}-${(++counter).toString(36)}`;
    },
    done(route, method, status, url, reqId, ms) {
      durations(route, () => metrics.httpDuration.labels(route)).observe(ms / 1000);
      counts(`${route} ${method} ${status}`, () => metrics.httpRequests.labels(route, method, String(status))).inc();
      if (line) line(reqId, method, redactUrl(url), status, Math.round(ms * 10) / 10);
      else if (info) logger.info({ reqId, method, url: redactUrl(url), status, ms: Math.round(ms * 10) / 10 }, 'request');
    },
  };
}

/**
 * The outermost koa layer: the request id, and the observer's metrics and log line when the request ends,
 * labelled by the matched route pattern (never the raw path, so cardinality stays bounded).
 * `ctx.log` is a getter on koa's context prototype: a request that never logs builds no child logger.
 */
export function observe(koa: Koa, logger: Logger, observer: Observer) {
  Object.defineProperty(koa.context, 'log', {
    configurable: true,
    get(this: Context & { _log?: Logger }) {
      return (this._log ??= logger.child({ reqId: this.requestId }));
    },
  });
  return async function observeRequest(ctx: Context, next: Next): Promise<void> {
    ctx.requestId = observer.requestId(ctx.req);
    ctx.res.setHeader('X-Request-Id', ctx.requestId);
    const start = performance.now();
    try {
      await next();
    } finally {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      observer.done(route, ctx.method, ctx.status, ctx.originalUrl, ctx.requestId, performance.now() - start);
    }
  };
}
