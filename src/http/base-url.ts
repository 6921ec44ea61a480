import type { Context } from 'koa';
import { HttpError } from './errors.js';

const HOST = /^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * Our public origin: PUBLIC_URL when set, else the request's own (X-Forwarded-* only with TRUST_PROXY).
 * A Host header that is not a host cannot make a URL: that is the client's error, not ours.
 */
export function publicBase(ctx: Context, publicUrl: string): string {
  if (publicUrl) return publicUrl;
  const host = ctx.host;
  if (!HOST.test(host)) throw new HttpError(400, 'BAD_HOST', 'the Host header is not a valid host name; send one, or set PUBLIC_URL');
  return `${ctx.protocol}://${host}`;
}

/** The URL the reader asked for, on our public origin `base` (an absolute-form request line keeps only its path and query). */
export function selfUrl(ctx: Context, base: string): string {
  const url = ctx.originalUrl;
  if (url.startsWith('/')) return base + url;
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed) throw new HttpError(400, 'BAD_REQUEST', 'the request target is not a path');
  return base + parsed.pathname + parsed.search;
}
