import { HttpError, badRequest } from '../../http/errors.js';
import type { MediaLinks } from '../../proxy/links.js';
import { escapeHtml, textToHtml } from '../../http/html.js';
import { titleLine, withCover, type Enclosure, type FeedData, type FeedItem } from '../model.js';
import type { Texts } from '../../i18n/index.js';
import { positiveInt, single, type Query } from '../params.js';
import type { FeedSource } from '../source.js';
import { feedPageUrl } from './ids.js';
import { finderName, type ChannelsAccount, type ChannelsObject, type ChannelsProvider } from './provider.js';

export interface ChannelsFeedOptions {
  provider: ChannelsProvider;
  links: MediaLinks;
  texts: Texts;
  maxPages: number;
  /** A spec variant's size is not in the list: the CDN is asked (SourceContext.mediaLength). */
  mediaLength?: (url: string, platform: 'channels', key: string, signal?: AbortSignal) => Promise<number | undefined>;
}

/** Variant sizes asked of the CDN at once, per feed build. */
const LENGTH_LOOKUPS = 4;

export interface ChannelsParams {
  username: string;
  pages: number;
  /** "original" or a spec fileFormat such as xWT111. */
  quality: string;
  /** Start page marker (the downloader-compatible route's next_marker). */
  marker?: string;
}

const USERNAME = /^v2_[A-Za-z0-9_-]{1,200}(@finder)?$/;
export const QUALITY = /^(original|[A-Za-z0-9]{1,16})$/;
const HASHTAG = /#([^\s#＃]+)/gu;
const MEDIA_VIDEO = 4;
const MEDIA_ALBUM = 2;
const MEDIA_LIVE = 9;

export function parseChannelsParams(username: string | undefined, query: Query, maxPages: number): ChannelsParams {
  if (!username || !USERNAME.test(username)) throw badRequest(`username must be a Channels account id such as v2_…@finder, got "${(username ?? '').slice(0, 60)}"`);
  const pages = positiveInt(query, 'pages', maxPages, 'CHANNELS_MAX_PAGES') ?? 1;
  const quality = single(query, 'quality') ?? 'original';
  if (!QUALITY.test(quality)) throw badRequest('quality must be original or a spec fileFormat such as xWT111');
  const marker = single(query, 'next_marker');
  if (marker !== undefined && marker.length > 4096) throw badRequest('next_marker is too long');
  return { username: finderName(username), pages, quality, marker };
}

/** The first line of the description, or the date when there is none. */
function titleOf(o: ChannelsObject, tx: Texts): string {
  const line = titleLine(o.description);
  if (line) return (o.mediaType === MEDIA_LIVE ? tx.t('channels.item.livePrefix') : '') + line;
  const date = o.createtime ? tx.date(o.createtime * 1000) : tx.t('channels.item.undated');
  return tx.t(o.mediaType === MEDIA_ALBUM ? 'channels.item.pictures' : o.mediaType === MEDIA_LIVE ? 'channels.item.live' : 'channels.item.video', { date });
}

const hashtags = (text: string) => [...new Set([...text.matchAll(HASHTAG)].map((m) => m[1]!))];

function playLink(links: MediaLinks, o: ChannelsObject, p: ChannelsParams): string {
  return links.route(`/play/channels/${o.id}/${o.nonce || '0'}`, { q: p.quality === 'original' ? undefined : p.quality, u: p.username });
}

function toItem(o: ChannelsObject, p: ChannelsParams, opts: ChannelsFeedOptions): FeedItem {
  const m = o.media[0];
  const cover = m?.coverUrl ? opts.links.image(m.coverUrl, 'channels') : undefined;
  const parts: string[] = [];
  const enclosures: Enclosure[] = [];
  if (o.mediaType === MEDIA_ALBUM) {
    for (const pic of o.media) parts.push(`<p><img src="${escapeHtml(opts.links.image(pic.url, 'channels'))}" alt="" referrerpolicy="no-referrer"></p>`);
  } else if (o.mediaType === MEDIA_LIVE) {
    if (cover) parts.push(`<p><img src="${escapeHtml(cover)}" alt="" referrerpolicy="no-referrer"></p>`);
    parts.push(`<p>${escapeHtml(opts.texts.t('channels.item.liveBody'))}</p>`);
  } else if (m) {
    const play = playLink(opts.links, o, p);
    const spec = p.quality === 'original' ? undefined : m.spec.find((s) => s.fileFormat === p.quality);
    if (cover) parts.push(`<p><img src="${escapeHtml(cover)}" alt="" referrerpolicy="no-referrer"></p>`);
    parts.push(`<video controls preload="none"${cover ? ` poster="${escapeHtml(cover)}"` : ''}><source src="${escapeHtml(play)}" type="video/mp4"></video>`);
    enclosures.push({
      url: play,
      type: 'video/mp4',
      // The list reports the original's size only; a spec variant's is filled in by variantLengths().
      length: spec ? undefined : m.fileSize,
      duration: m.duration ?? (spec?.durationMs ? spec.durationMs / 1000 : undefined),
      width: spec?.width ?? m.width,
      height: spec?.height ?? m.height,
    });
  }
  if (o.description.trim()) parts.push(`<p>${textToHtml(o.description.trim())}</p>`);
  const item: FeedItem = {
    guid: o.id,
    title: titleOf(o, opts.texts),
    summary: o.description.trim() ? o.description.trim().slice(0, 300) : undefined,
    link: o.nonce ? feedPageUrl(o.id, o.nonce) : 'https://channels.weixin.qq.com/',
    contentHtml: parts.join(''),
    authors: o.author ? [{ name: o.author.nickname }] : undefined,
    published: o.createtime ? o.createtime * 1000 : undefined,
    categories: hashtags(o.description),
  };
  withCover(item, cover);
  if (enclosures.length) item.enclosures = enclosures;
  return item;
}

