import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { FeedCache } from '../cache/feed-cache.js';
import { publicBase } from '../http/base-url.js';
import { compressJson } from '../http/compress.js';
import { clientSignal } from '../http/client-signal.js';
import { HttpError } from '../http/errors.js';
import { resolvedPlayHandler, type PlayDeps } from '../proxy/play.js';
import { UpstreamError } from '../upstream/errors.js';
import type { HealthBook } from '../upstream/health.js';
import type { SourceDescriptor, SourceRoute } from './descriptor.js';
import { healthOf, type SourceHealth } from './health.js';
import { feedRoute, type FeedRouteDeps } from './route.js';
import type { MessageKey, Texts } from '../i18n/index.js';
import type { HealthRow } from '../store/source-health.js';
import type { RefreshFeed } from '../store/refresh-feeds.js';
import type { Backfill } from '../store/archive-backfill.js';
import { feedPath } from './archive.js';

/** A feed route's background refresh, found by its path: the route's pattern with named parameters. */
export type FeedRefreshers = Array<{ source: string; pattern: RegExp; refresh: (params: Record<string, string>, url: URL, ttlMs: number, since: number) => Promise<{ digest: string; newItems: number; key: string }> }>;

export interface MountDeps {
  /** Where loads report what they found of their source's health. */
  sourceHealth?: SourceHealth;
  /** Every setting's name: an error naming one is told as the setting to check. */
  settingNames?: ReadonlySet<string>;
  /** Where each feed route leaves its background refresh, by path pattern (filled by mountSource). */
  refreshers?: FeedRefreshers;
  cache: FeedCache;
  feed: FeedRouteDeps;
  play: PlayDeps;
  health: HealthBook;
  publicUrl: string;
  /** The access-token guard every non-media route carries, as middleware and as a plain check. */
  token: Middleware;
  checkToken: (ctx: Context) => void;
  /** What media routes carry instead: a valid signature or the token, and the per-client limit. */
  mediaGuards: Middleware[];
}

/** Settings a route still lacks: the source's required ones and the route's own. */
export function missingSettings(source: SourceDescriptor, route?: SourceRoute): string[] {
  const needed = new Set([...source.settings.filter((s) => s.required).map((s) => s.name), ...(route?.needs ?? [])]);
  return source.settings.filter((s) => needed.has(s.name) && !s.set).map((s) => s.name);
}

/** 503 before any upstream call when a setting the route needs is empty, naming each one. */
function configuredCheck(source: SourceDescriptor, route: SourceRoute): () => void {
  const missing = missingSettings(source, route);
  return () => {
    if (missing.length > 0) {
      throw new HttpError(503, 'SOURCE_NOT_CONFIGURED', `${source.title} is not configured: set ${missing.join(', ')} (environment, .env or CONFIG_FILE), then restart`);
    }
  };
}

/** A check that throws when refused, as a middleware step. */
function step(check: (ctx: Context) => void): Middleware {
  return async function checked(ctx: Context, next: Next): Promise<void> {
    check(ctx);
    await next();
  };
}

/** Records an upstream's failure where /api/sources can see it, and passes the error on. */
function noted<A extends unknown[], T>(health: HealthBook, fn: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  return (...args) =>
    fn(...args).catch((err: unknown) => {
      if (err instanceof UpstreamError && err.kind !== 'aborted') health.fail(err.upstream, err.message);
      throw err;
    });
}

