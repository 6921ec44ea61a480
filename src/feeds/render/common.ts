import type { FeedData, Thumbnail } from '../model.js';
import { xmlSafe, type Attrs } from './xml.js';

export interface RenderOptions {
  /** The exact URL the reader fetched (atom:link rel="self", JSON Feed feed_url). */
  selfUrl: string;
  /** Cache lifetime in seconds; RSS <ttl> is in minutes. */
  ttlSeconds: number;
  /** The next (older) page, when the source has one. */
  nextUrl?: string;
  /** Podcast owner's e-mail (itunes:owner), which directories and validators ask podcasts for. */
  ownerEmail?: string;
  /** When the feed's data was fetched: its update time when it carries no dated item and no time of its own. */
  builtAt?: number;
  /** The WebSub hub that pushes this feed (atom:link rel="hub", JSON Feed hubs). */
  hubUrl?: string;
  /**
   * RFC 5005 links: `prev` the next older archive document, `next` the next newer one, `current` the
   * subscription document (given on archive documents, which also carry fh:archive).
   */
  archive?: { prev?: string; next?: string; current?: string };
}

/** RFC 5005's namespace (fh:archive). */
export const FH = 'http://purl.org/syndication/history/1.0';

export type Renderer = (feed: FeedData, opts: RenderOptions) => string;

export const rfc822 = (ms: number) => new Date(ms).toUTCString();

/** RFC 3339 in UTC, without a fractional part when it is zero. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

// Lone surrogates would make encodeURIComponent throw; XML could not carry them anyway.
const nss = (s: string) => encodeURIComponent(xmlSafe(s)).replace(/%3A/gi, ':');

/** The feed's own Atom id, from its stable FeedData.id. */
export const feedUrn = (feedId: string) => `urn:feedgate:${nss(feedId)}`;

/** Atom ids must be URIs: keep guids that already are absolute URIs, scope the rest under the feed's urn. */
export function atomId(feedId: string, guid: string): string {
  if (/^(https?|urn|tag):/i.test(guid) && URL.canParse(guid)) return guid;
  return `${feedUrn(feedId)}:${nss(guid)}`;
}

/** media:thumbnail attributes (Media RSS), the same in RSS and Atom. */
export function thumbnailAttrs(th: Thumbnail): Attrs {
  return { url: th.url, width: th.width, height: th.height };
}
