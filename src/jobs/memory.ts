import type { JobRunner, RefreshJob } from './runner.js';

/**
 * The embedded engine: jobs in this process's memory, run when due. Enough for one process (SQLite);
 * the durable schedule (refresh_feeds) brings them back after a restart. Due jobs come off a binary
 * heap by time, and one timer waits for the earliest: ten thousand feeds cost nothing between refreshes.
 */
export class MemoryRunner implements JobRunner {
  readonly engine = 'memory';
  /** Ids of jobs waiting or running: the same url and time twice is one job. */
  private readonly ids = new Set<string>();
  private readonly heap: RefreshJob[] = [];
  private handler?: (job: RefreshJob) => Promise<void>;
  private concurrency = 1;
  private running = 0;
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private closed = false;

  async start(handler: (job: RefreshJob) => Promise<void>, concurrency: number): Promise<void> {
    this.handler = handler;
    this.concurrency = concurrency;
    this.pump();
  }

  async schedule(job: RefreshJob): Promise<void> {
    const id = `${job.url}\n${job.runAt}`;
    if (this.ids.has(id)) return;
    this.ids.add(id);
    this.push(job);
    // Only an earlier job than the one the timer waits for needs a look now.
    if (job.runAt < this.timerAt) this.pump();
  }

  async depth(): Promise<number> {
    return this.heap.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private pump(): void {
    if (!this.handler || this.closed) return;
    clearTimeout(this.timer);
    this.timerAt = Infinity;
    const now = Date.now();
    while (this.running < this.concurrency && this.heap.length > 0 && this.heap[0]!.runAt <= now) {
      const job = this.pop()!;
      this.running++;
      void this.handler(job)
        .catch(() => {})
        .finally(() => {
          // Only now: the same job scheduled again while it runs is the same job.
          this.ids.delete(`${job.url}\n${job.runAt}`);
          this.running--;
          this.pump();
        });
    }
    // While every slot is busy, the next finished job pumps again.
    if (this.heap.length > 0 && this.running < this.concurrency) {
      this.timerAt = this.heap[0]!.runAt;
      this.timer = setTimeout(() => this.pump(), Math.min(Math.max(0, this.timerAt - now) + 5, 2 ** 31 - 1));
      this.timer.unref();
    }
  }

  private push(job: RefreshJob): void {
    const h = this.heap;
    h.push(job);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.runAt <= h[i]!.runAt) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): RefreshJob | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.runAt < h[m]!.runAt) m = l;
        if (r < h.length && h[r]!.runAt < h[m]!.runAt) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
