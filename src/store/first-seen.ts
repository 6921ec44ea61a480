import type { Db } from './db.js';

/** Remembers when feedgate first saw each guid of a source, so new items sort first across restarts. */
export interface FirstSeen {
  /** Records unseen guids at `now` and returns the first-seen time (ms) of every guid given. */
  stamp(source: string, guids: readonly string[], now?: number): Map<string, number>;
}

export function sqliteFirstSeen(db: Db): FirstSeen {
  const insert = db.prepare('INSERT OR IGNORE INTO first_seen (source, guid, first_seen) VALUES (?, ?, ?)');
  const select = db.prepare<[string, string], { first_seen: number }>('SELECT first_seen FROM first_seen WHERE source = ? AND guid = ?');
  const run = db.transaction((source: string, guids: readonly string[], now: number) => {
    const out = new Map<string, number>();
    for (const guid of guids) {
      insert.run(source, guid, now);
      out.set(guid, select.get(source, guid)!.first_seen);
    }
    return out;
  });
  return { stamp: (source, guids, now = Date.now()) => run(source, guids, now) };
}
