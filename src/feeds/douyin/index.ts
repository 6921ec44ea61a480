import { DOUYIN_SETTINGS } from './settings.js';
import { DESKTOP_UA, type PlatformRule } from '../../proxy/platforms.js';
import type { Context } from 'koa';
import { Counter } from 'prom-client';
import { HttpError, badRequest } from '../../http/errors.js';
import { setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../descriptor.js';
import { AWEME_ID, DouyinClient, firstLink, secUidOf } from './client.js';
import { douyinFeed, resolveDouyinMedia } from './feed.js';

const DOUYIN_HOSTS = /^(?:[\w-]+\.)*(?:douyin\.com|iesdouyin\.com)$/i;

/** /play/douyin/:awemeId[?i=N], checked before any call. */
function playParams(c: Context): { id: string; index?: number } {
  const id = (c.params as Record<string, string>).awemeId ?? '';
  if (!AWEME_ID.test(id)) throw badRequest('awemeId must be a Douyin post id (digits)');
  const i = c.query.i;
  if (i === undefined) return { id };
  if (typeof i !== 'string' || !/^\d{1,2}$/.test(i)) throw badRequest('i must be an image index (0-99)');
  return { id, index: Number(i) };
}

/** Douyin (抖音) user posts through the signed web API (seed 002): no headless browser. */
export function douyinSource(ctx: SourceContext): SourceDescriptor {
  const { config } = ctx;
  const http = ctx.upstream('douyin', config.DOUYIN_BASE_URL, { setting: 'DOUYIN_BASE_URL', retries: 0 });
  const ttwid = config.DOUYIN_COOKIE ? undefined : ctx.upstream('douyin-ttwid', config.DOUYIN_TTWID_URL, { setting: 'DOUYIN_TTWID_URL', retries: 0 });
  const blocked = new Counter({
    name: 'feedgate_douyin_blocked_total',
    help: 'Douyin answers that refused us, by reason (empty body, captcha, forbidden, rate_limited)',
    labelNames: ['reason'] as const,
    registers: [ctx.metrics.registry],
  });
  const client = new DouyinClient(http, {
    userAgent: config.DOUYIN_USER_AGENT,
    cookie: config.DOUYIN_COOKIE,
    signer: config.DOUYIN_SIGNER,
    budget: ctx.budget('Douyin', config.DOUYIN_CALLS_PER_MINUTE, 'DOUYIN_CALLS_PER_MINUTE'),
    blockBackoffSeconds: Math.round(config.DOUYIN_BLOCK_BACKOFF / 1000),
    onBlocked: (reason) => blocked.inc({ reason }),
    ttwid,
  });
  const baseHost = new URL(config.DOUYIN_BASE_URL).host;
  const isDouyin = (u: URL) => DOUYIN_HOSTS.test(u.hostname) || u.host === baseHost;
  const opts = { client, links: ctx.links, texts: ctx.texts, maxPages: config.DOUYIN_MAX_PAGES };
  // The operator's cookie goes to Douyin's own hosts with the video requests, as a browser's would.
  const mediaHeaders = config.DOUYIN_COOKIE ? { cookie: config.DOUYIN_COOKIE } : undefined;

  return {
    name: 'douyin',
    callsPerMinute: config.DOUYIN_CALLS_PER_MINUTE,
    title: 'Douyin',
    description: "A Douyin (抖音) user's video and image posts, with enclosures that play through feedgate and never expire.",
    settings: [
      setting(config, 'DOUYIN_COOKIE', false, 'setting.DOUYIN_COOKIE'),
      setting(config, 'DOUYIN_BASE_URL', true, 'setting.DOUYIN_BASE_URL'),
    ],
    upstreams: ttwid ? [http, ttwid] : [http],
    routes: [
      { kind: 'feed', path: '/feeds/douyin/:secUserId', summary: "a user's posts (MS4wLjABAAAA…)", source: douyinFeed(opts) },
      {
        kind: 'api',
        path: '/feeds/douyin',
        summary: 'subscribe by share link or profile URL (?url=): redirects to the feed',
        async handler(c) {
          const raw = typeof c.query.url === 'string' ? c.query.url : '';
          const link = firstLink(raw);
          if (!link) throw badRequest('parameter url must hold a Douyin share link or profile URL (https://v.douyin.com/… or https://www.douyin.com/user/…)', 'MISSING_URL');
          let u: URL;
          try {
            u = new URL(link);
          } catch {
            throw badRequest('parameter url is not a URL', 'BAD_URL');
          }
          if (!isDouyin(u)) throw new HttpError(400, 'NOT_DOUYIN', `${u.hostname.slice(0, 100)} is not a Douyin address`);
          let secUid = secUidOf(u.href);
          // Every hop stays on Douyin's own hosts (or DOUYIN_BASE_URL), whatever PROXY_ALLOW_HOSTS allows.
          if (!secUid) secUid = secUidOf(await ctx.resolveRedirects(u.href, 'douyin', isDouyin, AbortSignal.timeout(config.UPSTREAM_DEADLINE)));
          if (!secUid) throw new HttpError(404, 'DOUYIN_USER_NOT_FOUND', 'that link does not lead to a Douyin user page; use a share link of a profile, or its www.douyin.com/user/… URL');
          // The start page asks for the answer as JSON.
          if (c.accepts('json', 'html') === 'json' && !c.accepts('html')) {
            c.body = { secUserId: secUid, feed: `/feeds/douyin/${secUid}` };
            return;
          }
          const q = new URLSearchParams(c.querystring);
          q.delete('url');
          const suffix = c.state.formatFromPath ? `.${c.state.formatFromPath as string}` : '';
          c.set('Cache-Control', 'private, max-age=3600');
          c.redirect(`/feeds/douyin/${secUid}${suffix}${q.size ? `?${q}` : ''}`);
        },
      },
      {
        kind: 'play',
        path: '/play/douyin/:awemeId',
        summary: "a post's video (or ?i=N, an image's live-photo clip), resolved to its current address when played",
        ttlMs: config.DOUYIN_PLAY_TTL,
        key(c) {
          const p = playParams(c);
          return `douyin:play:${p.id}:${p.index ?? 'v'}`;
        },
        async resolve(c, signal) {
          const p = playParams(c);
          return { url: await resolveDouyinMedia(client, p.id, p.index, signal), platform: 'douyin', headers: mediaHeaders };
        },
      },
    ],
    forms: [
      {
        path: '/feeds/douyin/:secUserId',
        fields: [
          { name: 'secUserId', label: 'field.douyin.secUserId', in: 'path', example: 'MS4wLjABAAAA…', helper: '/feeds/douyin?url=', required: true },
          { name: 'pages', label: 'field.douyin.pages', in: 'query', example: '3', required: false },
        ],
      },
    ],
    notice: config.DOUYIN_COOKIE ? undefined : 'source.douyin.guest',
  };
}

/** The media rules of the platform this source owns. */
const MEDIA: Readonly<Record<string, PlatformRule>> = {
  // Douyin's CDNs check the Referer (notes/douyin.md).
  douyin: {
    hosts: ['douyinpic.com', 'douyinvod.com', 'douyincdn.com', 'douyinstatic.com', 'douyin.com', 'iesdouyin.com', 'amemv.com', 'byteimg.com', 'bytecdn.cn', 'zjcdn.com', 'snssdk.com'],
    headers: { 'user-agent': DESKTOP_UA, referer: 'https://www.douyin.com/', accept: '*/*' },
    // Signed image links expire; the object behind them does not.
    volatileParams: ['x-expires', 'x-signature'],
  },
};

export const douyinModule: SourceModule = { name: 'douyin', settings: [DOUYIN_SETTINGS], media: MEDIA, create: douyinSource };
