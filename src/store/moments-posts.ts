import type { Db } from './db.js';

/** What the store reads of a post; the rest is kept as the source wrote it. */
export interface StoredPost {
  id: string;
  username: string;
  nickname: string;
  /** Unix seconds. */
  createTime: number;
}

/** Every Moments post feedgate has seen, kept when the upstream stops returning it. */
export interface MomentsPostStore<MomentsPost extends StoredPost> {
  /** Stores posts (newer data replaces older for the same id) and returns the ids seen for the first time. */
  record(posts: readonly MomentsPost[], now?: number): Set<string>;
  get(id: string): MomentsPost | undefined;
  has(id: string): boolean;
  /** Posts created at or after `since` (unix seconds), newest first, by these authors (all when empty). */
  since(usernames: readonly string[], since: number, limit: number): MomentsPost[];
  /** Every author with kept posts, and the name of their newest post. */
  authors(): Array<{ username: string; nickname: string; posts: number }>;
}

export function sqliteMomentsPosts<MomentsPost extends StoredPost>(db: Db): MomentsPostStore<MomentsPost> {
  const exists = db.prepare<[string], { id: string }>('SELECT id FROM moments_posts WHERE id = ?');
  const upsert = db.prepare(
    'INSERT INTO moments_posts (id, username, create_time, data, first_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET username = excluded.username, create_time = excluded.create_time, data = excluded.data',
  );
  const get = db.prepare<[string], { data: string }>('SELECT data FROM moments_posts WHERE id = ?');
  const all = db.prepare<[number, number], { data: string }>('SELECT data FROM moments_posts WHERE create_time >= ? ORDER BY create_time DESC, id DESC LIMIT ?');
  const authors = db.prepare<[], { username: string; data: string; posts: number }>(
    'SELECT username, data, MAX(create_time) AS newest, COUNT(*) AS posts FROM moments_posts GROUP BY username ORDER BY username',
  );
  const record = db.transaction((posts: readonly MomentsPost[], now: number) => {
    const fresh = new Set<string>();
    for (const p of posts) {
      if (!exists.get(p.id)) fresh.add(p.id);
      upsert.run(p.id, p.username, p.createTime, JSON.stringify(p), now);
    }
    return fresh;
  });
  return {
    record: (posts, now = Date.now()) => record(posts, now),
    get(id) {
      const r = get.get(id);
      return r && (JSON.parse(r.data) as MomentsPost);
    },
    has: (id) => exists.get(id) !== undefined,
    // With MAX(), SQLite takes bare columns from the row holding the maximum: the newest post's name.
    authors: () => authors.all().map((r) => ({ username: r.username, nickname: (JSON.parse(r.data) as MomentsPost).nickname, posts: r.posts })),
    since(usernames, since, limit) {
      if (usernames.length === 0) return all.all(since, limit).map((r) => JSON.parse(r.data) as MomentsPost);
      const marks = usernames.map(() => '?').join(',');
      const rows = db
        .prepare<unknown[], { data: string }>(`SELECT data FROM moments_posts WHERE username IN (${marks}) AND create_time >= ? ORDER BY create_time DESC, id DESC LIMIT ?`)
        .all(...usernames, since, limit);
      return rows.map((r) => JSON.parse(r.data) as MomentsPost);
    },
  };
}
