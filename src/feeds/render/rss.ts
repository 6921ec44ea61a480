import { feedUpdated, type FeedData } from '../model.js';
import { FH, rfc822, thumbnailAttrs, type Renderer } from './common.js';
import { XmlWriter } from './xml.js';

const NS = {
  'xmlns:atom': 'http://www.w3.org/2005/Atom',
  'xmlns:content': 'http://purl.org/rss/1.0/modules/content/',
  'xmlns:dc': 'http://purl.org/dc/elements/1.1/',
  'xmlns:media': 'http://search.yahoo.com/mrss/',
};
const ITUNES = 'http://www.itunes.com/dtds/podcast-1.0.dtd';

/** Podcast apps (Apple Podcasts, Pocket Casts, AntennaPod, Overcast) list a feed whose items carry audio or video. */
const isPodcast = (feed: FeedData) => feed.items.some((i) => i.enclosures?.some((e) => /^(audio|video)\//.test(e.type)));

/** itunes:duration as H:MM:SS. */
export function hms(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${h}:${pad(m)}:${pad(s % 60)}`;
}

const plain = (s: string, max: number) => {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
};

function mediumOf(type: string): string | undefined {
  const top = type.split('/')[0];
  return top === 'image' || top === 'video' || top === 'audio' ? top : undefined;
}

/**
 * RSS 2.0 with the RSS Advisory Board's profile: summary in <description> before the full HTML in
 * <content:encoded>, names in dc:creator (<author> must be an e-mail), one <enclosure> (the first)
 * and every media file as media:content.
 */
export const renderRss: Renderer = (feed: FeedData, opts) => {
  const x = new XmlWriter();
  const podcast = isPodcast(feed);
  const archive = opts.archive;
  x.open('rss', { version: '2.0', ...NS, 'xmlns:itunes': podcast ? ITUNES : undefined, 'xmlns:fh': archive?.current ? FH : undefined }).open('channel');
  x.leaf('title', feed.title);
  x.leaf('link', feed.link);
  x.leaf('description', feed.description || feed.title);
  x.empty('atom:link', { href: opts.selfUrl, rel: 'self', type: 'application/rss+xml' });
  if (opts.hubUrl) x.empty('atom:link', { href: opts.hubUrl, rel: 'hub' });
  if (opts.nextUrl) x.empty('atom:link', { href: opts.nextUrl, rel: 'next', type: 'application/rss+xml' });
  if (archive?.current) x.empty('atom:link', { href: archive.current, rel: 'current', type: 'application/rss+xml' });
  if (archive?.prev) x.empty('atom:link', { href: archive.prev, rel: 'prev-archive', type: 'application/rss+xml' });
  if (archive?.next) x.empty('atom:link', { href: archive.next, rel: 'next-archive', type: 'application/rss+xml' });
  if (archive?.current) x.empty('fh:archive', {});
  x.leaf('language', feed.language || undefined);
  const updated = feedUpdated(feed, opts.builtAt);
  if (updated > 0) x.leaf('lastBuildDate', rfc822(updated));
  x.leaf('generator', 'feedgate');
  x.leaf('ttl', Math.max(1, Math.round(opts.ttlSeconds / 60)));
  if (feed.image) x.open('image').leaf('url', feed.image).leaf('title', feed.title).leaf('link', feed.link).close('image');
  const feedAuthor = feed.authors?.[0]?.name ?? feed.title;
  if (podcast) {
    x.leaf('itunes:author', feedAuthor);
    x.leaf('itunes:summary', plain(feed.description || feed.title, 4000));
    x.leaf('itunes:subtitle', plain(feed.description || feed.title, 255));
    const art = feed.podcastImage ?? feed.image;
    if (art) x.empty('itunes:image', { href: art });
    const [category, sub] = (feed.podcastCategory ?? 'TV & Film').split(' > ');
    if (sub) x.open('itunes:category', { text: category }).empty('itunes:category', { text: sub }).close('itunes:category');
    else x.empty('itunes:category', { text: category });
    x.leaf('itunes:explicit', 'false');
    x.leaf('itunes:type', 'episodic');
    if (opts.ownerEmail) x.open('itunes:owner').leaf('itunes:name', feedAuthor).leaf('itunes:email', opts.ownerEmail).close('itunes:owner');
  }

  for (const item of feed.items) {
    x.open('item');
    x.leaf('title', item.title);
    x.leaf('link', item.link || undefined);
    x.leaf('description', (item.summary ?? item.contentHtml) || undefined);
    if (item.summary !== undefined) x.leaf('content:encoded', item.contentHtml || undefined);
    for (const a of item.authors ?? []) x.leaf('dc:creator', a.name);
    for (const c of item.categories ?? []) x.leaf('category', c);
    x.leaf('guid', item.guid, { isPermaLink: 'false' });
    if (item.published !== undefined) x.leaf('pubDate', rfc822(item.published));
    const first = item.enclosures?.[0];
    if (first) x.empty('enclosure', { url: first.url, length: first.length ?? 0, type: first.type });
    for (const e of item.enclosures ?? []) {
      x.empty('media:content', {
        url: e.url,
        type: e.type,
        medium: mediumOf(e.type),
        fileSize: e.length,
        duration: e.duration !== undefined ? Math.round(e.duration) : undefined,
        width: e.width,
        height: e.height,
      });
    }
    for (const th of item.thumbnails ?? []) x.empty('media:thumbnail', thumbnailAttrs(th));
    if (podcast) {
      const duration = item.enclosures?.find((e) => e.duration !== undefined)?.duration;
      if (duration !== undefined) x.leaf('itunes:duration', hms(duration));
      const image = item.image ?? item.thumbnails?.[0]?.url;
      if (image) x.empty('itunes:image', { href: image });
      x.leaf('itunes:author', item.authors?.[0]?.name ?? feedAuthor);
      if (item.summary) x.leaf('itunes:summary', plain(item.summary, 4000));
      x.leaf('itunes:explicit', 'false');
    }
    x.close('item');
  }
  return x.close('channel').close('rss').toString();
};
