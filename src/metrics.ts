import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per app instance, so tests can run several apps in one process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'feedgate_http_requests_total',
      help: 'HTTP requests served, by route pattern, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'feedgate_http_request_duration_seconds',
      help: 'Time to serve a request, by route pattern',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    websubDeliveries: new Counter({
      name: 'feedgate_websub_deliveries_total',
      help: 'WebSub deliveries of changed feeds to subscribers, by outcome: delivered, gone (the subscriber answered 410), failed (three tries)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    websubVerifications: new Counter({
      name: 'feedgate_websub_verifications_total',
      help: 'WebSub subscription requests, by mode and outcome: verified, unverified (no or a wrong challenge answer), denied (a private topic without its token)',
      labelNames: ['mode', 'outcome'] as const,
      registers: [registry],
    }),
    alerts: new Counter({
      name: 'feedgate_alerts_total',
      help: 'Alerts about source health sent to ALERT_URLS, by kind (change, reminder) and outcome (sent, failed after three tries)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    readyResponses: new Counter({
      name: 'feedgate_http_ready_responses_total',
      help: 'Responses answered before koa, again from a cached feed or image response that still stands (also counted in feedgate_http_requests_total)',
      registers: [registry],
    }),
    cacheEvents: new Counter({
      name: 'feedgate_cache_events_total',
      help: 'Feed cache lookups by result: hit, miss, stale (served a last good copy after an upstream failure), coalesced (joined an in-flight fetch)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    sharedLoads: new Counter({
      name: 'feedgate_cache_shared_loads_total',
      help: "How cache misses were settled without this process's memory: snapshot (a durable copy still fresh, as a background refresh keeps it); with REDIS_URL also peer (another replica's copy), peer_failure, locked (loaded here under the shared lock), unlocked (loaded here without it), redis_down",
      labelNames: ['how'] as const,
      registers: [registry],
    }),
    upstreamCalls: new Counter({
      name: 'feedgate_upstream_requests_total',
      help: 'Upstream HTTP requests by upstream and outcome (ok or an error kind)',
      labelNames: ['upstream', 'outcome'] as const,
      registers: [registry],
    }),
    upstreamErrors: new Counter({
      name: 'feedgate_upstream_errors_total',
      help: 'Upstream calls that failed after retries, by upstream and error kind',
      labelNames: ['upstream', 'kind'] as const,
      registers: [registry],
    }),
    upstreamQuota: new Gauge({
      name: 'feedgate_upstream_quota',
      help: 'Quota an upstream reported in its last answer (limit, remaining, reset as unix time)',
      labelNames: ['upstream', 'kind'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A metric's labelled children, kept by a key of their label values: `labels()` hashes the labels on every
 * call, which the paths served per request should not pay.
 */
export function keptChildren<T>(): (key: string, make: () => T) => T {
  const children = new Map<string, T>();
  return (key, make) => {
    let child = children.get(key);
    if (child === undefined) children.set(key, (child = make()));
    return child;
  };
}
