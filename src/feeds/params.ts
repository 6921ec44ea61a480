import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import { badRequest } from '../http/errors.js';
import type { FeedItem } from './model.js';
import { BRIEF_MAX, BRIEF_MIN, OPENCC } from './text.js';
import { FORMATS, type Format } from './render/index.js';

/**
 * The query parameters every feed takes, with RSSHub's meanings (lib/middleware/parameter.ts):
 * filter* keep, filterout* drop, filter_time keeps items newer than N seconds (undated ones too),
 * filter_case_sensitive defaults to true, limit cuts after filtering, sorted=false keeps source order.
 * Regexes run on RE2 (re2js): linear time, so no pattern can hang the server.
 */
export interface FeedParams {
  format: Format;
  limit?: number;
  sorted: boolean;
  filterTime?: number;
  /** RSSHub's opencc conversion (s2t, t2s, s2tw, …). */
  opencc?: string;
  /** RSSHub's brief: a plain-text summary of this many characters instead of the body. */
  brief?: number;
  keep: Matchers;
  drop: Matchers;
  /** Kept items the upstream no longer lists are shown (archive=0: only the upstream's answer). */
  archive: boolean;
  /** Canonical string of everything above but `format`; part of the render memo key. */
  canonical: string;
}

interface Matchers {
  any?: RE2JS;
  title?: RE2JS;
  description?: RE2JS;
  author?: RE2JS;
  category?: RE2JS;
}

/** How many items a feed without `limit` shows when the archive adds kept ones. */
export const KEPT_SHOWN = 100;

const FIELDS = ['title', 'description', 'author', 'category'] as const;
const MAX_PATTERN = 1000;

export type Query = Record<string, string | string[] | undefined>;

/** One query parameter: a repeated one is a 400, an empty one counts as absent. */
export function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) throw badRequest(`parameter ${name} was given more than once`);
  return v === undefined || v === '' ? undefined : v;
}

/** A true/false parameter (1/0 too); absent or empty is `fallback`. */
export function bool(query: Query, name: string, fallback: boolean): boolean {
  const v = single(query, name);
  if (v === undefined) return fallback;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw badRequest(`parameter ${name} must be true or false, got "${v}"`);
}

/** A whole number from 1 to `max`, or undefined when absent; `bound` names the setting that sets `max`. */
export function positiveInt(query: Query, name: string, max: number, bound?: string): number | undefined {
  const v = single(query, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d{1,9}$/.test(v) || n < 1 || n > max) throw badRequest(`parameter ${name} must be a whole number from 1 to ${max}${bound ? ` (${bound})` : ''}, got "${v}"`);
  return n;
}

/** re2js, loaded on the first filter: most requests carry none, and it is 3 MB of an idle process. */
let re2: typeof RE2JS | undefined;
const RE2 = (): typeof RE2JS => (re2 ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS);

function regex(query: Query, name: string, caseSensitive: boolean): RE2JS | undefined {
  const v = single(query, name);
  if (v === undefined) return undefined;
  if (v.length > MAX_PATTERN) throw badRequest(`parameter ${name} is longer than ${MAX_PATTERN} characters`);
  try {
    const R = RE2();
    return R.compile(v, caseSensitive ? 0 : R.CASE_INSENSITIVE);
  } catch (err) {
    throw badRequest(`parameter ${name} is not a valid regular expression (RE2 syntax): ${(err as Error).message}`, 'BAD_REGEX');
  }
}

export function parseFormat(value: string | undefined, fromSuffix: Format | undefined, fallback: Format = 'rss'): Format {
  if (value === undefined) return fromSuffix ?? fallback;
  if (!(FORMATS as readonly string[]).includes(value)) throw badRequest(`parameter format must be one of ${FORMATS.join(', ')}, got "${value}"`);
  if (fromSuffix && fromSuffix !== value) throw badRequest(`the path asks for ${fromSuffix} but format asks for ${value}`);
  return value as Format;
}

/** Every parameter that changes what a feed shows (besides `format`). */
export const FEED_PARAMS: ReadonlySet<string> = new Set(['limit', 'archive', 'sorted', 'filter_time', 'filter_case_sensitive', 'opencc', 'brief', 'filter', 'filterout', ...FIELDS.flatMap((f) => [`filter_${f}`, `filterout_${f}`])]);
const PLAIN = new Map<Format, FeedParams>();

