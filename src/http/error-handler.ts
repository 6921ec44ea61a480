import type { Context, Next } from 'koa';
import { HttpError, errorBody } from './errors.js';

/** Turns every thrown error into `{ error: { code, message } }` with the right status. */
export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body == null) {
      throw new HttpError(404, 'NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
    }
  } catch (err) {
    const e = toHttpError(err, ctx.method);
    // Error level is for our own faults only, with their stack; anyone can send a bad request or an
    // unknown method, so those are debug lines, and an upstream's failure is a warning without a stack.
    if (e.code === 'INTERNAL') ctx.log?.error({ err }, 'unhandled error');
    else if (e.status >= 500 && e.status !== 501) ctx.log?.warn({ code: e.code, status: e.status }, e.message);
    else ctx.log?.debug({ code: e.code, status: e.status }, e.message);
    ctx.status = e.status;
    for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = errorBody(e.code, e.message);
  }
}

function toHttpError(err: unknown, method: string): HttpError {
  if (err instanceof HttpError) return err;
  // Errors koa and its body/router helpers raise carry `status` and `expose`.
  const e = err as { status?: number; expose?: boolean; message?: string };
  if (e?.status === 501) return new HttpError(501, 'NOT_IMPLEMENTED', `method ${method.slice(0, 20)} is not supported`);
  if (e?.status === 405) return new HttpError(405, 'METHOD_NOT_ALLOWED', `method ${method.slice(0, 20)} is not allowed here`);
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose) {
    return new HttpError(e.status, 'BAD_REQUEST', e.message ?? 'bad request');
  }
  return new HttpError(500, 'INTERNAL', 'internal error; see the server log');
}
