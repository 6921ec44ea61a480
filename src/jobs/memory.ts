import type { JobRunner, RefreshJob } from './runner.js';

/**
 * The embedded engine: jobs in this process's memory, run when due. Enough for one process (SQLite);
 * the durable schedule (refresh_feeds) brings them back after a restart.
 */
export class MemoryRunner implements JobRunner {
  readonly engine = 'memory';
  private readonly jobs = new Map<string, RefreshJob>();
  private handler?: (job: RefreshJob) => Promise<void>;
  private concurrency = 1;
  private running = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  async start(handler: (job: RefreshJob) => Promise<void>, concurrency: number): Promise<void> {
    this.handler = handler;
    this.concurrency = concurrency;
    this.pump();
  }

  async schedule(job: RefreshJob): Promise<void> {
    this.jobs.set(`${job.url}\n${job.runAt}`, job);
    this.pump();
  }

  async depth(): Promise<number> {
    return this.jobs.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private pump(): void {
    if (!this.handler || this.closed) return;
    clearTimeout(this.timer);
    const now = Date.now();
    const due = [...this.jobs.entries()].filter(([, j]) => j.runAt <= now).sort(([, a], [, b]) => a.runAt - b.runAt);
    for (const [id, job] of due) {
      if (this.running >= this.concurrency) break;
      this.jobs.delete(id);
      this.running++;
      void this.handler(job)
        .catch(() => {})
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
    let next = Infinity;
    for (const j of this.jobs.values()) next = Math.min(next, j.runAt);
    if (Number.isFinite(next) && this.running < this.concurrency) {
      this.timer = setTimeout(() => this.pump(), Math.min(Math.max(0, next - now) + 5, 2 ** 31 - 1));
      this.timer.unref();
    }
  }
}
