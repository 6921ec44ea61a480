import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveStore } from './archive.js';
import { isTemp, type BlobStore } from './blobs.js';
import type { SqliteSql } from './sqlite.js';
import type { Sql } from './sql.js';

export interface CopyProgress {
  table: string;
  done: number;
  total: number;
}

export interface TableCount {
  table: string;
  rows: number;
  /** Rows written now (the rest were there already: an earlier, interrupted run). */
  copied: number;
}

const BATCH = 500;

/**
 * Copies every table a SQLite database and the target share, row by row in batches, never replacing a
 * row the target already has: run again after an interruption, it copies what is missing and nothing
 * twice. The target's schema must be migrated first.
 */
export async function copyTables(from: SqliteSql, to: Sql, progress: (p: CopyProgress) => void): Promise<TableCount[]> {
  const tables = from.db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' ORDER BY name")
    .all()
    .map((t) => t.name);
  const counts: TableCount[] = [];
  for (const table of tables) {
    const info = from.db.prepare<[], { name: string; pk: number; type: string }>(`PRAGMA table_info("${table}")`).all();
    const targetColumns = new Set(
      to.engine === 'postgres'
        ? (await to.all<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?', [table])).map((c) => c.column_name)
        : info.map((c) => c.name),
    );
    if (targetColumns.size === 0) continue; // a table the target does not have (a source no longer built in)
    const columns = info.map((c) => c.name).filter((c) => targetColumns.has(c));
    const order = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => `"${c.name}"`).join(', ') || 'rowid';
    const total = (from.db.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number }).n;
    const select = from.db.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}" ORDER BY ${order} LIMIT ? OFFSET ?`);
    let done = 0;
    let copied = 0;
    progress({ table, done, total });
    for (;;) {
      const rows = select.all(BATCH, done) as Array<Record<string, unknown>>;
      if (rows.length === 0) break;
      const values = rows.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ');
      copied += await to.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values} ON CONFLICT DO NOTHING`, rows.flatMap((r) => columns.map((c) => r[c])));
      done += rows.length;
      progress({ table, done, total });
    }
    counts.push({ table, rows: total, copied });
    // Rows came with their ids: the target's own numbering starts after them.
    if (to.engine === 'postgres' && targetColumns.has('id') && info.some((c) => c.name === 'id' && c.pk > 0 && c.type.toUpperCase() === 'INTEGER')) {
      await to.run(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), COALESCE((SELECT MAX(id) FROM ${table}), 0) + 1, false) WHERE pg_get_serial_sequence('${table}', 'id') IS NOT NULL`);
    }
  }
  // The search index is not a table to copy: it is made again from the copied texts.
  if (to.engine === 'postgres') await archiveStore(to).reindex();
  return counts;
}

/** The proxy secret a SQLite DATA_DIR generated (DATA_DIR/proxy-secret), hex, if there is one. */
export function dataDirProxySecret(dataDir: string): string | undefined {
  const file = join(dataDir, 'proxy-secret');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}

/** Uploads the archive's blobs from DATA_DIR/archive into another blob store (a bucket); returns how many. */
export async function copyBlobs(dir: string, to: BlobStore, progress: (p: CopyProgress) => void): Promise<number> {
  if (!existsSync(dir)) return 0;
  const names = readdirSync(dir).filter((n) => !isTemp(n));
  let done = 0;
  progress({ table: 'archive blobs', done, total: names.length });
  for (const name of names) {
    // put() consumes its temporary file: hand it a copy, the original stays until the user removes it.
    const tmp = to.tempPath();
    await copyFile(join(dir, name), tmp);
    await to.put(name, tmp, statSync(join(dir, name)).size, 'application/octet-stream');
    progress({ table: 'archive blobs', done: ++done, total: names.length });
  }
  return done;
}