/** GET /feeds/channels/:username (and the downloader-compatible /rss/channels). */
export function channelsFeed(opts: ChannelsFeedOptions, route: 'feeds' | 'compat' = 'feeds'): FeedSource<ChannelsParams> {
  return {
    query: route === 'feeds' ? ['pages', 'quality', 'next_marker'] : ['username', 'pages', 'quality', 'next_marker'],
    parse(params, query) {
      const username = route === 'feeds' ? params.username : single(query, 'username');
      return parseChannelsParams(username, query, opts.maxPages);
    },
    key: (p) => `channels:${opts.provider.name}:${p.username}:${p.pages}:${p.quality}:${p.marker ?? ''}`,
    page: (p) => p.marker !== undefined,
    async fetch(p, signal) {
      const objects: ChannelsObject[] = [];
      let account: ChannelsAccount | undefined;
      let marker = p.marker;
      let next: string | undefined;
      for (let page = 0; page < p.pages; page++) {
        const res = await opts.provider.feedList(p.username, marker, signal);
        account ??= res.account;
        objects.push(...res.objects);
        next = res.next;
        if (!next) break;
        marker = next;
      }
      const seen = new Set<string>();
      const unique = objects.filter((o) => !seen.has(o.id) && seen.add(o.id));
      const items = unique.map((o) => toItem(o, p, opts));
      if (p.quality !== 'original') await variantLengths(unique, items, p.quality, opts, signal);
      const nickname = account?.nickname ?? p.username;
      const feed: FeedData = {
        id: `channels:${p.username}`,
        // Another quality's play links: kept apart in the archive.
        variant: p.quality === 'original' ? undefined : `q=${p.quality}`,
        title: opts.texts.t('channels.feed.title', { name: nickname }),
        link: 'https://channels.weixin.qq.com/',
        description: account?.signature ?? opts.texts.t('channels.feed.description', { name: nickname }),
        language: 'zh-CN',
        image: account?.headUrl ? opts.links.image(account.headUrl, 'wechat') : undefined,
        podcastImage: account?.headUrl ? opts.links.podcastArt(account.headUrl, 'wechat') : undefined,
        podcastCategory: 'TV & Film',
        authors: [{ name: nickname }],
        items,
      };
      if (next) feed.nextQuery = { next_marker: next };
      return feed;
    },
  };
}

/**
 * Readers and podcast directories want an enclosure's length, and the list reports only the original's:
 * each spec variant's is asked of the CDN (remembered per object and quality), a few at a time.
 */
async function variantLengths(objects: ChannelsObject[], items: FeedItem[], quality: string, opts: ChannelsFeedOptions, signal?: AbortSignal): Promise<void> {
  const todo = objects.flatMap((o, i) => {
    const m = o.media[0];
    const e = items[i]!.enclosures?.[0];
    return m && e && e.length === undefined && m.spec.some((s) => s.fileFormat === quality) ? [{ o, m, e }] : [];
  });
  const lookup = opts.mediaLength;
  if (!lookup) return;
  for (let i = 0; i < todo.length; i += LENGTH_LOOKUPS) {
    await Promise.all(
      todo.slice(i, i + LENGTH_LOOKUPS).map(async ({ o, m, e }) => {
        e.length = await lookup(`${m.url}&X-snsvideoflag=${encodeURIComponent(quality)}`, 'channels', `channels:${o.id}:${quality}`, signal);
      }),
    );
  }
}

export interface PlayTarget {
  url: string;
  key?: string;
}

function keepOnly(url: string, params: string[]): string {
  const u = new URL(url);
  const kept = new URLSearchParams();
  for (const p of params) {
    const v = u.searchParams.get(p);
    if (v !== null) kept.set(p, v);
  }
  u.search = kept.toString();
  return u.href;
}

/**
 * The current media URL and decodeKey for an object, in the asked quality, from the provider's profile
 * call. Ids and quality are checked by the play route (playParams in index.ts) before this runs.
 */
export async function resolveChannelsMedia(provider: ChannelsProvider, oid: string, nid: string, quality: string, username?: string, signal?: AbortSignal): Promise<PlayTarget> {
  const o = await provider.profile(oid, nid, username, signal);
  const m = o.media[0];
  if (!m || o.mediaType === MEDIA_LIVE || o.mediaType === MEDIA_ALBUM) throw new HttpError(404, 'NO_VIDEO', `Channels object ${oid} has no video`);
  let url: string;
  if (quality !== 'original' && m.spec.some((s) => s.fileFormat === quality)) url = `${m.url}&X-snsvideoflag=${encodeURIComponent(quality)}`;
  // "Original" keeps only the parameters that address the file (notes/channels-mp.md §2.2).
  else url = keepOnly(m.url, ['encfilekey', 'token', 'basedata', 'sign']);
  return { url, key: m.decodeKey };
}

/** GET /api/channels/search: accounts and the feed URL of each. */
export async function searchAccounts(provider: ChannelsProvider, links: MediaLinks, keyword: string, signal?: AbortSignal) {
  const accounts = await provider.search(keyword, signal);
  return accounts.map((a) => ({
    username: a.username,
    nickname: a.nickname,
    signature: a.signature ?? '',
    avatar: a.headUrl ? links.image(a.headUrl, 'wechat') : undefined,
    feed: `/feeds/channels/${encodeURIComponent(a.username)}`,
  }));
}
