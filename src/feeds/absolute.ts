import type { FeedData, FeedItem } from './model.js';

/** `url` on `base` when it is one of our root-relative links (not protocol-relative); as it is otherwise. */
export const absoluteUrl = (base: string, url: string) => (url.startsWith('/') && !url.startsWith('//') ? base + url : url);
const ATTR = /(\s(?:src|href|poster)=)(["'])\/(?!\/)/g;

/**
 * Makes our own root-relative links (signed /proxy and /play URLs) absolute. Readers resolve relative
 * URLs against the item's link, which is the platform's page, so they must never see them relative.
 */
export function absolutize(feed: FeedData, items: FeedItem[], base: string): FeedData {
  const html = (s: string | undefined) => s?.replace(ATTR, (_m, attr: string, q: string) => `${attr}${q}${base.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}/`);
  return {
    ...feed,
    link: absoluteUrl(base, feed.link),
    image: feed.image && absoluteUrl(base, feed.image),
    podcastImage: feed.podcastImage && absoluteUrl(base, feed.podcastImage),
    items: items.map((item) => ({
      ...item,
      link: item.link && absoluteUrl(base, item.link),
      image: item.image && absoluteUrl(base, item.image),
      contentHtml: html(item.contentHtml),
      enclosures: item.enclosures?.map((e) => ({ ...e, url: absoluteUrl(base, e.url) })),
      thumbnails: item.thumbnails?.map((t) => ({ ...t, url: absoluteUrl(base, t.url) })),
    })),
  };
}
