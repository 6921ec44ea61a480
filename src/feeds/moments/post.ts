import type { Cheerio } from 'cheerio';
import type { Element } from 'domhandler';
import { momentsMediaUrl } from './media-url.js';
import { cheerio } from '../../cheerio.js';
import { unixSeconds } from '../../upstream/shape.js';

/**
 * A Moments post as feedgate keeps it (plain JSON, stored in SQLite), whichever upstream it came from.
 * Media URLs already follow the CDN rules (token, idx, full size); keys are decimal strings, never numbers.
 */
export interface MomentsMedia {
  kind: 'image' | 'video';
  url: string;
  /** Decrypts `url`: the image's url@key, or the video's <enc key>. */
  key?: string;
  thumb?: string;
  thumbKey?: string;
  width?: number;
  height?: number;
  bytes?: number;
  /** Seconds. */
  duration?: number;
  /** The clip of a live photo, with its own key. */
  live?: { url: string; key?: string; thumb?: string; bytes?: number; duration?: number };
}

export type MomentsKind = 'text' | 'photos' | 'video' | 'link' | 'finder';

export interface MomentsPost {
  /** The snsId, a u64 as a decimal string. */
  id: string;
  username: string;
  nickname: string;
  /** Unix seconds. */
  createTime: number;
  text: string;
  kind: MomentsKind;
  media: MomentsMedia[];
  link?: { title: string; description: string; url: string; source?: string; cover?: MomentsMedia };
  finder?: { objectId: string; nonceId: string; nickname: string; username: string; desc: string; cover?: string; duration?: number };
  location?: string;
  likes: string[];
  comments: Array<{ nickname: string; content: string; replyTo?: string }>;
  /**
   * The post's details could not be had (E云's /getSnsObject failed): what the list's own XML says, whose
   * media links lack their tokens. Its media are not kept; the details are asked for again next time.
   */
  partial?: boolean;
}

const U64 = /^\d{1,20}$/;
/** A key as the XML gives it; "0" and empty mean "not encrypted". */
const keyOf = (v: string | undefined) => {
  const s = (v ?? '').trim();
  return U64.test(s) && !/^0+$/.test(s) ? s : undefined;
};
const num = (v: string | undefined) => {
  const n = Number.parseFloat(v ?? '');
  return Number.isFinite(n) && n > 0 ? n : undefined;
};

type Node = Cheerio<Element>;

/** The text of the first child element named `name` (XML names are case-sensitive here). */
function childText(node: Node, name: string): string {
  return node.children(name).first().text().trim();
}

function readMedia(m: Node, postType: number): MomentsMedia | undefined {
  const urlEl = m.children('url').first();
  const thumbEl = m.children('thumb').first();
  const rawUrl = urlEl.text().trim();
  const type = Number(childText(m, 'type'));
  const enc = keyOf(m.children('enc').first().attr('key'));
  const video = type === 6 || postType === 15 || /snsvideodownload|\.mp4(\?|$)/i.test(rawUrl) || (enc !== undefined && !/vweixinthumb/.test(rawUrl));
  const kind = video ? 'video' : 'image';
  const url = rawUrl && momentsMediaUrl(rawUrl, urlEl.attr('token'), kind);
  if (!url) return undefined;
  const size = m.children('size').first();
  const rawThumb = thumbEl.text().trim();
  const out: MomentsMedia = {
    kind,
    url,
    key: video ? (enc ?? keyOf(urlEl.attr('key'))) : keyOf(urlEl.attr('key')),
    thumb: rawThumb ? momentsMediaUrl(rawThumb, thumbEl.attr('token') ?? urlEl.attr('token'), 'image') : undefined,
    thumbKey: keyOf(thumbEl.attr('key')) ?? (thumbEl.attr('enc_idx') === '0' ? undefined : video ? undefined : keyOf(urlEl.attr('key'))),
    width: num(size.attr('width')),
    height: num(size.attr('height')),
    bytes: num(size.attr('totalSize')),
    duration: num(childText(m, 'videoDuration')),
  };
  const liveMedia = m.children('LivePhoto').children('liveMedia').first();
  if (liveMedia.length) {
    const lu = liveMedia.children('url').first();
    const lt = liveMedia.children('thumb').first();
    const liveUrl = momentsMediaUrl(lu.text().trim(), lu.attr('token'), 'video');
    if (liveUrl) {
      out.live = {
        url: liveUrl,
        // Each live photo's own key: never the first <enc> of the post (WeFlow's bug, notes §2.4).
        key: keyOf(liveMedia.children('enc').first().attr('key')) ?? keyOf(lu.attr('key')),
        thumb: lt.text().trim() ? momentsMediaUrl(lt.text().trim(), lt.attr('token'), 'image') : undefined,
        bytes: num(liveMedia.children('size').first().attr('totalSize')),
        duration: num(childText(liveMedia, 'videoDuration')),
      };
    }
  }
  for (const k of Object.keys(out) as Array<keyof MomentsMedia>) if (out[k] === undefined) delete out[k];
  return out;
}

