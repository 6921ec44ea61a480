import { HttpError, badRequest } from '../../http/errors.js';
import { READABLE, parseArticlePage, proxyImages, type ArticlePage } from '../../proxy/article.js';
import type { MediaLinks } from '../../proxy/links.js';
import { mpState, type MpAccount, type MpAccountStore, type MpState } from '../../store/mp-accounts.js';
import type { MpArticleRow, MpArticleStore } from '../../store/mp-articles.js';
import type { Texts } from '../../i18n/index.js';
import { loadProgress } from '../../load-progress.js';
import { UpstreamError } from '../../upstream/errors.js';
import { escapeHtml } from '../../http/html.js';
import { withCover, type FeedData, type FeedItem } from '../model.js';
import { bool, positiveInt, single, type Query } from '../params.js';
import type { FeedSource } from '../source.js';
import type { KeptBodies } from '../descriptor.js';
import { MP_HOST, type MpClient, type MpListedArticle } from './client.js';

export const BIZ = /^[A-Za-z0-9+/=_-]{4,64}$/;

export interface MpFeedOptions {
  client: MpClient;
  accounts: MpAccountStore;
  archive: MpArticleStore;
  links: MediaLinks;
  credentialTtlMs: number;
  limitedBackoffMs: number;
  maxPages: number;
  articleTtlMs: number;
  texts: Texts;
  now?: () => number;
}

export interface MpParams {
  biz: string;
  offset: number;
  pages: number;
  content: boolean;
  /** Item links through /mp/proxy. */
  proxy: boolean;
  /** Covers through /proxy (default on: WeChat's CDN blocks them in readers otherwise). */
  proxyCover: boolean;
}

export function parseMpParams(biz: string | undefined, query: Query, maxPages: number): MpParams {
  if (!biz || !BIZ.test(biz)) throw badRequest(`biz must be an Official Account's __biz (such as MzA3MDM3NjE5NQ==), got "${(biz ?? '').slice(0, 80)}"`);
  const offsetRaw = single(query, 'offset') ?? '0';
  if (!/^\d{1,7}$/.test(offsetRaw)) throw badRequest('offset must be a whole number (a message-list offset)');
  return {
    biz,
    offset: Number(offsetRaw),
    pages: positiveInt(query, 'pages', maxPages, 'MP_MAX_PAGES') ?? 1,
    content: bool(query, 'content', false),
    proxy: bool(query, 'proxy', false),
    proxyCover: bool(query, 'proxy_cover', true),
  };
}

const profileUrl = (biz: string) => `https://${MP_HOST}/mp/profile_ext?action=home&__biz=${encodeURIComponent(biz)}&scene=124#wechat_redirect`;

/** What full text an article has: its body (kept or fresh), or why there is none. */
export interface FullText {
  body?: string;
  kind?: string;
  problem?: string;
  page?: ArticlePage;
  /** Still being fetched when the feed had to answer: it is there at the next refresh. */
  pending?: boolean;
}

/** Time kept in hand before the reader's deadline, for rendering and sending. */
const ANSWER_MARGIN_MS = 500;
/** A message list this recent is reused to fill in a feed answered with texts pending, not fetched again. */
const REUSE_LIST_MS = 30_000;

/**
 * Full text through the archive: a kept body is used as is (articles do not change; MP_ARTICLE_TTL may
 * say otherwise), else the page is fetched, cleaned and kept. A page that is gone or blocked never
 * replaces a kept body.
 */
export async function fullText(opts: Pick<MpFeedOptions, 'client' | 'archive' | 'articleTtlMs' | 'now'>, url: string, row: MpArticleRow | undefined, signal?: AbortSignal): Promise<FullText> {
  const now = (opts.now ?? Date.now)();
  if (row?.body && (opts.articleTtlMs === 0 || now - (row.bodyAt ?? 0) < opts.articleTtlMs)) return { body: row.body, kind: row.bodyKind };
  let page: ArticlePage;
  try {
    const res = await opts.client.article(url, signal);
    page = await parseArticlePage(res.html, url);
  } catch (err) {
    if (row?.body) return { body: row.body, kind: row.bodyKind };
    return { problem: err instanceof HttpError ? err.message : 'the article page could not be read' };
  }
  if (READABLE.has(page.kind) && page.body) {
    if (row) await opts.archive.keepBody(url, page.body, page.kind, now);
    return { body: page.body, kind: page.kind, page };
  }
  if (row?.body) return { body: row.body, kind: row.bodyKind, page };
  return { problem: page.kind === 'deleted' ? 'the article was deleted before feedgate could keep it' : (page.reason ?? 'no article body'), kind: page.kind, page };
}

