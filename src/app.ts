import type { RequestListener } from 'node:http';
import { join } from 'node:path';
import Router from '@koa/router';
import Koa from 'koa';
import { FeedCache } from './cache/feed-cache.js';
import { MediaArchive } from './cache/media-archive.js';
import { MediaCache } from './cache/media-cache.js';
import { RedisState } from './cache/shared.js';
import { CallBudget } from './upstream/budget.js';
import type { Config } from './feeds/sources.js';
import type { SourceContext, SourceDescriptor, SourceModule } from './feeds/descriptor.js';
import { describeSource, mountSource, type FeedRefreshers } from './feeds/mount.js';
import { SOURCES, platformsOf } from './feeds/sources.js';
import { SourceHealth } from './feeds/health.js';
import { alertTargets, type AlertEndpoints } from './alerts/targets.js';
import { sourceHealthStore } from './store/source-health.js';
import { webSubStore } from './store/websub.js';
import { WebSubHub } from './feeds/websub.js';
import { Refresher } from './feeds/refresher.js';
import { MemoryRunner } from './jobs/memory.js';
import type { JobRunner } from './jobs/runner.js';
import { refreshFeedStore } from './store/refresh-feeds.js';
import { formatSuffix } from './feeds/route.js';
import { FEED_PARAMS } from './feeds/params.js';
import { presentedToken, requireToken, tokenCheck, tokenVerdict } from './http/auth.js';
import { publicBase } from './http/base-url.js';
import { HttpError, badRequest } from './http/errors.js';
import { sendHtml } from './http/html-response.js';
import { readJsonBody, readTextBody } from './http/json-body.js';
import { byNameThenValue, canonicalFeed, opmlFeedStore } from './store/opml-feeds.js';
import { renderOpml } from './web/opml.js';
import { WEB_READERS, buildFeedUrl, formId, renderStartPage, startPageCsp, type StartPageView } from './web/start-page.js';
import { LRUCache } from 'lru-cache';
import { randomBytes } from 'node:crypto';
import './http/context.js';
import { compressJson } from './http/compress.js';
import { errorHandler } from './http/error-handler.js';
import { createObserver, observe } from './http/observe.js';
import { ReadyResponses } from './http/ready.js';
import type { Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { MediaFetcher, header } from './proxy/fetch.js';
import { MediaKeeper } from './proxy/keeper.js';
import { keepQueueStore } from './store/keep-queue.js';
import { KeystreamCache } from './proxy/keystream-cache.js';
import { MediaLinks } from './proxy/links.js';
import { perClientLimit } from './proxy/media-request.js';
import { playHandler } from './proxy/play.js';
import { proxyHandler } from './proxy/proxy.js';
import { UrlSigner, proxySecretOf, verifySignedMedia } from './proxy/sign.js';
import { checkTarget, parseAllowHosts } from './proxy/ssrf.js';
import { firstSeenStore } from './store/first-seen.js';
import { archiveStore } from './store/archive.js';
import { backfillStore } from './store/archive-backfill.js';
import { FeedArchive, feedPath, sourceBodies } from './feeds/archive.js';
import { archiveRoutes } from './feeds/archive-routes.js';
import { openBlobs } from './store/index.js';
import { CORE_MIGRATIONS } from './store/migrations.js';
import { settingStore } from './store/settings.js';
import { snapshotStore } from './store/snapshots.js';
import type { Sql } from './store/sql.js';
import { UpstreamClient } from './upstream/client.js';
import { failureMemoMs, isStaleable } from './upstream/errors.js';
import { HealthBook } from './upstream/health.js';
import { outboundProxy } from './upstream/proxy.js';
import { LANGS, isLang, negotiate, texts, type Lang, type MessageKey, type Texts } from './i18n/index.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** The database (SQLite or PostgreSQL); createApp migrates it. The caller closes it. */
  db: Sql;
  /** The sources to mount (default: SOURCES); tests mount their own beside them. */
  sources?: readonly SourceModule[];
  /** Where the chat platforms' APIs are, for alerts (tests point them at fake receivers). */
  alertEndpoints?: Partial<AlertEndpoints>;
}

