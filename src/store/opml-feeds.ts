import type { Db } from './db.js';

export interface OpmlFeed {
  /** Root-relative canonical URL, without any token. */
  url: string;
  title: string;
  source: string;
}

/** The feeds a user follows, for /opml: built on the start page, or requested within the last days. */
export interface OpmlFeedStore {
  built(feed: OpmlFeed, at?: number): void;
  requested(feed: OpmlFeed, at?: number): void;
  /** Built ever, or requested since `since` (ms); by source, then URL. */
  list(since: number): OpmlFeed[];
}

export function sqliteOpmlFeeds(db: Db): OpmlFeedStore {
  const built = db.prepare(
    "INSERT INTO opml_feeds (url, title, source, built_at) VALUES (?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET built_at = excluded.built_at, title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE title END",
  );
  const requested = db.prepare(
    "INSERT INTO opml_feeds (url, title, source, last_requested) VALUES (?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET last_requested = excluded.last_requested, title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE title END",
  );
  const list = db.prepare<[number], OpmlFeed>('SELECT url, title, source FROM opml_feeds WHERE built_at IS NOT NULL OR last_requested >= ? ORDER BY source, url');
  return {
    built: (f, at = Date.now()) => void built.run(f.url, f.title, f.source, at),
    requested: (f, at = Date.now()) => void requested.run(f.url, f.title, f.source, at),
    list: (since) => list.all(since),
  };
}

/**
 * A feed URL of ours in canonical form, and its source: the path with its format suffix (from `format=`,
 * else rss), then its parameters sorted, without format, token or signature. Undefined for anything
 * that is not one of our feed paths.
 */
export function canonicalFeed(url: string): { url: string; source: string } | undefined {
  let u: URL;
  try {
    u = new URL(url, 'http://x');
  } catch {
    return undefined;
  }
  const m = /^\/(?:feeds|rss)\/([a-z]+)(?:[/.]|$)/.exec(u.pathname);
  if (!m) return undefined;
  const path = /\.(rss|atom|json)$/.test(u.pathname) ? u.pathname : `${u.pathname}.${u.searchParams.get('format') ?? 'rss'}`;
  const kept = [...u.searchParams]
    .filter(([k]) => k !== 'token' && k !== 'sig' && k !== 'format')
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
  const qs = new URLSearchParams(kept).toString();
  return { url: qs ? `${path}?${qs}` : path, source: m[1]! };
}
