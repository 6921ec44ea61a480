import type { ArchiveStore, ArchivedFeed, ArchivedItem } from '../store/archive.js';
import { itemText } from './archive.js';
import type { FeedItem } from './model.js';

/**
 * The archive as JSON Lines, lossless: a header line, then per feed one `feed` line and its `item` lines
 * (in the order they were kept). Read in batches by id, so memory stays flat whatever the size.
 */
export const EXPORT_VERSION = 1;
const BATCH = 500;

export interface ExportProgress {
  done: number;
  total: number;
}

/** Kept items as they were served, bodies kept by their sources given back (FeedArchive.items, unmarked). */
export type KeptItems = (rows: readonly ArchivedItem[]) => Promise<FeedItem[]>;
const parsed: KeptItems = async (rows) => rows.map((r) => JSON.parse(r.data) as FeedItem);

/**
 * What an export walks: the feeds (all, or one), how many items they keep, and each feed's items a batch
 * at a time by id (as served, by `kept`), counting them into `progress`.
 */
export async function keptWalk(store: ArchiveStore, only: ArchivedFeed | undefined, kept: KeptItems = parsed, progress?: (p: ExportProgress) => void) {
  const feeds = only ? [only] : await store.feeds();
  const total = only ? await store.count(only.feed) : await store.count();
  let done = 0;
  async function* batches(f: ArchivedFeed): AsyncGenerator<{ rows: ArchivedItem[]; items: FeedItem[] }> {
    for (let after = 0; ; ) {
      const rows = await store.scan(after, BATCH, f.feed);
      if (rows.length === 0) return;
      yield { rows, items: await kept(rows) };
      after = rows.at(-1)!.id;
      done += rows.length;
      progress?.({ done, total });
    }
  }
  return { feeds, total, batches, done: () => done };
}

export async function* exportLines(store: ArchiveStore, only?: ArchivedFeed, progress?: (p: ExportProgress) => void, kept: KeptItems = parsed): AsyncGenerator<string> {
  const walk = await keptWalk(store, only, kept, progress);
  yield `${JSON.stringify({ type: 'feedgate-archive', version: EXPORT_VERSION, exported_at: new Date().toISOString(), feeds: walk.feeds.length, items: walk.total })}\n`;
  for (const f of walk.feeds) {
    yield `${JSON.stringify({ type: 'feed', feed: f.feed, source: f.source, url: f.url, title: f.title, next_seq: f.nextSeq, updated_at: f.updatedAt, head: JSON.parse(f.head) })}\n`;
    for await (const { rows, items } of walk.batches(f)) {
      let chunk = '';
      rows.forEach((r, n) => {
        chunk += `${JSON.stringify({ type: 'item', feed: r.feed, source: r.source, guid: r.guid, seq: r.seq, first_seen: r.firstSeen, last_seen: r.lastSeen, listed: r.listed, gone: r.gone, sort_at: r.sortAt, item: items[n] })}\n`;
      });
      yield chunk;
    }
  }
}

export class ImportError extends Error {}

/**
 * Loads an export into an archive that keeps nothing yet (an item already kept is left as it is).
 * Returns how many items were loaded. Lines are read one at a time; items are written in batches.
 */
export async function importLines(store: ArchiveStore, lines: AsyncIterable<string> | Iterable<string>, progress?: (p: ExportProgress) => void): Promise<{ feeds: number; items: number }> {
  if ((await store.count()) > 0) throw new ImportError('this instance already keeps items: import loads an export into an empty archive (a new DATA_DIR or database)');
  let header = false;
  let feed: ArchivedFeed | undefined;
  let batch: Array<Omit<ArchivedItem, 'id'> & { text: string }> = [];
  let feeds = 0;
  let items = 0;
  let total = 0;
  let lineNo = 0;
  const flush = async () => {
    if (feed && batch.length) items += await store.load(feed, batch);
    batch = [];
    progress?.({ done: items, total });
  };
  for await (const line of lines) {
    lineNo++;
    if (!line.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new ImportError(`line ${lineNo} is not JSON: is this a feedgate export (format=jsonl)?`);
    }
    if (!header) {
      if (o.type !== 'feedgate-archive' || o.version !== EXPORT_VERSION) throw new ImportError(`line 1 is not a feedgate archive header of version ${EXPORT_VERSION}`);
      header = true;
      total = Number(o.items) || 0;
      continue;
    }
    if (o.type === 'feed') {
      await flush();
      if (typeof o.feed !== 'string' || typeof o.source !== 'string') throw new ImportError(`line ${lineNo}: a feed line needs feed and source`);
      feed = { feed: o.feed, source: o.source, url: String(o.url ?? ''), title: String(o.title ?? ''), head: JSON.stringify(o.head ?? {}), nextSeq: Number(o.next_seq) || 1, updatedAt: Number(o.updated_at) || 0 };
      // A feed without items is kept too.
      await store.load(feed, []);
      feeds++;
    } else if (o.type === 'item') {
      if (!feed || o.feed !== feed.feed) throw new ImportError(`line ${lineNo}: an item line must follow its feed's line`);
      const item = o.item as FeedItem | undefined;
      if (!item || typeof item.guid !== 'string' || typeof o.guid !== 'string' || !Number.isSafeInteger(o.seq)) throw new ImportError(`line ${lineNo}: an item line needs guid, seq and item`);
      batch.push({
        feed: feed.feed,
        source: String(o.source ?? feed.source),
        guid: o.guid,
        seq: Number(o.seq),
        firstSeen: Number(o.first_seen) || 0,
        lastSeen: Number(o.last_seen) || 0,
        listed: o.listed === true,
        gone: o.gone === true,
        sortAt: Number(o.sort_at) || 0,
        data: JSON.stringify(item),
        text: itemText(item),
      });
      if (batch.length >= BATCH) await flush();
    } else {
      throw new ImportError(`line ${lineNo}: unknown line type ${JSON.stringify(o.type)}`);
    }
  }
  await flush();
  if (!header) throw new ImportError('the file is empty');
  return { feeds, items };
}
