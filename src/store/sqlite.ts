import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { giveWay } from '../background.js';
import { ConfigError } from '../config.js';
import { pendingMigrations } from './migrate.js';
import { CORE_MIGRATIONS } from './migrations.js';
import type { Migration, Sql, SqlRunner } from './sql.js';
import { Checkpointer } from './sqlite-checkpoint.js';

/**
 * The embedded engine: DATA_DIR/feedgate.db in WAL mode. better-sqlite3 is synchronous; each statement
 * runs at once. A transaction holds a gate so that statements from other requests wait for it instead
 * of running inside it between its awaits.
 */
export class SqliteSql implements Sql {
  readonly engine = 'sqlite';
  private readonly statements = new Map<string, Database.Statement>();
  private gate: Promise<void> | undefined;
  /** A transaction's statements: they run under its gate, and give way between them in background work. */
  private readonly inTx: SqlRunner;
  /** Set by openSqlite({ checkpointThread }): WAL checkpoints on a worker thread. */
  checkpointer?: Checkpointer;

  constructor(readonly db: Database.Database) {
    this.inTx = {
      all: async <T>(sql: string, params: readonly unknown[] = []) => {
        const turn = giveWay();
        if (turn) await turn;
        return this.stmt(sql).all(...params) as T[];
      },
      get: async <T>(sql: string, params: readonly unknown[] = []) => {
        const turn = giveWay();
        if (turn) await turn;
        return this.stmt(sql).get(...params) as T | undefined;
      },
      run: async (sql: string, params: readonly unknown[] = []) => {
        const turn = giveWay();
        if (turn) await turn;
        return this.exec(sql, params);
      },
    };
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, s);
    }
    return s;
  }

  private exec(sql: string, params: readonly unknown[]): number {
    const s = this.stmt(sql);
    // A statement with RETURNING reads rows; run() would refuse it.
    return s.reader ? s.all(...params).length : s.run(...params).changes;
  }

  private async free(): Promise<void> {
    while (this.gate) await this.gate;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const turn = giveWay();
    if (turn) await turn;
    if (this.gate) await this.free();
    return this.stmt(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    const turn = giveWay();
    if (turn) await turn;
    if (this.gate) await this.free();
    return this.stmt(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    const turn = giveWay();
    if (turn) await turn;
    if (this.gate) await this.free();
    return this.exec(sql, params);
  }

  async tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    const turn = giveWay();
    if (turn) await turn;
    // Checked and taken with no await between: two transactions waiting on one gate would otherwise both
    // find it open (free() returns a tick later) and the second BEGIN would fail inside the first.
    while (this.gate) await this.gate;
    let open!: () => void;
    this.gate = new Promise((r) => (open = r));
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        // Between its statements, requests answered from memory go on; other statements wait at the gate.
        const out = await fn(this.inTx);
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.gate = undefined;
      open();
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<void> {
    // One IMMEDIATE transaction for the whole run: a second process opening the same file waits, then sees it done.
    await this.tx(async (q) => {
      this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
      // Databases made before migrations had ids counted them in user_version: those are the first core ones.
      const legacy = this.db.pragma('user_version', { simple: true }) as number;
      if (legacy > 0) {
        for (const m of CORE_MIGRATIONS.slice(0, legacy)) await q.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', [m.id, Date.now()]);
        if (legacy > CORE_MIGRATIONS.length) {
          await q.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', [`user_version ${legacy}`, Date.now()]);
        }
        this.db.pragma('user_version = 0');
      }
      const applied = new Set((await q.all<{ id: string }>('SELECT id FROM schema_migrations')).map((r) => r.id));
      for (const m of pendingMigrations(applied, migrations, 'DATA_DIR')) {
        this.db.exec(m.sqlite);
        await q.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [m.id, Date.now()]);
      }
    });
  }

  async close(): Promise<void> {
    await this.free();
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens (creating when missing) DATA_DIR/feedgate.db. A data directory that cannot be created, written
 * or opened is a ConfigError naming DATA_DIR and the path. The schema is brought up to date by migrate().
 * `cacheBytes`: SQLite's page cache (SQLITE_CACHE_SIZE); absent, better-sqlite3's 16 MB. A smaller one
 * re-reads pages from the system's file cache instead of keeping them in this process.
 */
export function openSqlite(dataDir: string, opts: { checkpointThread?: boolean; cacheBytes?: number; onError?: (message: string) => void } = {}): SqliteSql {
  const unusable = (why: string) =>
    new ConfigError([`DATA_DIR: ${resolve(dataDir)} ${why}; set DATA_DIR to a directory feedgate's user can write (the image uses /data, the systemd unit /var/lib/feedgate)`]);
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unusable(`cannot be created or written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let db: Database.Database;
  try {
    db = new Database(join(dataDir, 'feedgate.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // Negative: a size in KiB rather than a number of pages.
    if (opts.cacheBytes !== undefined) db.pragma(`cache_size = -${Math.max(1, Math.round(opts.cacheBytes / 1024))}`);
  } catch (err) {
    throw unusable(`holds a feedgate.db that cannot be opened for writing (${(err as Error).message})`);
  }
  const sql = new SqliteSql(db);
  if (opts.checkpointThread) sql.checkpointer = new Checkpointer(db, join(dataDir, 'feedgate.db'), opts.onError);
  return sql;
}
