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
        // Known guids are the usual case (a feed refreshed): one read, and a write only for new ones.
        const rows = await db.all<{ guid: string; first_seen: number }>(`SELECT guid, first_seen FROM first_seen WHERE source = ? AND guid IN (${part.map(() => '?').join(', ')})`, [source, ...part]);
        for (const r of rows) out.set(r.guid, r.first_seen);
        const fresh = part.filter((g) => !out.has(g));
        if (fresh.length === 0) continue;
        // RETURNING gives the rows written; a guid another replica wrote meanwhile is read back after.
        const written = await db.all<{ guid: string; first_seen: number }>(
          `INSERT INTO first_seen (source, guid, first_seen) VALUES ${fresh.map(() => '(?, ?, ?)').join(', ')} ON CONFLICT (source, guid) DO NOTHING RETURNING guid, first_seen`,
          fresh.flatMap((g) => [source, g, now]),
        );
        for (const r of written) out.set(r.guid, r.first_seen);
        const raced = fresh.filter((g) => !out.has(g));
        if (raced.length) {
          for (const r of await db.all<{ guid: string; first_seen: number }>(`SELECT guid, first_seen FROM first_seen WHERE source = ? AND guid IN (${raced.map(() => '?').join(', ')})`, [source, ...raced])) out.set(r.guid, r.first_seen);
        }
      }
      return out;
    },
  };
}
