import { HDHIVE_SETTINGS } from './settings.js';
import type { PlatformRule } from '../../proxy/platforms.js';
import { setting, type SourceContext, type SourceDescriptor, type SourceModule } from '../descriptor.js';
import { HdhiveClient } from './client.js';
import { hdhiveResources, hdhiveShares } from './feed.js';

/** HDHive OpenAPI (seed 004): resources per TMDB title and the user's own shares. Read-only. */
export function hdhiveSource(ctx: SourceContext): SourceDescriptor {
  const { config } = ctx;
  const http = ctx.upstream('hdhive', config.HDHIVE_API_URL, { setting: 'HDHIVE_API_URL' });
  const opts = {
    // No pace of its own: HDHive states its daily quota (background refresh plans within it), and a 429 pauses every replica.
    client: new HdhiveClient(http, { apiKey: config.HDHIVE_API_KEY, accessToken: config.HDHIVE_ACCESS_TOKEN, metrics: ctx.metrics, pause: ctx.budget('hdhive', 600, 'HDHIVE_API_KEY') }),
    firstSeen: ctx.firstSeen,
    siteUrl: config.HDHIVE_API_URL,
    hideInvalid: config.HDHIVE_HIDE_INVALID,
    texts: ctx.texts,
  };
  return {
    name: 'hdhive',
    title: 'HDHive',
    description: 'Resources HDHive lists for a movie or TV show (by TMDB id), and your own shares. Never unlocks anything.',
    settings: [
      setting(config, 'HDHIVE_API_KEY', true, 'setting.HDHIVE_API_KEY'),
      setting(config, 'HDHIVE_ACCESS_TOKEN', false, 'setting.HDHIVE_ACCESS_TOKEN'),
      setting(config, 'HDHIVE_API_URL', true, 'setting.HDHIVE_API_URL'),
    ],
    upstreams: [http],
    dailyQuota: () => opts.client.quota(),
    routes: [
      { kind: 'feed', path: '/feeds/hdhive/shares', needs: ['HDHIVE_ACCESS_TOKEN'], summary: 'your own shares', source: hdhiveShares(opts) },
      { kind: 'feed', path: '/feeds/hdhive/:type/:tmdbId', summary: 'resources for one TMDB title', source: hdhiveResources(opts) },
    ],
    forms: [
      {
        title: 'form.hdhive.resources',
        path: '/feeds/hdhive/:type/:tmdbId',
        fields: [
          { name: 'type', label: 'field.hdhive.type', in: 'path', options: ['movie', 'tv'], required: true },
          { name: 'tmdbId', label: 'field.hdhive.tmdbId', in: 'path', example: '550', required: true },
        ],
      },
      { title: 'form.hdhive.shares', path: '/feeds/hdhive/shares', fields: [] },
    ],
  };
}

/** The media rules of the platform this source owns. */
const MEDIA: Readonly<Record<string, PlatformRule>> = {
  hdhive: {
    hosts: ['hdhive.com', 'image.tmdb.org'],
    headers: { 'user-agent': 'feedgate', accept: 'image/*,*/*;q=0.8' },
  },
};

export const hdhiveModule: SourceModule = { name: 'hdhive', settings: [HDHIVE_SETTINGS], media: MEDIA, create: hdhiveSource };
