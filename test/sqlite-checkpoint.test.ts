import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqlite } from '../src/store/sqlite.js';
import { tempDir } from './helpers/app.js';

/**
 * WAL checkpoints on a worker thread (issue 24: a checkpoint inside a commit held the event loop for the
 * checkpoint's fsync, 10-15 ms every few seconds under background refresh).
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rounds(checkpointThread: boolean): Promise<number[]> {
  const dir = tempDir();
  const sql = openSqlite(dir, { checkpointThread });
  // Without the thread and without SQLite's own checkpoints, as the thread turns them off.
  if (!checkpointThread) sql.db.pragma('wal_autocheckpoint = 0');
  await sql.run('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
  const sizes: number[] = [];
  for (let r = 0; r < 3; r++) {
    await sql.tx(async (q) => {
      for (let i = 0; i < 2000; i++) await q.run('INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)', [i, `${r}`.repeat(1500)]);
    });
    sizes.push(statSync(join(dir, 'feedgate.db-wal')).size);
    await sleep(1500);
  }
  expect(((await sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n)).toBe(2000);
  await sql.close();
  return sizes;
}

describe('SQLite WAL checkpoints on a worker thread', () => {
  it('the WAL is checkpointed between bursts of writes, so it is reused instead of growing; SQLite\'s own checkpoints are off meanwhile', async () => {
    const threaded = await rounds(true);
    const none = await rounds(false);
    // Reused from its start once the thread has checkpointed it: no bigger after three bursts than after one.
    expect(threaded[2]!).toBeLessThanOrEqual(threaded[0]! * 1.1);
    // The same writes with no checkpoint at all: it grows with every burst.
    expect(none[2]!).toBeGreaterThan(none[0]! * 2);
  }, 30_000);

  it('when the thread ends, the connection checkpoints by itself again; close() ends the thread', async () => {
    const sql = openSqlite(tempDir(), { checkpointThread: true, onError: (m) => errors.push(m) });
    const errors: string[] = [];
    for (let i = 0; i < 100 && sql.db.pragma('wal_autocheckpoint', { simple: true }) !== 0; i++) await sleep(20);
    expect(sql.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await (sql.checkpointer as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    for (let i = 0; i < 100 && errors.length === 0; i++) await sleep(20);
    expect(errors[0]).toMatch(/WAL checkpoint thread exited/);
    expect(sql.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await sql.close();
    const other = openSqlite(tempDir(), { checkpointThread: true });
    await other.close();
    expect(other.db.open).toBe(false);
  });
});
