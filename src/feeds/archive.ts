import { badRequest } from '../http/errors.js';
import { escapeHtml } from '../http/html.js';
import { parseSearch, type SearchQuery } from '../store/search-text.js';
import { single, type Query } from './params.js';
import type { MessageKey } from '../i18n/index.js';
import type { ArchiveStore, ArchivedItem } from '../store/archive.js';
import type { FeedData, FeedItem } from './model.js';

/**
 * Every item a feed has shown, kept (store/archive.ts), and given back: a feed shows the upstream's
 * answer with the kept items it no longer lists merged in by time, those the author deleted marked.
 */
export interface FeedArchiveOptions {
  store: ArchiveStore;
  /** ARCHIVE_MAX_ITEMS per feed; 0 keeps nothing (the archive is off). */
  maxItems: number;
  /** ARCHIVE_DAYS: an item no longer listed is kept this long after it was last seen. */
  days: number;
  /** How many kept items a feed shows at most besides the upstream's (FEED_MAX_LIMIT). */
  showMax: number;
  /** The feeds' language, for the deleted mark. */
  t: (key: MessageKey) => string;
}

/** An item's text as searched: its title, summary and body without tags. */
export function itemText(item: FeedItem): string {
  const body = (item.contentHtml ?? '')
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
  return [item.title, item.summary ?? '', body, ...(item.categories ?? []), ...(item.authors ?? []).map((a) => a.name)].join('\n');
}

/** When deletions are told apart from items that scrolled off: the answer's oldest time, less its outliers (a pinned post). */
function windowFrom(times: number[]): number | undefined {
  if (times.length < 2) return undefined;
  const sorted = [...times].sort((a, b) => b - a);
  return sorted[Math.floor((sorted.length - 1) * 0.9)];
}

/** Items per RFC 5005 archive document: page n holds the items kept n-th by 50s (seq (n-1)·50+1 … n·50). */
export const ARCHIVE_PAGE = 50;

export class FeedArchive {
  constructor(private readonly opts: FeedArchiveOptions) {}

  get enabled(): boolean {
    return this.opts.maxItems > 0;
  }

  get store(): ArchiveStore {
    return this.opts.store;
  }

  /** A kept item as a feed shows it: marked when it was deleted. */
  shown(a: ArchivedItem): FeedItem {
    const item = JSON.parse(a.data) as FeedItem;
    if (!a.gone) return { ...item, archived: 'kept' };
    const mark = this.opts.t('archive.deleted');
    return {
      ...item,
      archived: 'gone',
      categories: [...(item.categories ?? []), mark],
      contentHtml: `<p><em>${escapeHtml(this.opts.t('archive.deletedNote'))}</em></p>${item.contentHtml ?? (item.summary ? `<p>${escapeHtml(item.summary)}</p>` : '')}`,
    };
  }

  /**
   * Keeps `data` (the first page of a feed, as the upstream answered) and returns it with the kept items it
   * no longer lists, newest first. Throws when the store does: the load fails and the last good copy stands.
   */
  async keep(source: string, url: string, data: FeedData, now = Date.now()): Promise<FeedData> {
    if (!this.enabled) return data;
    const { items: all, ...head } = data;
    // feedgate's own notices (credentials expired…) come and go: they are not kept, and an answer of
    // nothing else says nothing of what the upstream lists.
    const items = all.filter((i) => !i.guid.startsWith('feedgate:'));
    if (items.length === 0) return data;
    const dated = items.flatMap((i) => (i.published ?? i.updated) !== undefined ? [(i.published ?? i.updated)!] : []);
    const { nextSeq } = await this.opts.store.record({
      feed: data.id,
      source,
      url,
      title: data.title,
      head: JSON.stringify(head),
      items: items.map((i) => ({ guid: i.guid, data: JSON.stringify(i), sortAt: i.published ?? i.updated, text: () => itemText(i) })),
      windowFrom: windowFrom(dated),
      now,
      maxItems: this.opts.maxItems,
      keepAfter: now - this.opts.days * 86_400_000,
    });
    const archivePages = Math.floor((nextSeq - 1) / ARCHIVE_PAGE);
    const kept = await this.opts.store.unlisted(data.id, this.opts.showMax);
    if (kept.length === 0) return { ...data, archivePages };
    // Merged by time; the upstream's own order stands among its items.
    const merged: FeedItem[] = all.filter((i) => i.guid.startsWith('feedgate:'));
    let k = 0;
    for (const item of items) {
      const t = item.published ?? item.updated;
      while (k < kept.length && t !== undefined && kept[k]!.sortAt > t) merged.push(this.shown(kept[k++]!));
      merged.push(item);
    }
    while (k < kept.length) merged.push(this.shown(kept[k++]!));
    return { ...data, archivePages, items: merged };
  }
}

/** ?q= and ?source= of a search: q has something to look for, source is a source's name. */
export function searchParams(query: Query): { q: string; source?: string; query: SearchQuery } {
  const q = (single(query, 'q') ?? '').trim();
  if (q.length > 200) throw badRequest('parameter q is longer than 200 characters');
  const parsed = parseSearch(q);
  if (!parsed) throw badRequest('parameter q must contain a word to look for, e.g. q=电影 or q=feedgate');
  const source = single(query, 'source');
  if (source !== undefined && !/^[a-z][a-z0-9_-]{0,31}$/.test(source)) throw badRequest(`parameter source must be a source's name such as douyin or mp, got "${source.slice(0, 40)}"`);
  return { q, source, query: parsed };
}

