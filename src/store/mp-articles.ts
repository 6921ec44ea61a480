import type { Sql } from './sql.js';

/** What a message list says of one article. */
export interface MpArticleMeta {
  title: string;
  digest: string;
  author: string;
  cover: string;
  sourceUrl: string;
  /** WeChat's item_show_type (0 article, 5 video, 7 audio, 8 pictures, 10 text, …). */
  showType: number;
}

export interface MpArticleRow {
  /** The canonical https://mp.weixin.qq.com/s?__biz=&mid=&idx=&sn= URL. */
  url: string;
  biz: string;
  /** The push's time (ms). */
  pushedAt: number;
  /** Position within its push (1 = lead). */
  idx: number;
  meta: MpArticleMeta;
  /** The kept article body (extracted from the page, original media URLs) and what kind of page it was. */
  body?: string;
  bodyKind?: string;
  bodyAt?: number;
}

interface Row {
  url: string;
  biz: string;
  pushed_at: number;
  idx: number;
  meta: string;
  body: string | null;
  body_kind: string | null;
  body_at: number | null;
}

function toRow(r: Row): MpArticleRow {
  return {
    url: r.url,
    biz: r.biz,
    pushedAt: r.pushed_at,
    idx: r.idx,
    meta: JSON.parse(r.meta) as MpArticleMeta,
    body: r.body ?? undefined,
    bodyKind: r.body_kind ?? undefined,
    bodyAt: r.body_at ?? undefined,
  };
}

/** The article archive: every article seen, and its text once fetched; nothing is dropped when WeChat drops it. */
export interface MpArticleStore {
  /** Records articles from a message list (new ones, or newer metadata for known ones); bodies are kept. */
  record(rows: ReadonlyArray<Omit<MpArticleRow, 'body' | 'bodyKind' | 'bodyAt'>>, now?: number): Promise<void>;
  /** An account's articles pushed at or after `since` (ms), newest first, at most `limit`. */
  recent(biz: string, limit: number, since?: number): Promise<MpArticleRow[]>;
  /** The articles of an account's latest `pushes` pushes, newest first (what a message-list page would show). */
  latestPushes(biz: string, pushes: number): Promise<MpArticleRow[]>;
  get(url: string): Promise<MpArticleRow | undefined>;
  getMany(urls: readonly string[]): Promise<Map<string, MpArticleRow>>;
  keepBody(url: string, body: string, kind: string, at?: number): Promise<void>;
}

export function mpArticleStore(db: Sql): MpArticleStore {
  return {
    async record(rows, now = Date.now()) {
      // One statement per 100 rows (atomic each), not one per row: a round trip each on PostgreSQL.
      const unique = [...new Map(rows.map((r) => [r.url, r])).values()];
      for (let i = 0; i < unique.length; i += 100) {
        const part = unique.slice(i, i + 100);
        await db.run(
          `INSERT INTO mp_articles (url, biz, pushed_at, idx, meta, first_seen) VALUES ${part.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT (url) DO UPDATE SET pushed_at = excluded.pushed_at, idx = excluded.idx, meta = excluded.meta`,
          part.flatMap((r) => [r.url, r.biz, r.pushedAt, r.idx, JSON.stringify(r.meta), now]),
        );
      }
    },
    recent: async (biz, limit, since = 0) => (await db.all<Row>('SELECT * FROM mp_articles WHERE biz = ? AND pushed_at >= ? ORDER BY pushed_at DESC, idx LIMIT ?', [biz, since, limit])).map(toRow),
    latestPushes: async (biz, pushes) =>
      (
        await db.all<Row>(
          'SELECT * FROM mp_articles WHERE biz = ? AND pushed_at >= (SELECT COALESCE(MIN(pushed_at), 0) FROM (SELECT DISTINCT pushed_at FROM mp_articles WHERE biz = ? ORDER BY pushed_at DESC LIMIT ?) AS latest) ORDER BY pushed_at DESC, idx',
          [biz, biz, pushes],
        )
      ).map(toRow),
    async get(url) {
      const r = await db.get<Row>('SELECT * FROM mp_articles WHERE url = ?', [url]);
      return r && toRow(r);
    },
    async getMany(urls) {
      const out = new Map<string, MpArticleRow>();
      for (let i = 0; i < urls.length; i += 200) {
        const part = urls.slice(i, i + 200);
        for (const r of await db.all<Row>(`SELECT * FROM mp_articles WHERE url IN (${part.map(() => '?').join(', ')})`, part)) out.set(r.url, toRow(r));
      }
      return out;
    },
    keepBody: async (url, body, kind, at = Date.now()) => void (await db.run('UPDATE mp_articles SET body = ?, body_kind = ?, body_at = ? WHERE url = ?', [body, kind, at, url])),
  };
}
