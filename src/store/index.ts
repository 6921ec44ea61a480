import { join } from 'node:path';
import type { SharedConfig as Config } from '../config.js';
import type { Logger } from '../logger.js';
import { DiskBlobs, type BlobStore } from './blobs.js';
import type { Sql } from './sql.js';
import { openSqlite } from './sqlite.js';

// The PostgreSQL driver and the S3 SDK are loaded only when configured: together they add about 40 MB to
// every process that never uses them.

/** The database DATABASE_URL names (PostgreSQL), else SQLite in DATA_DIR. Not migrated yet: see Sql.migrate. */
export async function openStore(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_MAX' | 'DATABASE_STATEMENT_TIMEOUT' | 'DATA_DIR' | 'SQLITE_CACHE_SIZE'>, logger?: Logger): Promise<Sql> {
  if (config.DATABASE_URL) {
    const { PostgresSql } = await import('./postgres.js');
    return new PostgresSql({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT, logger });
  }
  return openSqlite(config.DATA_DIR, { checkpointThread: true, cacheBytes: config.SQLITE_CACHE_SIZE, onError: (message) => logger?.warn({ dataDir: config.DATA_DIR }, message) });
}

/** Where archived media bytes go: ARCHIVE_S3_URL's bucket, else DATA_DIR/archive. */
export async function openBlobs(config: Pick<Config, 'ARCHIVE_S3_URL' | 'ARCHIVE_S3_ENDPOINT' | 'DATA_DIR'>): Promise<BlobStore> {
  if (config.ARCHIVE_S3_URL) {
    const { S3Blobs } = await import('./s3-blobs.js');
    return new S3Blobs(config.ARCHIVE_S3_URL, config.ARCHIVE_S3_ENDPOINT, join(config.DATA_DIR, 'archive-tmp'));
  }
  return new DiskBlobs(join(config.DATA_DIR, 'archive'));
}
