import { createHash } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { BlobStore } from '../store/blobs.js';
import type { Sql } from '../store/sql.js';

export interface ArchivedMedia {
  /** The blob's name in the store. */
  file: string;
  bytes: number;
  contentType: string;
  storedAt: number;
}

interface Row {
  file: string;
  bytes: number;
  content_type: string;
  stored_at: number;
}

/** Blobs nobody names are swept only when older than this: another replica may be between its upload and its row. */
const ORPHAN_AGE_MS = 3_600_000;

/**
 * Decrypted media kept for good, by media identity (URL without its expiring token, plus the key): what
 * /proxy and /play serve once a CDN link has expired. Unlike the media cache it is not evicted by use;
 * only MOMENTS_ARCHIVE_MAX_BYTES bounds it, oldest first. The index is in the database (shared by
 * replicas on PostgreSQL); the bytes in a BlobStore (a directory, or a bucket every replica reads).
 */
export class MediaArchive {
  constructor(
    private readonly db: Sql,
    readonly blobs: BlobStore,
    private readonly maxBytes: number,
    /** Whether other replicas share this index (so a blob missing here may be another replica's own). */
    private readonly sharedIndex = false,
  ) {}

  /** Rows whose blob is gone are dropped when read; blobs no row names (a crash between the two) are swept here. */
  async sweep(now = Date.now()): Promise<number> {
    let swept = 0;
    for await (const name of this.blobs.older(now - ORPHAN_AGE_MS)) {
      if (!(await this.db.get('SELECT id FROM media_archive WHERE file = ?', [name]))) {
        await this.blobs.remove(name);
        swept++;
      }
    }
    return swept;
  }

  async bytes(): Promise<number> {
    return Number((await this.db.get<{ n: number | string | null }>('SELECT SUM(bytes) AS n FROM media_archive'))?.n ?? 0);
  }

  async lookup(id: string): Promise<ArchivedMedia | undefined> {
    const r = await this.db.get<Row>('SELECT file, bytes, content_type, stored_at FROM media_archive WHERE id = ?', [id]);
    return r && { file: r.file, bytes: r.bytes, contentType: r.content_type, storedAt: r.stored_at };
  }

  async has(id: string): Promise<boolean> {
    return (await this.db.get('SELECT id FROM media_archive WHERE id = ?', [id])) !== undefined;
  }

  /**
   * Bytes start..end of a kept medium; undefined when its blob is gone (its row is dropped then, unless
   * the blobs are this replica's own directory and the index is shared: another replica may hold it).
   */
  async read(id: string, media: ArchivedMedia, start: number, end: number): Promise<Readable | undefined> {
    const body = await this.blobs.read(media.file, start, end);
    if (!body && (this.blobs.shared || !this.sharedIndex)) await this.db.run('DELETE FROM media_archive WHERE id = ? AND file = ?', [id, media.file]);
    return body;
  }

  /** A whole kept medium in memory (images). */
  async readAll(id: string, media: ArchivedMedia): Promise<Buffer | undefined> {
    if (media.bytes === 0) return Buffer.alloc(0);
    const body = await this.read(id, media, 0, media.bytes - 1);
    if (!body) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  /** A temporary path for a file to be moved in with putFile. */
  tempPath(): string {
    return this.blobs.tempPath();
  }

  async putBuffer(id: string, body: Buffer, contentType: string): Promise<void> {
    const tmp = this.tempPath();
    await writeFile(tmp, body);
    await this.putFile(id, tmp, body.length, contentType);
  }

  /** Moves a complete file (written at tempPath()) into the archive, then makes room, oldest out. */
  async putFile(id: string, tmp: string, bytes: number, contentType: string): Promise<void> {
    const name = createHash('sha256').update(id).digest('hex');
    if (bytes > this.maxBytes) {
      await unlink(tmp).catch(() => {});
      return;
    }
    await this.blobs.put(name, tmp, bytes, contentType);
    await this.db.run(
      'INSERT INTO media_archive (id, file, bytes, content_type, stored_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET file = excluded.file, bytes = excluded.bytes, content_type = excluded.content_type, stored_at = excluded.stored_at',
      [id, name, bytes, contentType, Date.now()],
    );
    while ((await this.bytes()) > this.maxBytes) {
      // Whoever deletes the row removes the blob: two replicas making room never remove one twice.
      const victim = await this.db.get<{ file: string }>(
        'DELETE FROM media_archive WHERE id = (SELECT id FROM media_archive ORDER BY stored_at, id LIMIT 1) RETURNING file',
      );
      if (!victim) break;
      await this.blobs.remove(victim.file);
    }
  }
}