interface Notice {
  state: Exclude<MpState, 'effective'>;
  since: number;
  until?: number;
}

function noticeItem(account: MpAccount, n: Notice, feedLink: string, tx: Texts): FeedItem {
  const name = account.nickname || account.biz;
  const since = tx.dateTime(n.since);
  const expired = n.state === 'expired';
  const title = tx.t(expired ? 'mp.notice.expiredTitle' : 'mp.notice.limitedTitle', { name });
  const text = expired ? tx.t('mp.notice.expiredText', { since }) : tx.t('mp.notice.limitedText', { since, until: tx.dateTime(n.until ?? n.since) });
  return {
    // Changes only when the state does, so a reader shows it once.
    guid: `feedgate:mp:${account.biz}:${n.state}:${n.since}`,
    title,
    link: feedLink,
    contentHtml: `<p>${escapeHtml(text)}</p>`,
    summary: text,
    authors: [{ name: 'feedgate' }],
    published: n.since,
  };
}

/** An article's item body: its cover, its full text (or its digest and why there is none), the original's link. */
function contentOf(row: MpArticleRow, p: Pick<MpParams, 'content' | 'proxyCover'>, opts: Pick<MpFeedOptions, 'links' | 'texts'>, text: FullText | undefined, body: string | undefined): { html: string; cover?: string } {
  const m = row.meta;
  const cover = m.cover ? (p.proxyCover ? opts.links.image(m.cover, 'wechat') : m.cover) : undefined;
  const parts: string[] = [];
  if (cover) parts.push(`<p><img src="${escapeHtml(cover)}" alt="" referrerpolicy="no-referrer"></p>`);
  if (body) parts.push(body);
  else {
    if (m.digest) parts.push(`<p>${escapeHtml(m.digest)}</p>`);
    if (p.content && text?.problem) parts.push(`<p><em>${escapeHtml(opts.texts.t('mp.item.noFullText', { problem: text.problem }))}</em></p>`);
    if (p.content && text?.pending) parts.push(`<p><em>${escapeHtml(opts.texts.t('mp.item.pending'))}</em></p>`);
  }
  if (m.sourceUrl && /^https?:\/\//.test(m.sourceUrl)) parts.push(`<p><a href="${escapeHtml(m.sourceUrl)}">${escapeHtml(opts.texts.t('mp.item.original'))}</a></p>`);
  return { html: parts.join(''), cover };
}

function itemOf(row: MpArticleRow, account: MpAccount, p: MpParams, opts: MpFeedOptions, text: FullText | undefined, body: string | undefined): FeedItem {
  const m = row.meta;
  const { html, cover } = contentOf(row, p, opts, text, body);
  const item: FeedItem = {
    guid: row.url,
    title: m.title || m.digest.slice(0, 60) || opts.texts.t('mp.item.untitled'),
    link: p.proxy ? opts.links.route('/mp/proxy', { url: row.url }) : row.url,
    contentHtml: html,
    summary: m.digest || undefined,
    authors: [{ name: m.author || account.nickname || account.biz }],
    published: row.pushedAt,
  };
  // The full text is kept for good in mp_articles: the archive keeps the item without it.
  if (body) item.bodyOf = row.url;
  return withCover(item, cover);
}

/**
 * The archive's kept items of a full-text feed (variant `content…`) given their bodies back from
 * mp_articles, built as the feed builds them. Other variants carry no full text.
 */
export function keptBodies(deps: { articles: Pick<MpArticleStore, 'getMany'>; links: MediaLinks; texts: Texts }): KeptBodies {
  return async (items, variant) => {
    const flags = new Set((variant ?? '').split('+'));
    if (!flags.has('content')) return items;
    const p = { content: true, proxyCover: !flags.has('cover') };
    const rows = await deps.articles.getMany(items.flatMap((i) => (i.bodyOf ? [i.bodyOf] : [])));
    return Promise.all(
      items.map(async (i) => {
        const row = i.bodyOf ? rows.get(i.bodyOf) : undefined;
        if (!row?.body) return i;
        const body = await proxyImages(row.body, (u) => deps.links.image(u, 'wechat'));
        return { ...i, contentHtml: contentOf(row, p, deps, { body: row.body, kind: row.bodyKind }, body).html };
      }),
    );
  };
}

/** GET /feeds/mp/:biz and the downloader-compatible /rss/mp?biz=. */
export function mpFeed(opts: MpFeedOptions, route: 'feeds' | 'compat' = 'feeds'): FeedSource<MpParams> {
  const now = () => (opts.now ?? Date.now)();
  const stateOf = async (biz: string) => {
    const a = await opts.accounts.get(biz);
    return a ? mpState(a, now(), opts.credentialTtlMs) : undefined;
  };

  /**
   * For a feed answered with texts pending: its list and the texts as they arrive, by article URL (those
   * that cannot be kept, such as a verification page, too). The build that fills them in reuses both.
   */
  const pendingLists = new Map<string, { at: number; listed: { articles: MpListedArticle[]; next?: number }; texts: Map<string, FullText> }>();

  async function walk(biz: string, p: MpParams, signal?: AbortSignal): Promise<{ articles: MpListedArticle[]; next?: number }> {
    const creds = await opts.accounts.credentials(biz);
    if (!creds) throw new HttpError(404, 'MP_ACCOUNT_UNKNOWN', `feedgate has no credentials for the account ${biz}`);
    const articles: MpListedArticle[] = [];
    let offset = p.offset;
    let next: number | undefined;
    for (let page = 0; page < p.pages; page++) {
      const res = await opts.client.messages(creds, offset, signal);
      articles.push(...res.articles);
      next = res.next;
      if (next === undefined) break;
      offset = next;
    }
    return { articles, next };
  }

  return {
    query: [...(route === 'compat' ? ['biz'] : []), 'offset', 'pages', 'content', 'proxy', 'proxy_cover'],
    parse(params, query) {
      return parseMpParams(route === 'feeds' ? params.biz : single(query, 'biz'), query, opts.maxPages);
    },
    // The account's state and credential generation are part of the key: a push or an expiry is a new feed at once.
    account: (p) => p.biz,
    page: (p) => p.offset > 0,
    async key(p) {
      const a = await opts.accounts.get(p.biz);
      const s = a ? `${mpState(a, now(), opts.credentialTtlMs).state}@${a.updatedAt}` : 'none';
      return `mp:${p.biz}:${s}:${p.offset}:${p.pages}:${+p.content}${+p.proxy}${+p.proxyCover}`;
    },
    async fetch(p, signal) {
      let account = await opts.accounts.get(p.biz);
      if (!account) {
        throw new HttpError(
          404,
          'MP_ACCOUNT_UNKNOWN',
          `feedgate has no credentials for the account ${p.biz}: open any of its articles in desktop WeChat while the downloader's remote server points at feedgate (it pushes them to POST /api/mp/refresh)`,
        );
      }
      let state = mpState(account, now(), opts.credentialTtlMs);
      let listed: { articles: MpListedArticle[]; next?: number } | undefined;
      const listKey = `${p.biz}:${p.offset}:${p.pages}`;
      const reused = pendingLists.get(listKey);
      pendingLists.delete(listKey);
      const fresh = reused && now() - reused.at < REUSE_LIST_MS ? reused : undefined;
      if (state.state === 'effective' && fresh) listed = fresh.listed;
      else if (state.state === 'effective') {
        try {
          listed = await walk(p.biz, p, signal);
          await opts.accounts.succeeded(p.biz, now());
        } catch (err) {
          const code = err instanceof HttpError ? err.code : '';
          if (code === 'MP_CREDENTIALS_EXPIRED') await opts.accounts.rejected(p.biz, now());
          else if (code === 'MP_LIMITED') await opts.accounts.limited(p.biz, now(), now() + opts.limitedBackoffMs);
          else {
            if (err instanceof HttpError) await opts.accounts.failed(p.biz, err.message);
            throw err;
          }
          account = (await opts.accounts.get(p.biz)) ?? account;
          state = (await stateOf(p.biz)) ?? state;
        }
      }
      const notice: Notice | undefined = state.state === 'effective' ? undefined : { state: state.state, since: state.since, until: account.limitedUntil };
      if (notice && p.offset > 0) {
        const why = notice.state === 'expired' ? 'the credentials expired' : 'WeChat is limiting requests for it';
        throw new UpstreamError('mp', notice.state === 'expired' ? 'auth' : 'rate_limited', 503, notice.state === 'expired' ? 'MP_CREDENTIALS_EXPIRED' : 'MP_LIMITED', `older pages of ${p.biz} cannot be fetched now: ${why}`);
      }

      let rows: MpArticleRow[];
      if (listed) {
        await opts.archive.record(listed.articles, now());
        if (p.offset === 0) {
          // Everything kept from the same span of time: articles WeChat has since deleted stay.
          const oldest = listed.articles.reduce((t, a) => Math.min(t, a.pushedAt), Infinity);
          rows = await opts.archive.recent(p.biz, 100 * p.pages, Number.isFinite(oldest) ? oldest : 0);
        } else {
          const kept = await opts.archive.getMany(listed.articles.map((a) => a.url));
          rows = listed.articles.flatMap((a) => kept.get(a.url) ?? []);
        }
      } else {
        rows = await opts.archive.latestPushes(p.biz, 10 * p.pages);
      }

      // Each body's images are pointed at /proxy as soon as it arrives, while other pages are still coming.
      // Texts not there when the reader's deadline nears are marked pending: they go on being fetched and
      // kept, and the feed is built again shortly (incomplete) with them.
      const texts: FullText[] = [];
      const bodies: Array<string | undefined> = [];
      if (p.content) {
        const arrived = new Map<string, FullText>();
        const all = Promise.all(
          rows.map(async (r, i) => {
            const t = fresh?.texts.get(r.url) ?? (await fullText(opts, r.url, r, signal));
            arrived.set(r.url, t);
            const body = t.body ? await proxyImages(t.body, (u) => opts.links.image(u, 'wechat')) : undefined;
            texts[i] = t;
            bodies[i] = body;
          }),
        );
        const progress = loadProgress();
        const left = progress?.answerBy === undefined ? Infinity : progress.answerBy - Date.now() - ANSWER_MARGIN_MS;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([all, ...(Number.isFinite(left) ? [new Promise((r) => (timer = setTimeout(r, Math.max(0, left))))] : [])]);
        clearTimeout(timer);
        if (texts.filter(Boolean).length < rows.length) {
          all.catch(() => {});
          for (let i = 0; i < rows.length; i++) texts[i] ??= { pending: true };
          progress?.incomplete();
          if (listed) {
            pendingLists.set(listKey, { at: now(), listed, texts: arrived });
            // A few at a time in practice; bounded whatever readers ask for (the oldest goes first).
            if (pendingLists.size > 100) pendingLists.delete(pendingLists.keys().next().value!);
          }
        }
      }
      const name = account.nickname || p.biz;
      const link = profileUrl(p.biz);
      const items = rows.map((r, i) => itemOf(r, account!, p, opts, texts[i], bodies[i]));
      if (notice) items.unshift(noticeItem(account, notice, link, opts.texts));
      const feed: FeedData = {
        id: `mp:${p.biz}`,
        title: name,
        link,
        description: opts.texts.t('mp.feed.description', { name }),
        language: 'zh-CN',
        image: account.avatarUrl ? opts.links.image(account.avatarUrl, 'wechat') : undefined,
        authors: [{ name }],
        items,
      };
      if (listed?.next !== undefined) feed.nextQuery = { offset: String(listed.next) };
      // Full text, proxied images: the items differ, so the archive keeps them apart.
      const variant = [p.content && 'content', p.proxy && 'proxy', !p.proxyCover && 'cover'].filter(Boolean).join('+');
      if (variant) feed.variant = variant;
      return feed;
    },
  };
}
