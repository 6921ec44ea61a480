import type { FeedData, FeedItem } from './model.js';

const abs = (base: string, url: string) => (url.startsWith('/') && !url.startsWith('//') ? base + url : url);
const ATTR = /(\s(?:src|href|poster)=)(["'])\/(?!\/)/g;

/**
 * Makes our own root-relative links (signed /proxy and /play URLs) absolute. Readers resolve relative
 * URLs against the item's link, which is the platform's page, so they must never see them relative.
 */
export function absolutize(feed: FeedData, items: FeedItem[], base: string): FeedData {
  const html = (s: string | undefined) => s?.replace(ATTR, (_m, attr: string, q: string) => `${attr}${q}${base.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}/`);
  return {
    ...feed,
    link: abs(base, feed.link),
    image: feed.image && abs(base, feed.image),
    podcastImage: feed.podcastImage && abs(base, feed.podcastImage),
    items: items.map((item) => ({
      ...item,
      link: item.link && abs(base, item.link),
      image: item.image && abs(base, item.image),
      contentHtml: html(item.contentHtml),
      enclosures: item.enclosures?.map((e) => ({ ...e, url: abs(base, e.url) })),
      thumbnails: item.thumbnails?.map((t) => ({ ...t, url: abs(base, t.url) })),
    })),
  };
}
