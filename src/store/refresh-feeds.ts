import type { Sql } from './sql.js';

export interface RefreshFeed {
  /** The feed's canonical root-relative URL (as the OPML list keeps it). */
  url: string;
  source: string;
  intervalMs: number;
  nextAt: number;
  lastAt?: number;
  changedAt?: number;
  /** What the items were at the last refresh, to tell a change. */
  digest: string;
  newItems: number;
  fails: number;
  lastError: string;
}

interface Row {
  url: string;
  source: string;
  interval_ms: number;
  next_at: number;
  last_at: number | null;
  changed_at: number | null;
  digest: string;
  new_items: number;
  fails: number;
  last_error: string;
}

const toFeed = (r: Row): RefreshFeed => ({
  url: r.url,
  source: r.source,
  intervalMs: r.interval_ms,
  nextAt: r.next_at,
  lastAt: r.last_at ?? undefined,
  changedAt: r.changed_at ?? undefined,
  digest: r.digest,
  newItems: r.new_items,
  fails: r.fails,
  lastError: r.last_error,
});

/** The background refresh schedule, shared by replicas: the job engine runs it, this says what is due and what happened. */
export interface RefreshFeedStore {
  /** Adds a feed unless it is there; true when it was added (then it needs a job). */
  add(f: Pick<RefreshFeed, 'url' | 'source' | 'intervalMs' | 'nextAt'>): Promise<boolean>;
  get(url: string): Promise<RefreshFeed | undefined>;
  /** A refresh's outcome and the next one, only if the feed was still due at `expected` (another run did not record first). */
  done(url: string, expected: number, f: Omit<RefreshFeed, 'url' | 'source'>): Promise<boolean>;
  /** Moves the next refresh (a restart that found it overdue). */
  reschedule(url: string, from: number, to: number): Promise<boolean>;
  remove(url: string): Promise<void>;
  all(limit: number): Promise<RefreshFeed[]>;
  count(): Promise<number>;
  /** How many feeds each source has on the schedule. */
  countBySource(): Promise<Record<string, number>>;
}

export function refreshFeedStore(db: Sql): RefreshFeedStore {
  return {
    add: async (f) =>
      (await db.get('INSERT INTO refresh_feeds (url, source, interval_ms, next_at) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO NOTHING RETURNING url', [f.url, f.source, f.intervalMs, f.nextAt])) !== undefined,
    async get(url) {
      const r = await db.get<Row>('SELECT * FROM refresh_feeds WHERE url = ?', [url]);
      return r && toFeed(r);
    },
    done: async (url, expected, f) =>
      (await db.run(
        'UPDATE refresh_feeds SET interval_ms = ?, next_at = ?, last_at = ?, changed_at = ?, digest = ?, new_items = ?, fails = ?, last_error = ? WHERE url = ? AND next_at = ?',
        [f.intervalMs, f.nextAt, f.lastAt ?? null, f.changedAt ?? null, f.digest, f.newItems, f.fails, f.lastError.slice(0, 500), url, expected],
      )) === 1,
    reschedule: async (url, from, to) => (await db.run('UPDATE refresh_feeds SET next_at = ? WHERE url = ? AND next_at = ?', [to, url, from])) === 1,
    remove: async (url) => void (await db.run('DELETE FROM refresh_feeds WHERE url = ?', [url])),
    all: async (limit) => (await db.all<Row>('SELECT * FROM refresh_feeds ORDER BY source, url LIMIT ?', [limit])).map(toFeed),
    count: async () => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM refresh_feeds'))!.n,
    countBySource: async () => Object.fromEntries((await db.all<{ source: string; n: number }>('SELECT source, COUNT(*) AS n FROM refresh_feeds GROUP BY source')).map((r) => [r.source, Number(r.n)])),
  };
}
