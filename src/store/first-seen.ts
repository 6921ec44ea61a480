import type { Sql } from './sql.js';

/** Remembers when feedgate first saw each guid of a source, so new items sort first across restarts. */
export interface FirstSeen {
  /** Records unseen guids at `now` and returns the first-seen time (ms) of every guid given. */
  stamp(source: string, guids: readonly string[], now?: number): Promise<Map<string, number>>;
}

export function firstSeenStore(db: Sql): FirstSeen {
  return {
    async stamp(source, guids, now = Date.now()) {
      const out = new Map<string, number>();
      const unique = [...new Set(guids)];
      // In slices: one statement each way per 200 guids, whichever engine (and its parameter limit).
      for (let i = 0; i < unique.length; i += 200) {
        const part = unique.slice(i, i + 200);
        const values = part.map(() => '(?, ?, ?)').join(', ');
        await db.run(`INSERT INTO first_seen (source, guid, first_seen) VALUES ${values} ON CONFLICT (source, guid) DO NOTHING`, part.flatMap((g) => [source, g, now]));
        const rows = await db.all<{ guid: string; first_seen: number }>(`SELECT guid, first_seen FROM first_seen WHERE source = ? AND guid IN (${part.map(() => '?').join(', ')})`, [source, ...part]);
        for (const r of rows) out.set(r.guid, r.first_seen);
      }
      return out;
    },
  };
}
