import { createHash } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { FeedCache } from '../cache/feed-cache.js';
import { publicBase, selfUrl } from '../http/base-url.js';
import { clientSignal } from '../http/client-signal.js';
import { MIN_COMPRESS_BYTES, compress, negotiateEncoding } from '../http/compress.js';
import { isNotModified } from '../http/conditional.js';
import type { ReadyResponses } from '../http/ready.js';
import { UpstreamError } from '../upstream/errors.js';
import { absolutize } from './absolute.js';
import { feedUpdated, type FeedData } from './model.js';
import { applyFeedParams, parseFeedParams, positiveInt, single, type FeedParams } from './params.js';
import { ARCHIVE_PAGE, archiveKey, backfill, type FeedArchive } from './archive.js';
import { HttpError, badRequest } from '../http/errors.js';
import { transformText } from './text.js';
import { formats, type Format } from './render/index.js';
import type { FeedSource } from './source.js';
import type { WebSubHub } from './websub.js';

export interface FeedRouteDeps {
  cache: FeedCache;
  ttlMs: number;
  maxLimit: number;
  /** Base URL readers reach us at ("" = the request's own origin). */
  publicUrl: string;
  /** A refresh slower than this is answered with the last good copy, when there is one (FEED_DEADLINE). */
  staleAfterMs: number;
  /** PODCAST_OWNER_EMAIL. */
  ownerEmail?: string;
  /** Told of every feed served (its canonical URL and title), for the OPML export; must be cheap. */
  served?: (url: string, title: string) => void;
  /** Where a cache hit is offered to be answered again before koa. */
  ready?: ReadyResponses;
  /**
   * A feed's background refresh (by cache key), when this replica knows it: readers are told to come
   * back at the next one (max-age) and how often it comes (RSS <ttl>).
   */
  schedule?: (key: string) => { nextAt: number; intervalMs: number } | undefined;
  /** feedgate's WebSub hub: advertised in every feed, told of every load. */
  websub?: { hub: WebSubHub; topicKey(url: URL): string | undefined };
  /** Where every item shown is kept, and history and the deleted come back from. */
  archive?: FeedArchive;
}

interface Rendered {
  /** Encoded once: koa would otherwise re-encode and re-measure a string on every response. */
  body: Buffer;
  /** Content hash; each encoding's ETag is derived from it, so they stay distinct. */
  hash: string;
  lastModified: number;
  lastModifiedHttp?: string;
  /** gzip and brotli of `body`, made on first demand and kept: a cache hit costs no compression. */
  encoded: Partial<Record<'br' | 'gzip', Buffer>>;
}

const SUFFIX = /\.(rss|atom|json)$/;

/** What an archive document or a `before=` page adds to a rendering: its links. */
interface ArchiveView {
  nextUrl?: string;
  links?: { prev?: string; next?: string; current?: string };
}

/** `before=`: epoch milliseconds, or a date (2024-05-01, RFC 3339). */
function parseBefore(value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n) || n < 0) throw badRequest(`parameter before must be a time: epoch milliseconds or a date such as 2024-05-01 or 2024-05-01T12:00:00Z, got "${value.slice(0, 40)}"`);
  return n;
}

/**
 * Reads a `.rss` / `.atom` / `.json` suffix off feed paths so routes match without it, and keeps the
 * format for parseFeedParams.
 */
export function formatSuffix(ctx: Context, next: Next): Promise<void> {
  const path = ctx.path;
  // Not async: one promise fewer on every request.
  const m = path.startsWith('/feeds/') || path.startsWith('/rss/') ? SUFFIX.exec(path) : null;
  if (m) {
    ctx.state.formatFromPath = m[1] as Format;
    ctx.path = path.slice(0, -m[0].length);
  }
  return next();
}

/** What a subscriber would see change: each item's identity, title, dates and content, hashed once per data object. */
const digests = new WeakMap<object, string>();
function digestOf(data: FeedData): string {
  let d = digests.get(data);
  if (!d) {
    const h = createHash('sha1');
    for (const i of data.items) h.update(`${i.guid}\0${i.title}\0${i.published ?? ''}\0${i.updated ?? ''}\0${i.contentHtml ?? i.summary ?? ''}\0\0`);
    digests.set(data, (d = h.digest('base64url')));
  }
  return d;
}

/** Rendered bytes per data object; dropped with the data when the cache replaces it. */
const memo = new WeakMap<object, Map<string, Rendered>>();
const MEMO_PER_DATA = 64;

/** `url` with its query parameter `name` set to `value` (removed when undefined). */
function withParam(url: string, name: string, value: string | undefined): string {
  const u = new URL(url);
  if (value === undefined) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.href;
}

