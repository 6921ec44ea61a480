import { createHash } from 'node:crypto';
import { MAX_SEARCH_TEXT, normalizeSearchText, searchTokens, type SearchQuery } from './search-text.js';
import type { Sql, SqlRunner } from './sql.js';

/** One item as the archive keeps it: the item itself is the JSON the feed served. */
export interface ArchivedItem {
  /** Store-wide, increasing: the order items were first kept in (search and export page by it). */
  id: number;
  feed: string;
  source: string;
  guid: string;
  /** Per feed, from 1, never reused: RFC 5005 archive pages are ranges of it. */
  seq: number;
  firstSeen: number;
  lastSeen: number;
  /** The upstream's last answer listed it. */
  listed: boolean;
  /** It left the upstream's answer while newer items stayed: the author deleted it. */
  gone: boolean;
  /** Its time (published, else first seen): the feed's order. */
  sortAt: number;
  data: string;
}

/** A feed the archive keeps items of. */
export interface ArchivedFeed {
  feed: string;
  source: string;
  /** Root-relative path of the feed route that built it (no format, no query). */
  url: string;
  title: string;
  /** The feed without its items, JSON. */
  head: string;
  /** The seq the next new item gets. */
  nextSeq: number;
  updatedAt: number;
}

export interface RecordInput {
  feed: string;
  source: string;
  url: string;
  title: string;
  head: string;
  /** In the upstream's order. `sortAt` absent: the item's first-seen time. */
  items: Array<{ guid: string; data: string; text: () => string; sortAt?: number }>;
  /** Unlisted items from this time on were deleted (they are within the answer's window); absent: none is. */
  windowFrom?: number;
  now: number;
  maxItems: number;
  /** Unlisted items last seen before this are dropped. */
  keepAfter: number;
}

export interface ArchiveStore {
  /**
   * Keeps the upstream's answer: new items get the next seqs, changed ones are rewritten, the others only
   * marked seen; items it no longer lists are marked (gone when within its window). Over the bounds, the
   * oldest unlisted items are dropped. An answer the same as the last one writes nothing but a time.
   */
  record(input: RecordInput): Promise<{ nextSeq: number }>;
  /**
   * Items of a later page of the upstream (a backfill): those not kept yet are kept, as not on its first
   * page, below ARCHIVE_MAX_ITEMS; the others are left as they are. Returns how many were added.
   */
  older(input: { feed: string; source: string; items: RecordInput['items']; now: number; maxItems: number }): Promise<number>;
  feed(feed: string): Promise<ArchivedFeed | undefined>;
  feedByUrl(url: string): Promise<ArchivedFeed | undefined>;
  feeds(): Promise<Array<ArchivedFeed & { items: number }>>;
  /** The newest unlisted items of a feed (by sortAt). */
  unlisted(feed: string, limit: number): Promise<ArchivedItem[]>;
  /** Items with seq in [from, to], by seq. */
  bySeq(feed: string, from: number, to: number): Promise<ArchivedItem[]>;
  /** Items older than `before` (sortAt; at that time, with a seq below `seq` when given), newest first. */
  before(feed: string, before: number, limit: number, seq?: number): Promise<ArchivedItem[]>;
  /** Matches of a query, newest kept first; `beforeId` pages on. */
  search(q: SearchQuery, opts: { source?: string; limit: number; beforeId?: number }): Promise<ArchivedItem[]>;
  /** The highest item id: a search's results change only when it does. */
  lastId(): Promise<number>;
  /** Items by id, from `afterId` on (all feeds, or one), for export. */
  scan(afterId: number, limit: number, feed?: string): Promise<ArchivedItem[]>;
  count(feed?: string): Promise<number>;
  /** Loads an export's feed and items as they were (an import); items already kept are left alone. */
  load(feed: ArchivedFeed, items: Array<Omit<ArchivedItem, 'id'> & { text: string }>): Promise<number>;
  /** Indexes items copied in without their index (migrate-data into PostgreSQL); returns how many. */
  reindex(): Promise<number>;
}

