import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaCache } from '../src/cache/media-cache.js';
import { redactUrl } from '../src/http/request-log.js';
import { parseContentRange, parseRange, resolveRange } from '../src/http/range.js';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { ACCOUNT, DECODE_KEY, startFakeChannels, type FakeChannels } from './fakes/channels.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { rawRequest } from './helpers/raw.js';
import { encrypt, sampleJpeg, sampleMp4 } from './helpers/media.js';

let cdn: FakeCdn;
let fake: FakeChannels;
let app: RunningApp;
const hd = useFakeHdhive();
const logFile = join(tempDir(), 'feedgate.log');
/** The app's log lines so far (the logger writes every 100 ms). */
async function logLines(file = logFile): Promise<Array<Record<string, unknown>>> {
  await new Promise((r) => setTimeout(r, 250));
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  const plain = sampleMp4();
  cdn = await startFakeCdn();
  fake = await startFakeChannels(cdn, { encrypted: encrypt(plain, BigInt(DECODE_KEY)), plain });
  const jpeg = await sampleJpeg(64, 48);
  cdn.files.set('/img.jpg', { body: jpeg, type: 'image/jpeg' });
  cdn.files.set('/evil.svg', { body: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><script>alert(1)</script><rect width="20" height="10" fill="red"/></svg>'), type: 'image/svg+xml' });
  cdn.files.set('/page.html', { body: Buffer.from('<html><script>alert(1)</script></html>'), type: 'text/html' });
  cdn.files.set('/badrange.mp4', { body: Buffer.alloc(1000, 1), type: 'video/mp4', status: 206, ranges: false, headers: { 'content-range': 'bytes 500-100/1000' } });
  cdn.files.set('/reset.jpg', { body: Buffer.concat([jpeg, Buffer.alloc(200_000, 3)]), type: 'image/jpeg', resetAfter: 70_000 });
  cdn.files.set('/clip.mp4', { body: plain, type: 'video/mp4' });
  app = await startApp({ ...hd.config(), WXCD_API_URL: fake.wxcdUrl, PROXY_ALLOW_HOSTS: cdn.host, ACCESS_TOKEN: 'tok', PROXY_TIMEOUT: '2s', LOG_LEVEL: 'info' }, { logFile });
});
afterAll(async () => {
  await app.close();
  await fake.close();
  await cdn.close();
});

/** With the access token; the body as text. */
async function raw(method: string, target: string, headers: Record<string, string> = {}) {
  const r = await rawRequest(app.url, target, { method, headers: { authorization: 'Bearer tok', ...headers } });
  return { ...r, body: r.body.toString('utf8') };
}

const noStack = (body: string) => expect(body).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/);