async function render(data: FeedData, params: FeedParams, base: string, selfUrl: string, ttlSeconds: number, builtAt: number, ownerEmail?: string, hubUrl?: string, view?: ArchiveView): Promise<Rendered> {
  const format = params.format;
  let items = applyFeedParams(data.items, params);
  let head = data;
  if (params.opencc || params.brief !== undefined) ({ feed: head, items } = await transformText(data, items, params));
  const feed = absolutize(head, items, base);
  let nextUrl = view?.nextUrl;
  if (data.nextQuery) {
    const next = new URL(selfUrl);
    for (const [k, v] of Object.entries(data.nextQuery)) next.searchParams.set(k, v);
    nextUrl = next.href;
  }
  // The subscription document links the newest full archive page (RFC 5005).
  const archive = view?.links ?? (data.archivePages ? { prev: withParam(selfUrl, 'archive_page', String(data.archivePages)) } : undefined);
  const body = Buffer.from(formats[format].render(feed, { selfUrl, ttlSeconds, nextUrl, ownerEmail, builtAt, hubUrl, archive }), 'utf8');
  const lastModified = feedUpdated(feed, builtAt);
  return {
    body,
    hash: createHash('sha1').update(body).digest('base64url'),
    lastModified,
    lastModifiedHttp: lastModified > 0 ? new Date(lastModified).toUTCString() : undefined,
    encoded: {},
  };
}

/**
 * The one way a feed is served: parse parameters -> source data through the cache (single-flight,
 * stale on upstream failure) -> filters and limit -> render -> ETag / Last-Modified / 304.
 */
