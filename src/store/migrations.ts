import type { Migration } from './sql.js';

/**
 * The shared tables, in order; a source's own tables come with its descriptor module. Append-only: a
 * migration once released is never edited. The first six were numbered by SQLite's user_version before
 * migrations had ids (sqlite.ts maps a database's user_version onto them).
 */
export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    id: '001_first_seen',
    sqlite: `
      CREATE TABLE first_seen (
        source     TEXT    NOT NULL,
        guid       TEXT    NOT NULL,
        first_seen INTEGER NOT NULL,
        PRIMARY KEY (source, guid)
      ) WITHOUT ROWID;
    `,
    postgres: `
      CREATE TABLE first_seen (
        source     TEXT    NOT NULL,
        guid       TEXT    NOT NULL,
        first_seen BIGINT NOT NULL,
        PRIMARY KEY (source, guid)
      );
    `,
  },
  {
    id: '002_feed_snapshots',
    sqlite: `
      -- The last good feed data per cache key, so a restart does not lose the stale copy.
      CREATE TABLE feed_snapshots (
        key        TEXT    PRIMARY KEY,
        data       TEXT    NOT NULL,
        stored_at  INTEGER NOT NULL
      );
    `,
    postgres: `
      -- The last good feed data per cache key, so a restart does not lose the stale copy.
      CREATE TABLE feed_snapshots (
        key        TEXT    PRIMARY KEY,
        data       TEXT    NOT NULL,
        stored_at  BIGINT NOT NULL
      );
    `,
  },
  {
    id: '003_mp_accounts_and_articles',
    sqlite: `
      -- Official Account credentials pushed by the downloader (POST /api/mp/refresh). Secrets stay in
      -- this table: no route, log or metric reads them back out.
      CREATE TABLE mp_accounts (
        biz           TEXT    PRIMARY KEY,
        nickname      TEXT    NOT NULL DEFAULT '',
        avatar_url    TEXT    NOT NULL DEFAULT '',
        uin           TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        pass_ticket   TEXT    NOT NULL,
        appmsg_token  TEXT    NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL,
        -- WeChat answered ret=-3 for the credentials received at updated_at
        rejected_at   INTEGER,
        -- WeChat answered ret=-6: the account is left alone until limited_until
        limited_at    INTEGER,
        limited_until INTEGER,
        last_success  INTEGER,
        last_error    TEXT    NOT NULL DEFAULT ''
      );
      -- Every article seen in a message list, and its full text once fetched: kept when WeChat deletes it.
      CREATE TABLE mp_articles (
        url        TEXT    PRIMARY KEY,
        biz        TEXT    NOT NULL,
        pushed_at  INTEGER NOT NULL,
        idx        INTEGER NOT NULL,
        meta       TEXT    NOT NULL,
        body       TEXT,
        body_kind  TEXT,
        body_at    INTEGER,
        first_seen INTEGER NOT NULL
      );
      CREATE INDEX mp_articles_by_biz ON mp_articles (biz, pushed_at DESC, idx);
    `,
    postgres: `
      -- Official Account credentials pushed by the downloader (POST /api/mp/refresh). Secrets stay in
      -- this table: no route, log or metric reads them back out.
      CREATE TABLE mp_accounts (
        biz           TEXT    PRIMARY KEY,
        nickname      TEXT    NOT NULL DEFAULT '',
        avatar_url    TEXT    NOT NULL DEFAULT '',
        uin           TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        pass_ticket   TEXT    NOT NULL,
        appmsg_token  TEXT    NOT NULL DEFAULT '',
        created_at    BIGINT NOT NULL,
        updated_at    BIGINT NOT NULL,
        -- WeChat answered ret=-3 for the credentials received at updated_at
        rejected_at   BIGINT,
        -- WeChat answered ret=-6: the account is left alone until limited_until
        limited_at    BIGINT,
        limited_until BIGINT,
        last_success  BIGINT,
        last_error    TEXT    NOT NULL DEFAULT ''
      );
      -- Every article seen in a message list, and its full text once fetched: kept when WeChat deletes it.
      CREATE TABLE mp_articles (
        url        TEXT    PRIMARY KEY,
        biz        TEXT    NOT NULL,
        pushed_at  BIGINT NOT NULL,
        idx        INTEGER NOT NULL,
        meta       TEXT    NOT NULL,
        body       TEXT,
        body_kind  TEXT,
        body_at    BIGINT,
        first_seen BIGINT NOT NULL
      );
      CREATE INDEX mp_articles_by_biz ON mp_articles (biz, pushed_at DESC, idx);
    `,
  },
  {
    id: '004_moments_posts_and_media_archive',
    sqlite: `
      -- Every Moments post seen, as feedgate parsed it: kept when the author deletes it or the upstream
      -- stops returning it.
      CREATE TABLE moments_posts (
        id          TEXT    PRIMARY KEY,
        username    TEXT    NOT NULL,
        create_time INTEGER NOT NULL,
        data        TEXT    NOT NULL,
        first_seen  INTEGER NOT NULL
      );
      CREATE INDEX moments_posts_by_time ON moments_posts (create_time DESC);
      CREATE INDEX moments_posts_by_user ON moments_posts (username, create_time DESC);
      -- Decrypted media kept on disk (DATA_DIR/archive) by media identity (the URL without its
      -- expiring token, and the key), so links keep working after CDN tokens expire.
      CREATE TABLE media_archive (
        id           TEXT    PRIMARY KEY,
        file         TEXT    NOT NULL,
        bytes        INTEGER NOT NULL,
        content_type TEXT    NOT NULL,
        stored_at    INTEGER NOT NULL
      );
      CREATE INDEX media_archive_by_age ON media_archive (stored_at);
    `,
    postgres: `
      -- Every Moments post seen, as feedgate parsed it: kept when the author deletes it or the upstream
      -- stops returning it.
      CREATE TABLE moments_posts (
        id          TEXT    PRIMARY KEY,
        username    TEXT    NOT NULL,
        create_time BIGINT NOT NULL,
        data        TEXT    NOT NULL,
        first_seen  BIGINT NOT NULL
      );
      CREATE INDEX moments_posts_by_time ON moments_posts (create_time DESC);
      CREATE INDEX moments_posts_by_user ON moments_posts (username, create_time DESC);
      -- Decrypted media kept on disk (DATA_DIR/archive) by media identity (the URL without its
      -- expiring token, and the key), so links keep working after CDN tokens expire.
      CREATE TABLE media_archive (
        id           TEXT    PRIMARY KEY,
        file         TEXT    NOT NULL,
        bytes        BIGINT NOT NULL,
        content_type TEXT    NOT NULL,
        stored_at    BIGINT NOT NULL
      );
      CREATE INDEX media_archive_by_age ON media_archive (stored_at);
    `,
  },
  {
    id: '005_opml_feeds',
    sqlite: `
      -- Feeds for the OPML export: built on the start page, or requested lately. The URL is canonical
      -- (our path and its parameters, sorted, never the token).
      CREATE TABLE opml_feeds (
        url            TEXT    PRIMARY KEY,
        title          TEXT    NOT NULL DEFAULT '',
        source         TEXT    NOT NULL DEFAULT '',
        built_at       INTEGER,
        last_requested INTEGER
      );
    `,
    postgres: `
      -- Feeds for the OPML export: built on the start page, or requested lately. The URL is canonical
      -- (our path and its parameters, sorted, never the token).
      CREATE TABLE opml_feeds (
        url            TEXT    PRIMARY KEY,
        title          TEXT    NOT NULL DEFAULT '',
        source         TEXT    NOT NULL DEFAULT '',
        built_at       BIGINT,
        last_requested BIGINT
      );
    `,
  },
  {
    id: '006_media_keep_queue',
    sqlite: `
      -- Media waiting to be kept in the archive, written before they are fetched: a crash or restart
      -- resumes them. A failed try is retried at next_at, with backoff.
      CREATE TABLE media_keep_queue (
        id         TEXT    PRIMARY KEY,
        request    TEXT    NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    INTEGER NOT NULL,
        last_error TEXT    NOT NULL DEFAULT '',
        added_at   INTEGER NOT NULL
      );
      CREATE INDEX media_keep_queue_by_due ON media_keep_queue (next_at);
    `,
    postgres: `
      -- Media waiting to be kept in the archive, written before they are fetched: a crash or restart
      -- resumes them. A failed try is retried at next_at, with backoff.
      CREATE TABLE media_keep_queue (
        id         TEXT    PRIMARY KEY,
        request    TEXT    NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    BIGINT NOT NULL,
        last_error TEXT    NOT NULL DEFAULT '',
        added_at   BIGINT NOT NULL
      );
      CREATE INDEX media_keep_queue_by_due ON media_keep_queue (next_at);
    `,
  },
  {
    id: '007_settings',
    sqlite: `
      -- Values feedgate generates once and every replica must agree on (the media link secret).
      CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
    postgres: `
      CREATE TABLE settings (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    id: '008_keep_queue_claims',
    sqlite: `
      -- A replica working on a job claims it until claimed_until; one that dies leaves it to the others.
      ALTER TABLE media_keep_queue ADD COLUMN claimed_until INTEGER;
    `,
    postgres: `
      ALTER TABLE media_keep_queue ADD COLUMN claimed_until BIGINT;
    `,
  },
  {
    id: '009_source_health',
    sqlite: `
      -- Where each source (and account) stands, and since when; alerted_at is when an alert last went out.
      CREATE TABLE source_health (
        source     TEXT    NOT NULL,
        account    TEXT    NOT NULL DEFAULT '',
        state      TEXT    NOT NULL,
        since      INTEGER NOT NULL,
        message    TEXT    NOT NULL DEFAULT '',
        setting    TEXT    NOT NULL DEFAULT '',
        alerted_at INTEGER,
        PRIMARY KEY (source, account)
      );
      -- Every change of state, for /feeds/feedgate/health.
      CREATE TABLE source_health_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        source     TEXT    NOT NULL,
        account    TEXT    NOT NULL DEFAULT '',
        from_state TEXT    NOT NULL,
        to_state   TEXT    NOT NULL,
        message    TEXT    NOT NULL DEFAULT '',
        setting    TEXT    NOT NULL DEFAULT '',
        at         INTEGER NOT NULL
      );
      CREATE INDEX source_health_events_by_time ON source_health_events (at DESC);
    `,
    postgres: `
      CREATE TABLE source_health (
        source     TEXT    NOT NULL,
        account    TEXT    NOT NULL DEFAULT '',
        state      TEXT    NOT NULL,
        since      BIGINT  NOT NULL,
        message    TEXT    NOT NULL DEFAULT '',
        setting    TEXT    NOT NULL DEFAULT '',
        alerted_at BIGINT,
        PRIMARY KEY (source, account)
      );
      CREATE TABLE source_health_events (
        id         BIGSERIAL PRIMARY KEY,
        source     TEXT    NOT NULL,
        account    TEXT    NOT NULL DEFAULT '',
        from_state TEXT    NOT NULL,
        to_state   TEXT    NOT NULL,
        message    TEXT    NOT NULL DEFAULT '',
        setting    TEXT    NOT NULL DEFAULT '',
        at         BIGINT  NOT NULL
      );
      CREATE INDEX source_health_events_by_time ON source_health_events (at DESC);
    `,
  },
  {
    id: '010_websub_subscriptions',
    sqlite: `
      -- WebSub subscribers of our own feeds (feedgate is their hub). topic_key ties a topic to the feed loads
      -- that refresh it; last_digest is what was last delivered, so only a change is delivered again.
      CREATE TABLE websub_subscriptions (
        callback    TEXT    NOT NULL,
        topic       TEXT    NOT NULL,
        topic_key   TEXT    NOT NULL,
        secret      TEXT    NOT NULL DEFAULT '',
        expires_at  INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        last_digest TEXT    NOT NULL DEFAULT '',
        PRIMARY KEY (callback, topic)
      );
      CREATE INDEX websub_subscriptions_by_key ON websub_subscriptions (topic_key, expires_at);
    `,
    postgres: `
      CREATE TABLE websub_subscriptions (
        callback    TEXT    NOT NULL,
        topic       TEXT    NOT NULL,
        topic_key   TEXT    NOT NULL,
        secret      TEXT    NOT NULL DEFAULT '',
        expires_at  BIGINT  NOT NULL,
        created_at  BIGINT  NOT NULL,
        last_digest TEXT    NOT NULL DEFAULT '',
        PRIMARY KEY (callback, topic)
      );
      CREATE INDEX websub_subscriptions_by_key ON websub_subscriptions (topic_key, expires_at);
    `,
  },
  {
    id: '011_refresh_feeds',
    sqlite: `
      -- Feeds refreshed in the background: when next, how often (it adapts), and what the last refresh found.
      CREATE TABLE refresh_feeds (
        url          TEXT    PRIMARY KEY,
        source       TEXT    NOT NULL,
        interval_ms  INTEGER NOT NULL,
        next_at      INTEGER NOT NULL,
        last_at      INTEGER,
        changed_at   INTEGER,
        digest       TEXT    NOT NULL DEFAULT '',
        new_items    INTEGER NOT NULL DEFAULT 0,
        fails        INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT    NOT NULL DEFAULT ''
      );
      CREATE INDEX refresh_feeds_by_source ON refresh_feeds (source, next_at);
    `,
    postgres: `
      CREATE TABLE refresh_feeds (
        url          TEXT    PRIMARY KEY,
        source       TEXT    NOT NULL,
        interval_ms  BIGINT  NOT NULL,
        next_at      BIGINT  NOT NULL,
        last_at      BIGINT,
        changed_at   BIGINT,
        digest       TEXT    NOT NULL DEFAULT '',
        new_items    INTEGER NOT NULL DEFAULT 0,
        fails        INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT    NOT NULL DEFAULT ''
      );
      CREATE INDEX refresh_feeds_by_source ON refresh_feeds (source, next_at);
    `,
  },
  {
    id: '012_feed_snapshots_fresh_until',
    sqlite: `
      -- Until when a copy is fresh (a background refresh keeps it until after the next one): a process
      -- whose memory lost it (a restart, the memory bound) serves it as a hit instead of calling upstream.
      ALTER TABLE feed_snapshots ADD COLUMN fresh_until INTEGER;
    `,
    postgres: `
      ALTER TABLE feed_snapshots ADD COLUMN fresh_until BIGINT;
    `,
  },
  {
    id: '013_feed_snapshots_stored_at',
    sqlite: `
      -- The sweep of copies too old to serve (DELETE ... WHERE stored_at < ?) read every row's data
      -- without it: 30 ms with 10 000 feeds, during which SQLite held the event loop.
      CREATE INDEX feed_snapshots_stored_at ON feed_snapshots (stored_at);
    `,
    postgres: `
      CREATE INDEX feed_snapshots_stored_at ON feed_snapshots (stored_at);
    `,
  },
  {
    id: '014_archive',
    sqlite: `
      -- Every item a feed has shown, kept beyond the upstream's window (ARCHIVE_MAX_ITEMS, ARCHIVE_DAYS).
      CREATE TABLE archive_feeds (
        feed        TEXT    PRIMARY KEY,
        source      TEXT    NOT NULL,
        url         TEXT    NOT NULL,
        title       TEXT    NOT NULL,
        head        TEXT    NOT NULL,
        next_seq    INTEGER NOT NULL,
        digest      TEXT    NOT NULL,
        seen_at     INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      CREATE INDEX archive_feeds_url ON archive_feeds (url);
      CREATE TABLE archive_items (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        feed        TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        guid        TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        listed      INTEGER NOT NULL,
        gone        INTEGER NOT NULL,
        sort_at     INTEGER NOT NULL,
        data        TEXT    NOT NULL,
        hash        TEXT    NOT NULL,
        search_text TEXT    NOT NULL,
        UNIQUE (feed, guid),
        UNIQUE (feed, seq)
      );
      CREATE INDEX archive_items_by_time ON archive_items (feed, sort_at);
      -- Words made by feedgate (search-text.ts), one space apart: CJK pairs survive unicode61 whole.
      CREATE VIRTUAL TABLE archive_fts USING fts5 (tokens, content = '', contentless_delete = 1);
    `,
    postgres: `
      CREATE TABLE archive_feeds (
        feed        TEXT    PRIMARY KEY,
        source      TEXT    NOT NULL,
        url         TEXT    NOT NULL,
        title       TEXT    NOT NULL,
        head        TEXT    NOT NULL,
        next_seq    BIGINT  NOT NULL,
        digest      TEXT    NOT NULL,
        seen_at     BIGINT  NOT NULL,
        updated_at  BIGINT  NOT NULL
      );
      CREATE INDEX archive_feeds_url ON archive_feeds (url);
      CREATE TABLE archive_items (
        id          BIGSERIAL PRIMARY KEY,
        feed        TEXT     NOT NULL,
        source      TEXT     NOT NULL,
        guid        TEXT     NOT NULL,
        seq         BIGINT   NOT NULL,
        first_seen  BIGINT   NOT NULL,
        last_seen   BIGINT   NOT NULL,
        listed      SMALLINT NOT NULL,
        gone        SMALLINT NOT NULL,
        sort_at     BIGINT   NOT NULL,
        data        TEXT     NOT NULL,
        hash        TEXT     NOT NULL,
        search_text TEXT     NOT NULL,
        tokens      TSVECTOR,
        UNIQUE (feed, guid),
        UNIQUE (feed, seq)
      );
      CREATE INDEX archive_items_by_time ON archive_items (feed, sort_at);
      CREATE INDEX archive_items_tokens ON archive_items USING GIN (tokens);
    `,
  },
  {
    id: '015_archive_backfill',
    sqlite: `
      -- How far back a feed's archive was filled (ARCHIVE_BACKFILL_PAGES): by its archive id.
      CREATE TABLE archive_backfill (
        feed        TEXT    PRIMARY KEY,
        url         TEXT    NOT NULL,
        pages_done  INTEGER NOT NULL,
        pages_goal  INTEGER NOT NULL,
        next_query  TEXT    NOT NULL,
        added       INTEGER NOT NULL,
        error       TEXT    NOT NULL,
        updated_at  INTEGER NOT NULL
      );
      CREATE INDEX archive_backfill_url ON archive_backfill (url);
    `,
    postgres: `
      CREATE TABLE archive_backfill (
        feed        TEXT    PRIMARY KEY,
        url         TEXT    NOT NULL,
        pages_done  INTEGER NOT NULL,
        pages_goal  INTEGER NOT NULL,
        next_query  TEXT    NOT NULL,
        added       INTEGER NOT NULL,
        error       TEXT    NOT NULL,
        updated_at  BIGINT  NOT NULL
      );
      CREATE INDEX archive_backfill_url ON archive_backfill (url);
    `,
  },
  {
    // Every keep of a feed asks for its newest unlisted items; by (feed, sort_at) that read every item of
    // the feed and sorted them, most often to find none. Only unlisted items are in this one.
    id: '016_archive_items_unlisted',
    sqlite: `CREATE INDEX archive_items_unlisted ON archive_items (feed, sort_at DESC, seq DESC) WHERE listed = 0;`,
    postgres: `CREATE INDEX archive_items_unlisted ON archive_items (feed, sort_at DESC, seq DESC) WHERE listed = 0;`,
  },
];
