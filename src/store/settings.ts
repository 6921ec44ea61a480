import type { SqlRunner } from './sql.js';

/** Values feedgate makes once and every replica on the database must share. */
export interface SettingStore {
  /** The stored value of `name`; when there is none, `make()`'s, stored first (the first replica to ask wins). */
  once(name: string, make: () => string): Promise<string>;
  get(name: string): Promise<string | undefined>;
  /** Stores a value unless one is there already; returns the one that stands. */
  keep(name: string, value: string): Promise<string>;
}

export function settingStore(db: SqlRunner): SettingStore {
  const get = async (name: string) => (await db.get<{ value: string }>('SELECT value FROM settings WHERE name = ?', [name]))?.value;
  const keep = async (name: string, value: string) => {
    await db.run('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING', [name, value]);
    return (await get(name))!;
  };
  return { get, keep, once: async (name, make) => (await get(name)) ?? keep(name, make()) };
}
