import { badRequest } from '../../http/errors.js';
import type { KeepRequest } from '../../proxy/keeper.js';
import type { MediaLinks } from '../../proxy/links.js';
import type { MomentsPostStore } from '../../store/moments-posts.js';
import { escapeHtml, textToHtml } from '../../http/html.js';
import { titleLine, withCover, type Enclosure, type FeedData, type FeedItem } from '../model.js';
import { bool, positiveInt, single, type Query } from '../params.js';
import type { FeedSource } from '../source.js';
import type { MomentsPost } from './post.js';
import type { MomentsProvider } from './provider.js';
import type { Texts } from '../../i18n/index.js';

export const WXID = /^[A-Za-z0-9_@.-]{1,64}$/;
export const POST_ID = /^\d{1,20}$/;
const MAX_USERS = 50;

export interface MomentsFeedOptions {
  provider: MomentsProvider;
  posts: MomentsPostStore<MomentsPost>;
  links: MediaLinks;
  keepMedia(requests: readonly KeepRequest[]): void;
  maxPages: number;
  pageSize: number;
  /** Shared Channels videos link to /play/channels when the Channels source can resolve them. */
  channelsPlayable: boolean;
  texts: Texts;
}

export interface MomentsParams {
  usernames: string[];
  keyword?: string;
  pages: number;
  comments: boolean;
}

