const weakless = (tag: string) => tag.trim().replace(/^W\//, '');

/**
 * RFC 9110 §13.2.2 evaluation for an origin server: If-None-Match first (weak comparison), else
 * If-Modified-Since as "not modified since" (a date at or after Last-Modified), never exact equality,
 * since some readers send dates they never received. Unlike the `fresh` package that koa's ctx.fresh
 * uses, a request's Cache-Control: no-cache does not prevent a 304: that directive is for caches,
 * and fetch() adds it to every conditional request.
 */
export function isNotModified(headers: Record<string, string | string[] | undefined>, etag: string, lastModifiedMs?: number): boolean {
  const inm = headers['if-none-match'];
  if (typeof inm === 'string' && inm.trim() !== '') {
    if (inm.trim() === '*') return true;
    const mine = weakless(etag);
    return inm.split(',').some((t) => weakless(t) === mine);
  }
  const ims = headers['if-modified-since'];
  if (typeof ims === 'string' && lastModifiedMs !== undefined && lastModifiedMs > 0) {
    const since = Date.parse(ims);
    // HTTP dates have whole seconds.
    return !Number.isNaN(since) && Math.floor(lastModifiedMs / 1000) * 1000 <= since;
  }
  return false;
}
