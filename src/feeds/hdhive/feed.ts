import { badRequest } from '../../http/errors.js';
import { single } from '../params.js';
import type { FirstSeen } from '../../store/first-seen.js';
import { escapeHtml, textToHtml } from '../../http/html.js';
import type { FeedData, FeedItem } from '../model.js';
import type { FeedSource } from '../source.js';
import { parseUpstreamTime } from '../time.js';
import type { Texts } from '../../i18n/index.js';
import type { HdhiveClient, HdhiveResource } from './client.js';

export interface HdhiveFeedOptions {
  client: HdhiveClient;
  firstSeen: FirstSeen;
  /** HDHive's site (the API host serves the pages too). */
  siteUrl: string;
  hideInvalid: boolean;
  texts: Texts;
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

function itemTitle(r: HdhiveResource, tx: Texts): string {
  const facts = [
    r.video_resolution.join('/'),
    r.source.join('/'),
    formatShareSize(r.share_size),
    r.pan_type ? `${r.pan_type}` : undefined,
    r.unlock_points ? tx.t('hdhive.item.points', { count: r.unlock_points }) : tx.t('hdhive.item.free'),
  ].filter((x): x is string => !!x);
  const invalid = r.validate_status === 'invalid' ? tx.t('hdhive.item.invalid') : '';
  return `${invalid}${r.title?.trim() || r.slug} [${facts.join(' · ')}]`;
}

function itemHtml(r: HdhiveResource, link: string, published: number | undefined, tx: Texts): string {
  const { t } = tx;
  const rows: Array<[string, string | undefined]> = [
    [t('hdhive.label.title'), r.title ?? undefined],
    [t('hdhive.label.drive'), r.pan_type ?? undefined],
    [t('hdhive.label.size'), formatShareSize(r.share_size)],
    [t('hdhive.label.resolution'), r.video_resolution.join(', ') || undefined],
    [t('hdhive.label.source'), r.source.join(', ') || undefined],
    [t('hdhive.label.subtitles'), [...r.subtitle_language, ...r.subtitle_type].join(', ') || undefined],
    [t('hdhive.label.unlock'), r.unlock_points ? t('hdhive.item.points', { count: r.unlock_points }) : t('hdhive.item.free')],
    [t('hdhive.label.unlockedByYou'), r.is_unlocked ? t('hdhive.item.yes') : t('hdhive.item.no')],
    [t('hdhive.label.unlockedBy'), r.unlocked_users_count != null ? t('hdhive.item.users', { count: r.unlocked_users_count }) : undefined],
    [t('hdhive.label.official'), r.is_official ? t('hdhive.item.yes') : undefined],
    [t('hdhive.label.validation'), [r.validate_status, r.validate_message, r.last_validated_at && t('hdhive.item.checked', { date: r.last_validated_at })].filter(Boolean).join(' · ') || undefined],
    [t('hdhive.label.sharedBy'), r.user?.nickname?.trim() || undefined],
    [t('hdhive.label.sharedAt'), published !== undefined ? tx.dateTime(published) : undefined],
  ];
  const list = rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<li><strong>${escapeHtml(k)}:</strong> ${escapeHtml(v!)}</li>`)
    .join('');
  const remark = r.remark?.trim() ? `<p>${textToHtml(r.remark.trim())}</p>` : '';
  const links = [`<a href="${escapeHtml(link)}">${escapeHtml(t('hdhive.link.open'))}</a>`];
  if (r.media_url) links.push(`<a href="${escapeHtml(r.media_url)}">${escapeHtml(t('hdhive.link.all'))}</a>`);
  return `<ul>${list}</ul>${remark}<p>${links.join(' · ')}</p>`;
}

function itemSummary(r: HdhiveResource): string {
  const first = r.remark?.trim().split(/\r?\n/)[0];
  return [r.pan_type, formatShareSize(r.share_size), r.video_resolution.join('/'), r.source.join('/'), first].filter(Boolean).join(' · ');
}

async function toItems(list: HdhiveResource[], source: string, opts: HdhiveFeedOptions): Promise<FeedItem[]> {
  const kept = opts.hideInvalid ? list.filter((r) => r.validate_status !== 'invalid') : list;
  const seen = await opts.firstSeen.stamp(
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
      title: itemTitle(r, opts.texts),
      link,
      summary: itemSummary(r),
      contentHtml: itemHtml(r, link, published, opts.texts),
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
        title: opts.texts.t('hdhive.feed.title', { name }),
        link: list.items.find((r) => r.media_url)?.media_url ?? `${opts.siteUrl}/tmdb/${p.type}/${p.tmdbId}`,
        description: opts.texts.t('hdhive.feed.description', { name, type: p.type, id: p.tmdbId }),
        language: 'zh-CN',
        items: await toItems(list.items, `hdhive:${p.type}:${p.tmdbId}`, opts),
      } satisfies FeedData;
    },
  };
}

/** HDHive's largest page of shares. */
const SHARES_PAGE = 100;

/** GET /feeds/hdhive/shares: the user's own shares, 100 a page (`?page=`), each page linking the next. */
export function hdhiveShares(opts: HdhiveFeedOptions): FeedSource<{ page: number }> {
  return {
    query: ['page'],
    parse: (_params, query) => {
      const raw = single(query, 'page') ?? '1';
      if (!/^[1-9]\d{0,3}$/.test(raw)) throw badRequest('page must be a whole number from 1 to 9999');
      return { page: Number(raw) };
    },
    key: (p) => `hdhive:shares:${p.page}`,
    page: (p) => p.page > 1,
    async fetch(p, signal) {
      const list = await opts.client.shares(p.page, SHARES_PAGE, signal);
      const feed: FeedData = {
        id: 'hdhive:shares',
        title: opts.texts.t('hdhive.shares.title'),
        link: `${opts.siteUrl}/`,
        description: opts.texts.t('hdhive.shares.description'),
        language: 'zh-CN',
        items: await toItems(list.items, 'hdhive:shares', opts),
      };
      // Older shares: a next link for readers, and the pages the archive's backfill follows.
      if (list.total !== undefined && list.total > p.page * SHARES_PAGE && list.items.length > 0) feed.nextQuery = { page: String(p.page + 1) };
      return feed;
    },
  };
}
