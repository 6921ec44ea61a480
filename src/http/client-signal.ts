import type { Context } from 'koa';

const SIGNAL = Symbol('clientSignal');

/** Aborts when the client goes away before its response is complete. One per request, however often asked. */
export function clientSignal(ctx: Context): AbortSignal {
  const state = ctx.state as { [SIGNAL]?: AbortSignal };
  if (state[SIGNAL]) return state[SIGNAL];
  const controller = new AbortController();
  const res = ctx.res;
  if (res.destroyed && !res.writableFinished) controller.abort(new Error('the client went away'));
  else res.once('close', () => res.writableFinished || controller.abort(new Error('the client went away')));
  return (state[SIGNAL] = controller.signal);
}
