import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { readFile, rename, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';

export interface MediaEntry {
  body: Buffer;
  contentType: string;
  /** Strong validator of the bytes. */
  etag: string;
  lastModified: number;
}

interface Meta {
  contentType: string;
  etag: string;
  lastModified: number;
  length: number;
  sha256: string;
}

export interface MediaCacheOptions {
  memoryBytes: number;
  diskBytes: number;
  /** DATA_DIR/media. */
  dir: string;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Images (original and transformed), two tiers: memory bounded in bytes, and files under DATA_DIR/media
 * bounded in bytes with least-recently-used eviction, surviving restarts. A file is written to a temp
 * name and renamed when complete, and its bytes are checked against their recorded hash before use,
 * so a partial or corrupt file is never served.
 */
export class MediaCache {
  private readonly memory: LRUCache<string, MediaEntry>;
  /** Disk index: file id -> bytes on disk, in least-recently-used-first order. */
  private readonly disk = new Map<string, number>();
  private diskTotal = 0;

  constructor(private readonly opts: MediaCacheOptions) {
    this.memory = new LRUCache({ maxSize: Math.max(1, opts.memoryBytes), maxEntrySize: Math.max(1, Math.floor(opts.memoryBytes / 8)) });
    mkdirSync(opts.dir, { recursive: true });
    this.scan();
  }

  /** Rebuilds the disk index from the files, oldest access first; drops leftovers of interrupted writes. */
  private scan(): void {
    const found: Array<{ id: string; size: number; mtime: number }> = [];
    const names = new Set(readdirSync(this.opts.dir));
    for (const name of names) {
      const path = join(this.opts.dir, name);
      const m = /^([0-9a-f]{64})\.(bin|json)$/.exec(name);
      // Leftovers of interrupted writes, and a body or metadata whose partner a crash never wrote:
      // neither can be served, and a body would count against the disk bound for ever.
      if (name.includes('.tmp-') || (m && !names.has(`${m[1]}.${m[2] === 'bin' ? 'json' : 'bin'}`))) {
        unlinkSync(path);
        continue;
      }
      if (!m || m[2] !== 'bin') continue;
      const st = statSync(path);
      found.push({ id: m[1]!, size: st.size, mtime: st.mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.disk.set(f.id, f.size);
      this.diskTotal += f.size;
    }
  }

  private paths(id: string) {
    return { bin: join(this.opts.dir, `${id}.bin`), meta: join(this.opts.dir, `${id}.json`) };
  }

  /** Whether `entry` is still this key's copy in memory (a ready response built from it may be sent again). */
  holds(key: string, entry: MediaEntry): boolean {
    return this.memory.get(key) === entry;
  }

  async get(key: string): Promise<MediaEntry | undefined> {
    const hit = this.memory.get(key);
    if (hit) return hit;
    const id = sha256(key);
    if (!this.disk.has(id)) return undefined;
    const { bin, meta } = this.paths(id);
    try {
      const [body, metaText] = await Promise.all([readFile(bin), readFile(meta, 'utf8')]);
      const m = JSON.parse(metaText) as Meta;
      if (body.length !== m.length || sha256(body) !== m.sha256) throw new Error('corrupt');
      const entry: MediaEntry = { body, contentType: m.contentType, etag: m.etag, lastModified: m.lastModified };
      this.touch(id);
      this.memory.set(key, entry, { size: Math.max(1, body.length) });
      return entry;
    } catch {
      await this.drop(id);
      return undefined;
    }
  }

  /** Keeps an entry in memory and on disk; `disk: false` for bytes already kept on disk elsewhere (the archive). */
  async set(key: string, entry: MediaEntry, opts: { disk?: boolean } = {}): Promise<void> {
    this.memory.set(key, entry, { size: Math.max(1, entry.body.length) });
    if (opts.disk === false || entry.body.length > this.opts.diskBytes) return;
    const id = sha256(key);
    const { bin, meta } = this.paths(id);
    const tmp = `.tmp-${randomBytes(6).toString('hex')}`;
    const m: Meta = { contentType: entry.contentType, etag: entry.etag, lastModified: entry.lastModified, length: entry.body.length, sha256: sha256(entry.body) };
    try {
      // Body first, metadata last: an entry counts only when both are complete and agree.
      await writeFile(bin + tmp, entry.body);
      await rename(bin + tmp, bin);
      await writeFile(meta + tmp, JSON.stringify(m));
      await rename(meta + tmp, meta);
    } catch {
      await Promise.all([unlink(bin + tmp).catch(() => {}), unlink(meta + tmp).catch(() => {})]);
      return;
    }
    const old = this.disk.get(id);
    if (old !== undefined) this.diskTotal -= old;
    this.disk.delete(id);
    this.disk.set(id, entry.body.length);
    this.diskTotal += entry.body.length;
    await this.evict();
  }

  private touch(id: string): void {
    const size = this.disk.get(id);
    if (size === undefined) return;
    this.disk.delete(id);
    this.disk.set(id, size);
    // The file's mtime carries the recency across restarts.
    const now = new Date();
    utimes(this.paths(id).bin, now, now).catch(() => {});
  }

  private async evict(): Promise<void> {
    for (const [id] of this.disk) {
      if (this.diskTotal <= this.opts.diskBytes) break;
      await this.drop(id);
    }
  }

  private async drop(id: string): Promise<void> {
    const size = this.disk.get(id);
    if (size !== undefined) {
      this.diskTotal -= size;
      this.disk.delete(id);
    }
    const { bin, meta } = this.paths(id);
    await Promise.all([unlink(bin).catch(() => {}), unlink(meta).catch(() => {})]);
  }

  get diskBytes(): number {
    return this.diskTotal;
  }
}
