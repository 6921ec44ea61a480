import { feedUpdated, type FeedData } from '../model.js';
import { rfc822, thumbnailAttrs, type Renderer } from './common.js';
import { XmlWriter } from './xml.js';

const NS = {
  'xmlns:atom': 'http://www.w3.org/2005/Atom',
  'xmlns:content': 'http://purl.org/rss/1.0/modules/content/',
  'xmlns:dc': 'http://purl.org/dc/elements/1.1/',
  'xmlns:media': 'http://search.yahoo.com/mrss/',
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
  x.open('rss', { version: '2.0', ...NS }).open('channel');
  x.leaf('title', feed.title);
  x.leaf('link', feed.link);
  x.leaf('description', feed.description || feed.title);
  x.empty('atom:link', { href: opts.selfUrl, rel: 'self', type: 'application/rss+xml' });
  if (opts.nextUrl) x.empty('atom:link', { href: opts.nextUrl, rel: 'next', type: 'application/rss+xml' });
  x.leaf('language', feed.language || undefined);
  const updated = feedUpdated(feed);
  if (updated > 0) x.leaf('lastBuildDate', rfc822(updated));
  x.leaf('generator', 'feedgate');
  x.leaf('ttl', Math.max(1, Math.round(opts.ttlSeconds / 60)));
  if (feed.image) x.open('image').leaf('url', feed.image).leaf('title', feed.title).leaf('link', feed.link).close('image');

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
    x.close('item');
  }
  return x.close('channel').close('rss').toString();
};
