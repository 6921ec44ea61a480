import { createWriteStream } from 'node:fs';
import { Counter, Gauge } from 'prom-client';
import { unlink } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MediaArchive } from '../cache/media-archive.js';
import { HttpError } from '../http/errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { KeepJob, KeepQueueStore } from '../store/keep-queue.js';
import { readCapped } from '../upstream/read-body.js';
import { decryptImage } from './decrypt-image.js';
import { header, mediaStatusError, type MediaFetcher } from './fetch.js';
import { PREFIX_BYTES, type KeystreamCache } from './keystream-cache.js';
import type { Platform } from './platforms.js';
import { checkTarget, type TargetPolicy } from './ssrf.js';
import { sniffImage } from './transform.js';
import { xorStream } from './xor-stream.js';

/** One file to keep: an image (whole-file XOR) or a video (128 KiB prefix XOR). */
export interface KeepRequest {
  url: string;
  platform: Platform;
  /** Decimal u64; absent or "0" when the file is not encrypted. */
  key?: string;
  kind: 'image' | 'video';
}

export interface MediaKeeperOptions {
  fetcher: MediaFetcher;
  policy: TargetPolicy;
  keystreams: KeystreamCache;
  archive: MediaArchive;
  maxImageBytes: number;
  /** Videos larger than this are not kept (they still play while their CDN link lives). */
  maxVideoBytes: number;
  concurrency: number;
  metrics: Metrics;
  /** Where jobs wait, durably: written before they are tried, removed on their outcome. */
  queue: KeepQueueStore;
  /** The wait after a first failed try; doubled after each further one (default 30 s). */
  retryBaseMs?: number;
  /** How long a claim on a job lasts unless renewed (default 2 min): a replica that dies frees its jobs after it. */
  claimMs?: number;
  /** Tries before a medium is given up on (default 8: about two hours with the default wait). */
  maxAttempts?: number;
  now?: () => number;
  /** Each job's outcome is a debug line. */
  logger?: Logger;
}

type Outcome = 'kept' | 'already' | 'too_large' | 'failed' | 'decrypt_failed';

/**
 * Fetches, decrypts, checks and archives media in the background as soon as a source first sees it
 * (CDN tokens expire and authors delete posts): bounded concurrency, one job per file however often it
 * is asked for, never in the way of a response. Jobs live in a durable queue, so a crash or restart
 * resumes them (start()); a failed try is retried with backoff. Failures are counted, never thrown.
 */
export class MediaKeeper {
  /** Identities of the jobs being tried now. */
  private readonly running = new Set<string>();
  private readonly closing = new AbortController();
  private idleWaiters: Array<() => void> = [];
  private readonly jobs: Counter<'kind' | 'outcome'>;
  private timer?: NodeJS.Timeout;
  private renewer?: NodeJS.Timeout;
  private started = false;
  /** A pump running, and whether another was asked for meanwhile: one claim at a time per process. */
  private pumping = false;
  /** keep() calls still writing their jobs: idle() waits for them. */
  private enqueuing = 0;
  private queued: Promise<void> = Promise.resolve();
  private again = false;
  private readonly now: () => number;
  private readonly claimMs: number;

