import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../config.js';
import { clearTemp, tempPathIn, type BlobStore } from './blobs.js';

export interface S3Location {
  bucket: string;
  /** Key prefix, without leading slash, ending in / when not empty. */
  prefix: string;
}

/** s3://bucket/prefix → bucket and prefix; a ConfigError naming ARCHIVE_S3_URL otherwise. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url.trim());
  if (!m) throw new ConfigError([`ARCHIVE_S3_URL: expected s3://<bucket>/<prefix> (a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens), got "${url}"`]);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
}

/**
 * Blobs in an S3-compatible bucket (AWS, MinIO, Garage, Ceph RGW, R2): ARCHIVE_S3_URL names the bucket
 * and prefix, ARCHIVE_S3_ENDPOINT the server (path-style) when it is not AWS; credentials and region come
 * from the standard AWS_* variables through the SDK's default chain. One PutObject per blob: S3 makes an
 * object visible only once it is complete, so a crash or a network fault leaves no half object.
 */
export class S3Blobs implements BlobStore {
  readonly shared = true;
  readonly where: string;
  private readonly client: S3Client;
  private readonly loc: S3Location;

  constructor(
    url: string,
    endpoint: string,
    private readonly tmpDir: string,
  ) {
    this.loc = parseS3Url(url);
    this.where = `s3://${this.loc.bucket}/${this.loc.prefix}`;
    this.client = new S3Client({
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // Only what a request needs: some S3-compatible servers refuse the newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    clearTemp(tmpDir);
  }

  tempPath(): string {
    return tempPathIn(this.tmpDir);
  }

  async put(name: string, tmp: string, bytes: number, contentType: string): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.prefix + name, Body: createReadStream(tmp), ContentLength: bytes, ContentType: contentType }));
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  async read(name: string, start: number, end: number): Promise<Readable | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.prefix + name, Range: `bytes=${start}-${end}` }));
      return res.Body as Readable;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async remove(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.loc.prefix + name }));
  }

  async *older(before: number): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.loc.prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const name = o.Key?.slice(this.loc.prefix.length);
        if (name && !name.includes('/') && (o.LastModified?.getTime() ?? 0) < before) yield name;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  close(): void {
    this.client.destroy();
  }
}
