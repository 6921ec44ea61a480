import { Counter, Gauge, Histogram } from 'prom-client';
import { runInBackground } from '../background.js';
import type { JobRunner, RefreshJob } from '../jobs/runner.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RefreshFeed, RefreshFeedStore } from '../store/refresh-feeds.js';
import type { DailyQuota } from './descriptor.js';

export interface RefresherOptions {
  store: RefreshFeedStore;
  runner: JobRunner;
  /** Each source's interval (ms): REFRESH_<SOURCE>; 0 or none: no background refresh for it. */
  intervals: Readonly<Record<string, number>>;
  /** The longest an interval grows to, for feeds that rarely change or keep failing (REFRESH_MAX). */
  maxMs: number;
  /** Whether a feed is still read: requested lately, built on the start page, or with a live WebSub lease. */
  isSubscribed(url: string): Promise<boolean>;
  /** Refreshes the feed at `url` now (through the cache), kept for `ttlMs`; throws what the upstream did. */
  load(url: string, ttlMs: number, since: number): Promise<{ digest: string; newItems: number; key: string }>;
  /** Sources whose calls are paced (MP_CALLS_PER_MINUTE, DOUYIN_CALLS_PER_MINUTE): calls per minute. */
  budgets?: Readonly<Record<string, number>>;
  /** Sources whose upstream states a daily quota (HDHive): the quota as last stated. */
  quotas?: Readonly<Record<string, () => DailyQuota | undefined>>;
  concurrency: number;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
  random?: () => number;
}

/** ±10% on every interval: feeds added together drift apart instead of refreshing in step. */
const JITTER = 0.1;
/** Kept this long past the next refresh, so a poll in between is a hit even if the refresh runs late. */
const TTL_MARGIN_MS = 60_000;
/**
 * The share of a paced source's budget background refresh may plan for (a refresh is about one call):
 * the rest stays for readers' first loads, MP full texts and backfills. Its feeds' intervals are
 * stretched to fit rather than queueing in the budget, where they would hold every refresh slot.
 */
const BUDGET_SHARE = 0.5;
/**
 * The last share of a day's quota background refresh never spends: once less is left, refreshes wait
 * for the quota to start again, and what is left stays for readers' first loads (the plan above keeps
 * background refresh to half a day's quota; other apps on the same key, or feeds added during the day,
 * can still bring it this low).
 */
const QUOTA_RESERVE = 0.1;
const DAY_MS = 86_400_000;

/**
 * Keeps the feeds people read fresh in the background, so a reader's poll is a cache hit. The schedule
 * is durable (refresh_feeds); the job engine runs it (BullMQ, pg-boss or in process), one replica per
 * job. Each feed's interval starts at its source's and adapts as mature readers do: back to the source's
 * interval when new items came, half as long again when none did, doubled on each failure (or what
 * Retry-After says), never beyond REFRESH_MAX. The source's call budget still paces every call; a
 * source with a daily quota (HDHive) is planned within half of it and waits for its reset when it runs low.
 */
export class Refresher {
  private readonly now: () => number;
  private readonly random: () => number;
  /** Next refresh and source by cache key, for Cache-Control and <ttl> (what this replica knows). */
  private readonly nextByKey = new Map<string, { nextAt: number; source: string }>();
  /** URLs known to be scheduled already: a poll costs no database write. */
  private readonly known = new Set<string>();
  /** Feeds on the schedule per source (shared by replicas), for the budget's floor; read every minute. */
  private counts = new Map<string, number>();
  private countTimer?: NodeJS.Timeout;
  private readonly runs: Counter<'source' | 'outcome'>;
  private readonly lateness: Histogram<'source'>;