export function feedRoute<P>(source: FeedSource<P>, deps: FeedRouteDeps, opts: { defaultFormat?: Format; health?: (p: P, err: unknown) => void; archiveAs?: string } = {}) {
  const archive = opts.archiveAs && deps.archive?.enabled ? deps.archive : undefined;
  const ttlSeconds = Math.round(deps.ttlMs / 1000);
  const stale = `public, max-age=${Math.min(60, ttlSeconds)}`;
  /** What a reader is told: until the next background refresh (`nextAt`), else until the copy is no longer fresh. */
  const cacheControl = (state: 'hit' | 'miss' | 'stale', nextAt: number | undefined, freshUntil: number) =>
    state === 'stale' ? stale : `public, max-age=${Math.max(1, Math.ceil(((nextAt ?? freshUntil) - Date.now()) / 1000))}`;
  /** The one load of a feed, whoever asks (a reader or a background refresh). */
  const loader = (p: P, key: string, path: string) => async (signal: AbortSignal) => {
    try {
      let data = await source.fetch(p, signal);
      // An answer that parses but lists nothing, from a feed that had items, is more likely a refusal in
      // disguise than an account emptied in minutes: the last good copy stands while it may be served.
      if (data.items.length === 0) {
        const had = ((await deps.cache.lastGood(key, deps.ttlMs)) as FeedData | undefined)?.items.length ?? 0;
        if (had > 0) throw new UpstreamError(key.split(':')[0]!, 'bad_response', 502, 'UPSTREAM_EMPTY', `the upstream answered with no items where it had ${had}; the last good copy is served until it answers with items again or that copy is too old`);
      }
      opts.health?.(p, undefined);
      // Kept, and given back with what the upstream no longer lists; a store that fails fails the load.
      if (archive && !source.page?.(p)) data = await archive.keep(opts.archiveAs!, path, data);
      return data;
    } catch (err) {
      opts.health?.(p, err);
      throw err;
    }
  };
  /** A fresh load's data, to the WebSub subscribers of its topic (they get it when its items changed). */
  const pushed = (data: FeedData, storedAt: number, self: URL) => {
    if (!deps.websub) return;
    const topicKey = deps.websub.topicKey(self);
    if (!topicKey) return;
    const publicTopic = self.protocol.startsWith('http') && self.host !== 'feedgate.invalid' && !self.searchParams.has('token') ? self.href : undefined;
    deps.websub.hub.loaded(topicKey, digestOf(data), async (topic) => {
      const t = new URL(topic);
      const fmt = /\.(rss|atom|json)$/.exec(t.pathname)?.[1] as Format | undefined;
      const tp = parseFeedParams(Object.fromEntries(t.searchParams), { maxLimit: deps.maxLimit, formatFromPath: fmt, defaultFormat: opts.defaultFormat });
      const r = await render(data, tp, t.origin, topic, ttlSeconds, storedAt, deps.ownerEmail || undefined, `${t.origin}/websub`);
      return { body: r.body, contentType: formats[tp.format].contentType };
    }, publicTopic);
  };

  /**
   * A background refresh of the feed at `url` (root-relative, with its query): loaded even when the
   * copy is fresh (unless a replica refreshed it since `since`), kept for `ttlMs`, pushed to WebSub
   * subscribers. Throws what the upstream did when no fresh copy came of it.
   */
  async function refresh(params: Record<string, string>, url: URL, ttlMs: number, since: number): Promise<{ digest: string; newItems: number; key: string }> {
    const query = Object.fromEntries(url.searchParams);
    const p = source.parse(params, query);
    const k = source.key(p);
    const key = typeof k === 'string' ? k : await k;
    const path = url.pathname.replace(SUFFIX, '');
    const result = await deps.cache.get(key, ttlMs, loader(p, key, path), { refreshedSince: since, background: true, previous: true });
    if (result.state === 'stale') throw result.error;
    const data = result.value as FeedData;
    // What readers were last given (memory, else the durable copy), to count the items that are new.
    const before = result.previous as FeedData | undefined;
    if (result.state === 'miss') pushed(data, result.storedAt, url);
    const known = new Set(before?.items.map((i) => i.guid));
    // A feed the archive keeps is filled back from the upstream's later pages, a few per refresh. What
    // fails there is noted on its progress and never fails the refresh.
    if (archive && !source.page?.(p)) {
      // The upstream client's own deadline and call budget bound each page.
      await backfill(archive, { source: opts.archiveAs!, path, first: data }, (next) => source.fetch(source.parse(params, { ...query, ...next }))).catch(() => {});
    }
    return { digest: digestOf(data), newItems: before ? data.items.filter((i) => !known.has(i.guid)).length : 0, key };
  }

  /**
   * An RFC 5005 archive document (`archive_page=n`: the feed's n-th 50 kept items, complete and never
   * changing once full) or a page of history (`before=`: kept items older than a time, newest first).
   */
  async function archiveView(data: FeedData, params: FeedParams, self: string, page: number | undefined, before: number | undefined, query: Record<string, string | string[] | undefined>) {
    const store = archive!.store;
    const { items: _items, nextQuery: _next, archivePages, ...head } = data;
    if (page !== undefined) {
      const full = archivePages ?? 0;
      if (page > full) throw new HttpError(404, 'NO_SUCH_ARCHIVE_PAGE', full ? `this feed has ${full} full archive pages (archive_page=1 … ${full}); archive_page=${page} is not full yet` : 'this feed has no full archive page yet (one comes with every 50 items kept)');
      const rows = await store.bySeq(archiveKey(data), (page - 1) * ARCHIVE_PAGE + 1, page * ARCHIVE_PAGE);
      const current = withParam(self, 'archive_page', undefined);
      return {
        data: { ...head, title: data.title, items: await archive!.items(rows.reverse()) } as FeedData,
        // Whole and unfiltered by `limit`: an archive document is complete.
        params: { ...params, limit: undefined },
        links: { current, prev: page > 1 ? withParam(self, 'archive_page', String(page - 1)) : undefined, next: page < full ? withParam(self, 'archive_page', String(page + 1)) : undefined },
        cacheControl: 'public, max-age=31536000, immutable',
      };
    }
    const limit = params.limit ?? 50;
    const seqRaw = single(query, 'before_seq');
    if (seqRaw !== undefined && !/^\d{1,15}$/.test(seqRaw)) throw badRequest('parameter before_seq must be a whole number (as the next link gives it)');
    const rows = await store.before(archiveKey(data), before!, limit, seqRaw === undefined ? undefined : Number(seqRaw));
    const last = rows.at(-1);
    return {
      data: { ...head, title: data.title, items: await archive!.items(rows) } as FeedData,
      params: { ...params, sorted: false },
      // Items of one time (the articles of one push) are told apart by seq, so none is skipped.
      nextUrl: rows.length === limit && last ? withParam(withParam(self, 'before', String(last.sortAt)), 'before_seq', String(last.seq)) : undefined,
      cacheControl: `public, max-age=${Math.min(3600, ttlSeconds)}`,
    };
  }

  async function serveFeed(ctx: Context): Promise<void> {
    const params = parseFeedParams(ctx.query, { maxLimit: deps.maxLimit, formatFromPath: ctx.state.formatFromPath as Format | undefined, defaultFormat: opts.defaultFormat });
    const p = source.parse(ctx.params as Record<string, string>, ctx.query);
    const k = source.key(p);
    // A key read from durable state (MP: the account's credentials) is asked again on every request.
    const key = typeof k === 'string' ? k : await k;
    const base = publicBase(ctx, deps.publicUrl);
    const self = selfUrl(ctx, base);
    const hubUrl = deps.websub ? `${base}/websub` : undefined;
    const load = loader(p, key, ctx.path);
    const page = positiveInt(ctx.query, 'archive_page', 1e9);
    const beforeRaw = single(ctx.query, 'before');
    const before = beforeRaw === undefined ? undefined : parseBefore(beforeRaw);
    if ((page !== undefined || before !== undefined) && !archive) throw new HttpError(404, 'NO_ARCHIVE', 'this feed keeps no archive: set ARCHIVE_MAX_ITEMS above 0 to keep items, and ask for archive_page or before again once it has some');
    const result = await deps.cache.get(key, deps.ttlMs, load, { signal: () => clientSignal(ctx), staleAfterMs: deps.staleAfterMs });

    // <ttl>: how often the feed's source is refreshed in the background (fixed, so the body and its ETag
    // change only with the items), else how long a copy is fresh.
    const schedule = result.state === 'stale' ? undefined : deps.schedule?.(key);
    const ttl = schedule ? Math.round(schedule.intervalMs / 1000) : ttlSeconds;
    const view = archive && (page !== undefined || before !== undefined) ? await archiveView(result.value as FeedData, params, self, page, before, ctx.query) : undefined;
    const memoKey = `${params.format}\n${self}\n${params.canonical}\n${ttl}`;
    let perData = memo.get(result.value as object);
    let out = params.filterTime === undefined && !view ? perData?.get(memoKey) : undefined;
    if (view) {
      out = await render(view.data, view.params, base, self, ttl, result.storedAt, deps.ownerEmail || undefined, hubUrl, view);
    } else if (!out) {
      out = await render(result.value as FeedData, params, base, self, ttl, result.storedAt, deps.ownerEmail || undefined, hubUrl);
      if (params.filterTime === undefined) {
        if (!perData) memo.set(result.value as object, (perData = new Map()));
        if (perData.size >= MEMO_PER_DATA) perData.clear();
        perData.set(memoKey, out);
      }
    }

    if (result.state === 'miss') pushed(result.value as FeedData, result.storedAt, new URL(self));
    const servedUrl = `${ctx.path}.${params.format}${ctx.querystring ? `?${ctx.querystring}` : ''}`;
    const title = (result.value as FeedData).title;
    if (!view) deps.served?.(servedUrl, title);
    if (result.state === 'stale') {
      ctx.set('X-Feed-Stale', '1');
      ctx.log.warn({ key, err: (result.error as Error)?.message }, 'upstream failed or is slow; serving the last good copy');
    }
    const enc = out.body.length >= MIN_COMPRESS_BYTES ? negotiateEncoding(ctx.headers['accept-encoding']) : 'identity';
    const etag = enc === 'identity' ? `"${out.hash}"` : `"${out.hash}-${enc}"`;
    const res = ctx.res;
    res.setHeader('X-Cache', result.state === 'hit' ? 'HIT' : result.state === 'miss' ? 'MISS' : 'STALE');
    res.setHeader('Cache-Control', view?.cacheControl ?? cacheControl(result.state, schedule?.nextAt, result.freshUntil));
    res.setHeader('ETag', etag);
    if (out.lastModifiedHttp) res.setHeader('Last-Modified', out.lastModifiedHttp);
    res.setHeader('Vary', 'Accept-Encoding');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Access-Control-Allow-Origin', '*');
    // WebSub discovery (the HTTP Link header a subscriber looks at first).
    if (hubUrl) res.setHeader('Link', `<${hubUrl}>; rel="hub", <${self}>; rel="self"`);
    res.setHeader('Content-Type', formats[params.format].contentType);
    // A hit may be sent again before koa while this copy stays fresh under the same key (the key can
    // change with the source's state: MP credentials). Not a miss (its X-Cache says so) nor time filters.
    const rendered = out;
    const offer = (body: Buffer | undefined) => {
      if (!deps.ready || typeof k !== 'string' || result.state !== 'hit' || params.filterTime !== undefined || view || !body) return;
      deps.ready.remember(ctx, {
        body,
        etag,
        lastModified: rendered.lastModified,
        encoding: rendered.body.length >= MIN_COMPRESS_BYTES ? enc : undefined,
        valid: () => source.key(p) === key && deps.cache.holds(key, result.value),
        onServe: () => deps.served?.(servedUrl, title),
        // Asked again at each use: the next refresh may have been rescheduled since.
        cacheControl: () => cacheControl('hit', deps.schedule?.(key)?.nextAt, result.freshUntil),
      });
    };
    if (isNotModified(ctx.headers, etag, out.lastModified)) {
      ctx.status = 304;
      offer(enc === 'identity' ? out.body : out.encoded[enc]);
      return;
    }
    if (enc !== 'identity') {
      res.setHeader('Content-Encoding', enc);
      ctx.body = out.encoded[enc] ??= compress(out.body, enc);
    } else {
      ctx.body = out.body;
    }
    offer(ctx.body as Buffer);
  }
  return Object.assign(serveFeed, { refresh });
}
