import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

// Plain CommonJS, run with eval: the same in the build, under tsx and under vitest.
const CODE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
};
const timer = setInterval(tick, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  tick();
  db.close();
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;

/**
 * WAL checkpoints off the event loop. SQLite runs one inside whichever commit brings the WAL to 1000
 * pages, and better-sqlite3 runs commits on the main thread: under background refresh that commit (and
 * every request behind it) waited 10-15 ms for the checkpoint's fsync every few seconds. A worker thread
 * with its own connection checkpoints every second instead (PASSIVE: it never blocks a writer); the main
 * connection's own checkpoints are off while the worker runs and back on if it stops or fails.
 */
export class Checkpointer {
  private readonly worker: Worker;
  private stopped = false;

  constructor(
    private readonly db: Database.Database,
    file: string,
    private readonly onError: (message: string) => void = () => {},
    everyMs = 1000,
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(CODE, { eval: true, workerData: { driver, file, everyMs } });
    this.worker.unref();
    this.worker.on('message', (m: { ready?: boolean; error?: string }) => {
      if (m.ready && !this.stopped) this.db.pragma('wal_autocheckpoint = 0');
      if (m.error) this.onError(m.error);
    });
    const fallBack = (why: string) => {
      if (this.release()) this.onError(why);
    };
    this.worker.on('error', (err) => fallBack(`the WAL checkpoint thread failed (${err.message}); checkpoints run in commits again`));
    this.worker.on('exit', (code) => fallBack(`the WAL checkpoint thread exited (${code}); checkpoints run in commits again`));
  }

  /** Once: the main connection checkpoints in its commits again. False when that was done already. */
  private release(): boolean {
    if (this.stopped) return false;
    this.stopped = true;
    if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    return true;
  }

  /** Checkpoints once more and ends the thread; the main connection checkpoints by itself again. */
  async stop(): Promise<void> {
    if (!this.release()) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage('stop');
    // A thread stuck on a lock must not hold a shutdown.
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
