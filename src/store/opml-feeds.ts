import type { Sql } from './sql.js';

export interface OpmlFeed {
  /** Root-relative canonical URL, without any token. */
  url: string;
  title: string;
  source: string;
}

/**
 * At most about this many feeds of each kind (built, requested) are kept: the oldest go first. The list
 * is also what background refresh calls subscribed, so it is sized for a large reader's subscriptions;
 * the bound is against feed URLs made up by the thousand.
 */
export const OPML_MAX_FEEDS = 20_000;
/** Trimming reads the whole kind, so it runs once per this many writes: the bound may be passed by as many. */
export const OPML_TRIM_EVERY = 100;

/** The feeds a user follows, for /opml: built on the start page, or requested within the last days. */
export interface OpmlFeedStore {
  built(feed: OpmlFeed, at?: number): Promise<void>;
  requested(feed: OpmlFeed, at?: number): Promise<void>;
  /** Built ever, or requested since `since` (ms); by source, then URL. */
  list(since: number): Promise<OpmlFeed[]>;
  /** Whether `url` was built, or requested since `since`. */
  isRead(url: string, since: number): Promise<boolean>;
}

export function opmlFeedStore(db: Sql, bound: { max?: number; trimEvery?: number } = {}): OpmlFeedStore {
  const max = bound.max ?? OPML_MAX_FEEDS;
  const every = bound.trimEvery ?? OPML_TRIM_EVERY;
  const writes = { built_at: 0, last_requested: 0 };
  // Anyone with the token can make feed URLs up: the table keeps the newest of each kind only.
  const trim = async (kind: 'built_at' | 'last_requested') => {
    if (++writes[kind] % every !== 0) return;
    await db.run(
      kind === 'built_at'
        ? 'DELETE FROM opml_feeds WHERE built_at IS NOT NULL AND url NOT IN (SELECT url FROM opml_feeds WHERE built_at IS NOT NULL ORDER BY built_at DESC, url LIMIT ?)'
        : 'DELETE FROM opml_feeds WHERE built_at IS NULL AND url NOT IN (SELECT url FROM opml_feeds WHERE built_at IS NULL ORDER BY last_requested DESC, url LIMIT ?)',
      [max],
    );
  };
  return {
    async built(f, at = Date.now()) {
      await db.run(
        "INSERT INTO opml_feeds (url, title, source, built_at) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET built_at = excluded.built_at, title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE opml_feeds.title END",
        [f.url, f.title, f.source, at],
      );
      await trim('built_at');
    },
    async requested(f, at = Date.now()) {
      await db.run(
        "INSERT INTO opml_feeds (url, title, source, last_requested) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET last_requested = excluded.last_requested, title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE opml_feeds.title END",
        [f.url, f.title, f.source, at],
      );
      await trim('last_requested');
    },
    isRead: async (url, since) => (await db.get('SELECT url FROM opml_feeds WHERE url = ? AND (built_at IS NOT NULL OR last_requested >= ?)', [url, since])) !== undefined,
    list: (since) => db.all<OpmlFeed>('SELECT url, title, source FROM opml_feeds WHERE built_at IS NOT NULL OR last_requested >= ? ORDER BY source, url', [since]),
  };
}

/** Query pairs in one order whatever order they came in: by name, then by value. */
export const byNameThenValue = ([a, x]: [string, string], [b, y]: [string, string]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0);

const MAX_PATH = 512;
const MAX_VALUE = 512;
const MAX_URL = 2048;

/**
 * A feed URL of ours in canonical form, and its source: the path with its format suffix (from `format=`,
 * else rss), then the parameters `known` says the feed route at that path reads, sorted, each at most
 * 512 characters; never format, token or signature. Undefined for anything that is not a feed route's
 * path (`known` answers undefined), or longer than 2048 characters.
 */
export function canonicalFeed(url: string, known: (path: string) => ReadonlySet<string> | undefined): { url: string; source: string } | undefined {
  let u: URL;
  try {
    u = new URL(url, 'http://x');
  } catch {
    return undefined;
  }
  const m = /^\/(?:feeds|rss)\/([a-z]+)(?:[/.]|$)/.exec(u.pathname);
  if (!m || u.pathname.length > MAX_PATH) return undefined;
  const params = known(u.pathname.replace(/\.(rss|atom|json)$/, ''));
  if (!params) return undefined;
  const format = u.searchParams.get('format');
  const path = /\.(rss|atom|json)$/.test(u.pathname) ? u.pathname : `${u.pathname}.${format === 'atom' || format === 'json' ? format : 'rss'}`;
  const kept = [...u.searchParams]
    .filter(([k, v]) => params.has(k) && v.length <= MAX_VALUE)
    .sort(byNameThenValue);
  const qs = new URLSearchParams(kept).toString();
  const out = qs ? `${path}?${qs}` : path;
  return out.length > MAX_URL ? undefined : { url: out, source: m[1]! };
}