export function parseMomentsParams(username: string | undefined, query: Query, maxPages: number): MomentsParams {
  const listed = (single(query, 'usernames') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const usernames = [...new Set(username !== undefined ? [username, ...listed] : listed)].sort();
  if (usernames.length > MAX_USERS) throw badRequest(`usernames takes at most ${MAX_USERS} wxids`);
  for (const u of usernames) if (!WXID.test(u)) throw badRequest(`"${u.slice(0, 70)}" is not a WeChat id (wxid_… or a custom id)`);
  const keyword = single(query, 'keyword')?.trim();
  if (keyword !== undefined && keyword.length > 100) throw badRequest('keyword must be at most 100 characters');
  return {
    usernames,
    keyword: keyword || undefined,
    pages: positiveInt(query, 'pages', maxPages, 'MOMENTS_MAX_PAGES') ?? 1,
    comments: bool(query, 'comments', false),
  };
}

/** Every file a post points at, to keep while its links still work. */
export function mediaToKeep(post: MomentsPost): KeepRequest[] {
  const out: KeepRequest[] = [];
  for (const m of post.media) {
    out.push({ url: m.url, platform: 'moments', key: m.key, kind: m.kind });
    if (m.kind === 'video' && m.thumb) out.push({ url: m.thumb, platform: 'moments', key: m.thumbKey, kind: 'image' });
    if (m.live) out.push({ url: m.live.url, platform: 'moments', key: m.live.key, kind: 'video' });
  }
  if (post.link?.cover) out.push({ url: post.link.cover.url, platform: 'moments', key: post.link.cover.key, kind: 'image' });
  return out;
}

function titleOf(p: MomentsPost, tx: Texts): string {
  const line = titleLine(p.text);
  if (line) return line;
  if (p.kind === 'link' && p.link?.title) return p.link.title;
  if (p.kind === 'finder') return tx.t('moments.item.channels', { text: p.finder?.desc.split('\n')[0]?.trim() || p.finder?.nickname || '' }).trim();
  const photos = p.media.filter((m) => m.kind === 'image').length;
  if (p.kind === 'video') return tx.t('moments.item.video');
  if (photos) return photos === 1 ? tx.t('moments.item.photo') : tx.t('moments.item.photos', { count: photos });
  return tx.t('moments.item.post');
}

const img = (src: string) => `<img src="${escapeHtml(src)}" alt="" referrerpolicy="no-referrer">`;

/** The post's body (HTML with root-relative signed media links) and its enclosures. */
export function renderPost(p: MomentsPost, opts: Pick<MomentsFeedOptions, 'links' | 'channelsPlayable' | 'texts'>, withComments: boolean): { html: string; enclosures: Enclosure[]; image?: string } {
  const { links } = opts;
  const { t } = opts.texts;
  const parts: string[] = [];
  const enclosures: Enclosure[] = [];
  let image: string | undefined;
  if (p.text) parts.push(`<p>${textToHtml(p.text)}</p>`);
  // Without its details a post's media links have no tokens and would not load: say so instead.
  if (p.partial) parts.push(`<p><em>${escapeHtml(t('moments.item.partial'))}</em></p>`);
  for (const m of p.partial ? [] : p.media) {
    if (m.kind === 'image') {
      const still = links.image(m.url, 'moments', { key: m.key });
      image ??= still;
      if (m.live) {
        const clip = links.video(m.live.url, 'moments', { key: m.live.key });
        parts.push(`<p><video controls preload="none" playsinline poster="${escapeHtml(still)}" src="${escapeHtml(clip)}">${img(still)}</video></p>`);
        enclosures.push({ url: clip, type: 'video/mp4', length: m.live.bytes, duration: m.live.duration, title: t('moments.item.livePhoto') });
      } else parts.push(`<p>${img(still)}</p>`);
    } else {
      const src = links.video(m.url, 'moments', { key: m.key });
      const poster = m.thumb ? links.image(m.thumb, 'moments', { key: m.thumbKey }) : undefined;
      image ??= poster;
      parts.push(`<p><video controls preload="none" playsinline${poster ? ` poster="${escapeHtml(poster)}"` : ''} src="${escapeHtml(src)}"><a href="${escapeHtml(src)}">${escapeHtml(t('moments.item.videoLink'))}</a></video></p>`);
      enclosures.push({ url: src, type: 'video/mp4', length: m.bytes, duration: m.duration, width: m.width, height: m.height });
    }
  }
  if (p.link) {
    const l = p.link;
    const cover = l.cover && !p.partial ? links.image(l.cover.url, 'moments', { key: l.cover.key }) : undefined;
    image ??= cover;
    const title = escapeHtml(l.title || l.url || 'Link');
    parts.push(
      `<blockquote>${cover ? `<p>${img(cover)}</p>` : ''}<p>${l.url ? `<a href="${escapeHtml(l.url)}"><strong>${title}</strong></a>` : `<strong>${title}</strong>`}</p>${l.description ? `<p>${escapeHtml(l.description)}</p>` : ''}${l.source ? `<p><small>${escapeHtml(l.source)}</small></p>` : ''}</blockquote>`,
    );
  }
  if (p.finder) {
    const f = p.finder;
    const cover = f.cover ? links.image(f.cover, 'channels') : undefined;
    image ??= cover;
    const nid = /^(\d{1,20})/.exec(f.nonceId)?.[1];
    const play = opts.channelsPlayable && POST_ID.test(f.objectId) && nid ? links.route(`/play/channels/${f.objectId}/${nid}`, { u: f.username || undefined }) : undefined;
    parts.push(
      `<blockquote><p>${escapeHtml(t('moments.item.channelsBy', { name: f.nickname || f.username }))}</p>${f.desc ? `<p>${textToHtml(f.desc)}</p>` : ''}${cover ? `<p>${img(cover)}</p>` : ''}${play ? `<p><a href="${escapeHtml(play)}">${escapeHtml(t('moments.item.play'))}</a></p>` : `<p><em>${escapeHtml(t('moments.item.openInWeChat'))}</em></p>`}</blockquote>`,
    );
    if (play) enclosures.push({ url: play, type: 'video/mp4', duration: f.duration });
  }
  if (p.location) parts.push(`<p>📍 ${escapeHtml(p.location)}</p>`);
  if (withComments && (p.likes.length || p.comments.length)) {
    if (p.likes.length) parts.push(`<p>❤️ ${escapeHtml(p.likes.join(', '))}</p>`);
    if (p.comments.length) {
      parts.push(
        `<ul>${p.comments.map((c) => `<li><strong>${escapeHtml(c.nickname)}</strong>${c.replyTo ? ` → ${escapeHtml(c.replyTo)}` : ''}: ${escapeHtml(c.content)}</li>`).join('')}</ul>`,
      );
    }
  }
  return { html: parts.join(''), enclosures, image };
}

export const postPath = (id: string) => `/moments/post/${id}`;

function toItem(p: MomentsPost, params: MomentsParams, opts: MomentsFeedOptions): FeedItem {
  const { html, enclosures, image } = renderPost(p, opts, params.comments);
  const item: FeedItem = {
    guid: p.id,
    title: titleOf(p, opts.texts),
    link: p.kind === 'link' && p.link?.url ? p.link.url : opts.links.route(postPath(p.id)),
    contentHtml: html,
    summary: p.text ? p.text.slice(0, 300) : undefined,
    authors: [{ name: p.nickname || p.username }],
    published: p.createTime ? p.createTime * 1000 : undefined,
  };
  withCover(item, image);
  if (enclosures.length) item.enclosures = enclosures;
  return item;
}

/** GET /feeds/moments and /feeds/moments/:username. */
export function momentsFeed(opts: MomentsFeedOptions): FeedSource<MomentsParams> {
  return {
    query: ['usernames', 'keyword', 'pages', 'comments'],
    parse: (params, query) => parseMomentsParams(params.username, query, opts.maxPages),
    key: (p) => `moments:${opts.provider.name}:${p.usernames.join(',')}:${p.keyword ?? ''}:${p.pages}:${+p.comments}`,
    async fetch(p, signal) {
      // Each kept post is read (and parsed) once per fetch, for the provider's question and for the merge.
      const keptPosts = new Map<string, Promise<MomentsPost | undefined>>();
      const keptOf = (id: string) => {
        if (!keptPosts.has(id)) keptPosts.set(id, opts.posts.get(id));
        return keptPosts.get(id)!;
      };
      // A post kept without its details (partial) is not known: its details are asked for again.
      const known = async (id: string) => {
        const kept = await keptOf(id);
        return kept !== undefined && !kept.partial;
      };
      const fresh = await opts.provider.timeline({ usernames: p.usernames, keyword: p.keyword, pages: p.pages, known }, signal);
      // Media never changes: a known post keeps what was first seen (E云's list omits usable links),
      // unless what was kept lacked its details and this answer has them.
      const completed = new Set<string>();
      const unread = fresh.filter((post) => !keptPosts.has(post.id)).map((post) => post.id);
      const batch = await opts.posts.getMany(unread);
      for (const id of unread) keptPosts.set(id, Promise.resolve(batch.get(id)));
      const keptList = await Promise.all(fresh.map((post) => keptOf(post.id)));
      const merged = fresh.map((post, i) => {
        const kept = keptList[i];
        if (!kept) return post;
        if (kept.partial && !post.partial) {
          completed.add(post.id);
          return post;
        }
        return { ...kept, nickname: post.nickname || kept.nickname, text: post.text || kept.text, likes: post.likes, comments: post.comments, location: post.location ?? kept.location };
      });
      const firstSeen = await opts.posts.record(merged);
      for (const post of merged) if (!post.partial && (firstSeen.has(post.id) || completed.has(post.id))) opts.keepMedia(mediaToKeep(post));
      // What the upstream returned, and everything kept from the same span of time: deleted posts stay.
      const since = merged.length ? Math.min(...merged.map((x) => x.createTime)) : 0;
      const limit = opts.pageSize * p.pages * 4;
      const kw = p.keyword?.toLowerCase();
      const posts = (await opts.posts.since(p.usernames, since, limit))
        .filter((x) => !kw || x.text.toLowerCase().includes(kw))
        .slice(0, limit);
      const { t } = opts.texts;
      const who = p.usernames.length === 1 ? (posts.find((x) => x.username === p.usernames[0])?.nickname ?? p.usernames[0]!) : undefined;
      const feed: FeedData = {
        id: `moments:${p.usernames.join(',') || 'all'}${p.keyword ? `:${p.keyword}` : ''}`,
        // Likes and comments in the body: kept apart in the archive.
        variant: p.comments ? 'comments' : undefined,
        title: who ? t('moments.feed.one', { name: who }) : p.usernames.length ? t('moments.feed.some', { count: p.usernames.length }) : t('moments.feed.all'),
        link: 'https://weixin.qq.com/',
        description: p.keyword
          ? who
            ? t('moments.feed.descriptionOneKeyword', { name: who, keyword: p.keyword })
            : t('moments.feed.descriptionAllKeyword', { keyword: p.keyword })
          : who
            ? t('moments.feed.descriptionOne', { name: who })
            : t('moments.feed.descriptionAll'),
        language: 'zh-CN',
        // A podcast only when its posts carry video: people's own posts, not film.
        podcastCategory: 'Society & Culture > Personal Journals',
        items: posts.map((x) => toItem(x, p, opts)),
      };
      if (who) feed.authors = [{ name: who }];
      return feed;
    },
  };
}
