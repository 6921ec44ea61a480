import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../store/db.js';

export interface ArchivedMedia {
  file: string;
  bytes: number;
  contentType: string;
  storedAt: number;
}

/**
 * Decrypted media kept for good under DATA_DIR/archive, by media identity (URL without its expiring
 * token, plus the key): what /proxy and /play serve once a CDN link has expired. Unlike the media
 * cache it is not evicted by use; only MOMENTS_ARCHIVE_MAX_BYTES bounds it, oldest first. The index
 * is in SQLite; a file is renamed into place only when complete.
 */
export class MediaArchive {
  private total: number;
  private readonly q;

  constructor(
    db: Db,
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true });
    this.q = {
      get: db.prepare<[string], { file: string; bytes: number; content_type: string; stored_at: number }>('SELECT file, bytes, content_type, stored_at FROM media_archive WHERE id = ?'),
      put: db.prepare('INSERT INTO media_archive (id, file, bytes, content_type, stored_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET file = excluded.file, bytes = excluded.bytes, content_type = excluded.content_type, stored_at = excluded.stored_at'),
      oldest: db.prepare<[], { id: string; file: string; bytes: number }>('SELECT id, file, bytes FROM media_archive ORDER BY stored_at, id LIMIT 1'),
      del: db.prepare('DELETE FROM media_archive WHERE id = ?'),
      all: db.prepare<[], { id: string; file: string }>('SELECT id, file FROM media_archive'),
      sum: db.prepare<[], { n: number | null }>('SELECT SUM(bytes) AS n FROM media_archive'),
    };
    // Rows whose file is gone are dropped; files no row names (interrupted writes) are deleted.
    const names = new Set(readdirSync(dir));
    const known = new Set<string>();
    for (const row of this.q.all.all()) {
      if (names.has(row.file)) known.add(row.file);
      else this.q.del.run(row.id);
    }
    for (const name of names) if (!known.has(name)) unlinkSync(join(dir, name));
    this.total = this.q.sum.get()?.n ?? 0;
  }

  get bytes(): number {
    return this.total;
  }

  lookup(id: string): ArchivedMedia | undefined {
    const r = this.q.get.get(id);
    if (!r) return undefined;
    const file = join(this.dir, r.file);
    if (!existsSync(file)) {
      this.q.del.run(id);
      this.total -= r.bytes;
      return undefined;
    }
    return { file, bytes: r.bytes, contentType: r.content_type, storedAt: r.stored_at };
  }

  has(id: string): boolean {
    return this.q.get.get(id) !== undefined;
  }

  /** A temporary path in the archive's directory, for a file to be moved in with putFile. */
  tempPath(): string {
    return join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
  }

  async putBuffer(id: string, body: Buffer, contentType: string): Promise<void> {
    const tmp = this.tempPath();
    await writeFile(tmp, body);
    await this.putFile(id, tmp, body.length, contentType);
  }

  /** Moves a complete file (written at tempPath()) into the archive. */
  async putFile(id: string, tmp: string, bytes: number, contentType: string): Promise<void> {
    if (bytes > this.maxBytes) {
      await unlink(tmp).catch(() => {});
      return;
    }
    const name = createHash('sha256').update(id).digest('hex');
    await rename(tmp, join(this.dir, name));
    const old = this.q.get.get(id);
    this.q.put.run(id, name, bytes, contentType, Date.now());
    this.total += bytes - (old?.bytes ?? 0);
    while (this.total > this.maxBytes) {
      const victim = this.q.oldest.get();
      if (!victim) break;
      this.q.del.run(victim.id);
      this.total -= victim.bytes;
      await unlink(join(this.dir, victim.file)).catch(() => {});
    }
  }
}
