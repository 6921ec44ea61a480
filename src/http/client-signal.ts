import type { Context } from 'koa';

/** Aborts when the client goes away before its response is complete. */
export function clientSignal(ctx: Context): AbortSignal {
  const controller = new AbortController();
  const res = ctx.res;
  if (res.destroyed && !res.writableFinished) controller.abort(new Error('the client went away'));
  else res.once('close', () => res.writableFinished || controller.abort(new Error('the client went away')));
  return controller.signal;
}
