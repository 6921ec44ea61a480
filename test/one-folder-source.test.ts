import { execSync } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, envExample } from '../src/config.js';
import { SOURCES, loadConfig, settingsOf } from '../src/feeds/sources.js';
import { ROOT } from './helpers/process.js';
import { listenLoopback } from './helpers/listen.js';
import { sampleJpeg } from './helpers/media.js';
import { startApp, tempDir } from './helpers/app.js';
import { notesModule } from './sources/notes/index.js';

/**
 * A source is one folder (issue 23): test/sources/notes brings its settings, media rule, migrations and
 * store, messages and routes, and is mounted beside the built-in sources without a line of src/ naming it.
 */

const sources = [...SOURCES, notesModule];
let upstream: Server;
let listening: Awaited<ReturnType<typeof listenLoopback>>;
let base = '';
const seen: IncomingHttpHeaders[] = [];
let jpeg: Buffer;
beforeAll(async () => {
  jpeg = await sampleJpeg(32, 24);
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url?.startsWith('/boards/')) {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ notes: [1, 2, 3].map((i) => ({ id: `n${i}`, title: `Note ${i}`, image: `${base}/img/${i}.jpg?sig=${Date.now()}` })) }));
    } else if (req.url?.startsWith('/img/')) {
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

describe('a source in one folder', () => {
  it('nothing in src/ names it', () => {
    const hits = execSync(`grep -rnE "NOTES_|notesModule|notes_seen|'notes'" src || true`, { cwd: ROOT }).toString().trim();
    expect(hits).toBe('');
  });

  it('its settings are composed, checked by name, and documented like any other', () => {
    const config = loadConfig({ NOTES_MAX_ITEMS: '2' }, {}, sources) as unknown as Record<string, unknown>;
    expect(config).toMatchObject({ NOTES_MAX_ITEMS: 2, NOTES_API_URL: 'http://127.0.0.1:9', HDHIVE_API_URL: 'https://hdhive.com' });
    expect(() => loadConfig({ NOTES_MAX_ITEMS: '500' }, {}, sources)).toThrow(ConfigError);
    expect(() => loadConfig({ NOTES_MAX_ITEMS: '500' }, {}, sources)).toThrow(/NOTES_MAX_ITEMS: expected a whole number from 1 to 100, got "500"/);
    // Without the module, its settings are unknown: a CONFIG_FILE naming one is refused like any typo.
    expect((loadConfig({}, {}) as unknown as Record<string, unknown>).NOTES_API_URL).toBeUndefined();
    const env = envExample(settingsOf(sources));
    expect(env).toMatch(/# --- Notes \(a test-only source\)\n# The notes board, e\.g\. http:\/\/127\.0\.0\.1:4000\nNOTES_API_URL=http:\/\/127\.0\.0\.1:9\nNOTES_TOKEN=\nNOTES_MAX_ITEMS=20\n/);
    // Its section comes after the built-in sources', before the media proxy's.
    expect(env.indexOf('# --- Notes')).toBeGreaterThan(env.indexOf('# --- HDHive'));
    expect(env.indexOf('# --- Notes')).toBeLessThan(env.indexOf('# --- Media proxy'));
  });

  it('its routes, media rule, store and messages work once mounted, on its own table that survives a restart', async () => {
    const dataDir = tempDir();
    const config = { NOTES_API_URL: base, NOTES_TOKEN: 'tok', NOTES_MAX_ITEMS: 2, PROXY_ALLOW_HOSTS: base.slice(7), DATA_DIR: dataDir };
    let app = await startApp(config, { sources });
    const feed = (await (await fetch(`${app.url}/feeds/notes/inbox.json`)).json()) as { title: string; items: Array<{ id: string; content_html: string; date_published?: string }> };
    expect(feed.title).toBe('Notes on inbox');
    expect(feed.items.map((i) => i.id)).toEqual(['n1', 'n2']);
    expect(seen.at(-1)?.['x-notes-token']).toBe('tok');
    // The image goes through /proxy with the platform's own headers.
    const img = /<img src="([^"]+)"/.exec(feed.items[0]!.content_html)![1]!.replace(/&amp;/g, '&');
    const res = await fetch(img.startsWith('/') ? `${app.url}${img}` : img);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(jpeg)).toBe(true);
    expect(seen.at(-1)).toMatchObject({ 'user-agent': 'notes-reader', 'x-notes-cdn': 'yes' });
    // Bad input is a 400 from its own parse(); the start page and /api/sources list it with its own words.
    expect((await fetch(`${app.url}/feeds/notes/NOPE.json`)).status).toBe(400);
    const listed = (await (await fetch(`${app.url}/api/sources`)).json()) as { sources: Array<{ name: string; title: string }> };
    expect(listed.sources.map((s) => s.name)).toContain('notes');
    const page = await (await fetch(`${app.url}/?lang=zh-CN`)).text();
    expect(page).toContain('一个看板上的便签');
    expect(((await (await fetch(`${app.url}/api/notes/seen`)).json()) as { seen: number }).seen).toBe(2);
    const first = feed.items[0]!.date_published;
    await app.close(false);
    // Its table outlives the process: first-seen dates stand after a restart.
    app = await startApp(config, { sources });
    try {
      const again = (await (await fetch(`${app.url}/feeds/notes/inbox.json`)).json()) as typeof feed;
      expect(again.items[0]!.date_published).toBe(first);
      expect(((await (await fetch(`${app.url}/api/notes/seen`)).json()) as { seen: number }).seen).toBe(2);
    } finally {
      await app.close();
    }
  });
});