describe('hostile requests never produce a 500', () => {
  it('TRACE and PROPFIND are 501, a known method on the wrong route 405, without a stack', async () => {
    for (const m of ['TRACE', 'PROPFIND']) {
      const r = await raw(m, '/feeds/hdhive/movie/550');
      expect(r.status, m).toBe(501);
      expect(JSON.parse(r.body).error.code).toBe('NOT_IMPLEMENTED');
      noStack(r.body);
    }
    const r = await raw('DELETE', '/feeds/hdhive/movie/550');
    expect(r.status).toBe(405);
    noStack(r.body);
  });

  it('an absolute-form request line or a bad Host is a 4xx (or served on the path), never a 500', async () => {
    const abs = await raw('GET', `http://evil.example/feeds/hdhive/movie/550`);
    expect(abs.status).toBe(200);
    expect(abs.body).toContain(`<atom:link href="http://127.0.0.1:${new URL(app.url).port}/feeds/hdhive/movie/550"`);
    for (const host of ['bad host', 'a/b', '[', 'x:99999999', '']) {
      const r = await raw('GET', '/feeds/hdhive/movie/550', { Host: host });
      expect(r.status, JSON.stringify(host)).toBe(400);
      expect(r.body).not.toContain('tok');
      noStack(r.body);
    }
  });

  it('media routes match exactly: /PROXY, /Play and /proxy/ reach no handler', async () => {
    const url = encodeURIComponent(`${cdn.url}/img.jpg`);
    for (const path of [`/PROXY?url=${url}`, `/Play?url=${url}`, `/proxy/?url=${url}`, `/play/?url=${url}`, `/play/channels/1/2/`]) {
      const r = await raw('GET', path);
      expect(r.status, path).toBe(404);
    }
    expect(cdn.hits.get('/img.jpg') ?? 0).toBe(0);
  });

  it('a seeded fuzz of every route (methods, paths, queries, headers) gives no 500 and no stack trace', async () => {
    const paths = ['/feeds/hdhive/movie/550', '/feeds/hdhive/tv/101172', '/feeds/hdhive/shares', `/feeds/channels/${encodeURIComponent(ACCOUNT)}`, '/rss/channels', '/api/channels/search', '/api/sources', '/proxy', '/play', '/play/channels/14819096805414996657/9100000000000000002', '/healthz', '/metrics', '/', '/feeds', '/feeds/hdhive/movie/550.atom', '/feeds/hdhive/movie/550.json'];
    const params = ['format', 'limit', 'filter', 'filterout', 'filter_title', 'filter_time', 'filter_case_sensitive', 'sorted', 'pages', 'quality', 'username', 'next_marker', 'keyword', 'url', 'key', 'mode', 'w', 'h', 'fmt', 'q', 'p', 'sig', 'token', 'u'];
    const values = fc.oneof(
      fc.constantFrom('', '0', '-1', '1e9', 'abc', '(', '[a-', '.*', 'rss', 'atom', 'json', 'xml', 'true', 'false', '%', '%zz', '%00', '\u0000', '../../etc/passwd', `${cdn.url}/img.jpg`, `${cdn.url}/page.html`, 'http://127.0.0.1:1/', 'file:///etc/passwd', '18446744073709551616', '0x10', 'v2_x'),
      fc.string({ maxLength: 12 }),
    );
    const target = fc
      .tuple(fc.constantFrom(...paths), fc.constantFrom('', '/', '//', '/..', '.rss', '%2F', '%00', '/x'), fc.array(fc.tuple(fc.constantFrom(...params), values), { maxLength: 5 }))
      .map(([p, suffix, qs]) => p + suffix + (qs.length ? '?' + qs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&') : ''));
    const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND');
    const header = fc.record({ range: fc.constantFrom('', 'bytes=0-1', 'bytes=-0', 'bytes=5-2', 'bytes=0-1,5-9', 'garbage'), accept: fc.constantFrom('', '*/*', 'image/avif,image/webp'), 'if-none-match': fc.constantFrom('', '*', '"x"') });
    const samples = fc.sample(fc.tuple(method, target, header), { numRuns: 2500, seed: 424242 });
    const statuses = new Map<number, number>();
    for (const [m, t, h] of samples) {
      const headers = Object.fromEntries(Object.entries(h).filter(([, v]) => v !== '')) as Record<string, string>;
      const r = await raw(m, t, headers);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(r.status, `${m} ${t}`).not.toBe(500);
      noStack(r.body);
    }
    // The fuzz reached handlers, not only the router's 404.
    expect(statuses.get(200)).toBeGreaterThan(50);
    expect(statuses.get(400)).toBeGreaterThan(50);
    expect(statuses.get(501)).toBeGreaterThan(10);
    // Nothing anyone can send writes an error-level line (they are for our own faults) or a stack.
    const lines = await logLines();
    expect(lines.filter((l) => l.msg === 'request').length).toBeGreaterThan(2000);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(lines.filter((l) => JSON.stringify(l).includes('\\n    at '))).toEqual([]);
  }, 120_000);
});

describe('media is never active content on our origin', () => {
  const signedImg = (path: string) => app.app.links.image(`${cdn.url}${path}`, 'wechat');
  const signedPlay = (path: string) => app.app.links.video(`${cdn.url}${path}`, 'wechat');

  it('media responses carry a sandboxing CSP and nosniff', async () => {
    for (const path of [signedImg('/img.jpg'), signedPlay('/clip.mp4')]) {
      const r = await raw('GET', path);
      expect(r.status).toBe(200);
      expect(r.headers['content-security-policy']).toBe("sandbox; default-src 'none'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('/proxy rasterizes an SVG (its script never reaches the client) and /play refuses HTML', async () => {
    const svg = await fetch(app.url + signedImg('/evil.svg'));
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await svg.arrayBuffer());
    expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(bytes.includes(Buffer.from('<script'))).toBe(false);
    for (const path of [signedPlay('/page.html'), signedImg('/page.html')]) {
      const r = await raw('GET', path);
      expect(r.status).toBe(415);
      expect(r.body).not.toContain('<script');
    }
  });

  it('a CDN Content-Range whose end is before its start is a 502, never a negative Content-Length', async () => {
    const r = await raw('GET', signedPlay('/badrange.mp4'), { range: 'bytes=500-' });
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).error.code).toBe('UPSTREAM_BAD_RANGE');
  });

  it('Range: bytes=-0 is 416', async () => {
    const r = await raw('GET', signedPlay('/clip.mp4'), { range: 'bytes=-0' });
    expect(r.status).toBe(416);
  });

  it('an invalid redirect Location and a CDN reset mid-image are 502s', async () => {
    let r = await raw('GET', signedImg('/badredirect'));
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).error.code).toBe('UPSTREAM_BAD_REDIRECT');
    r = await raw('GET', signedImg('/reset.jpg'));
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body).error.code).toBe('UPSTREAM_RESET');
  });

  it('only a parameter named sig is a signature: xsig=1 does not force a check', async () => {
    const url = encodeURIComponent(`${cdn.url}/img.jpg`);
    expect((await raw('GET', `/proxy?url=${url}&xsig=1`)).status).toBe(200);
    expect((await raw('GET', `/proxy?url=${url}&sig=AAAA`)).status).toBe(403);
  });
});

