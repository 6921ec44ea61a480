import type { Sql } from './sql.js';

/** One medium waiting to be kept: its identity (the archive's id) and the request, as JSON. */
export interface KeepJob {
  id: string;
  request: string;
  attempts: number;
}

/**
 * Media waiting to be kept, durable and shared by every replica on the same database: a job is written
 * before it is tried and removed only once it has an outcome, so a crash or a restart loses none (CDN
 * links expire; a lost job is a lost medium). A replica claims a job until a time it renews while the
 * job runs; a job whose replica died is claimed again once that time has passed.
 */
export interface KeepQueueStore {
  /** Adds jobs not already queued; due at once. */
  add(jobs: ReadonlyArray<{ id: string; request: string }>, now?: number): Promise<void>;
  /** Claims up to `limit` jobs due and unclaimed at `now`, oldest first, until `until`. */
  claim(now: number, limit: number, until: number): Promise<KeepJob[]>;
  /** Extends the claim on jobs still running. */
  renew(ids: readonly string[], until: number): Promise<void>;
  /** Frees every claim (a single process on its own database, starting: no one else can hold one). */
  releaseAll(): Promise<void>;
  /** Whether a job is due and unclaimed at `now`. */
  hasDue(now: number): Promise<boolean>;
  /** When the next job not yet due (or claimed) at `now` becomes due, if any. */
  nextDue(now: number): Promise<number | undefined>;
  /** A failed try: tried again at `at`. */
  retry(id: string, at: number, error: string): Promise<void>;
  remove(id: string): Promise<void>;
  size(): Promise<number>;
}

const FREE = '(claimed_until IS NULL OR claimed_until <= ?)';

export function keepQueueStore(db: Sql): KeepQueueStore {
  return {
    async add(jobs, now = Date.now()) {
      if (jobs.length === 0) return;
      // added_at a millisecond apart within a batch: jobs are claimed in the order they were given, on both engines.
      for (let i = 0; i < jobs.length; i += 100) {
        const part = jobs.slice(i, i + 100);
        await db.run(
          `INSERT INTO media_keep_queue (id, request, attempts, next_at, last_error, added_at) VALUES ${part.map(() => "(?, ?, 0, ?, '', ?)").join(', ')} ON CONFLICT (id) DO NOTHING`,
          part.flatMap((j, k) => [j.id, j.request, now, now + i + k]),
        );
      }
    },
    // The outer conditions are checked again on each row as it is updated: when two replicas pick the
    // same rows, the second finds them claimed and takes none of them.
    claim: (now, limit, until) =>
      db.all<KeepJob>(
        `UPDATE media_keep_queue SET claimed_until = ? WHERE next_at <= ? AND ${FREE} AND id IN (SELECT id FROM media_keep_queue WHERE next_at <= ? AND ${FREE} ORDER BY next_at, added_at, id LIMIT ?) RETURNING id, request, attempts`,
        [until, now, now, now, now, limit],
      ),
    async renew(ids, until) {
      if (ids.length) await db.run(`UPDATE media_keep_queue SET claimed_until = ? WHERE id IN (${ids.map(() => '?').join(', ')})`, [until, ...ids]);
    },
    releaseAll: async () => void (await db.run('UPDATE media_keep_queue SET claimed_until = NULL WHERE claimed_until IS NOT NULL')),
    hasDue: async (now) => (await db.get(`SELECT id FROM media_keep_queue WHERE next_at <= ? AND ${FREE} LIMIT 1`, [now, now])) !== undefined,
    nextDue: async (now) =>
      (await db.get<{ t: number | null }>('SELECT MIN(t) AS t FROM (SELECT CASE WHEN claimed_until > next_at THEN claimed_until ELSE next_at END AS t FROM media_keep_queue) AS due WHERE t > ?', [now]))?.t ??
      undefined,
    retry: async (id, at, error) =>
      void (await db.run('UPDATE media_keep_queue SET attempts = attempts + 1, next_at = ?, claimed_until = NULL, last_error = ? WHERE id = ?', [at, error.slice(0, 500), id])),
    remove: async (id) => void (await db.run('DELETE FROM media_keep_queue WHERE id = ?', [id])),
    size: async () => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM media_keep_queue'))!.n,
  };
}
