import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { exportLines, importLines } from '../src/feeds/archive-export.js';
import { archiveStore } from '../src/store/archive.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { PostgresSql } from '../src/store/postgres.js';
import { parseSearch, searchTokens, normalizeSearchText } from '../src/store/search-text.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { tempDir, useStartApp } from './helpers/app.js';
import { runCli } from './helpers/process.js';
import { startPostgres, type PostgresProc } from './helpers/postgres.js';
import { postgresTool } from './helpers/tools.js';

/**
 * Issue 25: every item a feed has shown is kept; feeds show what dropped off the upstream and mark what
 * the author deleted; RFC 5005 history; search in Chinese and English; export and import.
 */

const hd = useFakeHdhive();
const startApp = useStartApp();
const PATH = '/feeds/hdhive/tv/101172';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);

/** HDHive resource n, shared n days after T0. */
function res(n: number, title = `吞噬星空 第${n}部 Dune part ${n}`): Record<string, unknown> {
  const d = new Date(T0 + n * DAY);
  const at = d.toISOString().replace('T', ' ').slice(0, 19);
  return { slug: `r${String(n).padStart(4, '0')}`, title, pan_type: '115', share_size: '1.5', video_resolution: ['1080P'], source: ['WEB-DL'], subtitle_language: [], subtitle_type: [], remark: '', user: { id: 1, nickname: 'u' }, created_at: at };
}
const list = (ns: number[]) => hd.fake.resources.set('tv/101172', ns.map((n) => res(n)).reverse());
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

interface JsonFeed {
  next_url?: string;
  items: Array<{ id: string; title: string; content_html?: string; tags?: string[] }>;
}
const json = async (url: string) => (await (await fetch(url)).json()) as JsonFeed;
/** Loads the feed again once its 1 s TTL is over: the upstream's new answer is kept. */
async function reload(url: string): Promise<JsonFeed> {
  await sleep(1100);
  const r = await fetch(`${url}${PATH}.json`);
  expect(r.headers.get('x-cache')).toBe('MISS');
  return (await r.json()) as JsonFeed;
}

describe('search words', () => {
  it('CJK runs give characters and pairs, other runs words; a query finds every text containing it (property)', () => {
    expect(searchTokens(normalizeSearchText('吞噬星空 Dune'))).toEqual(['吞', '吞噬', '噬', '噬星', '星', '星空', '空', 'dune']);
    expect(parseSearch('星空 DUNE')).toEqual({ exact: ['星空'], prefix: ['dune'], needles: ['星空', 'dune'] });
    expect(parseSearch('  ，。!! ')).toBeUndefined();
    const alphabet = fc.constantFrom('吞', '噬', '星', '空', 'a', 'b', ' ', 'Ｄ', 'é', '1', '。');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), fc.nat(30), fc.nat(8), (chars, start, len) => {
        const text = normalizeSearchText(chars.join(''));
        const q = text.slice(start, start + len);
        const parsed = parseSearch(q);
        if (!parsed) return;
        // What the index must hold for the text to be found: every exact word, a word starting with each prefix.
        const tokens = new Set(searchTokens(text));
        const words = [...tokens];
        for (const w of parsed.exact) expect(tokens.has(w), `${w} of ${q} in ${text}`).toBe(true);
        // A prefix is a query run cut at the query's edge: some word of the text contains it.
        for (const p of parsed.prefix) expect(words.some((w) => w.includes(p)), `${p} of ${q}`).toBe(true);
        for (const n of parsed.needles) expect(text.includes(n)).toBe(true);
      }),
    );
  });
});