interface Row {
  id: number;
  feed: string;
  source: string;
  guid: string;
  seq: number;
  first_seen: number;
  last_seen: number;
  listed: number | boolean;
  gone: number | boolean;
  sort_at: number;
  data: string;
}
const COLUMNS = 'id, feed, source, guid, seq, first_seen, last_seen, listed, gone, sort_at, data';
const toItem = (r: Row): ArchivedItem => ({
  id: Number(r.id),
  feed: r.feed,
  source: r.source,
  guid: r.guid,
  seq: Number(r.seq),
  firstSeen: Number(r.first_seen),
  lastSeen: Number(r.last_seen),
  listed: Boolean(r.listed),
  gone: Boolean(r.gone),
  sortAt: Number(r.sort_at),
  data: r.data,
});
interface FeedRow {
  feed: string;
  source: string;
  url: string;
  title: string;
  head: string;
  next_seq: number;
  updated_at: number;
  items?: number;
}
const toFeed = (r: FeedRow): ArchivedFeed => ({ feed: r.feed, source: r.source, url: r.url, title: r.title, head: r.head, nextSeq: Number(r.next_seq), updatedAt: Number(r.updated_at) });

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');
const hashOf = (s: string) => createHash('sha1').update(s).digest('base64url');
/** An unchanged answer still marks its items seen, but at most this often (a write per item per refresh otherwise). */
const SEEN_EVERY_MS = 6 * 3_600_000;
const SLICE = 100;
/** PostgreSQL search: how many of the newest items are walked before the index is asked (see search()). */
const SEARCH_WINDOW = 20_000;

