import { ConfigError } from '../config.js';
import type { Migration } from './sql.js';

/**
 * The migrations still to apply, in order, given the ids a database records as applied. A recorded id
 * this code does not know means a newer feedgate migrated it: refused, with what to do.
 */
export function pendingMigrations(applied: ReadonlySet<string>, migrations: readonly Migration[], setting: string): Migration[] {
  const known = new Set(migrations.map((m) => m.id));
  const unknown = [...applied].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ConfigError([
      `${setting}: the database was migrated by a newer feedgate (it has ${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? ', …' : ''}, which this version does not know); run that newer feedgate, or restore a backup taken before the upgrade`,
    ]);
  }
  return migrations.filter((m) => !applied.has(m.id));
}
