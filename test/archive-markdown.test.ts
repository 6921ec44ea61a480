import { createReadStream, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { markdownTar, slug } from '../src/feeds/archive-markdown.js';
import { archiveStore } from '../src/store/archive.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { openSqlite } from '../src/store/sqlite.js';
import { SOURCES } from '../src/feeds/sources.js';
import { tempDir, useStartApp } from './helpers/app.js';
import { listenLoopback } from './helpers/listen.js';
import { sampleJpeg } from './helpers/media.js';
import { runCli } from './helpers/process.js';
import { notesModule } from './sources/notes/index.js';

/**
 * Issue 25: the archive as Markdown, one file per item with front matter, in a tar; images as links to
 * /proxy or bundled (media=1), fetched through the same /proxy readers use.
 */

const sources = [...SOURCES, notesModule];
const startApp = useStartApp();
let upstream: Server;
let listening: Awaited<ReturnType<typeof listenLoopback>>;
let base = '';
let jpeg: Buffer;
beforeAll(async () => {
  jpeg = await sampleJpeg(32, 24);
  upstream = createServer((req, res) => {
    if (req.url?.startsWith('/boards/')) {
      res.setHeader('content-type', 'application/json');
      // Note 3's image is gone from the CDN (404): it stays a link.
      const notes = [1, 2, 3].map((i) => ({ id: `n${i}`, title: i === 1 ? '第一条 note: one/two' : `Note ${i}`, image: `${base}/img/${i === 2 ? 1 : i}.jpg` }));
      res.end(JSON.stringify({ notes }));
    } else if (req.url === '/img/1.jpg') {
      res.setHeader('content-type', 'image/jpeg');
      res.end(jpeg);
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  listening = await listenLoopback(upstream);
  base = listening.url;
});
afterAll(async () => {
  await listening.close();
});

/** The entries of a tar: name -> bytes. */
async function untar(body: Readable | ReadableStream<Uint8Array>): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  const files = new Map<string, Buffer>();
  const source = body instanceof Readable ? body : Readable.fromWeb(body as never);
  source.pipe(extract as unknown as NodeJS.WritableStream);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}

const front = (md: string) => parse(/^---\n([\s\S]*?)\n---\n/.exec(md)![1]!) as Record<string, unknown>;

describe('Markdown export', () => {
  it('file names are letters and digits of any script joined by dashes, never empty (property)', () => {
    expect(slug('第一条 note: one/two', 50)).toBe('第一条-note-one-two');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.integer({ min: 1, max: 60 }), (s, max) => {
        const out = slug(s, max);
        expect(out).toMatch(/^[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?$|^item$/u);
        expect([...out].length).toBeLessThanOrEqual(Math.max(max, 4));
      }),
    );
  });

  it('videos and audio become links (a <source> inside them too), lists and emphasis stay Markdown, a deleted item says so', async () => {
    const db = openSqlite(tempDir());
    await db.migrate(CORE_MIGRATIONS);
    const store = archiveStore(db);
    const item = (guid: string, contentHtml: string) => ({ guid, sortAt: Date.UTC(2025, 4, 1), data: JSON.stringify({ guid, title: `T ${guid}`, contentHtml }), text: () => guid });
    const base = { feed: 'x:1', source: 'x', url: '/feeds/x/1', title: 'X', head: '{}', maxItems: 100, keepAfter: 0 };
    await store.record({ ...base, items: [item('a', '<p>hi <b>bold</b></p><video controls poster="/proxy?p=1"><source src="/play?a=1&amp;b=2" type="video/mp4"></video><audio controls src="/a.mp3"></audio><ul><li>one</li></ul>'), item('b', '<p>gone</p>')], now: 1000 });
    await store.record({ ...base, items: [item('a', '<p>hi <b>bold</b></p><video controls poster="/proxy?p=1"><source src="/play?a=1&amp;b=2" type="video/mp4"></video><audio controls src="/a.mp3"></audio><ul><li>one</li></ul>')], windowFrom: 0, now: 2000 });
    const files = await untar(markdownTar(store, { base: 'https://feeds.example' }));
    const a = [...files].find(([n]) => n.endsWith('-T-a.md'))![1].toString('utf8');
    expect(a).toContain('hi **bold**');
    expect(a).toContain('[▶ video](https://feeds.example/play?a=1&b=2)');
    expect(a).toContain('[▶ audio](https://feeds.example/a.mp3)');
    expect(a).toMatch(/^- one$/m);
    const b = [...files].find(([n]) => n.endsWith('-T-b.md'))![1].toString('utf8');
    expect(front(b)).toMatchObject({ guid: 'b', listed: false, deleted: true });
    await db.close();
  });

  it('a tar of one file per item with front matter; images as absolute /proxy links, or bundled once with media=1 (one that fails stays a link); bad parameters are 400s', async () => {
    const dataDir = tempDir();
    const config = { NOTES_API_URL: base, NOTES_TOKEN: 'tok', PROXY_ALLOW_HOSTS: base.slice(7), DATA_DIR: dataDir, ACCESS_TOKEN: 'secret-token' };
    const app = await startApp(config, { sources });
    const feed = (await (await fetch(`${app.url}/feeds/notes/inbox.json?token=secret-token`)).json()) as { items: Array<{ id: string }> };
    expect(feed.items).toHaveLength(3);

    // Behind the token, like every export.
    expect((await fetch(`${app.url}/api/archive/export?format=markdown`)).status).toBe(401);
    for (const bad of ['format=xml', 'format=jsonl&media=1', 'format=markdown&media=2']) {
      const r = await fetch(`${app.url}/api/archive/export?${bad}&token=secret-token`);
      expect(r.status, bad).toBe(400);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/parameter (format|media)/);
    }

    const plain = await fetch(`${app.url}/api/archive/export?format=markdown&token=secret-token`);
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toBe('application/x-tar');
    expect(plain.headers.get('content-disposition')).toMatch(/attachment; filename="feedgate-archive\.tar"/);
    const files = await untar(plain.body!);
    const md = [...files.keys()].filter((n) => n.endsWith('.md')).sort();
    expect(md).toHaveLength(3);
    for (const n of md) expect(n).toMatch(/^notes-inbox\/\d{4}-\d\d-\d\d-[123]-[\p{L}\p{N}-]+\.md$/u);
    const firstName = md.find((n) => n.includes('第一条'))!;
    expect(firstName).toMatch(/-[123]-第一条-note-one-two\.md$/);
    const first = files.get(firstName)!.toString('utf8');
    expect(front(first)).toMatchObject({ title: '第一条 note: one/two', guid: 'n1', source: 'notes', feed: 'Notes on inbox', feed_url: `${app.url}/feeds/notes/inbox`, listed: true, deleted: false });
    expect(Date.parse(String(front(first).first_seen))).toBeGreaterThan(0);
    expect(first).toContain('\n# 第一条 note: one/two\n');
    // The image: Markdown, an absolute signed /proxy link that works as it is.
    const link = /!\[[^\]]*\]\(([^)]+)\)/.exec(first)![1]!;
    expect(link.startsWith(`${app.url}/proxy?`)).toBe(true);
    const img = await fetch(link);
    expect(img.status).toBe(200);
    expect(Buffer.from(await img.arrayBuffer()).equals(jpeg)).toBe(true);
    const summary = JSON.parse(files.get('feedgate-export.json')!.toString('utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({ feeds: 1, items: 3, images_bundled: 0, images_failed: [] });

    // media=1: the image two notes share is bundled once; note 3's (a 404 at the CDN) stays a link and is named.
    const bundled = await untar((await fetch(`${app.url}/api/archive/export?format=markdown&media=1&feed=/feeds/notes/inbox&token=secret-token`)).body!);
    const media = [...bundled.keys()].filter((n) => n.startsWith('notes-inbox/media/'));
    expect(media).toHaveLength(1);
    expect(media[0]).toMatch(/^notes-inbox\/media\/[0-9a-f]{16}\.jpg$/);
    expect(bundled.get(media[0]!)!.equals(jpeg)).toBe(true);
    const local = media[0]!.slice('notes-inbox/'.length);
    const byGuid = (g: string) => [...bundled].find(([n, b]) => n.endsWith('.md') && front(b.toString('utf8')).guid === g)![1].toString('utf8');
    expect(byGuid('n1')).toContain(`](${local})`);
    expect(byGuid('n2')).toContain(`](${local})`);
    expect(byGuid('n3')).toMatch(new RegExp(`\\]\\(${app.url.replace(/[.]/g, '\\.')}/proxy\\?`));
    const s2 = JSON.parse(bundled.get('feedgate-export.json')!.toString('utf8')) as { images_bundled: number; images_failed: string[] };
    expect(s2.images_bundled).toBe(1);
    expect(s2.images_failed).toHaveLength(1);
    expect(s2.images_failed[0]).toContain('%2Fimg%2F3.jpg');

    // The command line writes the same tar, fetching images from the running server. (From a copy made by
    // export and import: the CLI does not mount this test's source, whose table the server's DATA_DIR has.)
    const jsonl = join(tempDir(), 'archive.jsonl');
    const copy = tempDir();
    writeFileSync(jsonl, await (await fetch(`${app.url}/api/archive/export?token=secret-token`)).text());
    expect((await runCli(['import', jsonl], { DATA_DIR: copy }, tempDir())).code).toBe(0);
    const file = join(tempDir(), 'archive.tar');
    const run = await runCli(['export', file, '--format', 'markdown', '--media', '--server', app.url], { DATA_DIR: copy }, tempDir());
    expect(run.code, run.out).toBe(0);
    expect(run.out).toMatch(/items +\[#+\] 3\/3/);
    const fromCli = await untar(createReadStream(file));
    expect([...fromCli.keys()].sort()).toEqual([...bundled.keys()].sort());
    expect(fromCli.get(media[0]!)!.equals(jpeg)).toBe(true);
    const bad = await runCli(['export', file, '--media'], { DATA_DIR: copy }, tempDir());
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--media goes with --format markdown/);
    const away = await runCli(['export', file, '--format', 'markdown', '--media', '--server', 'http://127.0.0.1:9'], { DATA_DIR: copy }, tempDir());
    expect(away.code).toBe(2);
    expect(away.out).toMatch(/none answers at http:\/\/127\.0\.0\.1:9: start it, or give its address with --server/);
  }, 60_000);
});
