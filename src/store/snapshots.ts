import type { SqlRunner } from './sql.js';

/** Durable last-good copies of feed data (JSON), read when the memory cache has nothing. */
export interface SnapshotStore {
  get(key: string): Promise<{ data: string; storedAt: number; freshUntil?: number } | undefined>;
  /** `freshUntil`: until when the copy may be served as fresh (absent: only as a last good copy). */
  put(key: string, data: string, storedAt: number, freshUntil?: number): Promise<void>;
  /**
   * The copy stored at `from` was fetched again, unchanged: only its times move (a few bytes written
   * instead of the whole copy). False when the row is not that copy any more (another replica wrote).
   */
  touch(key: string, from: number, storedAt: number, freshUntil?: number): Promise<boolean>;
  /** The copy stays a last good copy but is no longer fresh (it was invalidated). */
  expire(key: string): Promise<void>;
  /** Drops copies stored before `before` (ms); returns how many. */
  prune(before: number): Promise<number>;
}

export function snapshotStore(db: SqlRunner): SnapshotStore {
  return {
    async get(key) {
      const row = await db.get<{ data: string; stored_at: number; fresh_until: number | null }>('SELECT data, stored_at, fresh_until FROM feed_snapshots WHERE key = ?', [key]);
      return row && { data: row.data, storedAt: row.stored_at, ...(row.fresh_until !== null ? { freshUntil: row.fresh_until } : {}) };
    },
    async put(key, data, storedAt, freshUntil) {
      // A copy older than the one kept (another replica wrote a newer one meanwhile) does not replace it.
      await db.run(
        'INSERT INTO feed_snapshots (key, data, stored_at, fresh_until) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, stored_at = excluded.stored_at, fresh_until = excluded.fresh_until WHERE feed_snapshots.stored_at <= excluded.stored_at',
        [key, data, storedAt, freshUntil ?? null],
      );
    },
    touch: async (key, from, storedAt, freshUntil) =>
      (await db.run('UPDATE feed_snapshots SET stored_at = ?, fresh_until = ? WHERE key = ? AND stored_at = ?', [storedAt, freshUntil ?? null, key, from])) === 1,
    expire: async (key) => void (await db.run('UPDATE feed_snapshots SET fresh_until = NULL WHERE key = ?', [key])),
    prune: (before) => db.run('DELETE FROM feed_snapshots WHERE stored_at < ?', [before]),
  };
}