describe('search words, as first written', () => {
  // The words existing indexes hold: any change to how they are made must give the same ones.
  const RUNS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}])[\p{L}\p{N}])+/gu;
  const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
  const reference = (text: string) => {
    const out = new Set<string>();
    for (const [run] of text.matchAll(RUNS)) {
      if (CJK.test(run[0]!)) {
        const chars = [...run];
        for (let i = 0; i < chars.length; i++) {
          out.add(chars[i]!);
          if (i + 1 < chars.length) out.add(chars[i]! + chars[i + 1]!);
        }
      } else out.add(run.slice(0, 40));
    }
    return [...out];
  };
  it('are the same words in the same order for any text (property)', () => {
    const piece = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.constantFrom('吞噬星空', '𠀀𠀁𪚥', 'ひらがなカタカナ', '한국어', 'x'.repeat(50), '\ud840', 'Ｄune', ' ', '。'));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
        const text = normalizeSearchText(parts.join(''));
        expect(searchTokens(text)).toEqual(reference(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('the archive, on SQLite', () => {
  it('items that scroll off stay, deleted ones are marked (archive=0 hides both); survives a restart', async () => {
    list(range(1, 5));
    const app = await startApp(hd.config({ CACHE_TTL: '1s', FEED_LANGUAGE: 'zh-CN' }));
    expect((await json(`${app.url}${PATH}.json`)).items.map((i) => i.id)).toEqual(['r0005', 'r0004', 'r0003', 'r0002', 'r0001']);
    // r3 deleted (newer items around it stay), r6 new.
    list([1, 2, 4, 5, 6]);
    const second = await reload(app.url);
    expect(second.items.map((i) => i.id)).toEqual(['r0006', 'r0005', 'r0004', 'r0003', 'r0002', 'r0001']);
    const r3 = second.items.find((i) => i.id === 'r0003')!;
    expect(r3.tags).toContain('已删除');
    expect(r3.content_html).toMatch(/^<p><em>作者已删除这条内容/);
    // The window moves on: r1 and r2 scroll off (older than all it lists): kept, not marked.
    list(range(4, 8));
    const third = await reload(app.url);
    expect(third.items.map((i) => i.id)).toEqual(['r0008', 'r0007', 'r0006', 'r0005', 'r0004', 'r0003', 'r0002', 'r0001']);
    expect(third.items.find((i) => i.id === 'r0001')!.tags ?? []).not.toContain('已删除');
    expect((await json(`${app.url}${PATH}.json?archive=0`)).items.map((i) => i.id)).toEqual(['r0008', 'r0007', 'r0006', 'r0005', 'r0004']);
    expect((await json(`${app.url}${PATH}.json?limit=6`)).items).toHaveLength(6);
    // r3 comes back: no longer marked.
    list([3, 4, 5, 6, 7, 8]);
    const back = await reload(app.url);
    expect(back.items.find((i) => i.id === 'r0003')!.tags ?? []).not.toContain('已删除');
    // A restart with the upstream failing: the last good copy, archive included.
    const again = await startApp(hd.config({ CACHE_TTL: '1s', FEED_LANGUAGE: 'zh-CN', DATA_DIR: app.dataDir }));
    hd.fake.mode = 'error500';
    try {
      expect((await json(`${again.url}${PATH}.json`)).items).toHaveLength(8);
    } finally {
      hd.fake.mode = 'ok';
    }
  });

  it('RFC 5005: the subscription document links full archive pages; walking them finds every kept item exactly once; before= pages through all of it', async () => {
    list(range(1, 130));
    const app = await startApp(hd.config({ CACHE_TTL: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    list(range(131, 260));
    await reload(app.url);
    const sub = await (await fetch(`${app.url}${PATH}.atom`)).text();
    // 260 kept: five full pages of 50.
    const prev = /<link rel="prev-archive" type="application\/atom\+xml" href="([^"]+)"/.exec(sub)?.[1]?.replace(/&amp;/g, '&');
    expect(prev).toBe(`${app.url}${PATH}.atom?archive_page=5`);
    const seen: string[] = [];
    const subIds = [...sub.matchAll(/<id>urn:feedgate:hdhive:tv:101172:([^<]+)<\/id>/g)].map((m) => decodeURIComponent(m[1]!));
    let next: string | undefined = prev;
    let pages = 0;
    while (next) {
      const r = await fetch(next);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const doc = await r.text();
      expect(doc).toContain('<fh:archive/>');
      expect(doc).toContain(`<link rel="current" type="application/atom+xml" href="${app.url}${PATH}.atom"/>`);
      const ids = [...doc.matchAll(/<id>urn:feedgate:hdhive:tv:101172:([^<]+)<\/id>/g)].map((m) => decodeURIComponent(m[1]!));
      expect(ids).toHaveLength(50);
      seen.push(...ids);
      next = /<link rel="prev-archive" type="application\/atom\+xml" href="([^"]+)"/.exec(doc)?.[1]?.replace(/&amp;/g, '&');
      pages++;
    }
    expect(pages).toBe(5);
    expect(new Set(seen).size).toBe(seen.length);
    const all = new Set([...seen, ...subIds]);
    expect(all.size).toBe(260);
    // Page 6 is not full: a clear 404.
    const six = await fetch(`${app.url}${PATH}.atom?archive_page=6`);
    expect(six.status).toBe(404);
    expect(((await six.json()) as { error: { code: string } }).error.code).toBe('NO_SUCH_ARCHIVE_PAGE');
    // JSON Feed: next_url from the subscription document is the newest archive page.
    expect((await json(`${app.url}${PATH}.json`)).next_url).toBe(`${app.url}${PATH}.json?archive_page=5`);
    // before=: newest first from a time, 40 a page, every item once.
    const walked: string[] = [];
    let url: string | undefined = `${app.url}${PATH}.json?before=2099-01-01&limit=40`;
    while (url) {
      const page = await json(url);
      walked.push(...page.items.map((i) => i.id));
      url = page.next_url;
    }
    expect(walked).toHaveLength(260);
    expect(walked).toEqual([...walked].sort().reverse());
    expect((await fetch(`${app.url}${PATH}.json?before=yesterday`)).status).toBe(400);
  });

  it('search: Chinese and English across feeds, as JSON and as a feed; bad queries are 400s naming q', async () => {
    list([1, 2]);
    hd.fake.resources.set('movie/550', [res(3, 'Fight Club 搏击俱乐部'), res(4, '星际穿越 Interstellar')]);
    const app = await startApp(hd.config({ CACHE_TTL: '1s' }));
    await fetch(`${app.url}${PATH}.json`);
    await fetch(`${app.url}/feeds/hdhive/movie/550.json`);
    const search = async (q: string, extra = '') => ((await (await fetch(`${app.url}/api/search?q=${encodeURIComponent(q)}${extra}`)).json()) as { items: Array<{ guid: string; feed: string }> }).items.map((i) => i.guid);
    expect(await search('星空')).toEqual(['r0002', 'r0001']);
    expect(await search('噬星')).toEqual(['r0002', 'r0001']);
    expect(await search('星噬')).toEqual([]);
    expect(await search('星')).toEqual(['r0004', 'r0002', 'r0001']);
    expect(await search('dune')).toEqual(['r0002', 'r0001']);
    expect(await search('INTERSTE')).toEqual(['r0004']);
    expect(await search('俱乐部 fight')).toEqual(['r0003']);
    expect(await search('星', '&source=douyin')).toEqual([]);
    expect(await search('星', '&limit=1')).toEqual(['r0004']);
    const feed = await json(`${app.url}/feeds/search.json?q=${encodeURIComponent('星空')}`);
    expect(feed.items.map((i) => i.id)).toEqual(['hdhive:tv:101172#r0002', 'hdhive:tv:101172#r0001']);
    for (const bad of ['', '%E3%80%82%E3%80%82', 'x'.repeat(201)]) {
      const r = await fetch(`${app.url}/api/search?q=${bad}`);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/\bq\b/);
    }
    expect((await fetch(`${app.url}/feeds/search.rss`)).status).toBe(400);
  });

  it('ARCHIVE_MAX_ITEMS bounds what is kept beyond the upstream; 0 turns the archive off', async () => {
    list(range(1, 5));
    const app = await startApp(hd.config({ CACHE_TTL: '1s', ARCHIVE_MAX_ITEMS: '7' }));
    await fetch(`${app.url}${PATH}.json`);
    list(range(6, 10));
    expect((await reload(app.url)).items.map((i) => i.id)).toEqual(range(4, 10).reverse().map((n) => `r${String(n).padStart(4, '0')}`));
    const off = await startApp(hd.config({ CACHE_TTL: '1s', ARCHIVE_MAX_ITEMS: '0' }));
    expect((await json(`${off.url}${PATH}.json`)).items).toHaveLength(5);
    expect((await fetch(`${off.url}${PATH}.json?archive_page=1`)).status).toBe(404);
    expect((await fetch(`${off.url}/api/search?q=dune`)).status).toBe(404);
  });
});

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env, tempDir());