export function parseFeedParams(query: Query, opts: { maxLimit: number; formatFromPath?: Format; defaultFormat?: Format }): FeedParams {
  const format = parseFormat(single(query, 'format'), opts.formatFromPath, opts.defaultFormat);
  // Most polls carry none of the filters: answer them with one shared object, no parsing.
  let any = false;
  for (const k in query) if (FEED_PARAMS.has(k)) any = true;
  if (!any) {
    let plain = PLAIN.get(format);
    if (!plain) PLAIN.set(format, (plain = { format, sorted: true, archive: true, keep: {}, drop: {}, canonical: '' }));
    return plain;
  }
  const caseSensitive = bool(query, 'filter_case_sensitive', true);
  const sorted = bool(query, 'sorted', true);
  const archive = bool(query, 'archive', true);
  const limit = positiveInt(query, 'limit', opts.maxLimit);
  const filterTime = positiveInt(query, 'filter_time', 100 * 365 * 86400);
  const opencc = single(query, 'opencc');
  if (opencc !== undefined && !(opencc in OPENCC)) throw badRequest(`parameter opencc must be one of ${Object.keys(OPENCC).join(', ')}, got "${opencc.slice(0, 20)}"`);
  const briefRaw = single(query, 'brief');
  let brief: number | undefined;
  if (briefRaw !== undefined) {
    brief = Number(briefRaw);
    if (!/^\d{1,6}$/.test(briefRaw) || brief < BRIEF_MIN || brief > BRIEF_MAX) throw badRequest(`parameter brief must be a whole number from ${BRIEF_MIN} to ${BRIEF_MAX}, got "${briefRaw.slice(0, 20)}"`);
  }
  const keep: Matchers = { any: regex(query, 'filter', caseSensitive) };
  const drop: Matchers = { any: regex(query, 'filterout', caseSensitive) };
  for (const f of FIELDS) {
    keep[f] = regex(query, `filter_${f}`, caseSensitive);
    drop[f] = regex(query, `filterout_${f}`, caseSensitive);
  }
  const canonicalParts: string[] = [];
  for (const name of FEED_PARAMS) {
    const v = single(query, name);
    if (v !== undefined) canonicalParts.push(`${name}=${encodeURIComponent(v)}`);
  }
  return { format, limit, sorted, archive, filterTime, opencc, brief, keep, drop, canonical: canonicalParts.join('&') };
}

const found = (re: RE2JS, s: string) => re.matcher(s).find();

function fieldsOf(item: FeedItem) {
  return {
    title: item.title,
    description: item.contentHtml ?? item.summary ?? item.title,
    author: (item.authors ?? []).map((a) => a.name).join(' '),
    categories: item.categories ?? [],
  };
}

/** Sort, filter and cut. Returns a new array; the cached items are never mutated. */
export function applyFeedParams(items: readonly FeedItem[], p: FeedParams, now = Date.now()): FeedItem[] {
  let out = p.sorted ? [...items].sort((a, b) => (b.published ?? 0) - (a.published ?? 0)) : [...items];
  if (!p.archive) out = out.filter((item) => item.archived === undefined);
  const { keep, drop } = p;

  if (keep.any) {
    const re = keep.any;
    out = out.filter((item) => {
      const f = fieldsOf(item);
      return found(re, f.title) || found(re, f.description) || found(re, f.author) || f.categories.some((c) => found(re, c));
    });
  } else if (keep.title || keep.description || keep.author || keep.category) {
    out = out.filter((item) => {
      const f = fieldsOf(item);
      return (
        (!keep.title || found(keep.title, f.title)) &&
        (!keep.description || found(keep.description, f.description)) &&
        (!keep.author || found(keep.author, f.author)) &&
        (!keep.category || f.categories.some((c) => found(keep.category!, c)))
      );
    });
  }

  const dropTitle = drop.title ?? drop.any;
  const dropDescription = drop.description ?? drop.any;
  if (dropTitle || dropDescription || drop.author || drop.category) {
    out = out.filter((item) => {
      const f = fieldsOf(item);
      return (
        !(dropTitle && found(dropTitle, f.title)) &&
        !(dropDescription && found(dropDescription, f.description)) &&
        !(drop.author && found(drop.author, f.author)) &&
        !(drop.category && f.categories.some((c) => found(drop.category!, c)))
      );
    });
  }

  if (p.filterTime !== undefined) {
    const cutoff = now - p.filterTime * 1000;
    out = out.filter((item) => item.published === undefined || item.published >= cutoff);
  }
  if (p.limit !== undefined) out = out.slice(0, p.limit);
  // Without `limit`, kept items fill a feed up to this many; the upstream's own items are never cut.
  else if (out.length > KEPT_SHOWN) out = out.filter((item, i) => item.archived === undefined || i < KEPT_SHOWN);
  return out;
}
