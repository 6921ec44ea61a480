import type { Db } from './db.js';

/** One medium waiting to be kept: its identity (the archive's id) and the request, as JSON. */
export interface KeepJob {
  id: string;
  request: string;
  attempts: number;
}

/**
 * Media waiting to be kept, durable: a job is written before it is tried and removed only once it has
 * an outcome, so a crash or a restart loses none (CDN links expire; a lost job is a lost medium).
 */
export interface KeepQueueStore {
  /** Adds jobs not already queued; due at once. */
  add(jobs: ReadonlyArray<{ id: string; request: string }>, now?: number): void;
  /** Jobs due at `now`, oldest first, leaving out `skip` (those running). */
  due(now: number, limit: number, skip: ReadonlySet<string>): KeepJob[];
  /** When the next job not yet due at `now` is due (ms), if any. */
  nextDue(now: number): number | undefined;
  /** A failed try: tried again at `at`. */
  retry(id: string, at: number, error: string): void;
  remove(id: string): void;
  size(): number;
}

export function sqliteKeepQueue(db: Db): KeepQueueStore {
  const add = db.prepare('INSERT INTO media_keep_queue (id, request, attempts, next_at, last_error, added_at) VALUES (?, ?, 0, ?, ?, ?) ON CONFLICT(id) DO NOTHING');
  const addAll = db.transaction((jobs: ReadonlyArray<{ id: string; request: string }>, now: number) => {
    for (const j of jobs) add.run(j.id, j.request, now, '', now);
  });
  const due = db.prepare<[number, number], KeepJob>('SELECT id, request, attempts FROM media_keep_queue WHERE next_at <= ? ORDER BY next_at, added_at LIMIT ?');
  const next = db.prepare<[number], { t: number | null }>('SELECT MIN(next_at) AS t FROM media_keep_queue WHERE next_at > ?');
  const retry = db.prepare('UPDATE media_keep_queue SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM media_keep_queue WHERE id = ?');
  const size = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM media_keep_queue');
  return {
    add: (jobs, now = Date.now()) => addAll(jobs, now),
    // The running ones are still in the table (removed on their outcome): ask for enough to skip them.
    due: (now, limit, skip) =>
      due
        .all(now, limit + skip.size)
        .filter((j) => !skip.has(j.id))
        .slice(0, limit),
    nextDue: (now) => next.get(now)?.t ?? undefined,
    retry: (id, at, error) => void retry.run(at, error.slice(0, 500), id),
    remove: (id) => void remove.run(id),
    size: () => size.get()!.n,
  };
}
