import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../logger.js';

const SAFE_ID = /^[\w.:-]{1,128}$/;

const SECRET_PARAMS = /([?&](?:token|access_token|key|sig|sign|signature|encfilekey|pass_ticket|appmsg_token|uin|x-expires|auth_key)=)[^&#]*/gi;

/**
 * Strips credentials from a URL before it is logged, including those inside an encoded URL parameter
 * (a CDN link's token in /proxy?url=…).
 */
export function redactUrl(url: string): string {
  return url.replace(/([?&]url=)([^&#]*)/gi, (_m, name: string, value: string) => {
    let inner: string;
    try {
      inner = decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return `${name}[unreadable]`;
    }
    return name + encodeURIComponent(inner.replace(SECRET_PARAMS, '$1[redacted]'));
  }).replace(SECRET_PARAMS, '$1[redacted]');
}

/** Gives each request an id (kept from X-Request-Id when sane) and logs one line when it ends. */
export function requestLog(logger: Logger) {
  return async function requestLogMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('X-Request-Id');
    ctx.requestId = SAFE_ID.test(incoming) ? incoming : randomUUID();
    ctx.set('X-Request-Id', ctx.requestId);
    // Most requests never log from inside; build the child logger only when someone asks for it.
    let child: Logger | undefined;
    Object.defineProperty(ctx, 'log', { configurable: true, get: () => (child ??= logger.child({ reqId: ctx.requestId })) });
    const start = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (logger.isLevelEnabled('info')) {
        logger.info({ reqId: ctx.requestId, method: ctx.method, url: redactUrl(ctx.originalUrl), status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
      }
    }
  };
}
