import { HttpError, UpstreamError, type UpstreamErrorKind } from '../http/errors.js';

// The type lives with HttpError (src/http/errors.ts), so layers below upstream can revive it too.
export { UpstreamError, type UpstreamErrorKind } from '../http/errors.js';

const STATUS_MEANING: Record<number, string> = {
  400: 'bad request',
  401: 'not authorised',
  403: 'forbidden',
  404: 'no such address',
  405: 'method not allowed',
  500: 'internal error',
  502: 'bad gateway',
  503: 'unavailable',
  504: 'gateway timeout',
};

/**
 * An HTTP status that is not the upstream's success, as a stale-able error that says the status, what it
 * means and what to check. `label` names the upstream for people ("the Channels downloader"); `check`
 * says what to look at for a refusal (401/403) and for anything else.
 */
export function httpStatusError(upstream: string, label: string, status: number, check: { refused: string; other: string }): UpstreamError {
  const meaning = STATUS_MEANING[status] ? ` (${STATUS_MEANING[status]})` : '';
  if (status === 401 || status === 403) return new UpstreamError(upstream, 'auth', 502, 'UPSTREAM_AUTH', `${label} refused the request: HTTP ${status}${meaning}; ${check.refused}`);
  const kind: UpstreamErrorKind = status === 503 ? 'unavailable' : 'status';
  return new UpstreamError(upstream, kind, 502, 'UPSTREAM_ERROR', `${label} answered HTTP ${status}${meaning}; ${check.other}`);
}

/** Whether a failed refresh may be covered by the last good copy. Upstream failures can; bad requests cannot. */
export function isStaleable(err: unknown): boolean {
  return err instanceof UpstreamError;
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim());
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * How long a failed refresh is remembered before the upstream is asked again: what the upstream said
 * (Retry-After) first, else by kind. A configuration mistake will not fix itself within seconds, a
 * timeout may; a rate limit is remembered longest. Abandoned calls are not failures of the upstream.
 */
export function failureMemoMs(err: unknown, maxMs: number): number {
  if (err instanceof UpstreamError) {
    const retryAfter = parseRetryAfter(err.headers['Retry-After']);
    if (retryAfter !== undefined) return retryAfter * 1000;
    switch (err.kind) {
      case 'aborted':
        return 0;
      case 'rate_limited':
        return maxMs;
      case 'auth':
      case 'bad_response':
      case 'too_large':
        return Math.min(maxMs, 60_000);
      default:
        return Math.min(maxMs, 30_000);
    }
  }
  // An upstream's "no such item" counts against quotas like any call.
  return err instanceof HttpError && err.status === 404 ? maxMs : 0;
}
