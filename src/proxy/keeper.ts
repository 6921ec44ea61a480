import { createWriteStream } from 'node:fs';
import { Counter, Gauge } from 'prom-client';
import { unlink } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MediaArchive } from '../cache/media-archive.js';
import { HttpError } from '../http/errors.js';
import type { Metrics } from '../metrics.js';
import { readCapped } from '../upstream/read-body.js';
import { decryptImage } from './decrypt-image.js';
import { header, mediaStatusError, type MediaFetcher } from './fetch.js';
import { PREFIX_BYTES, type KeystreamCache } from './keystream-cache.js';
import { mediaIdentity, type Platform } from './platforms.js';
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
}

type Outcome = 'kept' | 'already' | 'too_large' | 'failed' | 'decrypt_failed';

/**
 * Fetches, decrypts, checks and archives media in the background as soon as a source first sees it
 * (CDN tokens expire and authors delete posts): bounded concurrency, one job per file however often it
 * is asked for, never in the way of a response. Failures are counted, never thrown.
 */
export class MediaKeeper {
  /** Requests with their identity and key, worked out once when they are queued. */
  private readonly queue: Array<{ r: KeepRequest; id: string; key?: bigint }> = [];
  private readonly pending = new Set<string>();
  private running = 0;
  private readonly closing = new AbortController();
  private idleWaiters: Array<() => void> = [];
  private readonly jobs: Counter<'kind' | 'outcome'>;

  constructor(private readonly opts: MediaKeeperOptions) {
    const registers = [opts.metrics.registry];
    const waiting = () => this.queue.length + this.running;
    this.jobs = new Counter({ name: 'feedgate_media_keep_total', help: 'Media kept for good when first seen, by kind and outcome', labelNames: ['kind', 'outcome'] as const, registers });
    new Gauge({
      name: 'feedgate_media_keep_queue',
      help: 'Media waiting to be kept, or being fetched',
      registers,
      collect() {
        this.set(waiting());
      },
    });
    new Gauge({
      name: 'feedgate_media_archive_bytes',
      help: 'Bytes of media kept in the archive (DATA_DIR/archive)',
      registers,
      collect() {
        this.set(opts.archive.bytes);
      },
    });
  }

  keep(requests: readonly KeepRequest[]): void {
    for (const r of requests) {
      let id: string;
      let key: bigint | undefined;
      try {
        key = r.key ? BigInt(r.key) : undefined;
        id = mediaIdentity(new URL(r.url), r.platform, key);
      } catch {
        continue;
      }
      if (this.pending.has(id) || this.opts.archive.has(id)) continue;
      this.pending.add(id);
      this.queue.push({ r, id, key });
    }
    this.pump();
  }

  /** Resolves when nothing is queued or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closing.abort(new Error('shutting down'));
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.queue.length > 0 && !this.closing.signal.aborted) {
      const job = this.queue.shift()!;
      this.running++;
      void this.run(job.r, job.id, job.key).then((outcome) => {
        this.jobs.inc({ kind: job.r.kind, outcome });
        this.pending.delete(job.id);
        this.running--;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async run(r: KeepRequest, id: string, key: bigint | undefined): Promise<Outcome> {
    if (this.opts.archive.has(id)) return 'already';
    try {
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
    } catch (err) {
      return err instanceof HttpError && err.code === 'DECRYPT_FAILED' ? 'decrypt_failed' : 'failed';
    }
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
