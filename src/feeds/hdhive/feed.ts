import { badRequest } from '../../http/errors.js';
import type { FirstSeen } from '../../store/first-seen.js';
import { escapeHtml, textToHtml } from '../html.js';
import type { FeedData, FeedItem } from '../model.js';
import type { FeedSource } from '../source.js';
import { parseUpstreamTime } from '../time.js';
import type { HdhiveClient, HdhiveResource } from './client.js';

export interface HdhiveFeedOptions {
  client: HdhiveClient;
  firstSeen: FirstSeen;
  /** HDHive's site (the API host serves the pages too). */
  siteUrl: string;
  hideInvalid: boolean;
}

const TYPES = ['movie', 'tv'] as const;
type MediaType = (typeof TYPES)[number];

/**
 * share_size is free-form upstream: "228.75", "1.07g", "58.3 GB", "700MB". HDHive's pages show
 * unitless sizes as GB, so a bare number is read as GB.
 */
export function formatShareSize(raw: string | null | undefined): string | undefined {
  const s = raw?.trim();
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt])?i?b?$/i.exec(s);
  if (!m) return s;
  return `${m[1]} ${(m[2] ?? 'g').toUpperCase()}B`;
}

function resourceLink(site: string, r: HdhiveResource): string {
  const slug = encodeURIComponent(r.slug);
  return r.pan_type ? `${site}/resource/${encodeURIComponent(r.pan_type)}/${slug}` : `${site}/resource/${slug}`;
}

function itemTitle(r: HdhiveResource): string {
  const facts = [
    r.video_resolution.join('/'),
    r.source.join('/'),
    formatShareSize(r.share_size),
    r.pan_type ? `${r.pan_type}` : undefined,
    r.unlock_points ? `${r.unlock_points} points` : 'free',
  ].filter((x): x is string => !!x);
  const invalid = r.validate_status === 'invalid' ? '[invalid] ' : '';
  return `${invalid}${r.title?.trim() || r.slug} [${facts.join(' · ')}]`;
}

function itemHtml(r: HdhiveResource, link: string, published: number | undefined): string {
  const rows: Array<[string, string | undefined]> = [
    ['Title', r.title ?? undefined],
    ['Drive', r.pan_type ?? undefined],
    ['Size', formatShareSize(r.share_size)],
    ['Resolution', r.video_resolution.join(', ') || undefined],
    ['Source', r.source.join(', ') || undefined],
    ['Subtitles', [...r.subtitle_language, ...r.subtitle_type].join(', ') || undefined],
    ['Unlock', r.unlock_points ? `${r.unlock_points} points` : 'free'],
    ['Unlocked by you', r.is_unlocked ? 'yes' : 'no'],
    ['Unlocked by', r.unlocked_users_count != null ? `${r.unlocked_users_count} users` : undefined],
    ['Official', r.is_official ? 'yes' : undefined],
    ['Validation', [r.validate_status, r.validate_message, r.last_validated_at && `checked ${r.last_validated_at}`].filter(Boolean).join(' · ') || undefined],
    ['Shared by', r.user?.nickname?.trim() || undefined],
    ['Shared at', published !== undefined ? new Date(published).toISOString().replace('.000Z', 'Z') : undefined],
  ];
  const list = rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<li><strong>${escapeHtml(k)}:</strong> ${escapeHtml(v!)}</li>`)
    .join('');
  const remark = r.remark?.trim() ? `<p>${textToHtml(r.remark.trim())}</p>` : '';
  const links = [`<a href="${escapeHtml(link)}">Open on HDHive</a>`];
  if (r.media_url) links.push(`<a href="${escapeHtml(r.media_url)}">All resources for this title</a>`);
  return `<ul>${list}</ul>${remark}<p>${links.join(' · ')}</p>`;
}

function itemSummary(r: HdhiveResource): string {
  const first = r.remark?.trim().split(/\r?\n/)[0];
  return [r.pan_type, formatShareSize(r.share_size), r.video_resolution.join('/'), r.source.join('/'), first].filter(Boolean).join(' · ');
}

function toItems(list: HdhiveResource[], source: string, opts: HdhiveFeedOptions): FeedItem[] {
  const kept = opts.hideInvalid ? list.filter((r) => r.validate_status !== 'invalid') : list;
  const seen = opts.firstSeen.stamp(
    source,
    kept.map((r) => r.slug),
  );
  return kept.map((r) => {
    const link = resourceLink(opts.siteUrl, r);
    const published = parseUpstreamTime(r.created_at) ?? seen.get(r.slug);
    const updated = parseUpstreamTime(r.updated_at);
    const nickname = r.user?.nickname?.trim();
    const categories = [...new Set([r.pan_type, ...r.video_resolution, ...r.source, ...r.subtitle_language].filter((c): c is string => !!c?.trim()))];
    const item: FeedItem = {
      guid: r.slug,
      title: itemTitle(r),
      link,
      summary: itemSummary(r),
      contentHtml: itemHtml(r, link, published),
      authors: [{ name: nickname || 'HDHive' }],
      published,
      categories,
    };
    if (updated !== undefined && updated !== published) item.updated = updated;
    return item;
  });
}

/** GET /feeds/hdhive/:type/:tmdbId: the resources HDHive lists for one TMDB title. */
export function hdhiveResources(opts: HdhiveFeedOptions): FeedSource<{ type: MediaType; tmdbId: string }> {
  return {
    parse(params) {
      const type = params.type ?? '';
      if (!(TYPES as readonly string[]).includes(type)) throw badRequest(`type must be movie or tv, got "${type}"`);
      const tmdbId = params.tmdbId ?? '';
      if (!/^[1-9]\d{0,9}$/.test(tmdbId)) throw badRequest(`tmdbId must be a positive TMDB id (digits only), got "${tmdbId}"`);
      return { type: type as MediaType, tmdbId };
    },
    key: (p) => `hdhive:resources:${p.type}:${p.tmdbId}`,
    async fetch(p, signal) {
      const list = await opts.client.resources(p.type, p.tmdbId, signal);
      const titled = list.items.find((r) => r.title?.trim());
      const name = titled?.title?.trim() ?? `TMDB ${p.type} ${p.tmdbId}`;
      return {
        id: `hdhive:${p.type}:${p.tmdbId}`,
        title: `HDHive: ${name}`,
        link: list.items.find((r) => r.media_url)?.media_url ?? `${opts.siteUrl}/tmdb/${p.type}/${p.tmdbId}`,
        description: `Resources HDHive lists for ${name} (TMDB ${p.type} ${p.tmdbId})`,
        language: 'zh-CN',
        items: toItems(list.items, `hdhive:${p.type}:${p.tmdbId}`, opts),
      } satisfies FeedData;
    },
  };
}

/** GET /feeds/hdhive/shares: the user's own shares. */
export function hdhiveShares(opts: HdhiveFeedOptions): FeedSource<Record<string, never>> {
  return {
    parse: () => ({}),
    key: () => 'hdhive:shares',
    async fetch(_p, signal) {
      const list = await opts.client.shares(1, 100, signal);
      return {
        id: 'hdhive:shares',
        title: 'HDHive: my shares',
        link: `${opts.siteUrl}/`,
        description: 'Resources you shared on HDHive',
        language: 'zh-CN',
        items: toItems(list.items, 'hdhive:shares', opts),
      } satisfies FeedData;
    },
  };
}
