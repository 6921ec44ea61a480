import { createHash } from 'node:crypto';
import { badRequest } from '../http/errors.js';
import { escapeHtml } from '../http/html.js';
import { parseSearch, type SearchQuery } from '../store/search-text.js';
import { single, type Query } from './params.js';
import type { MessageKey } from '../i18n/index.js';
import type { ArchiveStore, ArchivedFeed, ArchivedItem } from '../store/archive.js';
import type { Backfill, BackfillStore } from '../store/archive-backfill.js';
import type { FeedData, FeedItem } from './model.js';
import type { KeptBodies, SourceModule } from './descriptor.js';

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
  /** ARCHIVE_BACKFILL_PAGES: how many of the upstream's later pages a new feed's archive is filled from; 0: none. */
  backfillPages?: number;
  backfills?: BackfillStore;
  /** By source: what gives kept items their bodies back (SourceModule.bodies). */
  bodies?: Readonly<Record<string, KeptBodies>>;
}

/**
 * An item as the archive writes it: without a body its source keeps for good (`bodyOf`), only the body's
 * hash, so a body that changes still rewrites (and re-indexes) the item.
 */
export function storedItem(i: FeedItem): string {
  if (!i.bodyOf || i.contentHtml === undefined) return JSON.stringify(i);
  const { contentHtml, ...rest } = i;
  return JSON.stringify({ ...rest, bodyHash: createHash('sha1').update(contentHtml).digest('base64url').slice(0, 12) });
}

/** A feed URL's path without its origin, query or format: what the archive names a feed by. */
export const feedPath = (url: string) =>
  url
    .replace(/^https?:\/\/[^/]+/, '')
    .replace(/[?#].*$/, '')
    .replace(/\.(rss|atom|json)$/, '');

/** The kept feed a reference names: its archive id, else its URL or path. */
export async function keptFeed(store: Pick<ArchiveStore, 'feed' | 'feedByUrl'>, ref: string): Promise<ArchivedFeed | undefined> {
  return (await store.feed(ref)) ?? (await store.feedByUrl(feedPath(ref)));
}

/** What gives kept items their bodies back, by source: the sources that keep bodies (SourceModule.bodies). */
export function sourceBodies(modules: readonly SourceModule[], deps: Parameters<NonNullable<SourceModule['bodies']>>[0]): Record<string, KeptBodies> {
  return Object.fromEntries(modules.flatMap((m) => (m.bodies ? [[m.name, m.bodies(deps)]] : [])));
}

/** An item as the archive store takes it. */
const recorded = (i: FeedItem) => ({ guid: i.guid, data: storedItem(i), sortAt: i.published ?? i.updated, text: () => itemText(i) });

/** The variant of an archive key (`id~variant`). */
const variantOf = (key: string) => {
  const at = key.indexOf('~');
  return at < 0 ? undefined : key.slice(at + 1);
};

/** Later pages read per background refresh of a feed, at most: a long backfill is spread over several. */
export const BACKFILL_PAGES_PER_RUN = 5;

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

/** Where the archive keeps a feed's items: its id, and its variant when the options change the items. */
export const archiveKey = (data: Pick<FeedData, 'id' | 'variant'>): string => (data.variant ? `${data.id}~${data.variant}` : data.id);

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

  get options(): Readonly<FeedArchiveOptions> {
    return this.opts;
  }

  /** Keeps the items of a later page of the upstream (a backfill); returns how many were new. */
  async older(source: string, data: FeedData, now = Date.now()): Promise<number> {
    const items = data.items.filter((i) => !i.guid.startsWith('feedgate:'));
    if (!this.enabled || items.length === 0) return 0;
    return this.opts.store.older({
      feed: archiveKey(data),
      source,
      items: items.map(recorded),
      now,
      maxItems: this.opts.maxItems,
    });
  }

  /**
   * Kept items as read back: bodies their sources keep given back (one call per source and variant), in
   * the order given, the deleted marked. A source that fails to give them leaves the items as kept
   * (summary and links).
   */
  async items(rows: readonly ArchivedItem[], opts: { marked?: boolean } = {}): Promise<FeedItem[]> {
    const items = rows.map((r) => JSON.parse(r.data) as FeedItem & { bodyHash?: string });
    const bodies = this.opts.bodies ?? {};
    const groups = new Map<string, number[]>();
    rows.forEach((r, n) => {
      if (!items[n]!.bodyOf || !bodies[r.source]) return;
      const k = `${r.source}\0${variantOf(r.feed) ?? ''}`;
      const group = groups.get(k);
      if (group) group.push(n);
      else groups.set(k, [n]);
    });
    for (const [k, at] of groups) {
      const [source, variant] = k.split('\0') as [string, string];
      const got = await bodies[source]!(at.map((n) => items[n]!), variant || undefined).catch(() => undefined);
      if (got?.length === at.length) at.forEach((n, j) => (items[n] = got[j]!));
    }
    // Unmarked for an export: it says listed and deleted apart, and an import must not keep the mark.
    return items.map(({ bodyHash: _h, ...item }: FeedItem & { bodyHash?: string }, n) => (opts.marked === false ? item : this.mark(rows[n]!, item)));
  }

  /** A kept item as a feed shows it: marked when it was deleted. */
  private mark(a: ArchivedItem, item: FeedItem): FeedItem {
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
      feed: archiveKey(data),
      source,
      url,
      title: data.title,
      head: JSON.stringify(head),
      items: items.map(recorded),
      windowFrom: windowFrom(dated),
      now,
      maxItems: this.opts.maxItems,
      keepAfter: now - this.opts.days * 86_400_000,
    });
    const archivePages = Math.floor((nextSeq - 1) / ARCHIVE_PAGE);
    const kept = await this.opts.store.unlisted(archiveKey(data), this.opts.showMax);
    if (kept.length === 0) return { ...data, archivePages };
    const shown = await this.items(kept);
    // Merged by time; the upstream's own order stands among its items.
    const merged: FeedItem[] = all.filter((i) => i.guid.startsWith('feedgate:'));
    let k = 0;
    for (const item of items) {
      const t = item.published ?? item.updated;
      while (k < kept.length && t !== undefined && kept[k]!.sortAt > t) merged.push(shown[k++]!);
      merged.push(item);
    }
    while (k < kept.length) merged.push(shown[k++]!);
    return { ...data, archivePages, items: merged };
  }
}