export interface App {
  koa: Koa;
  /** The server's request listener: a ready response when one stands, else koa. */
  listener: RequestListener;
  /** Signed media links, as sources build them. */
  links: MediaLinks;
  sources: SourceDescriptor[];
  /** Background media keeping (Moments archive); tests wait on `keeper.idle()`. */
  keeper: MediaKeeper;
  /** Health reports and alerts; tests wait on `health.settled()`. */
  health: SourceHealth;
  /** The WebSub hub; tests wait on `websub.settled()`. */
  websub: WebSubHub;
  /** Aborts upstream calls in flight and releases connection pools. The caller owns the db and the HTTP server. */
  close(): Promise<void>;
}

/** The shared middleware, the shared routes, and the sources: each source's routes are in its own index.ts. */
export async function createApp({ config, logger, db, sources: modules = SOURCES, alertEndpoints }: AppDeps): Promise<App> {
  await db.migrate([...CORE_MIGRATIONS, ...modules.flatMap((m) => m.migrations ?? [])]);
  const metrics = createMetrics();
  const health = new HealthBook();
  const shared = config.REDIS_URL ? new RedisState(config.REDIS_URL, logger, metrics) : undefined;
  const cache = new FeedCache({
    shared,
    lockTtlMs: config.UPSTREAM_DEADLINE,
    maxBytes: config.CACHE_MAX_BYTES,
    staleMs: config.STALE_TTL,
    failureTtl: (err) => failureMemoMs(err, config.CACHE_TTL),
    isStaleable,
    metrics,
    snapshots: snapshotStore(db),
    logger,
  });
  const clients: UpstreamClient[] = [];
  const policy = { extraHosts: parseAllowHosts(config.PROXY_ALLOW_HOSTS), platforms: platformsOf(modules) };
  const mediaProxy = config.PROXY_MEDIA_VIA_UPSTREAM_PROXY ? outboundProxy(config.UPSTREAM_PROXY, process.env, { connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT }) : undefined;
  const fetcher = new MediaFetcher({ policy, connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT, timeoutMs: config.PROXY_TIMEOUT, metrics, proxy: mediaProxy, logger });
  const keystreams = new KeystreamCache(config.KEYSTREAM_CACHE_KEYS);
  const blobs = await openBlobs(config);
  const archive = new MediaArchive(db, blobs, config.MOMENTS_ARCHIVE_MAX_BYTES, db.engine === 'postgres');
  // Blobs a crash left without an index row, in the background: a bucket may be long to list.
  void archive.sweep().then(
    (n) => n > 0 && logger.info({ swept: n, where: blobs.where }, 'archived media no index row names were deleted'),
    (err) => logger.warn({ err: (err as Error)?.message, where: blobs.where }, 'the media archive could not be swept for leftovers'),
  );
  if (db.engine === 'postgres' && !blobs.shared) {
    logger.warn({ where: blobs.where }, 'DATABASE_URL is set but ARCHIVE_S3_URL is not: archived media stay on this replica\'s disk, and other replicas cannot serve them; set ARCHIVE_S3_URL (or share that directory) when running more than one');
  }
  const keeper = new MediaKeeper({
    fetcher,
    policy,
    keystreams,
    archive,
    maxImageBytes: config.PROXY_MAX_IMAGE_BYTES,
    maxVideoBytes: config.MOMENTS_ARCHIVE_VIDEO_MAX_BYTES,
    concurrency: config.MOMENTS_ARCHIVE_CONCURRENCY,
    metrics,
    queue: keepQueueStore(db),
    logger,
  });
  // Media queued by an earlier process (a crash, a restart) are kept now.
  if (config.MOMENTS_ARCHIVE) keeper.start(db.engine === 'sqlite');
  const lengths = new LRUCache<string, number>({ max: 10_000 });
  // One set of texts per language, made once: each holds Intl formatters, too costly to build per request.
  const textsIn = Object.fromEntries(LANGS.map((l) => [l, texts(l, config.TZ, Object.assign({}, ...modules.map((m) => m.messages?.[l] ?? {})))])) as Record<Lang, Texts>;
  // A configured PROXY_SECRET wins; else one made once, in the database every replica shares, or in DATA_DIR.
  const secret = await proxySecretOf(config, db, () => settingStore(db));
  const signer = new UrlSigner(secret);
  const healthStore = sourceHealthStore(db);
  const archiveItems = archiveStore(db);
  const backfills = backfillStore(db);
  const refreshStore = refreshFeedStore(db);
  // What /api/sources and the start page show of each source's health and refreshes; nothing when the database is away.
  const sourceStates = async () => {
    const [states, refreshed] = await Promise.all([healthStore.all().catch(() => []), refreshStore.all(10_000).catch(() => [])]);
    const filled = config.ARCHIVE_MAX_ITEMS > 0 ? await backfills.byUrls([...new Set(refreshed.map((f) => feedPath(f.url)))]).catch(() => []) : [];
    return [states, refreshed, filled] as const;
  };
  const titles: Record<string, string> = {};
  const sourceHealth = new SourceHealth({
    store: healthStore,
    targets: alertTargets(config.ALERT_URLS, config.ALERT_SECRET, alertEndpoints),
    texts: textsIn[config.FEED_LANGUAGE],
    logger,
    repeatMs: config.ALERT_REPEAT,
    metrics,
    titles,
  });
  const links = new MediaLinks(signer);
  // Bodies kept by their sources (MP articles) are not copied into the archive: the sources give them back.
  const feedArchive = new FeedArchive({
    store: archiveItems,
    maxItems: config.ARCHIVE_MAX_ITEMS,
    days: config.ARCHIVE_DAYS,
    showMax: config.FEED_MAX_LIMIT,
    t: textsIn[config.FEED_LANGUAGE].t,
    backfillPages: config.ARCHIVE_BACKFILL_PAGES,
    backfills,
    bodies: sourceBodies(modules, { db, links, texts: textsIn[config.FEED_LANGUAGE] }),
  });
  const ctx: SourceContext = {
    config,
    texts: textsIn[config.FEED_LANGUAGE],
    logger,
    cache,
    links,
    metrics,
    firstSeen: firstSeenStore(db),
    health: healthStore,
    db,
    archive: archiveItems,
    keptItems: (rows) => feedArchive.items(rows),
    keepMedia: (requests) => {
      if (config.MOMENTS_ARCHIVE) keeper.keep(requests);
    },
    budget: (name, perMinute, setting) => new CallBudget({ name, perMinute, setting, shared }),
    async mediaLength(url, platform, key, signal) {
      const known = lengths.get(key);
      if (known !== undefined) return known;
      try {
        const res = await fetcher.open(checkTarget(url, policy), { platform, platformOnly: false, range: 'bytes=0-0', signal });
        res.body.destroy();
        const range = /\/(\d+)$/.exec(header(res.headers, 'content-range') ?? '')?.[1];
        const total = Number(res.status === 206 ? range : res.status === 200 ? header(res.headers, 'content-length') : undefined);
        if (!Number.isSafeInteger(total) || total <= 0) return undefined;
        lengths.set(key, total);
        return total;
      } catch {
        return undefined;
      }
    },
    async resolveRedirects(url, platform, allow, signal) {
      const res = await fetcher.open(checkTarget(url, policy), { platform, platformOnly: false, signal, allow });
      res.body.destroy();
      return res.url.href;
    },
    upstream(name, baseUrl, { concurrency, retries, ...where }) {
      const client = new UpstreamClient({
        name,
        baseUrl,
        ...where,
        connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT,
        timeoutMs: config.UPSTREAM_TIMEOUT,
        deadlineMs: config.UPSTREAM_DEADLINE,
        retries: retries ?? config.UPSTREAM_RETRIES,
        maxBytes: config.UPSTREAM_MAX_BYTES,
        concurrency: concurrency ?? config.UPSTREAM_CONCURRENCY,
        metrics,
        health,
        logger,
        proxy: outboundProxy(config.UPSTREAM_PROXY, process.env, { connectTimeoutMs: config.UPSTREAM_CONNECT_TIMEOUT }),
      });
      clients.push(client);
      return client;
    },
  };
  const sources = modules.map((m) => m.create(ctx));
  for (const s of sources) titles[s.name] = textsIn[config.FEED_LANGUAGE].t(`source.${s.name}.title` as MessageKey);
  // Checks and reminders every minute, or twice per ALERT_REPEAT when that is shorter.
  const tickMs = Math.max(1000, Math.min(60_000, config.ALERT_REPEAT > 0 ? config.ALERT_REPEAT / 2 : 60_000));
  sourceHealth.start(sources.flatMap((s) => (s.watch ? [{ source: s.name, watch: s.watch }] : [])), tickMs);

  const observer = createObserver(logger, metrics);
  // Bodies here are mostly shared with the feed and media caches; the bound covers those they outlive.
  const ready = new ReadyResponses({ observer, trustProxy: config.TRUST_PROXY, maxBytes: 32 * 1024 * 1024, onHit: () => metrics.readyResponses.inc() });
  const media = { fetcher, policy, keystreams, archive, accessTokenConfigured: config.ACCESS_TOKEN !== '' };
  const mediaCache = new MediaCache({ memoryBytes: config.MEDIA_CACHE_MEMORY_BYTES, diskBytes: config.MEDIA_CACHE_DISK_BYTES, dir: join(config.DATA_DIR, 'media') });
  // What each route needs is declared where it is registered: the token, or for media a valid
  // signature or the token, and the per-client limit.
  const token = requireToken(config.ACCESS_TOKEN);
  const checkToken = tokenCheck(config.ACCESS_TOKEN);
  const mediaGuards = [verifySignedMedia(signer), token, perClientLimit(config.PROXY_CLIENT_CONCURRENCY)];

  // Exact paths only: /PROXY or /proxy/ must not reach a handler the media checks did not recognise.
  const router = new Router({ strict: true, sensitive: true });
  router.get('/healthz', (c) => {
    c.set('Cache-Control', 'no-store');
    c.body = { status: 'ok' };
  });
  router.get('/metrics', token, async (c) => {
    c.set('Cache-Control', 'no-store');
    c.type = metrics.registry.contentType;
    c.body = await metrics.registry.metrics();
  });
  router.get('/api/sources', token, compressJson, async (c) => {
    c.set('Cache-Control', 'no-store');
    // In the caller's language (Accept-Language), else the feeds'.
    const tx = textsIn[negotiate(c.get('Accept-Language'), config.FEED_LANGUAGE)];
    const [states, refreshed, filled] = await sourceStates();
    c.body = { sources: sources.map((s) => describeSource(s, health, tx, states, refreshed, filled)) };
  });
  // The start page: the sources and a form each to build feed URLs; without the token only a prompt.
  const pageVerdict = tokenVerdict(config.ACCESS_TOKEN);
  const readers = (tx: Texts) => (config.READER_SUBSCRIBE_URL ? [...WEB_READERS, { name: tx.t('page.out.yourReader'), template: config.READER_SUBSCRIBE_URL }] : WEB_READERS);
  router.get('/', async (c) => {
    const verdict = pageVerdict(c);
    const allowed = verdict === 'ok';
    const nonce = randomBytes(12).toString('base64');
    // The page's language: the switch (remembered in a cookie), else the browser's, else FEED_LANGUAGE.
    const asked = c.query.lang;
    if (isLang(asked)) c.cookies.set('feedgate_lang', asked, { maxAge: 365 * 86_400_000, sameSite: 'lax', httpOnly: true, overwrite: true });
    const remembered = c.cookies.get('feedgate_lang');
    const lang = isLang(asked) ? asked : isLang(remembered) ? remembered : negotiate(c.get('Accept-Language'), config.FEED_LANGUAGE);
    const tx = textsIn[lang];
    const token = allowed && config.ACCESS_TOKEN ? presentedToken(c) : undefined;
    // Without JavaScript the form comes back here (?build=<form>&…) and the URL is built on the server.
    let built: StartPageView['built'];
    const buildId = typeof c.query.build === 'string' ? c.query.build : undefined;
    const target = allowed && buildId ? sources.flatMap((s) => s.forms.map((f, i) => ({ id: formId(s.name, i), form: f }))).find((x) => x.id === buildId) : undefined;
    if (target) {
      const values = Object.fromEntries(Object.entries(c.query).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v.slice(0, 2000)]] : [])));
      const made = buildFeedUrl(target.form, values, publicBase(c, config.PUBLIC_URL), token, tx);
      built = { form: target.id, values, ...made };
      const kept = made.url ? canonicalFeed(made.url.replace(/^https?:\/\/[^/]+/, ''), feedQuery) : undefined;
      if (kept) await opml.built({ ...kept, title: '' });
      if (kept) refresher.track(kept.url, kept.source);
    }
    const [states, refreshed, filled] = allowed ? await sourceStates() : [[], [], []];
    const html = renderStartPage({
      sources: allowed ? sources.map((s) => describeSource(s, health, tx, states, refreshed, filled)) : null,
      token,
      tx,
      readers: readers(tx),
      built,
      tokenRequired: config.ACCESS_TOKEN !== '',
      tokenRejected: verdict === 'wrong',
      ownerEmailMissing: config.PODCAST_OWNER_EMAIL === '',
      archive: config.ARCHIVE_MAX_ITEMS > 0,
      nonce,
    });
    sendHtml(c, html, { csp: startPageCsp(nonce), cacheControl: 'no-store' });
  });
  const folders = Object.fromEntries(sources.map((s) => [s.name, s.title]));
  // What the OPML list keeps of a URL: a feed route's path, with the shared feed parameters and the route's own.
  const feedRoutes = sources.flatMap((s) =>
    s.routes.flatMap((r) => (r.kind === 'feed' ? [{ path: new RegExp(`^${r.path.replace(/:\w+/g, '[^/]+')}$`), query: new Set([...FEED_PARAMS, ...(r.source.query ?? [])]), own: new Set(r.source.query ?? []) }] : [])),
  );
  const feedQuery = (path: string) => feedRoutes.find((r) => r.path.test(path))?.query;
  router.get('/opml', token, async (c) => {
    const withToken = c.query.with_token === '1' && config.ACCESS_TOKEN ? config.ACCESS_TOKEN : undefined;
    const feeds = await opml.list(Date.now() - config.OPML_DAYS * 86_400_000);
    c.set('Cache-Control', 'no-store');
    c.type = 'text/x-opml; charset=utf-8';
    c.attachment('feedgate.opml', { type: 'inline' });
    c.body = renderOpml(feeds, { base: publicBase(c, config.PUBLIC_URL), token: withToken, folders });
  });
  router.post('/api/opml/feeds', token, async (c) => {
    const body = await readJsonBody(c, 8 * 1024);
    const feedUrl = canonicalFeed(typeof body.url === 'string' ? body.url : '', feedQuery);
    if (!feedUrl) throw badRequest('url must be a feed URL of this feedgate (/feeds/… or /rss/…)');
    await opml.built({ ...feedUrl, title: typeof body.title === 'string' ? body.title.slice(0, 300) : '' });
    refresher.track(feedUrl.url, feedUrl.source);
    c.status = 204;
  });
  // WebSub (W3C): the hub of our own feeds. No token here: a private topic carries its own.
  router.post('/websub', async (c) => {
    const type = c.get('Content-Type').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'a WebSub request is a form (application/x-www-form-urlencoded)');
    await websubHub.handle(c, new URLSearchParams(await readTextBody(c, 8 * 1024)));
  });
  archiveRoutes(router, { store: archiveItems, token, enabled: config.ARCHIVE_MAX_ITEMS > 0, publicUrl: config.PUBLIC_URL, listener: () => listener, maxImageBytes: config.PROXY_MAX_IMAGE_BYTES, kept: (rows) => feedArchive.items(rows, { marked: false }) });
  router.get('/proxy', ...mediaGuards, proxyHandler({ ...media, cache: mediaCache, maxImageBytes: config.PROXY_MAX_IMAGE_BYTES, ready }));
  router.get('/play', ...mediaGuards, playHandler(media));
  // Feeds read lately go into the OPML export: written at most every ten minutes per URL.
  const opml = opmlFeedStore(db);
  const lastNoted = new LRUCache<string, number>({ max: 10_000 });
  const served = (url: string, title: string) => {
    const now = Date.now();
    if ((lastNoted.get(url) ?? 0) > now - 600_000) return;
    lastNoted.set(url, now);
    const feedUrl = canonicalFeed(url, feedQuery);
    // Never in the way of the feed: a database away costs this note, reported.
    if (feedUrl) refresher.track(feedUrl.url, feedUrl.source);
    if (feedUrl) opml.requested({ ...feedUrl, title }, now).catch((err) => logger.warn({ url: feedUrl.url, err: (err as Error)?.message }, 'a read feed could not be noted for /opml'));
  };
  // A topic's key: the feed route's path without its format, and the source's own parameters, sorted
  // (not the token, the format or the shared filters: every rendering of one load is the same topic).
  const topicKey = (url: URL) => {
    const path = url.pathname.replace(/\.(rss|atom|json)$/, '');
    const route = feedRoutes.find((r) => r.path.test(path));
    if (!route) return undefined;
    const own = [...url.searchParams].filter(([k]) => route.own.has(k)).sort(byNameThenValue);
    return own.length ? `${path}?${new URLSearchParams(own)}` : path;
  };
  const websubHub = new WebSubHub({
    store: webSubStore(db),
    policy: { extraHosts: parseAllowHosts(config.WEBSUB_CALLBACK_ALLOW), platforms: platformsOf([]) },
    accessToken: config.ACCESS_TOKEN,
    topicKey,
    publishTo: config.WEBSUB_PUBLISH_TO.split(',').map((s) => s.trim()).filter(Boolean),
    logger,
    metrics,
    // A WebSub subscriber reads the feed as surely as a poller does: it is refreshed in the background.
    onSubscribed: (topic) => {
      const t = new URL(topic);
      const kept = canonicalFeed(t.pathname + t.search, feedQuery);
      if (kept) refresher.track(kept.url, kept.source);
    },
  });
  websubHub.start();
  // Background refresh, on the job engine at hand: BullMQ with Redis, pg-boss with PostgreSQL, else in process.
  const refreshers: FeedRefreshers = [];
  const jobErrors = (err: Error) => logger.warn({ err: err.message }, 'the job engine reported an error');
  const runner: JobRunner = config.REDIS_URL
    ? new (await import('./jobs/bullmq.js')).BullRunner(config.REDIS_URL, jobErrors)
    : config.DATABASE_URL
      ? new (await import('./jobs/pgboss.js')).PgBossRunner(config.DATABASE_URL, jobErrors)
      : new MemoryRunner();
  const refresher = new Refresher({
    store: refreshStore,
    runner,
    intervals: Object.fromEntries(sources.map((s) => [s.name, Number((config as unknown as Record<string, unknown>)[`REFRESH_${s.name.toUpperCase()}`] ?? 0)])),
    maxMs: config.REFRESH_MAX,
    // Sources whose calls are paced: background refresh plans within their budgets.
    budgets: Object.fromEntries(sources.flatMap((s) => (s.callsPerMinute ? [[s.name, s.callsPerMinute]] : []))),
    quotas: Object.fromEntries(sources.flatMap((s) => (s.dailyQuota ? [[s.name, s.dailyQuota]] : []))),
    concurrency: config.REFRESH_CONCURRENCY,
    logger,
    metrics,
    async isSubscribed(url) {
      if (await opml.isRead(url, Date.now() - config.SUBSCRIPTION_DAYS * 86_400_000)) return true;
      const key = topicKey(new URL(url, 'http://feedgate.invalid'));
      return key !== undefined && (await websubHub.hasSubscribers(key));
    },
    load(url, ttlMs, since) {
      const u = new URL(url, config.PUBLIC_URL || 'http://feedgate.invalid');
      const path = u.pathname.replace(/\.(rss|atom|json)$/, '');
      const r = refreshers.find((x) => x.pattern.test(path));
      if (!r) throw new Error(`${path} is not a feed route of this feedgate`);
      const params = Object.fromEntries(Object.entries(r.pattern.exec(path)!.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      return r.refresh(params, u, ttlMs, since);
    },
  });
  const feed = { archive: feedArchive, schedule: (key: string) => refresher.scheduleOf(key), websub: { hub: websubHub, topicKey }, cache, ttlMs: config.CACHE_TTL, maxLimit: config.FEED_MAX_LIMIT, publicUrl: config.PUBLIC_URL, staleAfterMs: config.FEED_DEADLINE, ownerEmail: config.PODCAST_OWNER_EMAIL, served, ready };
  const settingNames = new Set(Object.keys(config));
  for (const source of sources) mountSource(router, source, { refreshers, sourceHealth, settingNames, cache, feed, play: media, health, publicUrl: config.PUBLIC_URL, token, checkToken, mediaGuards });
  // The schedule comes back from the database once every feed route has left its refresh.
  await refresher.start();

  const koa = new Koa({ proxy: config.TRUST_PROXY });
  koa.silent = true; // errors are logged by errorHandler with the request id
  koa.use(observe(koa, logger, observer));
  koa.use(errorHandler);
  koa.use(formatSuffix);
  koa.use(router.routes());
  koa.use(router.allowedMethods({ throw: true }));

  const handle = koa.callback();
  const listener: RequestListener = (req, res) => {
    if (!ready.serve(req, res)) void handle(req, res);
  };
  let closing: Promise<void> | undefined;
  return {
    koa,
    listener,
    links,
    sources,
    keeper,
    health: sourceHealth,
    websub: websubHub,
    close() {
      keeper.close();
      sourceHealth.close();
      closing ??= refresher
        .close()
        .catch(() => {})
        .then(() => Promise.all([...clients.map((c) => c.close()), fetcher.close(), shared?.close(), websubHub.close()]))
        .then(() => blobs.close?.());
      return closing;
    },
  };
}
