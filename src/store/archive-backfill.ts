import type { Sql } from './sql.js';

/** How far back a feed's archive was filled from the upstream's later pages (ARCHIVE_BACKFILL_PAGES). */
export interface Backfill {
  /** The archive's feed id. */
  feed: string;
  /** The feed's path (no format, no query), as the archive and the start page name it. */
  url: string;
  pagesDone: number;
  pagesGoal: number;
  /** The query of the next page to read; none: the upstream has no older page, or the goal is reached. */
  nextQuery?: Record<string, string>;
  /** Items the backfill added to the archive. */
  added: number;
  /** What the last page read failed with ('' when it did not); it is tried again at the next refresh. */
  error: string;
  updatedAt: number;
}

export interface BackfillStore {
  get(feed: string): Promise<Backfill | undefined>;
  /** A feed's first backfill record; false when one was there already (another replica began it). */
  begin(b: Backfill): Promise<boolean>;
  /** Progress, written only over the page count it was read at: two replicas never both count a page. */
  save(b: Backfill, fromPagesDone: number): Promise<boolean>;
  byUrls(urls: readonly string[]): Promise<Backfill[]>;
}

interface Row {
  feed: string;
  url: string;
  pages_done: number;
  pages_goal: number;
  next_query: string;
  added: number;
  error: string;
  updated_at: number;
}
const toBackfill = (r: Row): Backfill => ({
  feed: r.feed,
  url: r.url,
  pagesDone: Number(r.pages_done),
  pagesGoal: Number(r.pages_goal),
  nextQuery: r.next_query ? (JSON.parse(r.next_query) as Record<string, string>) : undefined,
  added: Number(r.added),
  error: r.error,
  updatedAt: Number(r.updated_at),
});
const query = (b: Backfill) => (b.nextQuery ? JSON.stringify(b.nextQuery) : '');

export function backfillStore(db: Sql): BackfillStore {
  return {
    async get(feed) {
      const r = await db.get<Row>('SELECT * FROM archive_backfill WHERE feed = ?', [feed]);
      return r && toBackfill(r);
    },
    async begin(b) {
      const r = await db.get<{ feed: string }>(
        'INSERT INTO archive_backfill (feed, url, pages_done, pages_goal, next_query, added, error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (feed) DO NOTHING RETURNING feed',
        [b.feed, b.url, b.pagesDone, b.pagesGoal, query(b), b.added, b.error, b.updatedAt],
      );
      return r !== undefined;
    },
    async save(b, fromPagesDone) {
      const n = await db.run('UPDATE archive_backfill SET pages_done = ?, pages_goal = ?, next_query = ?, added = ?, error = ?, updated_at = ? WHERE feed = ? AND pages_done = ?', [
        b.pagesDone,
        b.pagesGoal,
        query(b),
        b.added,
        b.error,
        b.updatedAt,
        b.feed,
        fromPagesDone,
      ]);
      return n > 0;
    },
    async byUrls(urls) {
      if (urls.length === 0) return [];
      const out: Backfill[] = [];
      for (let i = 0; i < urls.length; i += 500) {
        const part = urls.slice(i, i + 500);
        out.push(...(await db.all<Row>(`SELECT * FROM archive_backfill WHERE url IN (${part.map(() => '?').join(', ')})`, part)).map(toBackfill));
      }
      return out;
    },
  };
}
