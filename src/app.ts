import { join } from 'node:path';
import Router from '@koa/router';
import Koa from 'koa';
import { FeedCache } from './cache/feed-cache.js';
import type { Config } from './config.js';
import { HdhiveClient } from './feeds/hdhive/client.js';
import { hdhiveResources, hdhiveShares } from './feeds/hdhive/feed.js';
import { feedRoute, formatSuffix } from './feeds/route.js';
import { requireToken } from './http/auth.js';
import './http/context.js';
import { errorHandler } from './http/error-handler.js';
import { requestLog } from './http/request-log.js';
import { requestMetrics } from './http/request-metrics.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { Db } from './store/db.js';
import { sqliteFirstSeen } from './store/first-seen.js';
import { sqliteSnapshots } from './store/snapshots.js';
import { UpstreamClient } from './upstream/client.js';
import { MediaCache } from './cache/media-cache.js';
import { MediaFetcher } from './proxy/fetch.js';
import { KeystreamCache } from './proxy/keystream-cache.js';
import { MediaLinks } from './proxy/links.js';
import { perClientLimit } from './proxy/media-request.js';
import { playHandler, resolvedPlayHandler } from './proxy/play.js';
import { EcloudProvider } from './feeds/channels/ecloud-client.js';
import { channelsFeed, resolveChannelsMedia, searchAccounts } from './feeds/channels/feed.js';
import type { ChannelsProvider } from './feeds/channels/provider.js';
import { WxcdProvider } from './feeds/channels/wxcd-client.js';
import { publicBase } from './http/base-url.js';
import { badRequest } from './http/errors.js';
import { isStaleable } from './upstream/errors.js';
import { proxyHandler } from './proxy/proxy.js';
import { UrlSigner, loadProxySecret, verifySignedMedia } from './proxy/sign.js';
import { parseAllowHosts } from './proxy/ssrf.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Db;
}

export interface App {
  koa: Koa;
  /** Signed media links, as sources build them. */
  links: MediaLinks;
  /** Releases upstream connection pools. The caller owns the db and the HTTP server. */
  close(): Promise<void>;
}