  constructor(private readonly opts: MediaKeeperOptions) {
    this.now = opts.now ?? Date.now;
    this.claimMs = opts.claimMs ?? 120_000;
    const registers = [opts.metrics.registry];
    this.jobs = new Counter({ name: 'feedgate_media_keep_total', help: 'Media kept for good when first seen, by kind and outcome', labelNames: ['kind', 'outcome'] as const, registers });
    // Both read the database: prom-client awaits them; with the database away they keep their last value.
    new Gauge({
      name: 'feedgate_media_keep_queue',
      help: 'Media waiting to be kept (durably queued, retries included), or being fetched',
      registers,
      async collect() {
        const n = await opts.queue.size().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
    new Gauge({
      name: 'feedgate_media_archive_bytes',
      help: 'Bytes of media kept in the archive (DATA_DIR/archive or ARCHIVE_S3_URL)',
      registers,
      async collect() {
        const n = await opts.archive.bytes().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    });
  }

  /** Queues media to keep (durably, before anything is fetched) and starts on them. Never throws. */
  keep(requests: readonly KeepRequest[]): void {
    this.enqueuing++;
    // One after another: media are queued (and so kept) in the order they were seen.
    this.queued = this.queued
      .then(() => this.enqueue(requests))
      .catch((err) => this.opts.logger?.warn({ err: (err as Error)?.message }, 'media to keep could not be queued (the database is away): these are not kept'))
      .finally(() => {
        this.enqueuing--;
        this.pump();
      });
  }

  private async enqueue(requests: readonly KeepRequest[]): Promise<void> {
    const jobs: Array<{ id: string; request: string }> = [];
    for (const r of requests) {
      let id: string;
      try {
        id = this.opts.policy.platforms.identity(new URL(r.url), r.platform, r.key ? BigInt(r.key) : undefined);
      } catch {
        continue;
      }
      if (!(await this.opts.archive.has(id))) jobs.push({ id, request: JSON.stringify(r) });
    }
    if (jobs.length) await this.opts.queue.add(jobs, this.now());
    this.started = true;
  }

  /**
   * Works through what the queue holds, jobs left by an earlier process included. `alone`: this process
   * is the only one on its database (SQLite), so claims left by a crash are freed at once.
   */
  start(alone = false): void {
    if (alone && !this.started) {
      this.started = true;
      void this.opts.queue
        .releaseAll()
        .catch(() => {})
        .then(() => this.pump());
      return;
    }
    this.started = true;
    this.pump();
  }

  /** Resolves when nothing due is queued and nothing runs (tests, shutdown); jobs waiting for a retry do not count. */
  async idle(): Promise<void> {
    if (await this.isIdle()) return;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closing.abort(new Error('shutting down'));
    clearTimeout(this.timer);
    clearInterval(this.renewer);
  }

  private async isIdle(): Promise<boolean> {
    if (this.running.size > 0 || this.pumping || this.enqueuing > 0) return false;
    if (this.closing.signal.aborted) return true;
    return !(await this.opts.queue.hasDue(this.now()).catch(() => false));
  }

  private pump(): void {
    if (!this.started || this.closing.signal.aborted) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.claimAndRun()
      .catch((err) => this.opts.logger?.warn({ err: (err as Error)?.message }, 'media keeping paused: the queue cannot be read; it is tried again shortly'))
      .then(async () => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          return this.pump();
        }
        await this.wake();
        if (await this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  private async claimAndRun(): Promise<void> {
    const free = this.opts.concurrency - this.running.size;
    if (free <= 0) return;
    for (const job of await this.opts.queue.claim(this.now(), free, this.now() + this.claimMs)) {
      let r: KeepRequest;
      let key: bigint | undefined;
      try {
        r = JSON.parse(job.request) as KeepRequest;
        key = r.key ? BigInt(r.key) : undefined;
      } catch {
        await this.opts.queue.remove(job.id);
        continue;
      }
      this.running.add(job.id);
      this.renewing();
      void this.run(r, job.id, key).then(({ outcome, error }) => this.settle(r, job, outcome, error));
    }
  }

  /** While jobs run, their claims are renewed well before they end (a long video outlives one claim). */
  private renewing(): void {
    if (this.renewer) return;
    this.renewer = setInterval(() => {
      if (this.running.size === 0) {
        clearInterval(this.renewer);
        this.renewer = undefined;
        return;
      }
      void this.opts.queue.renew([...this.running], this.now() + this.claimMs).catch(() => {});
    }, this.claimMs / 3);
    this.renewer.unref();
  }

  /** A job's outcome: done (kept, or never keepable), or tried again later until it has had its tries. */
  private async settle(r: KeepRequest, job: KeepJob, outcome: Outcome, error = ''): Promise<void> {
    this.running.delete(job.id);
    if (this.closing.signal.aborted) return;
    const tries = job.attempts + 1;
    this.opts.logger?.debug({ media: job.id.split('?')[0], kind: r.kind, outcome, tries, ...(error ? { why: error } : {}) }, 'media keep');
    try {
      if (outcome === 'failed' && tries < (this.opts.maxAttempts ?? 8)) {
        await this.opts.queue.retry(job.id, this.now() + (this.opts.retryBaseMs ?? 30_000) * 2 ** job.attempts, error);
        this.jobs.inc({ kind: r.kind, outcome: 'retry' });
      } else {
        await this.opts.queue.remove(job.id);
        this.jobs.inc({ kind: r.kind, outcome: outcome === 'failed' ? 'gave_up' : outcome });
      }
    } catch (err) {
      // The database is away: the job keeps its claim, which runs out, and it is tried again then.
      this.opts.logger?.warn({ media: job.id.split('?')[0], err: (err as Error)?.message }, 'the outcome of keeping a medium could not be recorded; it is tried again later');
    }
    this.pump();
  }

  /**
   * A timer for the next retry or claim running out. Jobs due now are either running or wait for a free
   * slot, which settle() pumps for; only a job due later needs waking for.
   */
  private async wake(): Promise<void> {
    clearTimeout(this.timer);
    const next = await this.opts.queue.nextDue(this.now()).catch(() => this.now() + 10_000);
    if (next === undefined || this.closing.signal.aborted) return;
    this.timer = setTimeout(() => this.pump(), Math.max(0, next - this.now()) + 10);
    this.timer.unref();
  }

  private async run(r: KeepRequest, id: string, key: bigint | undefined): Promise<{ outcome: Outcome; error?: string }> {
    try {
      return { outcome: await this.fetchAndKeep(r, id, key) };
    } catch (err) {
      if (err instanceof HttpError && err.code === 'DECRYPT_FAILED') return { outcome: 'decrypt_failed' };
      return { outcome: 'failed', error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async fetchAndKeep(r: KeepRequest, id: string, key: bigint | undefined): Promise<Outcome> {
    if (await this.opts.archive.has(id)) return 'already';
    const target = checkTarget(r.url, this.opts.policy);
    const up = await this.opts.fetcher.open(target, { platform: r.platform, platformOnly: false, signal: this.closing.signal });
    if (up.status !== 200) {
      up.body.destroy();
      throw mediaStatusError(up.status, target.hostname);
    }
    const declared = Number(header(up.headers, 'content-length') ?? NaN);
    if (r.kind === 'image') {
      const raw = await readCapped(up.body, header(up.headers, 'content-length'), this.opts.maxImageBytes);
      if (!raw) return 'too_large';
      const body = decryptImage(raw, key, this.opts.keystreams);
      await this.opts.archive.putBuffer(id, body, sniffImage(body)!);
      return 'kept';
    }
    if (declared > this.opts.maxVideoBytes) {
      up.body.destroy();
      return 'too_large';
    }
    return await this.keepVideo(id, up.body, key);
  }

  /** Streams to a temporary file, decrypting the prefix; kept only if it is an MP4 within the bound. */
  private async keepVideo(id: string, body: NodeJS.ReadableStream, key: bigint | undefined): Promise<Outcome> {
    const tmp = this.opts.archive.tempPath();
    const max = this.opts.maxVideoBytes;
    let bytes = 0;
    let head = Buffer.alloc(0);
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > max) return done(new HttpError(413, 'TOO_LARGE', 'video over the bound'));
        if (head.length < 12) head = Buffer.concat([head, chunk.subarray(0, 12 - head.length)]);
        done(null, chunk);
      },
    });
    const stages: NodeJS.ReadWriteStream[] = key !== undefined && key !== 0n ? [xorStream({ key, offset: 0, limit: PREFIX_BYTES, keystreams: this.opts.keystreams })] : [];
    try {
      await pipeline([body, ...stages, count, createWriteStream(tmp)] as never);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      if (err instanceof HttpError && err.code === 'TOO_LARGE') return 'too_large';
      throw err;
    }
    // An MP4 names its first box "ftyp": anything else means a wrong key.
    if (head.subarray(4, 8).toString('latin1') !== 'ftyp') {
      await unlink(tmp).catch(() => {});
      return 'decrypt_failed';
    }
    await this.opts.archive.putFile(id, tmp, bytes, 'video/mp4');
    return 'kept';
  }
}
