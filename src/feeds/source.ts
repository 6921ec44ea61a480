import type { FeedData } from './model.js';

/**
 * What a platform module gives the feed route: how to read its own path parameters, what to cache
 * the result under, and how to fetch plain feed data. It never renders, caches or signs by itself.
 */
export interface FeedSource<P> {
  /** The query parameters parse() reads, besides the shared feed parameters (the OPML list keeps only these). */
  readonly query?: readonly string[];
  /** Reads and validates route parameters; throws a 400 HttpError on bad input. */
  parse(params: Record<string, string>, query: Record<string, string | string[] | undefined>): P;
  /**
   * Cache key for these parameters; must cover everything fetch() depends on. A key that depends on
   * durable state may be a promise: its feeds are then never answered before koa (ReadyResponses).
   */
  key(p: P): string | Promise<string>;
  fetch(p: P, signal?: AbortSignal): Promise<FeedData>;
  /**
   * Whether these parameters ask for a later page than the first (an older part of the list): such an
   * answer is no measure of what the upstream still lists, so the archive neither merges nor marks it.
   */
  page?(p: P): boolean;
  /** The account these parameters read, for its health (MP: the biz; none: the source as a whole). */
  account?(p: P): string;
}
