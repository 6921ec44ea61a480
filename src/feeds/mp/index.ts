import { MP_SETTINGS } from './settings.js';
import { DESKTOP_UA, hostMatch, type PlatformRule } from '../../proxy/platforms.js';
import type { Context } from 'koa';
import { Gauge } from 'prom-client';
import { presentedToken, tokenCheck, tokenMatches, tokenVerdict } from '../../http/auth.js';
import { HttpError, badRequest } from '../../http/errors.js';
import { readJsonBody } from '../../http/json-body.js';
import { sendArticlePage } from '../../proxy/article-page.js';
import { proxyImages } from '../../proxy/article.js';
import { mpAccountStore, mpState, type MpAccount, type MpCredentialPush } from '../../store/mp-accounts.js';
import { mpArticleStore } from '../../store/mp-articles.js';
import { setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../descriptor.js';
import { MP_HOST, MpClient, canonicalArticleUrl } from './client.js';
import { BIZ, fullText, keptBodies, mpFeed } from './feed.js';

const param = (c: Context, name: string) => (typeof c.query[name] === 'string' ? (c.query[name] as string) : undefined);
const ok = (data: unknown) => ({ code: 0, msg: 'ok', data });

/** A pushed credential field: a bounded string, required or not. */
function field(body: Record<string, unknown>, name: string, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined || v === null || v === '') {
    if (required) throw badRequest(`field ${name} is missing`, 'MISSING_FIELD');
    return undefined;
  }
  if (typeof v !== 'string' && typeof v !== 'number') throw badRequest(`field ${name} must be a string`);
  const s = String(v).trim();
  if (s.length > 4096) throw badRequest(`field ${name} is too long`);
  return s;
}

