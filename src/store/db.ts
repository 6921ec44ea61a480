import { accessSync, constants, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '../config.js';
import { migrations } from './migrations.js';

export type Db = Database.Database;

/**
 * Opens (creating when missing) DATA_DIR/feedgate.db in WAL mode and brings its schema up to date. A data
 * directory that cannot be created, written or opened is a ConfigError naming DATA_DIR and the path.
 */
export function openDb(dataDir: string): Db {
  const unusable = (why: string) =>
    new ConfigError([`DATA_DIR: ${resolve(dataDir)} ${why}; set DATA_DIR to a directory feedgate's user can write (the image uses /data, the systemd unit /var/lib/feedgate)`]);
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unusable(`cannot be created or written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let db: Db;
  try {
    db = new Database(join(dataDir, 'feedgate.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw unusable(`holds a feedgate.db that cannot be opened for writing (${(err as Error).message})`);
  }
  migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new ConfigError([`DATA_DIR: the database schema version ${current} is newer than this feedgate (${latest}); upgrade feedgate or use another DATA_DIR`]);
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}
