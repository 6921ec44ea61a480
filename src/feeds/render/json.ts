import type { FeedData, Person } from '../model.js';
import { rfc3339, type Renderer } from './common.js';

const authors = (list: Person[] | undefined) => (list?.length ? list.map((a) => (a.url ? { name: a.name, url: a.url } : { name: a.name })) : undefined);

/** JSON Feed 1.1 (https://jsonfeed.org/version/1.1). Keys in a fixed order so bytes are stable. */
export const renderJson: Renderer = (feed: FeedData, opts) => {
  const out = {
    version: 'https://jsonfeed.org/version/1.1',
    title: feed.title,
    home_page_url: feed.link,
    feed_url: opts.selfUrl,
    hubs: opts.hubUrl ? [{ type: 'WebSub', url: opts.hubUrl }] : undefined,
    // JSON Feed has one way to older items: the source's next page, else the newest archive page.
    next_url: opts.nextUrl ?? opts.archive?.prev,
    description: feed.description || undefined,
    icon: feed.image,
    favicon: feed.favicon,
    language: feed.language,
    authors: authors(feed.authors),
    items: feed.items.map((item) => ({
      id: item.guid,
      url: item.link,
      title: item.title,
      // 1.1 needs content_html or content_text on every item.
      content_html: item.contentHtml,
      content_text: item.contentHtml === undefined ? (item.summary ?? '') : undefined,
      summary: item.contentHtml !== undefined ? item.summary : undefined,
      image: item.image,
      date_published: item.published !== undefined ? rfc3339(item.published) : undefined,
      date_modified: item.updated !== undefined ? rfc3339(item.updated) : undefined,
      authors: authors(item.authors),
      tags: item.categories?.length ? item.categories : undefined,
      attachments: item.enclosures?.length
        ? item.enclosures.map((e) => ({
            url: e.url,
            mime_type: e.type,
            title: e.title,
            size_in_bytes: e.length,
            duration_in_seconds: e.duration,
          }))
        : undefined,
    })),
  };
  return JSON.stringify(out);
};