describe('npm run cli -- export / import', () => {
  it('exports a DATA_DIR to a file with a progress line, imports it into an empty one (never into one that keeps items), the feed comes out the same', async () => {
    list(range(1, 5));
    const a = await startApp(hd.config({ CACHE_TTL: '1s' }));
    await fetch(`${a.url}${PATH}.json`);
    list(range(3, 7));
    const before = await reload(a.url);
    const file = join(tempDir(), 'archive.jsonl');
    const exported = await cli(['export', file], { DATA_DIR: a.dataDir });
    expect(exported.code, exported.out).toBe(0);
    expect(exported.out).toMatch(/items +\[#+\] 7\/7/);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(9);
    const target = tempDir();
    const imported = await cli(['import', file], { DATA_DIR: target });
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain('imported 7 items of 1 feeds');
    const twice = await cli(['import', file], { DATA_DIR: target });
    expect(twice.code).toBe(2);
    expect(twice.out).toMatch(/empty archive/);
    expect((await cli(['import', join(target, 'nope.jsonl')], { DATA_DIR: target })).code).toBe(2);
    const b = await startApp(hd.config({ CACHE_TTL: '1s', DATA_DIR: target }));
    expect((await json(`${b.url}${PATH}.json`)).items.map((i) => i.id)).toEqual(before.items.map((i) => i.id));
  }, 60_000);
});

const pgOk = postgresTool().ok;
describe.skipIf(!pgOk)('export and import across engines', () => {
  let pg: PostgresProc;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('export from SQLite (API), import into PostgreSQL: the feed comes out the same, search works there; import refuses a non-empty archive', async () => {
    list(range(1, 5));
    const a = await startApp(hd.config({ CACHE_TTL: '1s' }));
    await fetch(`${a.url}${PATH}.json`);
    list([1, 2, 4, 5, 6]);
    await reload(a.url);
    list(range(4, 8));
    const before = await reload(a.url);
    const res = await fetch(`${a.url}/api/archive/export?format=jsonl`);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const text = await res.text();
    const lines = text.trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'feedgate-archive', version: 1, items: 8 });
    expect(lines).toHaveLength(1 + 1 + 8);
    const url = await pg.database();
    const db = new PostgresSql({ url, poolMax: 2, statementTimeoutMs: 10_000 });
    try {
      await db.migrate(CORE_MIGRATIONS);
      const store = archiveStore(db);
      expect(await importLines(store, lines)).toEqual({ feeds: 1, items: 8 });
      await expect(importLines(store, lines)).rejects.toThrow(/empty archive/);
      // The export of the import is the export (but for its time).
      const again: string[] = [];
      for await (const chunk of exportLines(store)) again.push(chunk);
      const strip = (l: string) => l.replace(/"exported_at":"[^"]+"/, '');
      expect(again.join('').trim().split('\n').map(strip)).toEqual(lines.map(strip));
    } finally {
      await db.close();
    }
    const b = await startApp(hd.config({ CACHE_TTL: '1s', DATABASE_URL: url }));
    const after = await json(`${b.url}${PATH}.json`);
    expect(after.items.map((i) => [i.id, i.title, i.tags])).toEqual(before.items.map((i) => [i.id, i.title, i.tags]));
    const found = (await (await fetch(`${b.url}/api/search?q=${encodeURIComponent('噬星')}`)).json()) as { items: unknown[] };
    expect(found.items).toHaveLength(8);
  }, 60_000);
});
