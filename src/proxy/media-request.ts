import type { Context, Next } from 'koa';
import { HttpError, badRequest } from '../http/errors.js';
import type { Platform } from './platforms.js';
import { checkTarget, type Target, type TargetPolicy } from './ssrf.js';

export interface MediaRequest {
  target: Target;
  /** Whose header rules apply: the signed `p` parameter, else the host's platform. */
  platform?: Platform;
  signed: boolean;
  /** Unsigned and no access token configured: only platform hosts may be fetched. */
  platformOnly: boolean;
}

/**
 * Reads `url` and `p` and applies the access rules: a signed request may reach platform hosts and
 * PROXY_ALLOW_HOSTS; an unsigned one needs the access token for that, and without a configured token
 * may reach platform hosts only.
 */
export function mediaRequest(ctx: Context, policy: TargetPolicy, accessTokenConfigured: boolean): MediaRequest {
  const raw = ctx.query.url;
  if (raw === undefined || raw === '') throw badRequest('parameter url is missing', 'MISSING_URL');
  if (typeof raw !== 'string') throw badRequest('parameter url was given more than once', 'BAD_URL');
  const signed = ctx.state.signed === true;
  const platformOnly = !signed && !accessTokenConfigured;
  const target = checkTarget(raw, policy, platformOnly);
  const p = ctx.query.p;
  if (p !== undefined && !policy.platforms.has(p)) throw badRequest(`parameter p must be a platform name, got "${String(p)}"`);
  // Only a signed request may choose rules other than those of its host.
  const platform = signed && p ? p : (target.platform ?? (p as Platform | undefined));
  return { target, platform, signed, platformOnly };
}

/** Signed URLs never change meaning, so their responses may be cached for good. */
export function mediaCacheControl(signed: boolean): string {
  return signed ? 'public, max-age=31536000, immutable' : 'private, max-age=3600';
}

/** Headers every media response carries; validators come from the CDN via copyValidators. */
export function mediaHeaders(ctx: Context, signed: boolean): void {
  ctx.set('Cache-Control', mediaCacheControl(signed));
  ctx.set('X-Content-Type-Options', 'nosniff');
  // Bytes from a CDN, served from our origin: nothing in them may run here, whatever they claim to be.
  ctx.set('Content-Security-Policy', "sandbox; default-src 'none'");
  ctx.set('Access-Control-Allow-Origin', '*');
  ctx.set('Accept-Ranges', 'bytes');
}

/** Passes the CDN's ETag and Last-Modified on. */
export function copyValidators(ctx: Context, headers: Record<string, string | string[] | undefined>): void {
  for (const name of ['etag', 'last-modified']) {
    const v = headers[name];
    const value = Array.isArray(v) ? v[0] : v;
    if (value) ctx.set(name, value);
  }
}

/** Route-level, on media routes: at most `limit` media requests in flight per client address; the rest get 429. */
export function perClientLimit(limit: number) {
  const active = new Map<string, number>();
  return async function clientLimit(ctx: Context, next: Next): Promise<void> {
    const ip = ctx.ip;
    const n = active.get(ip) ?? 0;
    if (n >= limit) throw new HttpError(429, 'TOO_MANY_REQUESTS', `more than ${limit} media requests in flight from ${ip}`, { 'Retry-After': '1' });
    active.set(ip, n + 1);
    // Streams outlive next(): count the request until its response is done or abandoned.
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (active.get(ip) ?? 1) - 1;
      if (left <= 0) active.delete(ip);
      else active.set(ip, left);
    };
    ctx.res.once('close', release);
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
  };
}
