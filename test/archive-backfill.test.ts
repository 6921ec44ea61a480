import { describe, expect, it } from 'vitest';
import { FeedArchive, backfill } from '../src/feeds/archive.js';
import type { FeedData } from '../src/feeds/model.js';
import { archiveStore } from '../src/store/archive.js';
import { backfillStore } from '../src/store/archive-backfill.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { openSqlite } from '../src/store/sqlite.js';
import { ACCOUNT, useFakeChannels } from './fakes/channels.js';
import { tempDir, useStartApp } from './helpers/app.js';

/**
 * Issue 25: a feed refreshed in the background has its archive filled back from the upstream's later
 * pages (ARCHIVE_BACKFILL_PAGES), a few per refresh, resumed where it stopped, shown on the start page.
 */

const ch = useFakeChannels();
const startApp = useStartApp();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A feed page of items n…n-k+1 (newest first), with a next page while n-k > 0. */
function page(n: number, k: number): FeedData {
  const items = Array.from({ length: k }, (_, i) => n - i).filter((x) => x > 0).map((x) => ({ guid: `g${x}`, title: `第${x}条 item ${x}`, published: Date.UTC(2025, 0, x) }));
  return { id: 'test:feed', title: 'T', link: 'https://example.com', description: '', items, nextQuery: n - k > 0 ? { offset: String(n - k) } : undefined };
}

describe('backfill', () => {
  it('walks later pages to the goal, a few per run, resumes after a failure, never counts a page twice between replicas', async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = archiveStore(db);
    const fills = backfillStore(db);
    const archive = new FeedArchive({ store, maxItems: 1000, days: 3650, showMax: 100, t: (k) => k, backfillPages: 7, backfills: fills });
    // The first page (items 30…28) is kept as a refresh keeps it.
    const first = page(30, 3);
    await archive.keep('test', '/feeds/test/x', first);
    const asked: string[] = [];
    let failAt: string | undefined = '18';
    const loader = async (q: Record<string, string>) => {
      asked.push(q.offset!);
      if (q.offset === failAt) throw new Error('429 from the upstream');
      return page(Number(q.offset), 3);
    };
    // Run 1: five pages at most (27…25, 24…22, 21…19), then the fourth fails: noted, and it throws.
    await expect(backfill(archive, { source: 'test', path: '/feeds/test/x', first }, loader)).rejects.toThrow(/429/);
    expect(asked).toEqual(['27', '24', '21', '18']);
    expect(await fills.get('test:feed')).toMatchObject({ pagesDone: 3, pagesGoal: 7, nextQuery: { offset: '18' }, added: 9, error: '429 from the upstream' });
    // Run 2: from where it stopped, to the goal of 7 pages (4 more), then no further.
    failAt = undefined;
    asked.length = 0;
    const b = await backfill(archive, { source: 'test', path: '/feeds/test/x', first }, loader);
    expect(asked).toEqual(['18', '15', '12', '9']);
    expect(b).toMatchObject({ pagesDone: 7, added: 21, error: '' });
    expect(await store.count('test:feed')).toBe(24);
    asked.length = 0;
    await backfill(archive, { source: 'test', path: '/feeds/test/x', first }, loader);
    expect(asked).toEqual([]);
    // Kept as no longer on the first page, never as deleted: a refresh of the first page leaves them so,
    // and the feed shows them merged by time.
    const shown = await archive.keep('test', '/feeds/test/x', page(31, 3), Date.now() + 1000);
    expect(shown.items.map((i) => i.guid).slice(0, 6)).toEqual(['g31', 'g30', 'g29', 'g28', 'g27', 'g26']);
    expect(shown.items.some((i) => i.archived === 'gone')).toBe(false);
    // A goal raised later goes on from the last page's next query.
    const more = new FeedArchive({ ...archive.options, backfillPages: 8 });
    await backfill(more, { source: 'test', path: '/feeds/test/x', first }, loader);
    expect(asked).toEqual(['6']);
    // Two replicas on the same step: one counts the page, the other's save is refused.
    const before = (await fills.get('test:feed'))!;
    expect(await fills.save({ ...before, pagesDone: before.pagesDone + 1 }, before.pagesDone)).toBe(true);
    expect(await fills.save({ ...before, pagesDone: before.pagesDone + 1 }, before.pagesDone)).toBe(false);
    await db.close();
  });

  it('stops at ARCHIVE_MAX_ITEMS (the newest of a page first) and at a page without items', async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = archiveStore(db);
    const fills = backfillStore(db);
    const archive = new FeedArchive({ store, maxItems: 5, days: 3650, showMax: 100, t: (k) => k, backfillPages: 10, backfills: fills });
    const first = page(30, 3);
    await archive.keep('test', '/feeds/test/x', first);
    await backfill(archive, { source: 'test', path: '/feeds/test/x', first }, async (q) => page(Number(q.offset), 3));
    expect(await store.count('test:feed')).toBe(5);
    expect((await store.scan(0, 10, 'test:feed')).map((r) => r.guid).sort()).toEqual(['g26', 'g27', 'g28', 'g29', 'g30']);
    const empty = { ...first, id: 'test:empty' };
    await archive.keep('test', '/feeds/test/y', empty);
    const b = await backfill(new FeedArchive({ ...archive.options, maxItems: 100 }), { source: 'test', path: '/feeds/test/y', first: empty }, async () => ({ ...page(0, 0), id: 'test:empty', nextQuery: { offset: '1' } }));
    expect(b).toMatchObject({ pagesDone: 1, nextQuery: undefined });
    await db.close();
  });
});

