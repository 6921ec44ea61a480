import type { SqlRunner } from './sql.js';

/** Durable last-good copies of feed data (JSON), read when the memory cache has nothing. */
export interface SnapshotStore {
  get(key: string): Promise<{ data: string; storedAt: number } | undefined>;
  put(key: string, data: string, storedAt: number): Promise<void>;
  /** Drops copies stored before `before` (ms); returns how many. */
  prune(before: number): Promise<number>;
}

export function snapshotStore(db: SqlRunner): SnapshotStore {
  return {
    async get(key) {
      const row = await db.get<{ data: string; stored_at: number }>('SELECT data, stored_at FROM feed_snapshots WHERE key = ?', [key]);
      return row && { data: row.data, storedAt: row.stored_at };
    },
    async put(key, data, storedAt) {
      // A copy older than the one kept (another replica wrote a newer one meanwhile) does not replace it.
      await db.run(
        'INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, stored_at = excluded.stored_at WHERE feed_snapshots.stored_at <= excluded.stored_at',
        [key, data, storedAt],
      );
    },
    prune: (before) => db.run('DELETE FROM feed_snapshots WHERE stored_at < ?', [before]),
  };
}
