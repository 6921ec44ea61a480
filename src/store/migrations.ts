/**
 * Ordered, append-only. A migration once released is never edited: add a new one instead.
 * Each runs in its own transaction together with the bump of user_version.
 */
export const migrations: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'first_seen',
    sql: `
      CREATE TABLE first_seen (
        source     TEXT    NOT NULL,
        guid       TEXT    NOT NULL,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (source, guid)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'feed_snapshots',
    sql: `
      -- The last good feed data per cache key, so a restart does not lose the stale copy.
      CREATE TABLE feed_snapshots (
        key        TEXT    PRIMARY KEY,
        data       TEXT    NOT NULL,
        stored_at  INTEGER NOT NULL
      );
    `,
  },
];