function locationOf(loc: Node): string | undefined {
  if (!loc.length) return undefined;
  const parts = [loc.attr('poiName'), loc.attr('city'), loc.attr('country')].map((s) => (s ?? '').trim()).filter(Boolean);
  const label = loc.attr('poiAddressName') || loc.attr('label');
  return [...new Set(label ? [label, ...parts] : parts)].join(', ') || undefined;
}

/** Fields from outside the XML (the upstream's JSON) that fill what the XML leaves out. */
export interface PostExtras {
  id?: string;
  username?: string;
  nickname?: string;
  createTime?: number;
  likes?: string[];
  comments?: MomentsPost['comments'];
}

/**
 * Parses a post's XML, either flavour: the server's <TimelineObject> (E云) or the PC client's
 * <SnsDataItem> with <LocalExtraInfo> (WeFlow's rawXml). Tolerant of missing elements and of
 * `type` vs `contentStyle`; the kind is read from the fields present, as the notes advise.
 */
export async function parsePostXml(xml: string, extras: PostExtras = {}): Promise<MomentsPost | undefined> {
  const { load } = await cheerio();
  const $ = load(xml, { xml: true });
  const tl = $('TimelineObject').first();
  if (!tl.length) return undefined;
  const id = childText(tl, 'id') || extras.id || '';
  if (!U64.test(id)) return undefined;
  const content = tl.children('ContentObject').first();
  const postType = Number(childText(content, 'type') || childText(content, 'contentStyle'));
  const media = content
    .children('mediaList')
    .children('media')
    .toArray()
    .map((m) => readMedia($(m), postType))
    .filter((m): m is MomentsMedia => !!m);

  const finder = content.children('finderFeed').first();
  const linkUrl = childText(content, 'contentUrl');
  const title = childText(content, 'title');
  let kind: MomentsKind;
  let link: MomentsPost['link'];
  let finderOut: MomentsPost['finder'];
  if (finder.length && childText(finder, 'objectId')) {
    kind = 'finder';
    const fm = finder.children('mediaList').children('media').toArray().map((m) => $(m));
    const coverEl = fm.find((m) => childText(m, 'coverUrl') || childText(m, 'thumbUrl'));
    finderOut = {
      objectId: childText(finder, 'objectId'),
      nonceId: childText(finder, 'objectNonceId'),
      nickname: childText(finder, 'nickname'),
      username: childText(finder, 'username'),
      desc: childText(finder, 'desc'),
      cover: coverEl ? momentsMediaUrl(childText(coverEl, 'coverUrl') || childText(coverEl, 'thumbUrl'), undefined, 'video') : undefined,
      duration: fm.map((m) => num(childText(m, 'videoPlayDuration'))).find((d) => d !== undefined),
    };
  } else if (/^https?:\/\//i.test(linkUrl) || (title && postType !== 1 && postType !== 15)) {
    kind = 'link';
    link = { title, description: childText(content, 'description'), url: /^https?:\/\//i.test(linkUrl) ? linkUrl : '', source: childText(tl, 'sourceNickName') || undefined, cover: media.find((m) => m.kind === 'image') };
  } else if (media.some((m) => m.kind === 'video')) kind = 'video';
  else if (media.length) kind = 'photos';
  else kind = 'text';

  // The PC flavour carries likes and comments; the JSON around it may carry them too.
  const extra = $('LocalExtraInfo').first();
  const likes = extra
    .children('like_user_list')
    .children('user_comment')
    .toArray()
    .map((u) => childText($(u), 'nickname') || childText($(u), 'username'))
    .filter(Boolean);
  const rawComments = extra
    .children('comment_user_list')
    .children('user_comment')
    .toArray()
    .map((u) => $(u))
    .filter((u) => childText(u, 'b_deleted') !== '1');
  const byId = new Map(rawComments.map((u) => [childText(u, 'comment_id'), childText(u, 'nickname') || childText(u, 'username')]));
  const comments = rawComments.map((u) => {
    const ref = childText(u, 'ref_comment_id');
    const replyTo = ref && ref !== '0' ? byId.get(ref) : undefined;
    return { nickname: childText(u, 'nickname') || childText(u, 'username'), content: childText(u, 'content'), ...(replyTo ? { replyTo } : {}) };
  });

  const username = childText(tl, 'username') || extras.username || '';
  const post: MomentsPost = {
    id,
    username,
    nickname: extras.nickname || childText(extra, 'nickname') || username,
    createTime: unixSeconds(childText(tl, 'createTime')) ?? extras.createTime ?? 0,
    text: tl.children('contentDesc').first().text().replace(/\r\n/g, '\n').trim(),
    kind,
    media: kind === 'link' ? [] : media,
    likes: likes.length ? likes : (extras.likes ?? []),
    comments: comments.length ? comments : (extras.comments ?? []),
  };
  if (link) post.link = link;
  if (finderOut) post.finder = finderOut;
  const location = locationOf(tl.children('location').first());
  if (location) post.location = location;
  return post;
}
