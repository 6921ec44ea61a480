import { createHash } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import type { JobRunner, RefreshJob } from './runner.js';

const QUEUE = 'feedgate-refresh';

/** ioredis options from a redis:// URL, as BullMQ wants them (workers block: no retry limit per request). */
function connection(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number(u.pathname.slice(1) || 0),
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/**
 * BullMQ on the Redis of REDIS_URL: delayed jobs, one worker per job across replicas, and a job whose
 * worker died is found stalled and runs again.
 */
export class BullRunner implements JobRunner {
  readonly engine = 'bullmq';
  private readonly queue: Queue;
  private worker?: Worker;

  constructor(private readonly url: string, private readonly onError: (err: Error) => void) {
    // Adding a job fails at once while Redis is away (the schedule in the database brings it back at the
    // next start), instead of queueing commands for ever.
    this.queue = new Queue(QUEUE, { connection: { ...connection(url), maxRetriesPerRequest: 1, enableOfflineQueue: false } });
    this.queue.on('error', (err) => this.onError(err));
  }

  async start(handler: (job: RefreshJob) => Promise<void>, concurrency: number): Promise<void> {
    this.worker = new Worker<RefreshJob>(QUEUE, async (job) => handler(job.data), { connection: connection(this.url), concurrency, stalledInterval: 15_000 });
    this.worker.on('error', (err) => this.onError(err));
  }

  async schedule(job: RefreshJob): Promise<void> {
    // A custom id per feed and time: the same job scheduled twice is one.
    const jobId = `${createHash('sha1').update(job.url).digest('hex')}-${job.runAt}`;
    await this.queue.add('refresh', job, { jobId, delay: Math.max(0, job.runAt - Date.now()), removeOnComplete: true, removeOnFail: true });
  }

  async depth(): Promise<number> {
    return this.queue.count();
  }

  /** Closes within two seconds even with Redis away (closing waits for Redis otherwise). */
  async close(): Promise<void> {
    const done = Promise.all([this.worker?.close(true).catch(() => {}), this.queue.close().catch(() => {})]);
    await Promise.race([done, new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
