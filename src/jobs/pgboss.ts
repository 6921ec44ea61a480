import PgBoss from 'pg-boss';
import type { JobRunner, RefreshJob } from './runner.js';

const QUEUE = 'feedgate-refresh';

/**
 * pg-boss on the PostgreSQL of DATABASE_URL (its own schema, pgboss_feedgate): delayed jobs, one
 * worker per job across replicas (SKIP LOCKED), and a job whose worker died expires and runs again.
 */
export class PgBossRunner implements JobRunner {
  readonly engine = 'pg-boss';
  private readonly boss: PgBoss;
  private ready?: Promise<unknown>;

  constructor(url: string, private readonly onError: (err: Error) => void) {
    this.boss = new PgBoss({ connectionString: url, schema: 'pgboss_feedgate', max: 4, application_name: 'feedgate-jobs' });
    this.boss.on('error', (err) => this.onError(err));
  }

  private started(): Promise<unknown> {
    this.ready ??= this.boss.start().then(() => this.boss.createQueue(QUEUE).catch(() => {}));
    return this.ready;
  }

  async start(handler: (job: RefreshJob) => Promise<void>, concurrency: number): Promise<void> {
    await this.started();
    for (let i = 0; i < concurrency; i++) {
      await this.boss.work<RefreshJob>(QUEUE, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async (jobs) => {
        for (const job of jobs) await handler(job.data);
      });
    }
  }

  async schedule(job: RefreshJob): Promise<void> {
    await this.started();
    await this.boss.send(QUEUE, job, { startAfter: new Date(job.runAt), singletonKey: `${job.url}\n${job.runAt}`, expireInSeconds: 600, retryLimit: 0 });
  }

  async depth(): Promise<number> {
    await this.started();
    return this.boss.getQueueSize(QUEUE, { before: 'completed' });
  }

  async close(): Promise<void> {
    if (this.ready) await this.boss.stop({ graceful: false, wait: true, close: true }).catch(() => {});
  }
}
