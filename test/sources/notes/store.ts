import type { Migration, Sql } from '../../../src/store/sql.js';

/** Its own table, brought by the source: ids start with the source's name. */
export const NOTES_MIGRATIONS: readonly Migration[] = [
  {
    id: 'notes_001_seen',
    sqlite: 'CREATE TABLE notes_seen (id TEXT PRIMARY KEY, title TEXT NOT NULL, first_seen INTEGER NOT NULL)',
    postgres: 'CREATE TABLE notes_seen (id TEXT PRIMARY KEY, title TEXT NOT NULL, first_seen BIGINT NOT NULL)',
  },
];

/** Every note seen, with when it was first seen: the same code on either engine. */
export function notesStore(db: Sql) {
  return {
    async record(notes: ReadonlyArray<{ id: string; title: string }>, now = Date.now()): Promise<Map<string, number>> {
      const out = new Map<string, number>();
      for (const n of notes) {
        await db.run('INSERT INTO notes_seen (id, title, first_seen) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET title = excluded.title', [n.id, n.title, now]);
        out.set(n.id, (await db.get<{ first_seen: number }>('SELECT first_seen FROM notes_seen WHERE id = ?', [n.id]))!.first_seen);
      }
      return out;
    },
    count: async () => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM notes_seen'))!.n,
  };
}
