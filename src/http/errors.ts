/**
 * The one error type routes and clients throw. Whatever reaches the error middleware that is not
 * an HttpError becomes a 500 with a generic message (the stack goes to the log, never to the client).
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export type UpstreamErrorKind = 'unreachable' | 'timeout' | 'too_large' | 'bad_response' | 'status' | 'auth' | 'rate_limited' | 'unavailable' | 'aborted';

/**
 * An upstream failed. Its status is what our client gets: 502 unreachable/5xx/garbage/auth,
 * 504 timeout, 429 with Retry-After when the upstream asked us to slow down.
 */
export class UpstreamError extends HttpError {
  constructor(
    readonly upstream: string,
    readonly kind: UpstreamErrorKind,
    status: number,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(status, code, message, headers);
    this.name = 'UpstreamError';
  }
}

export const badRequest = (message: string, code = 'BAD_REQUEST') => new HttpError(400, code, message);

export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}
