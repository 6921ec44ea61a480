/** What an upstream did last, for /api/sources and the start page: no call is made to find out. */
export interface UpstreamHealth {
  lastSuccess?: number;
  lastFailure?: number;
  lastError?: string;
}

/** One per app: upstream clients record transport outcomes, routes record the upstream errors they raise. */
export class HealthBook {
  private readonly book = new Map<string, UpstreamHealth>();

  ok(upstream: string, at = Date.now()): void {
    this.entry(upstream).lastSuccess = at;
  }

  fail(upstream: string, message: string, at = Date.now()): void {
    const e = this.entry(upstream);
    e.lastFailure = at;
    e.lastError = message;
  }

  get(upstream: string): UpstreamHealth {
    return { ...this.book.get(upstream) };
  }

  private entry(upstream: string): UpstreamHealth {
    let e = this.book.get(upstream);
    if (!e) this.book.set(upstream, (e = {}));
    return e;
  }
}
