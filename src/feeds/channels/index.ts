import { CHANNELS_SETTINGS } from './settings.js';
import { ECLOUD_SETTINGS } from '../ecloud-settings.js';
import { DESKTOP_UA, type PlatformRule } from '../../proxy/platforms.js';
import type { Context } from 'koa';
import { badRequest } from '../../http/errors.js';
import { ecloudSettings, setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../descriptor.js';
import { EcloudProvider } from './ecloud-client.js';
import { QUALITY, channelsFeed, resolveChannelsMedia, searchAccounts } from './feed.js';
import { U64 } from './ids.js';
import type { ChannelsProvider } from './provider.js';
import { WxcdProvider } from './wxcd-client.js';

const param = (ctx: Context, name: string) => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : undefined);

/** /play/channels/:oid/:nid?q=&u=, checked: 400 before any call on a bad id or quality. */
function playParams(c: Context) {
  const { oid = '', nid = '' } = c.params as Record<string, string>;
  if (!U64.test(oid) || !U64.test(nid)) throw badRequest('oid and nid must be decimal object ids');
  const quality = param(c, 'q') ?? 'original';
  if (!QUALITY.test(quality)) throw badRequest('q must be original or a spec fileFormat');
  return { oid, nid, quality, username: param(c, 'u') };
}

/** WeChat Channels (视频号) accounts, from the downloader's local API (seed 000) or E云 (seed 003). */
export function channelsSource(ctx: SourceContext): SourceDescriptor {
  const { config } = ctx;
  const ecloud = config.CHANNELS_PROVIDER === 'ecloud';
  const http = ecloud
    ? ctx.upstream('ecloud', config.ECLOUD_API_URL, { setting: 'ECLOUD_API_URL', hint: 'your E云 instance must be logged in' })
    : ctx.upstream('wxcd', config.WXCD_API_URL, {
        setting: 'WXCD_API_URL',
        hint: 'the Channels downloader must run there, with a Channels page open in desktop WeChat',
      });
  const provider: ChannelsProvider = ecloud
    ? new EcloudProvider(http, { auth: config.ECLOUD_AUTH, wid: config.ECLOUD_WID, resolvePages: config.CHANNELS_MAX_PAGES })
    : new WxcdProvider(http);
  const opts = { provider, links: ctx.links, texts: ctx.texts, maxPages: config.CHANNELS_MAX_PAGES, mediaLength: ctx.mediaLength };

  return {
    name: 'channels',
    title: 'WeChat Channels',
    description: 'Videos of a WeChat Channels (视频号) account, with enclosures that play through feedgate and never expire.',
    settings: ecloud
      ? ecloudSettings(config)
      : [setting(config, 'WXCD_API_URL', true, 'setting.WXCD_API_URL')],
    upstreams: [http],
    routes: [
      { kind: 'feed', path: '/feeds/channels/:username', summary: 'one account (v2_…@finder)', source: channelsFeed(opts) },
      { kind: 'feed', path: '/rss/channels', summary: "the downloader's own feed route (?username=&next_marker=)", source: channelsFeed(opts, 'compat'), defaultFormat: 'atom' },
      {
        kind: 'play',
        path: '/play/channels/:oid/:nid',
        summary: 'a video, resolved to its current URL and key when played',
        ttlMs: config.CHANNELS_PLAY_TTL,
        key(c) {
          const p = playParams(c);
          return `channels:play:${provider.name}:${p.oid}:${p.nid}:${p.quality}`;
        },
        async resolve(c, signal) {
          const p = playParams(c);
          const r = await resolveChannelsMedia(provider, p.oid, p.nid, p.quality, p.username, signal);
          return { ...r, platform: 'channels' };
        },
      },
      {
        kind: 'api',
        path: '/api/channels/search',
        summary: 'find accounts and their feed URLs (?keyword=)',
        async handler(c, api) {
          const keyword = param(c, 'keyword')?.trim();
          if (!keyword || keyword.length > 100) throw badRequest('parameter keyword must be 1 to 100 characters');
          const accounts = await api.cached(`channels:search:${provider.name}:${keyword}`, config.CACHE_TTL, (signal) => searchAccounts(provider, ctx.links, keyword, signal));
          c.set('Cache-Control', `private, max-age=${Math.round(config.CACHE_TTL / 1000)}`);
          c.body = { accounts: accounts.map((a) => ({ ...a, avatar: a.avatar && api.absolute(a.avatar), feed: api.absolute(a.feed) })) };
        },
      },
    ],
    forms: [
      {
        path: '/feeds/channels/:username',
        fields: [
          { name: 'username', label: 'field.channels.username', in: 'path', example: 'v2_0600…@finder', helper: '/api/channels/search?keyword=', required: true },
          { name: 'pages', label: 'field.channels.pages', in: 'query', example: '3', required: false },
          { name: 'quality', label: 'field.channels.quality', in: 'query', example: 'xWT111', required: false },
        ],
      },
    ],
  };
}

/** The media rules of the platform this source owns. */
const MEDIA: Readonly<Record<string, PlatformRule>> = {
  // Channels videos and covers.
  channels: {
    hosts: ['finder.video.qq.com', 'wxapp.tc.qq.com', 'video.qq.com', 'tc.qq.com', 'channels.weixin.qq.com', 'findermp.video.qq.com'],
    headers: { 'user-agent': DESKTOP_UA, accept: '*/*' },
  },
};

export const channelsModule: SourceModule = { name: 'channels', settings: [CHANNELS_SETTINGS, ECLOUD_SETTINGS], media: MEDIA, create: channelsSource };