/**
 * The backfill of one feed: reads its upstream's later pages, following each page's next query, and keeps
 * what they list. Where it stopped is durable (archive_backfill), so the next refresh goes on from there,
 * on whichever replica runs it; a page that fails is noted and tried again then.
 */
export async function backfill(
  archive: FeedArchive,
  feed: { source: string; path: string; first: FeedData },
  page: (query: Record<string, string>) => Promise<FeedData>,
  now: () => number = Date.now,
): Promise<Backfill | undefined> {
  const { backfills: store, backfillPages: goal = 0 } = archive.options;
  if (!store || goal <= 0 || !archive.enabled) return undefined;
  const id = archiveKey(feed.first);
  let b = await store.get(id);
  if (!b) {
    if (!feed.first.nextQuery) return undefined;
    await store.begin({ feed: id, url: feed.path, pagesDone: 0, pagesGoal: goal, nextQuery: feed.first.nextQuery, added: 0, error: '', updatedAt: now() });
    b = await store.get(id);
    if (!b) return undefined;
  }
  for (let n = 0; n < BACKFILL_PAGES_PER_RUN && b.nextQuery && b.pagesDone < goal; n++) {
    const from = b.pagesDone;
    let next: Backfill;
    try {
      const data = await page(b.nextQuery);
      const added = await archive.older(feed.source, data, now());
      next = { ...b, pagesDone: from + 1, pagesGoal: goal, nextQuery: data.items.length > 0 ? data.nextQuery : undefined, added: b.added + added, error: '', updatedAt: now() };
    } catch (err) {
      await store.save({ ...b, pagesGoal: goal, error: (err as Error)?.message ?? String(err), updatedAt: now() }, from);
      throw err;
    }
    // Another replica counted this page first: it goes on, not this one.
    if (!(await store.save(next, from))) return next;
    b = next;
  }
  if (b.pagesGoal !== goal) await store.save({ ...b, pagesGoal: goal }, b.pagesDone);
  return b;
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

