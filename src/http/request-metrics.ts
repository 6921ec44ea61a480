import type { Context, Next } from 'koa';
import type { Metrics } from '../metrics.js';

/** Labels by the matched route pattern, never the raw path, so label cardinality stays bounded. */
export function requestMetrics(metrics: Metrics) {
  return async function requestMetricsMiddleware(ctx: Context, next: Next): Promise<void> {
    const end = metrics.httpDuration.startTimer();
    try {
      await next();
    } finally {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      end({ route });
      metrics.httpRequests.inc({ route, method: ctx.method, status: String(ctx.status) });
    }
  };
}