/** WeChat Official Accounts (公众号): credentials pushed by the downloader, message lists, kept full text. */
export function mpSource(ctx: SourceContext): SourceDescriptor {
  const { config } = ctx;
  const accounts = mpAccountStore(ctx.db);
  const archive = mpArticleStore(ctx.db);
  const hint = 'WeChat must be reachable from here';
  const list = ctx.upstream('mp', config.MP_BASE_URL, { setting: 'MP_BASE_URL', hint });
  const pages = ctx.upstream('mp-article', config.MP_BASE_URL, { setting: 'MP_BASE_URL', hint, concurrency: config.MP_FETCH_CONCURRENCY });
  const budget = ctx.budget('WeChat message-list', config.MP_CALLS_PER_MINUTE, 'MP_CALLS_PER_MINUTE');
  const client = new MpClient(list, pages, budget);
  const opts = {
    client,
    accounts,
    archive,
    links: ctx.links,
    credentialTtlMs: config.MP_CREDENTIAL_TTL,
    limitedBackoffMs: config.MP_LIMITED_BACKOFF,
    maxPages: config.MP_MAX_PAGES,
    articleTtlMs: config.MP_ARTICLE_TTL,
    texts: ctx.texts,
  };
  const baseHost = new URL(config.MP_BASE_URL).host;

  new Gauge({
    name: 'feedgate_mp_accounts',
    help: 'Official Accounts with credentials, by state (effective, expired, limited)',
    labelNames: ['state'] as const,
    registers: [ctx.metrics.registry],
    // prom-client awaits an async collect(); a database away leaves the last counts.
    async collect() {
      const counts = { effective: 0, expired: 0, limited: 0 };
      const now = Date.now();
      const all = await accounts.all().catch(() => undefined);
      if (!all) return;
      for (const a of all) counts[mpState(a, now, config.MP_CREDENTIAL_TTL).state]++;
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
    },
  });

  // The downloader sends only MP_REFRESH_TOKEN; an operator may use ACCESS_TOKEN instead.
  const accessCheck = tokenCheck(config.ACCESS_TOKEN);
  const accessVerdict = tokenVerdict(config.ACCESS_TOKEN);
  const refreshToken = Buffer.from(config.MP_REFRESH_TOKEN, 'utf8');
  function refreshAccess(c: Context): void {
    if (!config.MP_REFRESH_TOKEN) return accessCheck(c);
    const given = presentedToken(c);
    if (given !== undefined && (tokenMatches(given, refreshToken) || (config.ACCESS_TOKEN !== '' && accessVerdict(c) === 'ok'))) return;
    throw new HttpError(401, 'UNAUTHORIZED', given === undefined ? 'this route needs ?token=<MP_REFRESH_TOKEN>' : 'the token does not match MP_REFRESH_TOKEN', {
      'WWW-Authenticate': 'Bearer realm="feedgate"',
    });
  }

  function describe(a: MpAccount, absolute: (path: string) => string) {
    const now = Date.now();
    const { state, since } = mpState(a, now, config.MP_CREDENTIAL_TTL);
    const feed = absolute(`/feeds/mp/${encodeURIComponent(a.biz)}`);
    return {
      biz: a.biz,
      nickname: a.nickname,
      avatar_url: a.avatarUrl ? absolute(ctx.links.image(a.avatarUrl, 'wechat')) : '',
      is_effective: state === 'effective',
      state,
      state_since: new Date(since).toISOString(),
      expires_at: new Date(a.updatedAt + config.MP_CREDENTIAL_TTL).toISOString(),
      limited_until: a.limitedUntil && a.limitedUntil > now ? new Date(a.limitedUntil).toISOString() : undefined,
      created_at: Math.floor(a.createdAt / 1000),
      update_time: Math.floor(a.updatedAt / 1000),
      last_success: a.lastSuccess ? new Date(a.lastSuccess).toISOString() : undefined,
      error: a.lastError,
      feed,
      links: [
        { title: 'Atom', uri: `${feed}.atom` },
        { title: 'RSS', uri: `${feed}.rss` },
        { title: 'JSON Feed', uri: `${feed}.json` },
      ],
    };
  }

  return {
    name: 'mp',
    callsPerMinute: config.MP_CALLS_PER_MINUTE,
    title: 'WeChat Official Accounts',
    description: 'Articles of WeChat Official Accounts (公众号), with full text kept for good, from credentials the Channels/MP downloader pushes.',
    settings: [
      setting(config, 'MP_BASE_URL', true, 'setting.MP_BASE_URL'),
      setting(config, 'MP_REFRESH_TOKEN', false, 'setting.MP_REFRESH_TOKEN'),
    ],
    upstreams: [list, pages],
    // Each account's credentials: expired, limited, about to expire (MP_EXPIRY_WARNING), or fine.
    async watch(now) {
      const refresh = 'open any of its articles in desktop WeChat while the downloader points at feedgate, to push new credentials';
      return (await accounts.all()).map((a) => {
        const { state } = mpState(a, now, config.MP_CREDENTIAL_TTL);
        const name = a.nickname || a.biz;
        const left = a.updatedAt + config.MP_CREDENTIAL_TTL - now;
        if (state === 'expired') return { account: a.biz, state: 'credentials_expired' as const, message: `the credentials of ${name} have expired (${a.lastError || 'older than MP_CREDENTIAL_TTL'}): ${refresh}`, setting: '' };
        if (state === 'limited') return { account: a.biz, state: 'rate_limited' as const, message: `WeChat is limiting requests for ${name} until ${new Date(a.limitedUntil ?? now).toISOString()}; lower MP_CALLS_PER_MINUTE if it happens often`, setting: 'MP_CALLS_PER_MINUTE' };
        if (config.MP_EXPIRY_WARNING > 0 && left <= config.MP_EXPIRY_WARNING) {
          return { account: a.biz, state: 'credentials_expiring' as const, message: `the credentials of ${name} expire in ${Math.max(1, Math.round(left / 60_000))} min: ${refresh}`, setting: '' };
        }
        return { account: a.biz, state: 'ok' as const, message: '', setting: '' };
      });
    },
    routes: [
      { kind: 'feed', path: '/feeds/mp/:biz', summary: "one account's articles (?content=1 for full text)", source: mpFeed(opts) },
      { kind: 'feed', path: '/rss/mp', summary: "the downloader's own feed route (?biz=&offset=&content=&proxy=&proxy_cover=)", source: mpFeed(opts, 'compat'), defaultFormat: 'atom' },
      {
        kind: 'api',
        method: 'POST',
        path: '/api/mp/refresh',
        summary: 'the downloader pushes an account\'s credentials here (?token=<MP_REFRESH_TOKEN>)',
        access: refreshAccess,
        async handler(c) {
          const body = await readJsonBody(c);
          const biz = field(body, 'biz', true)!;
          if (!BIZ.test(biz)) throw badRequest('field biz must be an Official Account __biz such as MzA3MDM3NjE5NQ==');
          const push: MpCredentialPush = {
            biz,
            key: field(body, 'key', true)!,
            uin: field(body, 'uin', true)!,
            pass_ticket: field(body, 'pass_ticket', true)!,
            appmsg_token: field(body, 'appmsg_token', false),
            nickname: field(body, 'nickname', false)?.slice(0, 200),
            avatar_url: field(body, 'avatar_url', false),
          };
          if (push.avatar_url && !/^https?:\/\//.test(push.avatar_url)) push.avatar_url = undefined;
          const a = await accounts.push(push);
          c.log.info({ biz, nickname: a.nickname }, 'MP credentials received');
          c.set('Cache-Control', 'no-store');
          c.body = ok({ biz, expires_at: new Date(a.updatedAt + config.MP_CREDENTIAL_TTL).toISOString() });
        },
      },
      {
        kind: 'api',
        path: '/api/mp/list',
        summary: 'accounts with credentials and their state (?page=&page_size=&keyword=&is_effective=)',
        async handler(c, api) {
          const page = Math.max(1, Number.parseInt(param(c, 'page') ?? '1', 10) || 1);
          const size = Math.min(200, Math.max(1, Number.parseInt(param(c, 'page_size') ?? '10', 10) || 10));
          const keyword = (param(c, 'keyword') ?? '').trim().slice(0, 100);
          const eff = param(c, 'is_effective');
          const wantEffective = eff === undefined || eff === '' ? undefined : eff === '1' || eff.toLowerCase() === 'true';
          const kw = keyword.toLowerCase();
          const now = Date.now();
          const all = (await accounts.all())
            .filter((a) => !kw || a.biz.toLowerCase().includes(kw) || a.nickname.toLowerCase().includes(kw))
            .filter((a) => wantEffective === undefined || (mpState(a, now, config.MP_CREDENTIAL_TTL).state === 'effective') === wantEffective);
          c.set('Cache-Control', 'no-store');
          c.body = ok({ list: all.slice((page - 1) * size, page * size).map((a) => describe(a, api.absolute)), total: all.length, page, page_size: size, keyword });
        },
      },
      {
        kind: 'api',
        method: 'POST',
        path: '/api/mp/delete',
        summary: "forgets an account's credentials (its kept articles stay)",
        access: refreshAccess,
        async handler(c) {
          const biz = field(await readJsonBody(c), 'biz', true)!;
          if (!(await accounts.delete(biz))) throw new HttpError(404, 'MP_ACCOUNT_UNKNOWN', `feedgate has no credentials for the account ${biz.slice(0, 80)}`);
          c.set('Cache-Control', 'no-store');
          c.body = ok({ biz, deleted: true });
        },
      },
      {
        kind: 'api',
        path: '/mp/proxy',
        summary: 'an article as a clean, readable page (?url=); WeChat images redirect to /proxy',
        access: 'media',
        async handler(c, api) {
          const raw = param(c, 'url')?.replace(/&amp;/g, '&');
          if (!raw) throw badRequest('parameter url is missing', 'MISSING_URL');
          let target: URL;
          try {
            target = new URL(/^https?:\/\//i.test(raw) ? raw : `https://${raw}`);
          } catch {
            throw badRequest('parameter url is not a URL', 'BAD_URL');
          }
          const isPage = target.hostname === MP_HOST || target.host === baseHost;
          if (!isPage && !hostMatch(MEDIA.wechat!.hosts, target.hostname)) {
            throw new HttpError(403, 'HOST_NOT_ALLOWED', `/mp/proxy serves WeChat articles and images only, not ${target.hostname.slice(0, 100)}`);
          }
          if (!isPage) {
            c.redirect(api.absolute(ctx.links.image(target.href, 'wechat')));
            return;
          }
          if (target.host === baseHost && target.hostname !== MP_HOST) target = new URL(target.pathname + target.search, `https://${MP_HOST}`);
          const url = canonicalArticleUrl(target.href);
          if (!url) throw badRequest('only WeChat article links (https://mp.weixin.qq.com/s?__biz=…&mid=…&idx=…&sn=…) can be shown', 'BAD_URL');
          const row = await archive.get(url);
          const text = await api.cached(`mp:page:${url}`, config.CACHE_TTL, (signal) => fullText({ ...opts, client }, url, row, signal));
          if (!text.body) {
            if (text.kind === 'deleted') throw new HttpError(410, 'MP_ARTICLE_DELETED', 'WeChat says the publisher deleted this article, and feedgate had not kept it');
            throw new HttpError(502, text.kind === 'blocked' ? 'MP_BLOCKED' : 'UPSTREAM_BAD_RESPONSE', `the article cannot be shown: ${text.problem ?? 'no body'}`);
          }
          if (!row && text.page) {
            // Opened directly: keep it too, so it stays readable.
            const u = new URL(url);
            const biz = u.searchParams.get('__biz');
            if (biz && BIZ.test(biz)) {
              await archive.record([{ url, biz, pushedAt: text.page.published ?? Date.now(), idx: Number(u.searchParams.get('idx')) || 1, meta: { title: text.page.title, digest: '', author: text.page.author, cover: text.page.cover ?? '', sourceUrl: text.page.sourceUrl ?? '', showType: 0 } }]);
              await archive.keepBody(url, text.body, text.kind ?? 'article');
            }
          }
          const body = await proxyImages(text.body, (u) => api.absolute(ctx.links.image(u, 'wechat')));
          const account = row ? await accounts.get(row.biz) : undefined;
          const publishedAt = row?.pushedAt ?? text.page?.published;
          sendArticlePage(
            c,
            {
              title: row?.meta.title || text.page?.title || ctx.texts.t('mp.page.untitled'),
              author: row?.meta.author || text.page?.author,
              account: account?.nickname || text.page?.account,
              date: publishedAt === undefined ? undefined : ctx.texts.date(publishedAt),
              body,
              original: url,
              originalLabel: ctx.texts.t('mp.page.original'),
              note: text.page?.kind === 'deleted' ? ctx.texts.t('mp.page.deleted') : undefined,
            },
            3600,
          );
        },
      },
    ],
    forms: [
      {
        path: '/feeds/mp/:biz',
        fields: [
          { name: 'biz', label: 'field.mp.biz', in: 'path', example: 'MzA3MDM3NjE5NQ==', helper: '/api/mp/list', required: true },
          { name: 'content', label: 'field.mp.content', in: 'query', yesNo: { default: false }, required: false },
          { name: 'pages', label: 'field.mp.pages', in: 'query', example: '3', required: false },
          { name: 'proxy', label: 'field.mp.proxy', in: 'query', yesNo: { default: false }, required: false },
        ],
      },
    ],
  };
}

/** The media rules of the platform this source owns. */
const MEDIA: Readonly<Record<string, PlatformRule>> = {
  // Official Account images and assets (also Channels and Moments avatars): no Referer is what gets past mmbiz's hotlink check.
  wechat: {
    hosts: ['mmbiz.qpic.cn', 'mmbiz.qlogo.cn', 'qpic.cn', 'qlogo.cn', 'res.wx.qq.com', 'mp.weixin.qq.com', 'wx.qq.com'],
    headers: { 'user-agent': DESKTOP_UA, accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8' },
  },
};

export const mpModule: SourceModule = {
  name: 'mp',
  settings: [MP_SETTINGS],
  media: MEDIA,
  bodies: ({ db, links, texts }) => keptBodies({ articles: mpArticleStore(db), links, texts }),
  create: mpSource,
};
