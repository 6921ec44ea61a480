import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time comparison; hashing first makes lengths equal so length is not leaked either. */
export function tokenMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function presentedToken(ctx: Context): string | undefined {
  const header = ctx.get('Authorization');
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (m) return m[1]!.trim();
  const q = ctx.query.token;
  return typeof q === 'string' ? q : undefined;
}

/**
 * Route-level: when ACCESS_TOKEN is set, the route needs it, unless an earlier guard proved access
 * another way (a signed media URL sets ctx.state.signed).
 */
export function requireToken(accessToken: string) {
  // The configured token's digest is computed once, not on every request.
  const expected = digest(accessToken);
  return async function auth(ctx: Context, next: Next): Promise<void> {
    if (accessToken && ctx.state.signed !== true) {
      const given = presentedToken(ctx);
      if (given === undefined) {
        throw new HttpError(401, 'UNAUTHORIZED', 'this server needs an access token: add ?token=… or "Authorization: Bearer …"', {
          'WWW-Authenticate': 'Bearer realm="feedgate"',
        });
      }
      if (!timingSafeEqual(digest(given), expected)) {
        throw new HttpError(401, 'UNAUTHORIZED', 'the access token is wrong', { 'WWW-Authenticate': 'Bearer realm="feedgate", error="invalid_token"' });
      }
    }
    await next();
  };
}