/** Registers every route a source declares, behind its settings check. */
export function mountSource(router: Router, source: SourceDescriptor, deps: MountDeps): void {
  for (const route of source.routes) {
    switch (route.kind) {
      case 'feed': {
        const feed = { ...route.source, fetch: noted(deps.health, route.source.fetch.bind(route.source)) };
        const settingNames = deps.settingNames ?? new Set<string>();
        const health = deps.sourceHealth
          ? (p: unknown, err: unknown) => {
              const r = err === undefined ? ({ state: 'ok', message: '', setting: '' } as const) : healthOf(err, settingNames);
              if (r) deps.sourceHealth!.report(source.name, route.source.account?.(p) ?? '', r);
            }
          : undefined;
        const serve = feedRoute(feed, deps.feed, { defaultFormat: route.defaultFormat, health, archiveAs: source.archive === false ? undefined : source.name });
        const isReady = configuredCheck(source, route);
        deps.refreshers?.push({
          source: source.name,
          pattern: new RegExp(`^${route.path.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`),
          refresh: (params, url, ttlMs, since) => {
            isReady();
            return serve.refresh(params, url, ttlMs, since);
          },
        });
        const isConfigured = configuredCheck(source, route);
        // One handler, the checks inline: every layer of middleware costs a promise on the hottest path.
        router.get(route.path, function feed(ctx) {
          deps.checkToken(ctx);
          isConfigured();
          return serve(ctx);
        });
        break;
      }
      case 'play': {
        const resolve = noted(deps.health, route.resolve);
        router.get(
          route.path,
          ...deps.mediaGuards,
          step(configuredCheck(source, route)),
          resolvedPlayHandler(deps.play, async (ctx, fresh) => {
            const key = route.key(ctx);
            if (fresh) deps.cache.invalidate(key);
            const r = await deps.cache.get(key, route.ttlMs, (signal) => resolve(ctx, signal), { signal: () => clientSignal(ctx) });
            return r.value;
          }),
        );
        break;
      }
      case 'api': {
        const method = route.method === 'POST' ? 'post' : 'get';
        const access = route.access ?? 'token';
        const guards = access === 'media' ? deps.mediaGuards : [access === 'token' ? deps.token : step(access)];
        router[method](route.path, ...guards, step(configuredCheck(source, route)), compressJson, async (ctx) => {
          await route.handler(ctx, {
            cached: async (key, ttlMs, load) => (await deps.cache.get(key, ttlMs, noted(deps.health, load), { signal: () => clientSignal(ctx) })).value,
            absolute: (path) => publicBase(ctx, deps.publicUrl) + path,
          });
        });
        break;
      }
    }
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** What /api/sources shows of a source: its state, never a secret. */
export function describeSource(source: SourceDescriptor, health: HealthBook, tx: Texts, states: readonly HealthRow[] = [], refreshed: readonly RefreshFeed[] = [], filled: readonly Backfill[] = []) {
  const byPath = new Map(filled.map((b) => [b.url, b]));
  const missing = missingSettings(source);
  const upstreams = source.upstreams.map((u) => {
    const h = health.get(u.name);
    const state = h.lastFailure !== undefined && (h.lastSuccess === undefined || h.lastFailure >= h.lastSuccess) ? 'failing' : h.lastSuccess !== undefined ? 'ok' : 'unknown';
    return { name: u.name, state, lastSuccess: iso(h.lastSuccess), lastFailure: iso(h.lastFailure), lastError: h.lastError };
  });
  return {
    name: source.name,
    title: source.title,
    description: source.description,
    configured: missing.length === 0,
    missing,
    settings: source.settings.map((s) => ({ ...s, help: tx.t(s.help) })),
    upstreams,
    routes: source.routes.map((r) => ({ kind: r.kind, method: r.kind === 'api' ? (r.method ?? 'GET') : 'GET', path: r.path, summary: r.summary, needs: r.needs ?? [] })),
    forms: source.forms,
    notice: source.notice,
    // Its feeds kept fresh in the background: when, how often (it adapts), and what the last refresh found.
    refresh: refreshed
      .filter((f) => f.source === source.name)
      .map((f) => {
        const b = byPath.get(feedPath(f.url));
        return {
          url: f.url,
          intervalSeconds: Math.round(f.intervalMs / 1000),
          lastRefresh: iso(f.lastAt),
          nextRefresh: iso(f.nextAt),
          lastChange: iso(f.changedAt),
          newItems: f.newItems,
          failures: f.fails,
          lastError: f.lastError || undefined,
          // How far its archive was filled from the upstream's later pages (ARCHIVE_BACKFILL_PAGES).
          backfill: b && { pages: b.pagesDone, goal: b.pagesGoal, done: !b.nextQuery || b.pagesDone >= b.pagesGoal, added: b.added, lastError: b.error || undefined },
        };
      }),
    // Where it and its accounts stand, as loads and checks last found them (alerts go out on each change).
    health: states
      .filter((h) => h.source === source.name)
      .map((h) => ({ account: h.account, state: h.state, label: tx.t(`health.state.${h.state}` as MessageKey), since: iso(h.since), message: h.message, setting: h.setting })),
  };
}