export function archiveStore(db: Sql, opts: { searchWindow?: number } = {}): ArchiveStore {
  const searchWindow = opts.searchWindow ?? SEARCH_WINDOW;
  const pg = db.engine === 'postgres';
  /** The search index of one item: FTS5 rows on SQLite, a tsvector column on PostgreSQL. */
  async function index(q: SqlRunner, id: number, text: string, replace: boolean): Promise<void> {
    const tokens = searchTokens(text);
    if (pg) {
      await q.run('UPDATE archive_items SET tokens = array_to_tsvector(?::text[]) WHERE id = ?', [tokens, id]);
      return;
    }
    if (replace) await q.run('DELETE FROM archive_fts WHERE rowid = ?', [id]);
    await q.run('INSERT INTO archive_fts (rowid, tokens) VALUES (?, ?)', [id, tokens.join(' ')]);
  }
  async function drop(q: SqlRunner, ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += SLICE) {
      const part = ids.slice(i, i + SLICE);
      if (!pg) await q.run(`DELETE FROM archive_fts WHERE rowid IN (${marks(part.length)})`, part);
      await q.run(`DELETE FROM archive_items WHERE id IN (${marks(part.length)})`, part);
    }
  }
  /** The items of `feed` already kept among `items`, by guid. */
  async function keptOf(q: SqlRunner, feed: string, items: ReadonlyArray<{ guid: string }>): Promise<Map<string, { id: number; hash: string }>> {
    const rows = new Map<string, { id: number; hash: string }>();
    for (let i = 0; i < items.length; i += SLICE) {
      const part = items.slice(i, i + SLICE);
      for (const r of await q.all<{ id: number; guid: string; hash: string }>(`SELECT id, guid, hash FROM archive_items WHERE feed = ? AND guid IN (${marks(part.length)})`, [feed, ...part.map((x) => x.guid)])) {
        rows.set(r.guid, { id: Number(r.id), hash: r.hash });
      }
    }
    return rows;
  }
  /**
   * Keeps new items (in the upstream's order, newest first) under the feed's next seqs, the oldest
   * getting the lowest; `undated` is the time of an item without one. Returns the seq after them.
   */
  async function insertNew(q: SqlRunner, feed: string, source: string, fresh: RecordInput['items'], at: { now: number; listed: boolean; undated: number }): Promise<number> {
    // Taken in the transaction: two replicas recording at once get distinct ranges.
    const next = Number((await q.get<{ next_seq: number }>('UPDATE archive_feeds SET next_seq = next_seq + ? WHERE feed = ? RETURNING next_seq', [fresh.length, feed]))!.next_seq);
    let seq = next - fresh.length;
    for (const item of [...fresh].reverse()) {
      const text = searchText(item.text());
      const r = await q.get<{ id: number }>(
        `INSERT INTO archive_items (feed, source, guid, seq, first_seen, last_seen, listed, gone, sort_at, data, hash, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) RETURNING id`,
        [feed, source, item.guid, seq++, at.now, at.now, at.listed ? 1 : 0, item.sortAt ?? at.undated, item.data, hashOf(item.data), text],
      );
      await index(q, Number(r!.id), text, false);
    }
    return next;
  }
  const lastId = async () => Number((await db.get<{ n: number | null }>('SELECT MAX(id) AS n FROM archive_items'))?.n ?? 0);
  const searchText = (text: string) => normalizeSearchText(text.slice(0, MAX_SEARCH_TEXT));

  return {
    record: (input) =>
      db.tx(async (q) => {
        const { feed, now } = input;
        const unique = [...new Map(input.items.map((i) => [i.guid, i])).values()];
        const digest = hashOf(unique.map((i) => `${i.guid}\0${i.sortAt ?? ''}\0${i.data}`).join('\0\0'));
        const known = await q.get<{ digest: string; seen_at: number; next_seq: number }>('SELECT digest, seen_at, next_seq FROM archive_feeds WHERE feed = ?', [feed]);
        if (known && known.digest === digest && Number(known.seen_at) > now - SEEN_EVERY_MS) return { nextSeq: Number(known.next_seq) };
        await q.run(
          'INSERT INTO archive_feeds (feed, source, url, title, head, next_seq, digest, seen_at, updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (feed) DO UPDATE SET source = excluded.source, url = excluded.url, title = excluded.title, head = excluded.head, digest = excluded.digest, seen_at = excluded.seen_at, updated_at = excluded.updated_at',
          [feed, input.source, input.url, input.title, input.head, digest, now, now],
        );
        const rows = await keptOf(q, feed, unique);
        const fresh = unique.filter((i) => !rows.has(i.guid));
        const seq = fresh.length > 0 ? await insertNew(q, feed, input.source, fresh, { now, listed: true, undated: now }) : known ? Number(known.next_seq) : 1;
        const seen: string[] = [];
        for (const item of unique) {
          const row = rows.get(item.guid);
          if (!row) continue;
          const hash = hashOf(item.data);
          if (hash === row.hash) {
            seen.push(item.guid);
            continue;
          }
          const text = searchText(item.text());
          await q.run(
            `UPDATE archive_items SET data = ?, hash = ?, search_text = ?, sort_at = COALESCE(?, sort_at), last_seen = ?, listed = 1, gone = 0 WHERE id = ?`,
            [item.data, hash, text, item.sortAt ?? null, now, row.id],
          );
          await index(q, row.id, text, true);
        }
        for (let i = 0; i < seen.length; i += SLICE) {
          const part = seen.slice(i, i + SLICE);
          await q.run(`UPDATE archive_items SET last_seen = ?, listed = 1, gone = 0 WHERE feed = ? AND guid IN (${marks(part.length)})`, [now, feed, ...part]);
        }
        // Whatever this answer listed was stamped `now`: the rest it no longer lists.
        await q.run(
          `UPDATE archive_items SET listed = 0, gone = CASE WHEN sort_at >= ? THEN 1 ELSE 0 END WHERE feed = ? AND listed = 1 AND last_seen < ?`,
          [input.windowFrom ?? Number.MAX_SAFE_INTEGER, feed, now],
        );
        // The bounds: never an item the upstream still lists.
        const old = await q.all<{ id: number }>(`SELECT id FROM archive_items WHERE feed = ? AND listed = 0 AND last_seen < ?`, [feed, input.keepAfter]);
        const total = Number((await q.get<{ n: number }>('SELECT COUNT(*) AS n FROM archive_items WHERE feed = ?', [feed]))!.n) - old.length;
        const over = total > input.maxItems ? await q.all<{ id: number }>(`SELECT id FROM archive_items WHERE feed = ? AND listed = 0 AND last_seen >= ? ORDER BY sort_at, seq LIMIT ?`, [feed, input.keepAfter, total - input.maxItems]) : [];
        await drop(q, [...old, ...over].map((r) => Number(r.id)));
        return { nextSeq: seq };
      }),
    older: (input) =>
      db.tx(async (q) => {
        const { feed, now } = input;
        // Only a feed whose first page is kept: its seqs and its head come from there.
        if (!(await q.get('SELECT 1 AS one FROM archive_feeds WHERE feed = ?', [feed]))) return 0;
        const unique = [...new Map(input.items.map((i) => [i.guid, i])).values()];
        const kept = await keptOf(q, feed, unique);
        const room = input.maxItems - Number((await q.get<{ n: number }>('SELECT COUNT(*) AS n FROM archive_items WHERE feed = ?', [feed]))!.n);
        // Newest first on the page: when there is not room for all, the newest are kept.
        const fresh = unique.filter((i) => !kept.has(i.guid)).slice(0, Math.max(0, room));
        if (fresh.length === 0) return 0;
        await insertNew(q, feed, input.source, fresh, { now, listed: false, undated: 0 });
        return fresh.length;
      }),
    async feed(feed) {
      const r = await db.get<FeedRow>('SELECT feed, source, url, title, head, next_seq, updated_at FROM archive_feeds WHERE feed = ?', [feed]);
      return r && toFeed(r);
    },
    async feedByUrl(url) {
      const r = await db.get<FeedRow>('SELECT feed, source, url, title, head, next_seq, updated_at FROM archive_feeds WHERE url = ? ORDER BY updated_at DESC LIMIT 1', [url]);
      return r && toFeed(r);
    },
    feeds: async () =>
      (
        await db.all<FeedRow & { items: number }>(
          'SELECT f.feed, f.source, f.url, f.title, f.head, f.next_seq, f.updated_at, (SELECT COUNT(*) FROM archive_items a WHERE a.feed = f.feed) AS items FROM archive_feeds f ORDER BY f.source, f.feed',
        )
      ).map((r) => ({ ...toFeed(r), items: Number(r.items) })),
    unlisted: async (feed, limit) =>
      (await db.all<Row>(`SELECT ${COLUMNS} FROM archive_items WHERE feed = ? AND listed = 0 ORDER BY sort_at DESC, seq DESC LIMIT ?`, [feed, limit])).map(toItem),
    bySeq: async (feed, from, to) => (await db.all<Row>(`SELECT ${COLUMNS} FROM archive_items WHERE feed = ? AND seq >= ? AND seq <= ? ORDER BY seq`, [feed, from, to])).map(toItem),
    before: async (feed, before, limit, seq) =>
      (
        await db.all<Row>(`SELECT ${COLUMNS} FROM archive_items WHERE feed = ? AND (sort_at < ? OR (sort_at = ? AND seq < ?)) ORDER BY sort_at DESC, seq DESC LIMIT ?`, [feed, before, before, seq ?? 0, limit])
      ).map(toItem),
    async search(query, o) {
      const where: string[] = [];
      const params: unknown[] = [];
      const lexeme = (w: string) => `'${w.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
      const tsquery = [...query.exact.map(lexeme), ...query.prefix.map((w) => `${lexeme(w)}:*`)].join(' & ');
      if (!pg) {
        where.push('archive_fts MATCH ?');
        params.push([...query.exact.map((w) => `"${w}"`), ...query.prefix.map((w) => `"${w}"*`)].join(' AND '));
      }
      for (const n of query.needles) {
        where.push(pg ? 'strpos(search_text, ?) > 0' : 'instr(search_text, ?) > 0');
        params.push(n);
      }
      if (o.source) {
        where.push('archive_items.source = ?');
        params.push(o.source);
      }
      if (o.beforeId !== undefined) {
        where.push('archive_items.id < ?');
        params.push(o.beforeId);
      }
      const columns = COLUMNS.split(', ').map((c) => `archive_items.${c}`).join(', ');
      if (!pg) {
        // SQLite: FTS5 gives its matches in rowid order, newest first here, so a LIMIT stops the walk early.
        return (await db.all<Row>(`SELECT ${columns} FROM archive_fts JOIN archive_items ON archive_items.id = archive_fts.rowid WHERE ${where.join(' AND ')} ORDER BY archive_fts.rowid DESC LIMIT ?`, [...params, o.limit])).map(toItem);
      }
      // PostgreSQL estimates a query of several words to match a few rows when it may match tens of
      // thousands, and then reads them all through the GIN index to sort them (0.3 s at a million items).
      // So the newest SEARCH_WINDOW items are tried first, walked by id without the index (ts_match_vq
      // is @@ that no index answers); only a query they do not satisfy asks the index, for older ones.
      const top = o.beforeId ?? (await lastId()) + 1;
      const floor = Math.max(0, top - searchWindow);
      const recent = await db.all<Row>(`SELECT ${columns} FROM archive_items WHERE ts_match_vq(tokens, ?::tsquery) AND id >= ? AND ${where.join(' AND ') || 'TRUE'} ORDER BY id DESC LIMIT ?`, [tsquery, floor, ...params, o.limit]);
      if (recent.length === o.limit || floor === 0) return recent.map(toItem);
      const older = await db.all<Row>(`SELECT ${columns} FROM archive_items WHERE tokens @@ ?::tsquery AND id < ? AND ${where.join(' AND ') || 'TRUE'} ORDER BY id DESC LIMIT ?`, [tsquery, floor, ...params, o.limit - recent.length]);
      return [...recent, ...older].map(toItem);
    },
    lastId,
    scan: async (afterId, limit, feed) =>
      (await db.all<Row>(`SELECT ${COLUMNS} FROM archive_items WHERE id > ?${feed ? ' AND feed = ?' : ''} ORDER BY id LIMIT ?`, feed ? [afterId, feed, limit] : [afterId, limit])).map(toItem),
    count: async (feed) => Number((await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM archive_items${feed ? ' WHERE feed = ?' : ''}`, feed ? [feed] : []))!.n),
    load: (feed, items) =>
      db.tx(async (q) => {
        await q.run(
          'INSERT INTO archive_feeds (feed, source, url, title, head, next_seq, digest, seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (feed) DO UPDATE SET next_seq = CASE WHEN archive_feeds.next_seq < excluded.next_seq THEN excluded.next_seq ELSE archive_feeds.next_seq END',
          [feed.feed, feed.source, feed.url, feed.title, feed.head, feed.nextSeq, '', feed.updatedAt],
        );
        let n = 0;
        for (const i of items) {
          const text = searchText(i.text);
          const r = await q.get<{ id: number }>(
            'INSERT INTO archive_items (feed, source, guid, seq, first_seen, last_seen, listed, gone, sort_at, data, hash, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id',
            [feed.feed, i.source, i.guid, i.seq, i.firstSeen, i.lastSeen, i.listed ? 1 : 0, i.gone ? 1 : 0, i.sortAt, i.data, hashOf(i.data), text],
          );
          if (!r) continue;
          await index(q, Number(r.id), text, false);
          n++;
        }
        return n;
      }),
    async reindex() {
      if (!pg) return 0;
      let n = 0;
      for (;;) {
        const rows = await db.all<{ id: number; search_text: string }>('SELECT id, search_text FROM archive_items WHERE tokens IS NULL ORDER BY id LIMIT 500');
        if (rows.length === 0) return n;
        await db.tx(async (q) => {
          for (const r of rows) await index(q, Number(r.id), r.search_text, false);
        });
        n += rows.length;
      }
    },
  };
}
