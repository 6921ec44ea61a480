import pg from 'pg';
import { ConfigError } from '../config.js';
import { UpstreamError } from '../http/errors.js';
import type { Logger } from '../logger.js';
import { pendingMigrations } from './migrate.js';
import type { Migration, Sql, SqlRunner } from './sql.js';

export interface PostgresOptions {
  url: string;
  poolMax: number;
  statementTimeoutMs: number;
  logger?: Logger;
}

/** Any number that fits our columns (ms timestamps, counts): BIGINT and COUNT(*) come back as numbers, not strings. */
const INT8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** One advisory lock key for "feedgate migrates": replicas starting together migrate once. */
const MIGRATION_LOCK = 0x66656564; // 'feed'

/** `?` placeholders numbered for PostgreSQL, once per statement text. */
const numbered = new Map<string, string>();
function dollar(sql: string): string {
  let out = numbered.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (numbered.size > 1000) numbered.clear();
    numbered.set(sql, out);
  }
  return out;
}

/**
 * Whether a failure means the server is away (down, restarting, refusing, timing out, out of
 * connections) rather than a statement of ours being wrong. SQLSTATE classes 08 connection, 40
 * rollback, 53 resources, 57 operator intervention, 58 system; errors without a SQLSTATE are the
 * driver's own (ECONNREFUSED, "Connection terminated", connect timeouts).
 */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return /^(08|40|53|57|58)/.test(code);
}

function unavailable(err: unknown): UpstreamError {
  const why = (err as Error)?.message ?? String(err);
  return new UpstreamError('database', 'unavailable', 503, 'DATABASE_UNAVAILABLE', `PostgreSQL (DATABASE_URL) is not answering (${why.slice(0, 200)}); feeds are served from cache until it is back`, { 'Retry-After': '10' });
}

/** PostgreSQL's text cannot hold U+0000, which SQLite keeps and upstream text sometimes carries: it is dropped. */
const noNul = (v: unknown) => (typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '') : v);

/** The same statements, on a pool client or on the pool. */
function runner(target: pg.Pool | pg.PoolClient): SqlRunner {
  const query = async <T>(sql: string, params: readonly unknown[] = []) => {
    try {
      return await target.query<T & pg.QueryResultRow>(dollar(sql), params.map(noNul));
    } catch (err) {
      throw isUnavailable(err) ? unavailable(err) : err;
    }
  };
  return {
    all: async <T>(sql: string, params?: readonly unknown[]) => (await query<T>(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly unknown[]) => (await query<T>(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly unknown[]) => (await query(sql, params)).rowCount ?? 0,
  };
}

/**
 * PostgreSQL through a node-postgres pool (DATABASE_URL; TLS and other options as `pg` reads them from
 * the URL). Connections that break are replaced by the pool on the next query; a query while the server
 * is away fails with 503 DATABASE_UNAVAILABLE, which the feed cache treats like an upstream failure.
 */
export class PostgresSql implements Sql {
  readonly engine = 'postgres';
  readonly pool: pg.Pool;
  private readonly q: SqlRunner;

  constructor(opts: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolMax,
      statement_timeout: opts.statementTimeoutMs,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: 'feedgate',
      types,
    });
    // An idle connection the server dropped: the pool discards it; without a listener it would crash the process.
    this.pool.on('error', (err) => opts.logger?.warn({ err: err.message }, 'PostgreSQL connection lost; it is replaced on the next query'));
    this.q = runner(this.pool);
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.q.all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    return this.q.get<T>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.q.run(sql, params);
  }

  async tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let broken = false;
    try {
      await runner(client).run('BEGIN');
      const out = await fn(runner(client));
      await runner(client).run('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  async migrate(migrations: readonly Migration[]): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw new ConfigError([`DATABASE_URL: cannot connect to PostgreSQL (${(err as Error).message}); check the host, port, user, password and database in the URL`]);
    }
    try {
      // Held for the whole run, on this one connection: a second replica starting now waits here, then finds nothing to do.
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const applied = new Set((await client.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id));
      for (const m of pendingMigrations(applied, migrations, 'DATABASE_URL')) {
        // Each in its own transaction, together with its record.
        await client.query('BEGIN');
        try {
          await client.query(m.postgres);
          await client.query('INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)', [m.id, Date.now()]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
