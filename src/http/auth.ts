import { timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';

/**
 * Constant-time comparison of a presented token with the configured one. Only the length can be learnt
 * by timing (hashing both sides first hid it, at the cost of a SHA-256 per request).
 */
export function tokenMatches(given: string, expected: Buffer): boolean {
  const g = Buffer.from(given, 'utf8');
  if (g.length !== expected.length) {
    timingSafeEqual(expected, expected);
    return false;
  }
  return timingSafeEqual(g, expected);
}

export function presentedToken(ctx: Context): string | undefined {
  const header = ctx.headers.authorization;
  if (header) {
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m) return m[1]!.trim();
  }
  const q = ctx.query.token;
  return typeof q === 'string' ? q : undefined;
}

/**
 * Route-level: when ACCESS_TOKEN is set, the route needs it, unless an earlier guard proved access
 * another way (a signed media URL sets ctx.state.signed).
 */
export function requireToken(accessToken: string) {
  const check = tokenCheck(accessToken);
  return async function auth(ctx: Context, next: Next): Promise<void> {
    check(ctx);
    await next();
  };
}

/**
 * What a request shows of the access token: `ok` (it matches, none is configured, or the request is
 * signed), `missing` or `wrong`. For pages that answer either way (the start page) and for tokenCheck.
 */
export function tokenVerdict(accessToken: string): (ctx: Context) => 'ok' | 'missing' | 'wrong' {
  const expected = Buffer.from(accessToken, 'utf8');
  return function verdict(ctx: Context) {
    if (!accessToken || ctx.state.signed === true) return 'ok';
    const given = presentedToken(ctx);
    if (given === undefined) return 'missing';
    return tokenMatches(given, expected) ? 'ok' : 'wrong';
  };
}

/** The same check as a plain function, for handlers that run it inline (the feed route's hot path). */
export function tokenCheck(accessToken: string): (ctx: Context) => void {
  const verdict = tokenVerdict(accessToken);
  return function checkToken(ctx: Context): void {
    const v = verdict(ctx);
    if (v === 'missing') {
      throw new HttpError(401, 'UNAUTHORIZED', 'this server needs an access token: add ?token=… or "Authorization: Bearer …"', {
        'WWW-Authenticate': 'Bearer realm="feedgate"',
      });
    }
    if (v === 'wrong') {
      throw new HttpError(401, 'UNAUTHORIZED', 'the access token is wrong', { 'WWW-Authenticate': 'Bearer realm="feedgate", error="invalid_token"' });
    }
  };
}