describe('backfill of a Channels feed in the background', () => {
  it('the refresh reads the later page once, the feed then shows all four posts; progress and export links on the start page and in /api/sources', async () => {
    const app = await startApp({ WXCD_API_URL: ch.fake.wxcdUrl, PROXY_ALLOW_HOSTS: ch.cdn.host, CACHE_TTL: '1s', REFRESH_CHANNELS: '1s', ARCHIVE_BACKFILL_PAGES: 3 });
    const path = `/feeds/channels/${ACCOUNT}`;
    const first = (await (await fetch(`${app.url}${path}.json`)).json()) as { items: Array<{ id: string }> };
    expect(first.items).toHaveLength(2);
    type Row = { pages_done: number; next_query: string; added: number };
    let row: Row | undefined;
    for (let i = 0; i < 100 && !(row = await app.db.get<Row>('SELECT * FROM archive_backfill'))?.pages_done; i++) await sleep(100);
    expect(row).toMatchObject({ pages_done: 1, next_query: '', added: 2 });
    await sleep(1100);
    const all = (await (await fetch(`${app.url}${path}.json`)).json()) as { items: Array<{ id: string }> };
    expect(all.items).toHaveLength(4);
    const api = (await (await fetch(`${app.url}/api/sources`)).json()) as { sources: Array<{ name: string; refresh: Array<{ backfill?: unknown }> }> };
    expect(api.sources.find((s) => s.name === 'channels')!.refresh[0]!.backfill).toEqual({ pages: 1, goal: 3, done: true, added: 2 });
    const html = await (await fetch(`${app.url}/`)).text();
    expect(html).toContain('filled back: 1 page(s), 2 item(s)');
    const link = new RegExp(`href="(/api/archive/export\\?feed=${encodeURIComponent(path).replace(/%40/g, '%40')}&amp;format=markdown)"`).exec(html);
    expect(link, html.slice(html.indexOf('<table'), html.indexOf('</table>'))).not.toBeNull();
    const tar = await fetch(`${app.url}${link![1]!.replace(/&amp;/g, '&')}`);
    expect(tar.status).toBe(200);
    expect(tar.headers.get('content-type')).toBe('application/x-tar');
    expect(await (await fetch(`${app.url}/?lang=zh-CN`)).text()).toContain('已回填：1 页，2 条');
  }, 30_000);
});
