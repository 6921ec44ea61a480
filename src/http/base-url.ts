import type { Context } from 'koa';

/** Our public origin: PUBLIC_URL when set, else the request's own (X-Forwarded-* only with TRUST_PROXY). */
export function publicBase(ctx: Context, publicUrl: string): string {
  return publicUrl || `${ctx.protocol}://${ctx.host}`;
}
