import type { Db } from './db.js';

/** Durable last-good copies of feed data (JSON), read when the memory cache has nothing. */
export interface SnapshotStore {
  get(key: string): { data: string; storedAt: number } | undefined;
  put(key: string, data: string, storedAt: number): void;
  /** Drops copies stored before `before` (ms); returns how many. */
  prune(before: number): number;
}

export function sqliteSnapshots(db: Db): SnapshotStore {
  const get = db.prepare<[string], { data: string; stored_at: number }>('SELECT data, stored_at FROM feed_snapshots WHERE key = ?');
  const prune = db.prepare('DELETE FROM feed_snapshots WHERE stored_at < ?');
  const put = db.prepare('INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET data = excluded.data, stored_at = excluded.stored_at');
  return {
    get(key) {
      const row = get.get(key);
      return row && { data: row.data, storedAt: row.stored_at };
    },
    put(key, data, storedAt) {
      put.run(key, data, storedAt);
    },
    prune(before) {
      return prune.run(before).changes;
    },
  };
}
