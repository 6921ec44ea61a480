import { HttpError, badRequest } from '../../http/errors.js';
import type { MediaLinks } from '../../proxy/links.js';
import { escapeHtml, textToHtml } from '../../http/html.js';
import { titleLine, withCover, type Enclosure, type FeedData, type FeedItem } from '../model.js';
import type { Texts } from '../../i18n/index.js';
import { positiveInt, single, type Query } from '../params.js';
import type { FeedSource } from '../source.js';
import { SEC_UID, badShape, type DouyinClient } from './client.js';
import { arr, obj, str, unixTime } from '../../upstream/shape.js';

const urls = (addr: unknown) =>
  arr(obj(addr).url_list)
    .map(str)
    .filter((u): u is string => !!u && /^https?:\/\//.test(u));

const IMAGE_POST = 68;

export interface DouyinFeedOptions {
  client: DouyinClient;
  links: MediaLinks;
  texts: Texts;
  maxPages: number;
}

export interface DouyinParams {
  secUid: string;
  pages: number;
  /** Where the list starts: '0' for the newest, else a max_cursor Douyin gave (the next page's link). */
  cursor: string;
}

/** The H.264 stream of a video, best first: browsers and readers do not all play H.265/ByteVC1. */
export function h264Of(video: Record<string, unknown>): { urls: string[]; bytes?: number; width?: number; height?: number } | undefined {
  const rates = arr(video.bit_rate)
    .map(obj)
    .filter((r) => !Number(r.is_h265) && !Number(r.is_bytevc1) && urls(r.play_addr).length)
    .sort((a, b) => Number(b.bit_rate ?? 0) - Number(a.bit_rate ?? 0));
  const addr = rates.length ? obj(rates[0]!.play_addr) : urls(video.play_addr_h264).length ? obj(video.play_addr_h264) : urls(video.play_addr).length && !Number(video.is_h265) ? obj(video.play_addr) : undefined;
  if (!addr) return undefined;
  const n = (v: unknown) => (Number(v) > 0 ? Number(v) : undefined);
  return { urls: urls(addr), bytes: n(addr.data_size), width: n(addr.width), height: n(addr.height) };
}

/**
 * Which URL to play: the /aweme/v1/play/ redirector when the list offers it (it always leads to the current
 * CDN copy), else the first CDN mirror.
 */
export function playUrl(list: string[]): string | undefined {
  return list.find((u) => /\/aweme\/v1\/play\//.test(u)) ?? list[0];
}

/** A max_cursor as Douyin gives it: milliseconds since 1970. */
const CURSOR = /^\d{1,20}$/;

export function parseDouyinParams(secUid: string | undefined, query: Query, maxPages: number): DouyinParams {
  if (!secUid || !SEC_UID.test(secUid)) throw badRequest(`secUserId must be a Douyin sec_user_id (MS4wLjABAAAA…), got "${(secUid ?? '').slice(0, 80)}"; subscribe by share link with /feeds/douyin?url=…`);
  const cursor = single(query, 'max_cursor') ?? '0';
  if (!CURSOR.test(cursor)) throw badRequest('max_cursor must be the number a next link carries (milliseconds since 1970)');
  return { secUid, pages: positiveInt(query, 'pages', maxPages, 'DOUYIN_MAX_PAGES') ?? 1, cursor };
}

const count = (n: unknown) => {
  const v = Number(n);
  if (!Number.isFinite(v) || v < 0) return '0';
  return v >= 10000 ? `${(v / 10000).toFixed(1)}万` : String(v);
};

function titleOf(desc: string, created: number | undefined, tx: Texts): string {
  return titleLine(desc) ?? (created ? tx.t('douyin.item.dated', { date: tx.date(created) }) : tx.t('douyin.item.untitled'));
}

function toItem(a: Record<string, unknown>, opts: DouyinFeedOptions): FeedItem | undefined {
  const id = str(a.aweme_id);
  if (!id || !/^\d+$/.test(id)) return undefined;
  const status = obj(a.status);
  if (status.is_delete === true || status.is_prohibited === true || Number(status.is_delete) === 1) return undefined;
  const { links } = opts;
  const desc = (str(a.desc) ?? '').trim();
  const created = unixTime(a.create_time);
  const video = obj(a.video);
  const isNote = Number(a.aweme_type) === IMAGE_POST || arr(a.images).length > 0;
  const cover = [video.origin_cover, video.cover].map((c) => urls(c)[0]).find(Boolean);
  const coverLink = cover ? links.image(cover, 'douyin') : undefined;
  const parts: string[] = [];
  const enclosures: Enclosure[] = [];
  if (desc) parts.push(`<p>${textToHtml(desc)}</p>`);
  if (isNote) {
    for (const [i, raw] of arr(a.images).entries()) {
      const image = obj(raw);
      const src = urls(image)[0];
      if (!src) continue;
      const still = links.image(src, 'douyin');
      const clip = urls(obj(obj(image.video).play_addr)).length ? links.route(`/play/douyin/${id}`, { i }) : undefined;
      parts.push(
        clip
          ? `<p><video controls preload="none" playsinline poster="${escapeHtml(still)}" src="${escapeHtml(clip)}"><img src="${escapeHtml(still)}" alt="" referrerpolicy="no-referrer"></video></p>`
          : `<p><img src="${escapeHtml(still)}" alt="" referrerpolicy="no-referrer"></p>`,
      );
    }
  } else {
    const h264 = h264Of(video);
    if (h264) {
      const play = links.route(`/play/douyin/${id}`);
      parts.push(`<p><video controls preload="none" playsinline${coverLink ? ` poster="${escapeHtml(coverLink)}"` : ''} src="${escapeHtml(play)}">${coverLink ? `<img src="${escapeHtml(coverLink)}" alt="" referrerpolicy="no-referrer">` : ''}</video></p>`);
      const ms = Number(video.duration ?? a.duration);
      enclosures.push({ url: play, type: 'video/mp4', length: h264.bytes, duration: ms > 0 ? Math.round(ms / 100) / 10 : undefined, width: h264.width, height: h264.height });
    } else if (coverLink) parts.push(`<p><img src="${escapeHtml(coverLink)}" alt="" referrerpolicy="no-referrer"></p>`);
  }
  const st = obj(a.statistics);
  parts.push(`<p><small>❤️ ${count(st.digg_count)} · 💬 ${count(st.comment_count)} · ↗️ ${count(st.share_count)}${Number(a.is_top) ? ` · 📌 ${escapeHtml(opts.texts.t('douyin.item.pinned'))}` : ''}</small></p>`);
  const hashtags = arr(a.text_extra)
    .map((t) => str(obj(t).hashtag_name))
    .filter((t): t is string => !!t);
  const author = obj(a.author);
  const item: FeedItem = {
    guid: id,
    title: titleOf(desc, created, opts.texts),
    link: `https://www.douyin.com/${isNote ? 'note' : 'video'}/${id}`,
    contentHtml: parts.join(''),
    summary: desc ? desc.slice(0, 300) : undefined,
    authors: str(author.nickname) ? [{ name: str(author.nickname)! }] : undefined,
    published: created,
    categories: [...new Set(hashtags)],
  };
  const firstImage = isNote ? urls(obj(arr(a.images)[0]))[0] : undefined;
  withCover(item, coverLink ?? (firstImage ? links.image(firstImage, 'douyin') : undefined));
  if (enclosures.length) item.enclosures = enclosures;
  return item;
}

/** GET /feeds/douyin/:secUserId */
export function douyinFeed(opts: DouyinFeedOptions): FeedSource<DouyinParams> {
  return {
    query: ['pages', 'max_cursor'],
    parse: (params, query) => parseDouyinParams(params.secUserId, query, opts.maxPages),
    key: (p) => `douyin:${p.secUid}:${p.pages}:${p.cursor}`,
    page: (p) => p.cursor !== '0',
    async fetch(p, signal) {
      const list: Record<string, unknown>[] = [];
      let cursor = p.cursor;
      let more: string | undefined;
      for (let page = 0; page < p.pages; page++) {
        const res = await opts.client.posts(p.secUid, cursor, signal);
        // null is how Douyin writes an empty list; anything else that is not a list is not an answer.
        if (res.aweme_list !== null && !Array.isArray(res.aweme_list)) throw badShape('its post list has no aweme_list');
        list.push(...arr(res.aweme_list).map(obj));
        const next = str(res.max_cursor);
        more = undefined;
        if (!Number(res.has_more) || !next || !CURSOR.test(next) || next === cursor) break;
        cursor = more = next;
      }
      let profile: Record<string, unknown> = obj(list[0]?.author);
      if (list.length === 0) {
        // Nothing listed: a private account, or simply no posts (a user that does not exist is said
        // so by the client). A profile without a user is how Douyin refuses a cookie (f2), not "no user".
        const res = await opts.client.profile(p.secUid, signal);
        profile = obj(res.user);
        if (!str(profile.nickname)) throw badShape('its profile answer has no user');
        if (Number(profile.secret) === 1 || Number(profile.private_status) === 1) {
          throw new HttpError(403, 'DOUYIN_PRIVATE_ACCOUNT', `${str(profile.nickname)}'s Douyin account is private: its posts are visible to approved followers only`);
        }
      }
      const seen = new Set<string>();
      const items = list
        .map((a) => toItem(a, opts))
        .filter((i): i is FeedItem => !!i && !seen.has(i.guid) && !!seen.add(i.guid))
        // Pinned posts lead the list whatever their age: order by time instead.
        .sort((x, y) => (y.published ?? 0) - (x.published ?? 0));
      const nickname = str(profile.nickname) ?? p.secUid;
      const avatar = [profile.avatar_larger, profile.avatar_medium, profile.avatar_thumb].map((a) => urls(a)[0]).find(Boolean);
      const feed: FeedData = {
        id: `douyin:${p.secUid}`,
        title: opts.texts.t('douyin.feed.title', { name: nickname }),
        link: `https://www.douyin.com/user/${p.secUid}`,
        description: str(profile.signature)?.trim() || opts.texts.t('douyin.feed.description', { name: nickname }),
        language: 'zh-CN',
        image: avatar ? opts.links.image(avatar, 'douyin') : undefined,
        podcastImage: avatar ? opts.links.podcastArt(avatar, 'douyin') : undefined,
        podcastCategory: 'TV & Film',
        authors: [{ name: nickname }],
        items,
      };
      // Older posts: a next link for readers, and the pages a backfill follows.
      if (more) feed.nextQuery = { max_cursor: more };
      return feed;
    },
  };
}

/** The current stream of a post (its video, or image `i`'s live-photo clip) from the detail endpoint. */
export async function resolveDouyinMedia(client: DouyinClient, awemeId: string, index: number | undefined, signal?: AbortSignal): Promise<string> {
  const res = await client.detail(awemeId, signal);
  const a = obj(res.aweme_detail);
  if (!str(a.aweme_id)) throw new HttpError(404, 'DOUYIN_POST_NOT_FOUND', `Douyin has no post ${awemeId} (deleted, or not visible to this cookie)`);
  const status = obj(a.status);
  if (status.is_delete === true || status.is_prohibited === true) throw new HttpError(410, 'DOUYIN_POST_GONE', `Douyin post ${awemeId} was deleted or taken down`);
  let url: string | undefined;
  if (index !== undefined) url = playUrl(urls(obj(obj(obj(arr(a.images)[index]).video).play_addr)));
  else url = playUrl(h264Of(obj(a.video))?.urls ?? []);
  if (!url) throw new HttpError(404, 'NO_VIDEO', `Douyin post ${awemeId} has no ${index !== undefined ? `clip for image ${index}` : 'H.264 video'}`);
  return url;
}
