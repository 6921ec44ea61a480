import { feedUpdated, type FeedData, type Person } from '../model.js';
import { FH, atomId, feedUrn, rfc3339, thumbnailAttrs, type Renderer } from './common.js';
import { XmlWriter } from './xml.js';

function person(x: XmlWriter, a: Person): void {
  x.open('author').leaf('name', a.name).leaf('uri', a.url || undefined).close('author');
}

/** Atom 1.0 (RFC 4287). Every entry gets an author (the feed's when it has none) and an updated time. */
export const renderAtom: Renderer = (feed: FeedData, opts) => {
  const x = new XmlWriter();
  const archive = opts.archive;
  x.open('feed', { xmlns: 'http://www.w3.org/2005/Atom', 'xmlns:media': 'http://search.yahoo.com/mrss/', 'xmlns:fh': archive?.current ? FH : undefined });
  if (archive?.current) x.empty('fh:archive', {});
  const updated = feedUpdated(feed, opts.builtAt);
  const feedAuthors = feed.authors?.length ? feed.authors : [{ name: feed.title }];

  x.leaf('id', feedUrn(feed.id));
  x.leaf('title', feed.title, { type: 'text' });
  if (feed.description) x.leaf('subtitle', feed.description, { type: 'text' });
  x.leaf('updated', rfc3339(updated));
  x.empty('link', { rel: 'self', type: 'application/atom+xml', href: opts.selfUrl });
  if (opts.hubUrl) x.empty('link', { rel: 'hub', href: opts.hubUrl });
  x.empty('link', { rel: 'alternate', type: 'text/html', href: feed.link });
  if (opts.nextUrl) x.empty('link', { rel: 'next', type: 'application/atom+xml', href: opts.nextUrl });
  if (archive?.current) x.empty('link', { rel: 'current', type: 'application/atom+xml', href: archive.current });
  if (archive?.prev) x.empty('link', { rel: 'prev-archive', type: 'application/atom+xml', href: archive.prev });
  if (archive?.next) x.empty('link', { rel: 'next-archive', type: 'application/atom+xml', href: archive.next });
  for (const a of feedAuthors) person(x, a);
  x.leaf('generator', 'feedgate');
  x.leaf('icon', feed.image || undefined);

  // No two entries share an atom:updated (validators warn, and some readers merge such entries): an
  // entry without a time of its own takes the feed's less a second per place, and one whose time is
  // taken (the articles of one WeChat push) goes a second earlier. atom:published keeps the real time.
  const used = new Set<number>();
  const entryUpdated = (item: FeedData['items'][number], i: number) => {
    let t = item.updated ?? item.published ?? updated - (i + 1) * 1000;
    t = Math.floor(t / 1000) * 1000;
    while (used.has(t)) t -= 1000;
    used.add(t);
    return t;
  };

  for (const [i, item] of feed.items.entries()) {
    x.open('entry');
    x.leaf('id', atomId(feed.id, item.guid));
    x.leaf('title', item.title, { type: 'text' });
    x.leaf('updated', rfc3339(entryUpdated(item, i)));
    if (item.published !== undefined) x.leaf('published', rfc3339(item.published));
    if (item.link) x.empty('link', { rel: 'alternate', type: 'text/html', href: item.link });
    for (const a of item.authors ?? []) person(x, a);
    for (const c of item.categories ?? []) x.empty('category', { term: c });
    if (item.summary) x.leaf('summary', item.summary, { type: 'text' });
    if (item.contentHtml) x.leaf('content', item.contentHtml, { type: 'html' });
    for (const e of item.enclosures ?? []) x.empty('link', { rel: 'enclosure', type: e.type, href: e.url, length: e.length, title: e.title });
    for (const th of item.thumbnails ?? []) x.empty('media:thumbnail', thumbnailAttrs(th));
    x.close('entry');
  }
  return x.close('feed').toString();
};
