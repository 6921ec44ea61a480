import { create } from 'xmlbuilder2';
import { feedUpdated, type FeedData } from '../model.js';
import { atomId, feedUrn, rfc3339, thumbnailAttrs, xmlSafe, type Renderer } from './common.js';

/** Atom 1.0 (RFC 4287). Every entry gets an author (the feed's when it has none) and an updated time. */
export const renderAtom: Renderer = (feed: FeedData, opts) => {
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele('feed', { xmlns: 'http://www.w3.org/2005/Atom', 'xmlns:media': 'http://search.yahoo.com/mrss/' });
  const t = (parent: ReturnType<typeof doc.ele>, name: string, value: string, attrs?: Record<string, string>) =>
    parent.ele(name, attrs).txt(xmlSafe(value));
  const updated = feedUpdated(feed);
  const feedAuthors = feed.authors?.length ? feed.authors : [{ name: feed.title }];

  t(root, 'id', feedUrn(feed.id));
  t(root, 'title', feed.title, { type: 'text' });
  if (feed.description) t(root, 'subtitle', feed.description, { type: 'text' });
  t(root, 'updated', rfc3339(updated));
  root.ele('link', { rel: 'self', type: 'application/atom+xml', href: opts.selfUrl });
  root.ele('link', { rel: 'alternate', type: 'text/html', href: feed.link });
  if (opts.nextUrl) root.ele('link', { rel: 'next', type: 'application/atom+xml', href: opts.nextUrl });
  for (const a of feedAuthors) {
    const el = root.ele('author');
    t(el, 'name', a.name);
    if (a.url) t(el, 'uri', a.url);
  }
  t(root, 'generator', 'feedgate');
  if (feed.image) t(root, 'logo', feed.image);

  for (const item of feed.items) {
    const entry = root.ele('entry');
    t(entry, 'id', atomId(feed.id, item.guid));
    t(entry, 'title', item.title, { type: 'text' });
    t(entry, 'updated', rfc3339(item.updated ?? item.published ?? updated));
    if (item.published !== undefined) t(entry, 'published', rfc3339(item.published));
    if (item.link) entry.ele('link', { rel: 'alternate', type: 'text/html', href: item.link });
    for (const a of item.authors ?? []) {
      const el = entry.ele('author');
      t(el, 'name', a.name);
      if (a.url) t(el, 'uri', a.url);
    }
    for (const c of item.categories ?? []) entry.ele('category', { term: xmlSafe(c) });
    if (item.summary) t(entry, 'summary', item.summary, { type: 'text' });
    if (item.contentHtml) t(entry, 'content', item.contentHtml, { type: 'html' });
    for (const e of item.enclosures ?? []) {
      const attrs: Record<string, string> = { rel: 'enclosure', type: e.type, href: e.url };
      if (e.length !== undefined) attrs.length = String(e.length);
      if (e.title) attrs.title = xmlSafe(e.title);
      entry.ele('link', attrs);
    }
    for (const th of item.thumbnails ?? []) entry.ele('media:thumbnail', thumbnailAttrs(th));
  }
  return doc.end({ prettyPrint: false });
};
