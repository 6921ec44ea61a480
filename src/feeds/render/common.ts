import type { FeedData, Thumbnail } from '../model.js';

export interface RenderOptions {
  /** The exact URL the reader fetched (atom:link rel="self", JSON Feed feed_url). */
  selfUrl: string;
  /** Cache lifetime in seconds; RSS <ttl> is in minutes. */
  ttlSeconds: number;
  /** The next (older) page, when the source has one. */
  nextUrl?: string;
}

export type Renderer = (feed: FeedData, opts: RenderOptions) => string;

// XML 1.0 forbids most C0 controls, U+FFFE/U+FFFF and unpaired surrogates; upstream text does contain them.
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function xmlSafe(s: string): string {
  return s.replace(XML_INVALID, '');
}

export const rfc822 = (ms: number) => new Date(ms).toUTCString();

/** RFC 3339 in UTC, without a fractional part when it is zero. */
export const rfc3339 = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

const nss = (s: string) => encodeURIComponent(s).replace(/%3A/gi, ':');

/** The feed's own Atom id, from its stable FeedData.id. */
export const feedUrn = (feedId: string) => `urn:feedgate:${nss(feedId)}`;

/** Atom ids must be URIs: keep guids that already are absolute URIs, scope the rest under the feed's urn. */
export function atomId(feedId: string, guid: string): string {
  if (/^(https?|urn|tag):/i.test(guid) && URL.canParse(guid)) return guid;
  return `${feedUrn(feedId)}:${nss(guid)}`;
}

/** media:thumbnail attributes (Media RSS), the same in RSS and Atom. */
export function thumbnailAttrs(th: Thumbnail): Record<string, string> {
  const attrs: Record<string, string> = { url: th.url };
  if (th.width !== undefined) attrs.width = String(th.width);
  if (th.height !== undefined) attrs.height = String(th.height);
  return attrs;
}
