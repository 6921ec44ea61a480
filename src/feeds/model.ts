/**
 * The platform-neutral feed model every source returns and every renderer reads.
 * Plain JSON (times are epoch milliseconds) so it can be cached, snapshotted and hashed as is.
 */

export interface Person {
  name: string;
  url?: string;
}

/** A media file attached to an item: RSS enclosure / media:content, Atom rel="enclosure", JSON Feed attachment. */
export interface Enclosure {
  url: string;
  /** Exact MIME type, e.g. video/mp4. Never guessed from the URL. */
  type: string;
  /** Size in bytes, when known. */
  length?: number;
  /** Seconds. */
  duration?: number;
  width?: number;
  height?: number;
  title?: string;
}

export interface Thumbnail {
  url: string;
  width?: number;
  height?: number;
}

export interface FeedItem {
  /** Unique within the feed; stable across refreshes. */
  guid: string;
  /** Plain text. */
  title: string;
  link?: string;
  /** Full body, HTML. */
  contentHtml?: string;
  /** Short plain-text summary. */
  summary?: string;
  authors?: Person[];
  published?: number;
  updated?: number;
  categories?: string[];
  /** Main image (JSON Feed `image`). */
  image?: string;
  enclosures?: Enclosure[];
  thumbnails?: Thumbnail[];
  /**
   * The key under which its source keeps this item's body for good (MP: the article's URL). The archive
   * then keeps the item without its body and asks the source for it when the item is read back.
   */
  bodyOf?: string;
  /** From the archive, no longer in the upstream's answer: `gone` when the author deleted it. */
  archived?: 'kept' | 'gone';
}

export interface FeedData {
  /**
   * Short stable name of what this feed is (e.g. "hdhive:movie:550"); scopes Atom entry ids,
   * which must be URIs, as `urn:feedgate:<id>:<guid>`.
   */
  id: string;
  title: string;
  /** The source's own page for what this feed follows. */
  link: string;
  description: string;
  language?: string;
  /** A square image (an account's avatar): JSON Feed icon, Atom icon, RSS image and itunes:image. */
  image?: string;
  /** The site's small icon, when known (JSON Feed favicon). */
  favicon?: string;
  /**
   * Apple Podcasts category (their list, e.g. "TV & Film"; a subcategory after " > ", as in
   * "Society & Culture > Personal Journals"), used when the feed carries audio or video.
   */
  podcastCategory?: string;
  /** A square picture of 1400-3000 px, as podcast directories want (itunes:image); `image` when absent. */
  podcastImage?: string;
  authors?: Person[];
  /** Used as the feed's update time when it has no dated items. Never "now": bytes must be stable. */
  updated?: number;
  /** How many full RFC 5005 archive pages the archive holds of this feed (set when it keeps the feed). */
  archivePages?: number;
  /**
   * What of the items these parameters change besides `id` (MP full text, a Channels quality): the
   * archive keeps each variant apart, so one reader's options never rewrite another's items. Absent
   * for the default options.
   */
  variant?: string;
  /** Query parameters that fetch the next (older) page, when there is one: the route makes the link. */
  nextQuery?: Record<string, string>;
  items: FeedItem[];
}

/** The last instant RFC 3339 and RFC 822 can write (year 9999); JavaScript dates go further, feeds do not. */
const LAST_FEED_TIME = Date.UTC(9999, 11, 31, 23, 59, 59);

/** Whether a time can be written into a feed: a finite epoch-ms number from 1970 to the year 9999. */
export const isFeedTime = (t: unknown): t is number => typeof t === 'number' && Number.isFinite(t) && t >= 0 && t <= LAST_FEED_TIME;

/** A size a feed can carry (bytes, pixels): a whole number, not negative, exact in a double. */
const isSize = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
/** A duration in seconds: not negative, and small enough to round to an exact whole number. */
const isDuration = (n: unknown): n is number => typeof n === 'number' && n >= 0 && n <= Number.MAX_SAFE_INTEGER;

/**
 * The feed with every time and count a renderer could not write dropped: the last guard behind the
 * sources' own checks (plausibleTime), so that one bad value, kept in a snapshot or an archive from
 * before those checks, costs a date and never the feed. The same object when nothing needs dropping.
 */
export function renderable(feed: FeedData): FeedData {
  const itemOk = (i: FeedItem) =>
    (i.published === undefined || isFeedTime(i.published)) &&
    (i.updated === undefined || isFeedTime(i.updated)) &&
    (i.enclosures ?? []).every((e) => [e.length, e.width, e.height].every((n) => n === undefined || isSize(n)) && (e.duration === undefined || isDuration(e.duration)));
  if ((feed.updated === undefined || isFeedTime(feed.updated)) && feed.items.every(itemOk)) return feed;
  const time = (t: number | undefined) => (isFeedTime(t) ? t : undefined);
  const size = (n: number | undefined) => (isSize(n) ? n : undefined);
  return {
    ...feed,
    updated: time(feed.updated),
    items: feed.items.map((i) =>
      itemOk(i)
        ? i
        : {
            ...i,
            published: time(i.published),
            updated: time(i.updated),
            enclosures: i.enclosures?.map((e) => ({ ...e, length: size(e.length), duration: isDuration(e.duration) ? e.duration : undefined, width: size(e.width), height: size(e.height) })),
          },
    ),
  };
}

/**
 * The newest time the feed carries: newest item time, else the feed's own, else `builtAt` (when its data
 * was fetched: stable while that copy is cached), else the epoch.
 */
export function feedUpdated(feed: FeedData, builtAt = 0): number {
  let newest = -Infinity;
  for (const item of feed.items) {
    const t = item.updated ?? item.published;
    if (isFeedTime(t) && t > newest) newest = t;
  }
  return Number.isFinite(newest) ? newest : isFeedTime(feed.updated) ? feed.updated : builtAt;
}

/** An item title from free text: its first non-empty line, shortened to `max` characters with an ellipsis. */
export function titleLine(text: string, max = 140): string | undefined {
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find(Boolean);
  return line && line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Gives an item its picture: JSON Feed `image` and a media:thumbnail, when there is one. */
export function withCover(item: FeedItem, url: string | undefined): FeedItem {
  if (url) {
    item.image = url;
    item.thumbnails = [{ url }];
  }
  return item;
}