  constructor(private readonly opts: RefresherOptions) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    const registers = [opts.metrics.registry];
    this.runs = new Counter({ name: 'feedgate_refresh_total', help: 'Background feed refreshes, by source and outcome (changed, unchanged, failed, dropped: no longer read, deferred: the daily quota is nearly spent)', labelNames: ['source', 'outcome'] as const, registers });
    this.lateness = new Histogram({ name: 'feedgate_refresh_lateness_seconds', help: 'How late a background refresh started after it was due', labelNames: ['source'] as const, buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300], registers });
    new Gauge({
      name: 'feedgate_refresh_queue',
      help: 'Background refresh jobs waiting in the job engine',
      registers,
      async collect() {
        const n = await opts.runner.depth().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
  }

  intervalOf(source: string): number {
    return this.opts.intervals[source] ?? 0;
  }

  /**
   * The shortest interval a paced source's feeds can have between them within BUDGET_SHARE of its budget
   * (calls a minute) and of its daily quota, whichever asks more.
   */
  floorOf(source: string): number {
    const feeds = this.counts.get(source) ?? 0;
    const perMinute = this.opts.budgets?.[source];
    const quota = this.opts.quotas?.[source]?.();
    const byMinute = perMinute ? (feeds * 60_000) / (perMinute * BUDGET_SHARE) : 0;
    const byDay = quota ? (feeds * DAY_MS) / (quota.limit * BUDGET_SHARE) : 0;
    return Math.round(Math.max(byMinute, byDay));
  }

  private paced(source: string): boolean {
    return this.opts.budgets?.[source] !== undefined || this.opts.quotas?.[source] !== undefined;
  }

  private async recount(): Promise<void> {
    if (Object.keys(this.opts.budgets ?? {}).length === 0 && Object.keys(this.opts.quotas ?? {}).length === 0) return;
    this.counts = new Map(Object.entries(await this.opts.store.countBySource()));
  }

  /**
   * When the data under `key` is refreshed next, if this replica ran its last refresh, and its source's
   * interval (REFRESH_<SOURCE>): the shortest time between two refreshes, whatever the feed's adapted
   * one, so a <ttl> built from it stays the same while the items do (and so does the ETag).
   */
  scheduleOf(key: string): { nextAt: number; intervalMs: number } | undefined {
    const t = this.nextByKey.get(key);
    return t !== undefined && t.nextAt > this.now() ? { nextAt: t.nextAt, intervalMs: this.intervalOf(t.source) } : undefined;
  }

  /** A feed was read or built: it is refreshed in the background from now on, first one interval from now. */
  track(url: string, source: string): void {
    const base = this.intervalOf(source);
    if (base <= 0 || this.known.has(url)) return;
    if (this.known.size > 100_000) this.known.clear();
    this.known.add(url);
    if (this.paced(source)) this.counts.set(source, (this.counts.get(source) ?? 0) + 1);
    const interval = Math.max(base, this.floorOf(source));
    const nextAt = this.now() + this.jittered(interval);
    void this.opts.store
      .add({ url, source, intervalMs: interval, nextAt })
      .then(async (added) => {
        if (added) await this.opts.runner.schedule({ url, runAt: nextAt });
      })
      .catch((err) => {
        this.known.delete(url);
        this.opts.logger.warn({ url, err: (err as Error)?.message }, 'a feed could not be scheduled for background refresh');
      });
  }

  /** Takes jobs, and brings back the schedule: overdue feeds (after a stop) spread over the next minute, not all at once. */
  async start(): Promise<void> {
    await this.recount().catch(() => {});
    this.countTimer = setInterval(() => void this.recount().catch(() => {}), 60_000);
    this.countTimer.unref();
    await this.opts.runner.start((job) => runInBackground(() => this.run(job)), this.opts.concurrency);
    const now = this.now();
    for (const f of await this.opts.store.all(1_000_000)) {
      this.known.add(f.url);
      let at = f.nextAt;
      if (at < now) {
        at = now + Math.round(this.random() * Math.min(60_000, f.intervalMs));
        if (!(await this.opts.store.reschedule(f.url, f.nextAt, at))) continue;
      }
      await this.opts.runner.schedule({ url: f.url, runAt: at });
    }
  }

  async close(): Promise<void> {
    clearInterval(this.countTimer);
    await this.opts.runner.close();
  }

  private jittered(ms: number): number {
    return Math.round(ms * (1 - JITTER + 2 * JITTER * this.random()));
  }

  private async run(job: RefreshJob): Promise<void> {
    const f = await this.opts.store.get(job.url);
    // A job that is no longer the feed's next (renewed, or another replica ran it) is dropped.
    if (!f || f.nextAt !== job.runAt) return;
    const started = this.now();
    this.lateness.observe({ source: f.source }, Math.max(0, started - job.runAt) / 1000);
    if (!(await this.opts.isSubscribed(f.url))) {
      await this.opts.store.remove(f.url);
      this.known.delete(f.url);
      this.runs.inc({ source: f.source, outcome: 'dropped' });
      return;
    }
    const configured = this.intervalOf(f.source);
    // A paced source with more feeds than half its budget covers at its interval: each waits longer.
    const base = configured > 0 ? Math.max(configured, this.floorOf(f.source)) : 0;
    if (base <= 0) {
      await this.opts.store.remove(f.url);
      return;
    }
    const quota = this.opts.quotas?.[f.source]?.();
    if (quota && quota.remaining <= quota.limit * QUOTA_RESERVE && started < quota.resetAt) {
      // Nothing is called: the feed comes back after the reset, its feeds spread over up to an hour.
      const nextAt = quota.resetAt + Math.round(this.random() * Math.min(base, 3_600_000));
      if (!(await this.opts.store.done(f.url, job.runAt, { ...f, nextAt }))) return;
      this.runs.inc({ source: f.source, outcome: 'deferred' });
      await this.opts.runner.schedule({ url: f.url, runAt: nextAt });
      return;
    }
    let next: Omit<RefreshFeed, 'url' | 'source'>;
    let key: string | undefined;
    try {
      // Kept until a while after the next refresh: readers polling in between are hits.
      const planned = Math.min(this.opts.maxMs, Math.max(base, f.intervalMs));
      // Copies loaded within half an interval count as this refresh: the same feed read as .rss and
      // .atom, or with other filters, is one cache key and one upstream call per interval, not one per URL.
      const r = await this.opts.load(f.url, planned * (1 + JITTER) + TTL_MARGIN_MS, job.runAt - Math.round(planned / 2));
      key = r.key;
      const changed = r.digest !== f.digest;
      const interval = changed ? base : Math.max(base, Math.min(this.opts.maxMs, Math.round(Math.max(base, f.intervalMs) * 1.5)));
      next = { intervalMs: interval, nextAt: started + this.jittered(interval), lastAt: started, changedAt: changed ? started : f.changedAt, digest: r.digest, newItems: r.newItems, fails: 0, lastError: '' };
      this.runs.inc({ source: f.source, outcome: changed ? 'changed' : 'unchanged' });
    } catch (err) {
      const fails = f.fails + 1;
      const asked = Number((err as { headers?: Record<string, string> })?.headers?.['Retry-After']);
      const backoff = Math.max(base, Math.min(this.opts.maxMs, base * 2 ** Math.min(fails, 10)));
      const interval = Number.isFinite(asked) && asked > 0 ? Math.max(base, Math.min(this.opts.maxMs, Math.max(backoff, asked * 1000))) : backoff;
      next = { ...f, intervalMs: interval, nextAt: started + this.jittered(interval), lastAt: started, fails, lastError: (err as Error)?.message ?? String(err) };
      this.runs.inc({ source: f.source, outcome: 'failed' });
    }
    if (!(await this.opts.store.done(f.url, job.runAt, next))) return;
    if (key) this.nextByKey.set(key, { nextAt: next.nextAt, source: f.source });
    if (this.nextByKey.size > 100_000) this.nextByKey.clear();
    await this.opts.runner.schedule({ url: f.url, runAt: next.nextAt });
  }
}
