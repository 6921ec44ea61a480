import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { redactUrl } from './request-log.js';

const SAFE_ID = /^[\w.:-]{1,128}$/;

/**
 * The outermost layer: a request id (kept from X-Request-Id when sane, else this process's prefix and a
 * counter: unique, and far cheaper than a UUID), one log line when the request ends, and the request
 * metrics, labelled by the matched route pattern (never the raw path, so cardinality stays bounded).
 * `ctx.log` is a getter on koa's context prototype: a request that never logs builds no child logger.
 */
export function observe(koa: Koa, logger: Logger, metrics: Metrics) {
  const prefix = randomBytes(4).toString('hex');
  let counter = 0;
  Object.defineProperty(koa.context, 'log', {
    configurable: true,
    get(this: Context & { _log?: Logger }) {
      return (this._log ??= logger.child({ reqId: this.requestId }));
    },
  });
  const info = logger.isLevelEnabled('info');
  // Labelled children are kept, so a request costs no label hashing.
  const durations = new Map<string, ReturnType<Metrics['httpDuration']['labels']>>();
  const counts = new Map<string, ReturnType<Metrics['httpRequests']['labels']>>();
  return async function observeRequest(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.headers['x-request-id'];
    ctx.requestId = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : `${prefix}-${(++counter).toString(36)}`;
    ctx.res.setHeader('X-Request-Id', ctx.requestId);
    const start = performance.now();
    try {
      await next();
    } finally {
      const ms = performance.now() - start;
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      let d = durations.get(route);
      if (!d) durations.set(route, (d = metrics.httpDuration.labels(route)));
      d.observe(ms / 1000);
      const key = `${route} ${ctx.method} ${ctx.status}`;
      let c = counts.get(key);
      if (!c) counts.set(key, (c = metrics.httpRequests.labels(route, ctx.method, String(ctx.status))));
      c.inc();
      if (info) logger.info({ reqId: ctx.requestId, method: ctx.method, url: redactUrl(ctx.originalUrl), status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}
