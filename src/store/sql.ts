/**
 * What every durable store is written against: one small async SQL interface with two engines behind it,
 * SQLite (embedded, the default) and PostgreSQL (DATABASE_URL). Statements use `?` placeholders and the
 * SQL both engines share (ON CONFLICT … DO UPDATE, RETURNING, no engine-only functions); the PostgreSQL
 * engine numbers the placeholders. A `?` inside a string literal is not supported: pass it as a value.
 */
export interface SqlRunner {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a statement; returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

export type Engine = 'sqlite' | 'postgres';

export interface Sql extends SqlRunner {
  readonly engine: Engine;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when it
   * throws. Statements inside go through the runner it is given, never through this object.
   */
  tx<T>(fn: (q: SqlRunner) => Promise<T>): Promise<T>;
  /** Brings the schema up to date with `migrations` (see migrations.ts); refuses a newer schema. */
  migrate(migrations: readonly Migration[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * One schema change, in each engine's dialect. Applied once, in order, in its own transaction, and
 * recorded by id; never edited once released (add a new one). A source may bring its own: its ids start
 * with the source's name.
 */
export interface Migration {
  id: string;
  sqlite: string;
  postgres: string;
}
