/** One background refresh, as the job engine carries it: which feed, and the time it was due. */
export interface RefreshJob {
  url: string;
  runAt: number;
}

/**
 * The job engine feedgate's background work runs on: BullMQ with REDIS_URL, pg-boss with DATABASE_URL,
 * in process otherwise. Each job runs once across replicas; a replica that dies mid-job leaves it to
 * another (the engines' stalled/expired job handling). Jobs are not replaced: each carries its due time,
 * and the handler ignores one that is no longer the feed's next (see Refresher).
 */
export interface JobRunner {
  readonly engine: 'memory' | 'bullmq' | 'pg-boss';
  /** Starts taking jobs, `concurrency` at a time in this process. */
  start(handler: (job: RefreshJob) => Promise<void>, concurrency: number): Promise<void>;
  /** A job for `url` due at `runAt` (ms); the same url and time twice is one job. */
  schedule(job: RefreshJob): Promise<void>;
  /** Jobs waiting (delayed or due), for /metrics. */
  depth(): Promise<number>;
  close(): Promise<void>;
}