/** Every route feedgate serves is registered below; each handler is one import away. */
export function createApp({ config, logger, db }: AppDeps): App {
  const metrics = createMetrics();
  const cache = new FeedCache({
    maxBytes: config.CACHE_MAX_BYTES,
    staleMs: config.STALE_TTL,
    failureTtlMs: config.CACHE_TTL,
    isStaleable,
    metrics,
    snapshots: sqliteSnapshots(db),
  });
  const firstSeen = sqliteFirstSeen(db);
  const upstream = (name: string, baseUrl: string) =>
    new UpstreamClient({
      name,
      baseUrl,
      connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT,
      timeoutMs: config.UPSTREAM_TIMEOUT,
      retries: config.UPSTREAM_RETRIES,
      maxBytes: config.UPSTREAM_MAX_BYTES,
      concurrency: config.UPSTREAM_CONCURRENCY,
      metrics,
    });

  const hdhiveHttp = upstream('hdhive', config.HDHIVE_API_URL);
  const hdhive = {
    client: new HdhiveClient(hdhiveHttp, { apiKey: config.HDHIVE_API_KEY, accessToken: config.HDHIVE_ACCESS_TOKEN, metrics }),
    firstSeen,
    siteUrl: config.HDHIVE_API_URL,
    hideInvalid: config.HDHIVE_HIDE_INVALID,
  };
  const feed = { cache, ttlMs: config.CACHE_TTL, maxLimit: config.FEED_MAX_LIMIT, publicUrl: config.PUBLIC_URL };

  const signer = new UrlSigner(loadProxySecret(config.PROXY_SECRET, config.DATA_DIR));
  const links = new MediaLinks(signer);
  const policy = { extraHosts: parseAllowHosts(config.PROXY_ALLOW_HOSTS) };
  const fetcher = new MediaFetcher({ policy, connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT, timeoutMs: config.PROXY_TIMEOUT, metrics });
  const media = {
    fetcher,
    policy,
    keystreams: new KeystreamCache(config.KEYSTREAM_CACHE_KEYS),
    accessTokenConfigured: config.ACCESS_TOKEN !== '',
  };
  const mediaCache = new MediaCache({ memoryBytes: config.MEDIA_CACHE_MEMORY_BYTES, diskBytes: config.MEDIA_CACHE_DISK_BYTES, dir: join(config.DATA_DIR, 'media') });
  const isMediaPath = (path: string) => path === '/proxy' || path === '/play' || path.startsWith('/play/');

  const channelsHttp =
    config.CHANNELS_PROVIDER === 'ecloud' ? upstream('ecloud', config.ECLOUD_API_URL) : upstream('wxcd', config.WXCD_API_URL);
  const channelsProvider: ChannelsProvider =
    config.CHANNELS_PROVIDER === 'ecloud'
      ? new EcloudProvider(channelsHttp, { auth: config.ECLOUD_AUTH, wid: config.ECLOUD_WID, resolvePages: config.CHANNELS_MAX_PAGES })
      : new WxcdProvider(channelsHttp);
  const channels = { provider: channelsProvider, links, maxPages: config.CHANNELS_MAX_PAGES };

  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  router.get('/proxy', proxyHandler({ ...media, cache: mediaCache, maxImageBytes: config.PROXY_MAX_IMAGE_BYTES }));
  router.get('/play', playHandler(media));
  router.get('/play/channels/:oid/:nid', resolvedPlayHandler(media, async (ctx, fresh) => {
    const { oid = '', nid = '' } = ctx.params as Record<string, string>;
    const quality = typeof ctx.query.q === 'string' ? ctx.query.q : 'original';
    const username = typeof ctx.query.u === 'string' ? ctx.query.u : undefined;
    const key = `channels:play:${channelsProvider.name}:${oid}:${nid}:${quality}`;
    if (fresh) cache.invalidate(key);
    const r = await cache.get(key, config.CHANNELS_PLAY_TTL, () => resolveChannelsMedia(channelsProvider, oid, nid, quality, username));
    return { ...r.value, platform: 'channels' };
  }));
  router.get('/feeds/channels/:username', feedRoute(channelsFeed(channels), feed));
  router.get('/rss/channels', feedRoute(channelsFeed(channels, 'compat'), feed, { defaultFormat: 'atom' }));
  router.get('/api/channels/search', async (ctx) => {
    const keyword = ctx.query.keyword;
    if (typeof keyword !== 'string' || !keyword.trim() || keyword.length > 100) throw badRequest('parameter keyword must be 1 to 100 characters');
    const r = await cache.get(`channels:search:${channelsProvider.name}:${keyword.trim()}`, config.CACHE_TTL, () => searchAccounts(channelsProvider, links, keyword.trim()));
    const abs = (u: string | undefined) => u && publicBase(ctx, config.PUBLIC_URL) + u;
    ctx.set('Cache-Control', `private, max-age=${Math.round(config.CACHE_TTL / 1000)}`);
    ctx.body = { accounts: r.value.map((a) => ({ ...a, avatar: abs(a.avatar), feed: abs(a.feed) })) };
  });
  router.get('/feeds/hdhive/shares', feedRoute(hdhiveShares(hdhive), feed));
  router.get('/feeds/hdhive/:type/:tmdbId', feedRoute(hdhiveResources(hdhive), feed));

  const koa = new Koa({ proxy: config.TRUST_PROXY });
  koa.silent = true; // errors are logged by errorHandler with the request id
  koa.use(requestLog(logger));
  koa.use(requestMetrics(metrics));
  koa.use(errorHandler);
  koa.use(verifySignedMedia(signer, isMediaPath));
  koa.use(requireToken(config.ACCESS_TOKEN, (ctx) => ctx.path === '/healthz' || ctx.state.signed === true));
  koa.use(perClientLimit(config.PROXY_CLIENT_CONCURRENCY, isMediaPath));
  koa.use(formatSuffix);
  koa.use(router.routes());
  koa.use(router.allowedMethods({ throw: true }));

  return {
    koa,
    links,
    async close() {
      await Promise.all([hdhiveHttp.close(), channelsHttp.close(), fetcher.close()]);
    },
  };
}