describe('smaller guarantees', () => {
  it('request logs redact tokens inside an encoded url parameter too', () => {
    const logged = redactUrl(`/proxy?url=${encodeURIComponent('https://finder.video.qq.com/x?encfilekey=SECRET1&token=SECRET2&idx=1')}&token=SECRET3&p=wechat`);
    expect(logged).not.toMatch(/SECRET/);
    expect(decodeURIComponent(logged)).toContain('idx=1');
  });

  it('range parsing: suffix 0 is unsatisfiable, inconsistent Content-Ranges are unreadable', () => {
    expect(resolveRange(parseRange('bytes=-0')!, 1000)).toBeUndefined();
    expect(parseContentRange('bytes 500-100/1000')).toBeUndefined();
    expect(parseContentRange('bytes 0-1000/1000')).toBeUndefined();
    expect(parseContentRange('bytes 0-999/1000')).toEqual({ start: 0, end: 999, total: 1000 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
  });

  it('a media body left without its metadata by a crash is removed at start and not counted', async () => {
    const dir = join(tempDir(), 'media');
    mkdirSync(dir, { recursive: true });
    const id = 'a'.repeat(64);
    writeFileSync(join(dir, `${id}.bin`), Buffer.alloc(5000));
    writeFileSync(join(dir, `${'b'.repeat(64)}.json`), '{}');
    const cache = new MediaCache({ memoryBytes: 1 << 20, diskBytes: 1 << 20, dir });
    expect(readdirSync(dir)).toEqual([]);
    expect(await cache.get('anything')).toBeUndefined();
  });
});

describe('logging', () => {
  it('never prints the headers an error carries, and writes buffered lines within 100 ms', async () => {
    const { createLogger } = await import('../src/logger.js');
    const file = join(tempDir(), 'log');
    writeFileSync(file, '');
    const log = createLogger('info', file);
    const err = Object.assign(new Error('upstream said no'), { headers: { authorization: 'Bearer SECRET-1', 'x-api-key': 'SECRET-2' } });
    log.error({ err }, 'failed');
    log.info({ n: 1 }, 'line');
    await new Promise((r) => setTimeout(r, 250));
    const text = (await import('node:fs')).readFileSync(file, 'utf8');
    expect(text).toContain('upstream said no');
    expect(text).toContain('"n":1');
    expect(text).not.toContain('SECRET');
  });
});

describe('what each log level shows', () => {
  it('LOG_LEVEL=debug: every upstream call (path without its query, status, time) and every feed-cache decision', async () => {
    const file = join(tempDir(), 'debug.log');
    const a = await startApp({ ...hd.config(), LOG_LEVEL: 'debug' }, { logFile: file });
    try {
      expect((await fetch(`${a.url}/feeds/hdhive/movie/550.json`)).status).toBe(200);
      expect((await fetch(`${a.url}/feeds/hdhive/movie/550.json`)).status).toBe(200);
      expect((await fetch(`${a.url}/feeds/nothing-here`)).status).toBe(404);
      const lines = await logLines(file);
      const calls = lines.filter((l) => l.msg === 'upstream call');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ level: 20, upstream: 'hdhive', method: 'GET', path: '/api/open/resources/movie/550', outcome: 'HTTP 200' });
      expect(typeof calls[0]!.ms).toBe('number');
      expect(lines.filter((l) => l.msg === 'feed cache').map((l) => l.cache)).toEqual(['miss', 'hit']);
      // A client's mistake is a debug line, not an error.
      expect(lines.some((l) => l.level === 20 && l.code === 'NOT_FOUND')).toBe(true);
      expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    } finally {
      await a.close();
    }
  });
});
