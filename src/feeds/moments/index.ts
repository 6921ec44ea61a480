import { MOMENTS_SETTINGS } from './settings.js';
import { ECLOUD_SETTINGS } from '../ecloud-settings.js';
import type { PlatformRule } from '../../proxy/platforms.js';
import { Counter } from 'prom-client';
import { HttpError, badRequest } from '../../http/errors.js';
import { sendArticlePage } from '../../proxy/article-page.js';
import { momentsPostStore } from '../../store/moments-posts.js';
import type { Config } from '../descriptor.js';
import { ecloudSettings, setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../descriptor.js';
import { EcloudMomentsProvider } from './ecloud-client.js';
import { POST_ID, WXID, momentsFeed, renderPost } from './feed.js';
import type { MomentsProvider } from './provider.js';
import type { MomentsPost } from './post.js';
import { WeflowProvider } from './weflow-client.js';

/** Whether /play/channels can resolve a shared Channels video with the current settings. */
const channelsConfigured = (c: Config) => (c.CHANNELS_PROVIDER === 'ecloud' ? !!(c.ECLOUD_API_URL && c.ECLOUD_AUTH && c.ECLOUD_WID) : !!c.WXCD_API_URL);

/** WeChat Moments (朋友圈) from WeFlow (seed 001) or E云 (seed 003), with media kept when first seen. */
export function momentsSource(ctx: SourceContext): SourceDescriptor {
  const { config } = ctx;
  const ecloud = config.MOMENTS_PROVIDER === 'ecloud';
  const detailFailures = new Counter({ name: 'feedgate_moments_detail_failures_total', help: "E云 /getSnsObject calls that failed (the post is shown without its media until a later refresh)", registers: [ctx.metrics.registry] });
  const http = ecloud
    ? ctx.upstream('ecloud-moments', config.ECLOUD_API_URL || 'http://127.0.0.1', { setting: 'ECLOUD_API_URL', hint: 'your E云 instance must be logged in' })
    : ctx.upstream('weflow', config.WEFLOW_API_URL, { setting: 'WEFLOW_API_URL', hint: "WeFlow must run there with its API service on, connected to WeChat's database" });
  const provider: MomentsProvider = ecloud
    ? new EcloudMomentsProvider(http, {
        auth: config.ECLOUD_AUTH,
        wid: config.ECLOUD_WID,
        onDetailFailed(id, err) {
          detailFailures.inc();
          ctx.logger.warn({ post: id, err: (err as Error)?.message }, 'E云 /getSnsObject failed: the post is shown from the list without its media, which are asked for again at the next refresh');
        },
      })
    : new WeflowProvider(http, { token: config.WEFLOW_TOKEN, pageSize: config.MOMENTS_PAGE_SIZE });
  const posts = momentsPostStore<MomentsPost>(ctx.db);
  const opts = {
    provider,
    posts,
    links: ctx.links,
    keepMedia: ctx.keepMedia,
    maxPages: config.MOMENTS_MAX_PAGES,
    pageSize: config.MOMENTS_PAGE_SIZE,
    channelsPlayable: channelsConfigured(config),
    texts: ctx.texts,
  };
  const feed = momentsFeed(opts);
  return {
    name: 'moments',
    title: 'WeChat Moments',
    description: 'Moments (朋友圈) posts as a feed, with decrypted photos, videos and live photos kept after their links expire.',
    settings: ecloud
      ? ecloudSettings(config)
      : [setting(config, 'WEFLOW_API_URL', true, 'setting.WEFLOW_API_URL'), setting(config, 'WEFLOW_TOKEN', true, 'setting.WEFLOW_TOKEN')],
    upstreams: [http],
    routes: [
      { kind: 'feed', path: '/feeds/moments', summary: 'everyone the provider can see (?usernames=a,b&keyword=&comments=1)', source: feed },
      { kind: 'feed', path: '/feeds/moments/:username', summary: "one person's posts", source: feed },
      {
        kind: 'api',
        path: '/api/moments/usernames',
        summary: 'people with Moments posts, and their feed URLs',
        async handler(c, api) {
          const listed = provider.usernames ? await api.cached(`moments:usernames:${provider.name}`, config.CACHE_TTL, (signal) => provider.usernames!(signal)) : [];
          const kept = new Map((await posts.authors()).map((a) => [a.username, a]));
          const all = [...new Set([...listed, ...kept.keys()])].filter((u) => WXID.test(u)).sort();
          c.set('Cache-Control', 'private, max-age=60');
          c.body = { users: all.map((u) => ({ username: u, nickname: kept.get(u)?.nickname ?? '', posts: kept.get(u)?.posts ?? 0, feed: api.absolute(`/feeds/moments/${encodeURIComponent(u)}`) })) };
        },
      },
      {
        kind: 'api',
        path: '/moments/post/:id',
        summary: 'one post as a page (the link of items that share no URL)',
        access: 'media',
        async handler(c) {
          const id = (c.params as Record<string, string>).id ?? '';
          if (!POST_ID.test(id)) throw badRequest('a post id is a decimal number');
          const post = await posts.get(id);
          if (!post) throw new HttpError(404, 'MOMENTS_POST_UNKNOWN', `feedgate has not seen the post ${id}`);
          const { html } = renderPost(post, opts, true);
          const first = post.text.split('\n')[0]?.trim();
          sendArticlePage(
            c,
            {
              title: first ? first.slice(0, 140) : ctx.texts.t('moments.page.untitled', { name: post.nickname || post.username }),
              author: post.nickname || post.username,
              date: post.createTime ? ctx.texts.date(post.createTime * 1000) : undefined,
              body: html,
              original: post.link?.url || undefined,
              originalLabel: ctx.texts.t('moments.page.sharedLink'),
            },
            300,
          );
        },
      },
    ],
    forms: [
      {
        path: '/feeds/moments/:username',
        fields: [
          { name: 'username', label: 'field.moments.username', in: 'path', example: 'wxid_alice01', helper: '/api/moments/usernames', required: false },
          { name: 'keyword', label: 'field.moments.keyword', in: 'query', example: '旅行', required: false },
          { name: 'comments', label: 'field.moments.comments', in: 'query', yesNo: { default: false }, required: false },
        ],
      },
    ],
  };
}

/** The media rules of the platform this source owns. */
const MEDIA: Readonly<Record<string, PlatformRule>> = {
  // Moments media: the CDN refuses requests without this user agent (notes/moments.md §2.3).
  moments: {
    hosts: ['mmsns.qpic.cn', 'shmmsns.qpic.cn', 'szmmsns.qpic.cn', 'snsvideo.c2c.wechat.com', 'vweixinthumb.tc.qq.com', 'vweixinf.tc.qq.com', 'wxsns.video.qq.com'],
    headers: { 'user-agent': 'MicroMessenger Client', accept: '*/*' },
    volatileParams: ['token', 'idx'],
  },
};

export const momentsModule: SourceModule = { name: 'moments', settings: [MOMENTS_SETTINGS, ECLOUD_SETTINGS], media: MEDIA, create: momentsSource };
