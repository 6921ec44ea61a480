import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where archived media bytes live, by name: a directory (DATA_DIR/archive, the default) or an
 * S3-compatible bucket (ARCHIVE_S3_URL). Writes are whole or absent: a blob is written to a local
 * temporary file first and only then moved or uploaded in one piece.
 */
export interface BlobStore {
  /** For logs and messages: the directory, or s3://bucket/prefix. */
  readonly where: string;
  /** Whether every replica sees the same blobs (a bucket), or this replica only (a directory). */
  readonly shared: boolean;
  /** A temporary local path for a blob being written, moved in by put(). */
  tempPath(): string;
  /** Stores the complete file at `tmp` as `name` (the temporary file is gone afterwards, whatever happens). */
  put(name: string, tmp: string, bytes: number, contentType: string): Promise<void>;
  /** Bytes start..end (inclusive) of a blob; undefined when it is not there. */
  read(name: string, start: number, end: number): Promise<Readable | undefined>;
  remove(name: string): Promise<void>;
  /** Blobs last written before `before` (ms), for sweeping those no index row names. */
  older(before: number): AsyncIterable<string>;
  close?(): void;
}

const TEMP = '.tmp-';

/** A fresh temporary path in `dir`, for a blob being written. */
export const tempPathIn = (dir: string) => join(dir, `${TEMP}${randomBytes(8).toString('hex')}`);

/** Creates `dir` and deletes the temporary files a crash left there. */
export function clearTemp(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) if (name.startsWith(TEMP)) unlinkSync(join(dir, name));
}

/** Whether a file name in a blob directory is a temporary one. */
export const isTemp = (name: string) => name.startsWith(TEMP);

/** Blobs as files in one directory; temporary files (.tmp-*) left by a crash are deleted at start. */
export class DiskBlobs implements BlobStore {
  readonly shared = false;

  constructor(readonly where: string) {
    clearTemp(where);
  }

  tempPath(): string {
    return tempPathIn(this.where);
  }

  async put(name: string, tmp: string): Promise<void> {
    try {
      await rename(tmp, join(this.where, name));
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw err;
    }
  }

  async read(name: string, start: number, end: number): Promise<Readable | undefined> {
    // Opened here, so a missing file is known before any header is sent.
    const fh = await open(join(this.where, name), 'r').catch(() => undefined);
    if (!fh) return undefined;
    // The handle's own stream: it holds the handle (a bare fd would be closed under the stream when the
    // handle is collected) and closes it at the end.
    return fh.createReadStream({ start, end, autoClose: true });
  }

  async remove(name: string): Promise<void> {
    await unlink(join(this.where, name)).catch(() => {});
  }

  async *older(before: number): AsyncIterable<string> {
    for (const name of readdirSync(this.where)) {
      if (isTemp(name)) continue;
      try {
        if (statSync(join(this.where, name)).mtimeMs < before) yield name;
      } catch {
        // gone meanwhile
      }
    }
  }
}
