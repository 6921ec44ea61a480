import type { Context } from 'koa';
import type { FeedCache } from '../cache/feed-cache.js';
import type { SettingsSection, SharedConfig } from '../config.js';

/**
 * What the sources' settings parse to. Empty here: each source adds its own from its settings.ts
 * (declare module '…/descriptor.js' { interface SourceConfig extends SettingsOf<…> {} }), so no list
 * of sources names their types.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface SourceConfig {}

/** Every setting feedgate reads, as its values: the shared ones and every mounted source's. */
export type Config = SharedConfig & SourceConfig;
import type { Metrics } from '../metrics.js';
import type { Lang, MessageKey, Texts } from '../i18n/index.js';
import type { Logger } from '../logger.js';
import type { KeepRequest } from '../proxy/keeper.js';
import type { ResolvedMedia } from '../proxy/play.js';
import type { Platform, PlatformRule } from '../proxy/platforms.js';
import type { MediaLinks } from '../proxy/links.js';
import type { Migration, Sql } from '../store/sql.js';
import type { ArchiveStore, ArchivedItem } from '../store/archive.js';
import type { FirstSeen } from '../store/first-seen.js';
import type { SourceHealthStore } from '../store/source-health.js';
import type { CallBudget } from '../upstream/budget.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { HealthWatch } from './health.js';
import type { Format } from './render/index.js';
import type { FeedSource } from './source.js';
import type { FeedItem } from './model.js';

/**
 * A source, as the list of sources (sources.ts) holds it: everything it brings, declared in its folder.
 * The app composes the parts: settings into the configuration, media rules into /proxy and /play,
 * migrations into the database, and create() into mounted routes.
 */
export interface SourceModule {
  name: string;
  /** Media rules of the platforms this source owns (hosts, CDN headers, volatile URL parameters). */
  media?: Readonly<Record<string, PlatformRule>>;
  /** The settings it reads besides the shared ones, by section (src/config.ts composes them). */
  settings?: readonly SettingsSection[];
  /**
   * Messages of its own, per language, merged into that language's catalogue (its title and description
   * on the start page are source.<name>.title and source.<name>.description). The built-in sources keep
   * theirs in src/i18n.
   */
  messages?: Partial<Record<Lang, Readonly<Record<string, string>>>>;
  /** Its own tables, for its own stores: ids start with the source's name. */
  migrations?: readonly Migration[];
  /**
   * Bodies it keeps for good (MP articles), given back to the archive, which keeps its items without
   * them. Made from the database and the link signer alone, so the command line's export has them too.
   * An item whose body is not there any more stays as it is.
   */
  bodies?(deps: { db: Sql; links: MediaLinks; texts: Texts }): KeptBodies;
  create(ctx: SourceContext): SourceDescriptor;
}

/**
 * What a source declares about itself, in its folder's index.ts (RSSHub's route metadata, in spirit):
 * the app mounts its routes, checks its settings before any call, and lists it at /api/sources.
 */
export interface SourceDescriptor {
  /** Short name, the first path segment of its feeds: /feeds/<name>/… */
  name: string;
  /** Human title for the start page. */
  title: string;
  description: string;
  settings: SettingState[];
  routes: SourceRoute[];
  /** The upstreams it calls, by client name; health is read from what they did last, never probed. */
  upstreams: UpstreamClient[];
  /**
   * The pace its calls are held to (its CallBudget's calls per minute), when it has one: background
   * refresh plans within half of it, spreading the source's feeds rather than queueing in the budget.
   */
  callsPerMinute?: number;
  /**
   * The daily quota its upstream states, as its last answer gave it (HDHive's per-endpoint quota):
   * background refresh plans within half of it, and leaves the last tenth of a day's quota to readers.
   */
  dailyQuota?: () => DailyQuota | undefined;
  /** The start page's forms that build its feed URLs (its title and description there: source.<name>.* in the catalogues). */
  forms: SubscriptionForm[];
  /** A warning the start page shows on the source's card, when there is one (e.g. guest mode). */
  notice?: MessageKey;
  /** Its own health checks, run every minute (MP: credentials about to expire), by account. */
  watch?: HealthWatch;
  /** false: its feeds are not kept in the archive (feedgate's own: they are made from what is kept). */
  archive?: boolean;
}

/** A daily call quota as the upstream states it: calls a day, calls left, and when it starts again (ms). */
export interface DailyQuota {
  limit: number;
  remaining: number;
  resetAt: number;
}

/** Gives kept items (those with `bodyOf`) their bodies back, as the feed variant they were kept for shows them. */
export type KeptBodies = (items: FeedItem[], variant: string | undefined) => Promise<FeedItem[]>;

export interface SettingState {
  name: keyof Config & string;
  /** Whether it has a value (the value itself is never shown). */
  set: boolean;
  /** Needed for every route of the source (else only for the routes that list it in `needs`). */
  required: boolean;
  /** What it is, in the catalogues (setting.<NAME>). */
  help: MessageKey;
}

export interface SubscriptionField {
  name: string;
  label: MessageKey;
  /** An example value, shown as "e.g. …" (never as if it were a value). */
  example?: string;
  /** Where the value goes: a path parameter (`:name` in the feed path) or a query parameter. */
  in: 'path' | 'query';
  options?: string[];
  /** A yes/no choice (1 or 0), and what the feed does when it is left out. */
  yesNo?: { default: boolean };
  /** A helper API that finds values for this field, e.g. /api/channels/search?keyword= */
  helper?: string;
  required: boolean;
}

