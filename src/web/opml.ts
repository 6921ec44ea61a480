import { XmlWriter } from '../feeds/render/xml.js';
import { rfc822 } from '../feeds/render/common.js';
import type { OpmlFeed } from '../store/opml-feeds.js';

/**
 * OPML 2.0 as Miniflux, FreshRSS and NetNewsWire import it: one folder per source, one outline per feed,
 * in RSS or Atom (newsboat and others read no JSON Feed): a feed read in several formats is listed once,
 * and one read only as JSON Feed is listed as RSS.
 */
export function renderOpml(feeds: readonly OpmlFeed[], opts: { base: string; token?: string; now?: number; folders: Readonly<Record<string, string>> }): string {
  const x = new XmlWriter();
  x.open('opml', { version: '2.0' });
  x.open('head').leaf('title', 'feedgate feeds').leaf('dateCreated', rfc822(opts.now ?? Date.now())).close('head');
  x.open('body');
  const bySource = new Map<string, OpmlFeed[]>();
  for (const f of feeds) bySource.set(f.source, [...(bySource.get(f.source) ?? []), f]);
  for (const [source, list] of bySource) {
    const folder = opts.folders[source] ?? source;
    x.open('outline', { text: folder, title: folder });
    const seen = new Set<string>();
    for (const f of list) {
      const url = new URL(opts.base + f.url);
      if (url.pathname.endsWith('.json')) url.pathname = `${url.pathname.slice(0, -'.json'.length)}.rss`;
      const feed = url.pathname.replace(/\.(rss|atom)$/, '') + url.search;
      if (seen.has(feed)) continue;
      seen.add(feed);
      if (opts.token) url.searchParams.set('token', opts.token);
      const title = f.title || f.url;
      const type = url.pathname.endsWith('.atom') ? 'atom' : 'rss';
      x.empty('outline', { type, text: title, title, xmlUrl: url.href });
    }
    x.close('outline');
  }
  x.close('body').close('opml');
  return x.toString();
}
