import { create } from 'xmlbuilder2';
import { feedUpdated, type FeedData } from '../model.js';
import { rfc822, thumbnailAttrs, xmlSafe, type Renderer } from './common.js';

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
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const channel = doc.ele('rss', { version: '2.0', ...NS }).ele('channel');
  const t = (parent: ReturnType<typeof doc.ele>, name: string, value: string) => parent.ele(name).txt(xmlSafe(value));

  t(channel, 'title', feed.title);
  t(channel, 'link', feed.link);
  t(channel, 'description', feed.description || feed.title);
  channel.ele('atom:link', { href: opts.selfUrl, rel: 'self', type: 'application/rss+xml' });
  if (opts.nextUrl) channel.ele('atom:link', { href: opts.nextUrl, rel: 'next', type: 'application/rss+xml' });
  if (feed.language) t(channel, 'language', feed.language);
  const updated = feedUpdated(feed);
  if (updated > 0) t(channel, 'lastBuildDate', rfc822(updated));
  t(channel, 'generator', 'feedgate');
  t(channel, 'ttl', String(Math.max(1, Math.round(opts.ttlSeconds / 60))));
  if (feed.image) {
    const img = channel.ele('image');
    t(img, 'url', feed.image);
    t(img, 'title', feed.title);
    t(img, 'link', feed.link);
  }

  for (const item of feed.items) {
    const el = channel.ele('item');
    t(el, 'title', item.title);
    if (item.link) t(el, 'link', item.link);
    const description = item.summary ?? item.contentHtml;
    if (description) t(el, 'description', description);
    if (item.contentHtml && item.summary !== undefined) t(el, 'content:encoded', item.contentHtml);
    for (const a of item.authors ?? []) t(el, 'dc:creator', a.name);
    for (const c of item.categories ?? []) t(el, 'category', c);
    el.ele('guid', { isPermaLink: 'false' }).txt(xmlSafe(item.guid));
    if (item.published !== undefined) t(el, 'pubDate', rfc822(item.published));
    const first = item.enclosures?.[0];
    if (first) el.ele('enclosure', { url: first.url, length: String(first.length ?? 0), type: first.type });
    for (const e of item.enclosures ?? []) {
      const attrs: Record<string, string> = { url: e.url, type: e.type };
      const medium = mediumOf(e.type);
      if (medium) attrs.medium = medium;
      if (e.length !== undefined) attrs.fileSize = String(e.length);
      if (e.duration !== undefined) attrs.duration = String(Math.round(e.duration));
      if (e.width !== undefined) attrs.width = String(e.width);
      if (e.height !== undefined) attrs.height = String(e.height);
      el.ele('media:content', attrs);
    }
    for (const th of item.thumbnails ?? []) el.ele('media:thumbnail', thumbnailAttrs(th));
  }
  return doc.end({ prettyPrint: false });
};