export interface SubscriptionForm {
  /** Its heading, when a source has several. */
  title?: MessageKey;
  /** Feed path template with :params, e.g. /feeds/hdhive/:type/:tmdbId */
  path: string;
  fields: SubscriptionField[];
}

interface RouteBase {
  path: string;
  /** Settings this route needs besides the source's required ones (503 SOURCE_NOT_CONFIGURED names them). */
  needs?: Array<keyof Config & string>;
  summary: string;
}

export type SourceRoute =
  | (RouteBase & { kind: 'feed'; source: FeedSource<any>; defaultFormat?: Format })
  | (RouteBase & PlayRoute)
  | (RouteBase & ApiRoute);

export interface ApiRoute {
  kind: 'api';
  method?: 'GET' | 'POST';
  /**
   * Who may call it: the access token (default); `media`, a signed link or the token (pages a feed links
   * to, which readers open without a token); or a check of the route's own that throws when refused.
   */
  access?: 'token' | 'media' | ((ctx: Context) => void);
  handler: (ctx: Context, api: ApiTools) => Promise<void>;
}

/**
 * A stable, signed play path (/play/<source>/…) resolved to the current media URL when it is played.
 * The app caches resolutions for `ttlMs` (single-flight) and resolves afresh once when the CDN refuses one.
 */
export interface PlayRoute {
  kind: 'play';
  /** Validates the path and query (400 on bad input) and names the resolution in the cache. */
  key(ctx: Context): string;
  ttlMs: number;
  resolve(ctx: Context, signal: AbortSignal): Promise<ResolvedMedia>;
}

/** What helper APIs get from the app: the shared cache (single-flight, stale on failure) and our public base URL. */
export interface ApiTools {
  cached<T>(key: string, ttlMs: number, load: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** Makes a root-relative link of ours absolute. */
  absolute(path: string): string;
}

/** What every source is built from: configuration and the shared parts, nothing platform-specific. */
export interface SourceContext {
  config: Config;
  cache: FeedCache;
  links: MediaLinks;
  firstSeen: FirstSeen;
  metrics: Metrics;
  /** Text written into feeds, in FEED_LANGUAGE, with dates in TZ: every source writes through it. */
  texts: Texts;
  /** The app's logger, for what a source has to say that is not an error of the request. */
  logger: Logger;
  /** The app's database (SQLite or PostgreSQL, the source never knows which), for its own durable state. */
  db: Sql;
  /**
   * Keeps media for good, in the background (fetched, decrypted, checked, archived), so the /proxy and
   * /play links of a post keep working after its CDN links expire. Never waits, never throws.
   */
  keepMedia(requests: readonly KeepRequest[]): void;
  /**
   * A pooled upstream client with the app's timeouts; `setting` and `hint` are named when it cannot be
   * reached; `concurrency` overrides UPSTREAM_CONCURRENCY for it.
   */
  upstream(name: string, baseUrl: string, where: { setting: keyof Config & string; hint?: string; concurrency?: number; retries?: number }): UpstreamClient;
  /**
   * Where a platform link (a share link) leads: redirects followed with the SSRF checks of /proxy, each
   * hop limited to platform hosts and PROXY_ALLOW_HOSTS, and to the URLs `allow` accepts. Returns the final URL.
   */
  resolveRedirects(url: string, platform: Platform, allow: (url: URL) => boolean, signal?: AbortSignal): Promise<string>;
  /**
   * The size in bytes of a media file on its CDN (one Range request for its first byte, with the platform's
   * rules and the SSRF checks), remembered under `key` (sizes do not change); undefined when the CDN will
   * not say. Never throws: a feed is not worth less for a missing length.
   */
  mediaLength(url: string, platform: Platform, key: string, signal?: AbortSignal): Promise<number | undefined>;
  /** The sources' health and its changes, as recorded (read only: loads and checks report it). */
  health: Pick<SourceHealthStore, 'all' | 'events'>;
  /** A call budget shared by every replica when REDIS_URL is set (per process otherwise). */
  budget(name: string, perMinute: number, setting: keyof Config & string): CallBudget;
  /** Every item kept, for what is made of it (search). */
  archive: Pick<ArchiveStore, 'search' | 'lastId'>;
  /** Kept items as feeds show them: bodies kept by their sources given back, the deleted marked. */
  keptItems(rows: ArchivedItem[]): Promise<FeedItem[]>;
}

/** A setting's state from the config: set when it is not empty. */
export function setting(config: Config, name: keyof Config & string, required: boolean, help: MessageKey): SettingState {
  return { name, set: String(config[name] ?? '') !== '', required, help };
}

/** What every source backed by E云 needs (Channels and Moments with their provider set to ecloud). */
export function ecloudSettings(config: Config): SettingState[] {
  return [
    setting(config, 'ECLOUD_API_URL', true, 'setting.ECLOUD_API_URL'),
    setting(config, 'ECLOUD_AUTH', true, 'setting.ECLOUD_AUTH'),
    setting(config, 'ECLOUD_WID', true, 'setting.ECLOUD_WID'),
  ];
}
