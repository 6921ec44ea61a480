import type { Sql } from './sql.js';

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
  record(posts: readonly MomentsPost[], now?: number): Promise<Set<string>>;
  get(id: string): Promise<MomentsPost | undefined>;
  /** The kept posts among `ids`. */
  getMany(ids: readonly string[]): Promise<Map<string, MomentsPost>>;
  /** Posts created at or after `since` (unix seconds), newest first, by these authors (all when empty). */
  since(usernames: readonly string[], since: number, limit: number): Promise<MomentsPost[]>;
  /** Every author with kept posts, and the name of their newest post. */
  authors(): Promise<Array<{ username: string; nickname: string; posts: number }>>;
}

const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

export function momentsPostStore<MomentsPost extends StoredPost>(db: Sql): MomentsPostStore<MomentsPost> {
  const parse = (r: { data: string }) => JSON.parse(r.data) as MomentsPost;
  const store: MomentsPostStore<MomentsPost> = {
    record: (posts, now = Date.now()) =>
      db.tx(async (q) => {
        const fresh = new Set<string>();
        const unique = [...new Map(posts.map((p) => [p.id, p])).values()];
        for (let i = 0; i < unique.length; i += 100) {
          const part = unique.slice(i, i + 100);
          // Asking first works on both engines (xmax = 0 would say "inserted" on PostgreSQL only), inside the transaction.
          const known = new Set((await q.all<{ id: string }>(`SELECT id FROM moments_posts WHERE id IN (${marks(part.length)})`, part.map((p) => p.id))).map((r) => r.id));
          for (const p of part) if (!known.has(p.id)) fresh.add(p.id);
          await q.run(
            `INSERT INTO moments_posts (id, username, create_time, data, first_seen) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON CONFLICT (id) DO UPDATE SET username = excluded.username, create_time = excluded.create_time, data = excluded.data`,
            part.flatMap((p) => [p.id, p.username, p.createTime, JSON.stringify(p), now]),
          );
        }
        return fresh;
      }),
    async get(id) {
      const r = await db.get<{ data: string }>('SELECT data FROM moments_posts WHERE id = ?', [id]);
      return r && parse(r);
    },
    async getMany(ids) {
      const out = new Map<string, MomentsPost>();
      for (let i = 0; i < ids.length; i += 200) {
        const part = ids.slice(i, i + 200);
        for (const r of await db.all<{ data: string }>(`SELECT data FROM moments_posts WHERE id IN (${marks(part.length)})`, part)) {
          const p = parse(r);
          out.set(p.id, p);
        }
      }
      return out;
    },
    async authors() {
      const rows = await db.all<{ username: string; data: string; posts: number }>(
        'SELECT p.username, p.data, c.posts FROM moments_posts p JOIN (SELECT username, MAX(create_time) AS newest, COUNT(*) AS posts FROM moments_posts GROUP BY username) c ON p.username = c.username AND p.create_time = c.newest ORDER BY p.username, p.id DESC',
      );
      const out = new Map<string, { username: string; nickname: string; posts: number }>();
      for (const r of rows) if (!out.has(r.username)) out.set(r.username, { username: r.username, nickname: parse(r).nickname, posts: Number(r.posts) });
      return [...out.values()];
    },
    async since(usernames, since, limit) {
      const rows =
        usernames.length === 0
          ? await db.all<{ data: string }>('SELECT data FROM moments_posts WHERE create_time >= ? ORDER BY create_time DESC, id DESC LIMIT ?', [since, limit])
          : await db.all<{ data: string }>(`SELECT data FROM moments_posts WHERE username IN (${marks(usernames.length)}) AND create_time >= ? ORDER BY create_time DESC, id DESC LIMIT ?`, [
              ...usernames,
              since,
              limit,
            ]);
      return rows.map(parse);
    },
  };
  return store;
}
