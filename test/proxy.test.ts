import { createHash } from 'node:crypto';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MediaCache } from '../src/cache/media-cache.js';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { encrypt, sampleJpeg, sampleMp4 } from './helpers/media.js';

let cdn: FakeCdn;
let app: RunningApp;
let jpeg: Buffer;

beforeAll(async () => {
  cdn = await startFakeCdn();
  jpeg = await sampleJpeg(640, 480);
  cdn.files.set('/mmbiz/cover.jpg', { body: jpeg, type: 'image/jpeg', rule: 'no-referer' });
  cdn.files.set('/douyin/cover.jpeg', { body: jpeg, type: 'image/jpeg', rule: 'douyin-referer' });
  cdn.files.set('/generic/photo', { body: jpeg, type: 'application/octet-stream' });
  cdn.files.set('/moments/0', { body: encrypt(jpeg, 2105122989n, Infinity), type: 'image/jpeg', rule: 'moments-ua', headers: { 'x-enc': '1' } });
  cdn.files.set('/video/clip.mp4', { body: sampleMp4(), type: 'video/mp4' });
  cdn.files.set('/page.html', { body: Buffer.from('<html>hi</html>'), type: 'text/html' });
  cdn.files.set('/huge.jpg', { body: Buffer.alloc(3 * 1024 * 1024, 7), type: 'image/jpeg' });
  cdn.files.set('/huge-chunked.jpg', { body: Buffer.alloc(3 * 1024 * 1024, 7), type: 'image/jpeg', chunked: true });
  cdn.files.set('/slow.jpg', { body: jpeg, type: 'image/jpeg', headerDelayMs: 3000 });
  cdn.files.set('/not-image.jpg', { body: Buffer.from('definitely not an image'), type: 'image/jpeg' });
});
afterAll(async () => {
  await cdn.close();
});
beforeEach(() => {
  cdn.hits.clear();
});

const start = (extra: Record<string, unknown> = {}) => startApp({ PROXY_ALLOW_HOSTS: cdn.host, PROXY_MAX_IMAGE_BYTES: '2MB', PROXY_TIMEOUT: '1s', ...extra });
const img = (path: string, platform: 'wechat' | 'douyin' | 'moments' | 'hdhive' = 'wechat', opts: Parameters<RunningApp['app']['links']['image']>[2] = {}) =>
  app.url + app.app.links.image(`${cdn.url}${path}`, platform, opts);
const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
};

describe('/proxy images', () => {
  beforeEach(async () => {
    app = await start();
  });
  afterEach(async () => {
    await app.close();
  });

  it('serves the image with type, length, validators and long caching; 304 on revalidation', async () => {
    const { res, body } = await get(img('/mmbiz/cover.jpg'));
    expect(res.status).toBe(200);
    expect(body.equals(jpeg)).toBe(true);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('content-length')).toBe(String(jpeg.length));
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('cross-origin-resource-policy')).toBeNull();
    expect(res.headers.get('last-modified')).toBe('Tue, 10 Nov 2026 08:00:00 GMT');
    // mmbiz refuses any Referer: we send none.
    expect(cdn.lastHeaders?.referer).toBeUndefined();
    const etag = res.headers.get('etag')!;
    const again = await get(img('/mmbiz/cover.jpg'), { 'If-None-Match': etag });
    expect(again.res.status).toBe(304);
    expect(cdn.hits.get('/mmbiz/cover.jpg')).toBe(1);
  });

  it('applies each platform header rule, even on a host that belongs to no platform', async () => {
    expect((await get(img('/douyin/cover.jpeg', 'douyin'))).res.status).toBe(200);
    expect(cdn.lastHeaders?.referer).toBe('https://www.douyin.com/');
    // A file under another platform's rules is refused by the CDN, and we report its refusal as a 502.
    cdn.files.set('/douyin/second.jpeg', { body: jpeg, type: 'image/jpeg', rule: 'douyin-referer' });
    expect((await get(img('/douyin/second.jpeg', 'wechat'))).res.status).toBe(502);
    const moments = await get(img('/moments/0', 'moments', { key: 2105122989n }));
    expect(moments.res.status).toBe(200);
    expect(cdn.lastHeaders?.['user-agent']).toBe('MicroMessenger Client');
    expect(moments.body.equals(jpeg)).toBe(true);
  });

  it('Moments: volatile token/idx do not split the cache', async () => {
    const a = `${cdn.url}/moments/0?token=aaa&idx=1`;
    const b = `${cdn.url}/moments/0?token=bbb&idx=1`;
    expect((await get(app.url + app.app.links.image(a, 'moments', { key: 2105122989n }))).res.status).toBe(200);
    expect((await get(app.url + app.app.links.image(b, 'moments', { key: 2105122989n }))).res.status).toBe(200);
    expect(cdn.hits.get('/moments/0')).toBe(1);
  });

  it('sniffs an image served as application/octet-stream', async () => {
    const { res, body } = await get(img('/generic/photo'));
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(body.equals(jpeg)).toBe(true);
  });

  it('resizes inside w x h without upscaling, converts formats, and caches the results', async () => {
    let r = await get(img('/mmbiz/cover.jpg', 'wechat', { w: 100 }));
    let meta = await sharp(r.body).metadata();
    expect([meta.width, meta.height]).toEqual([100, 75]);
    r = await get(img('/mmbiz/cover.jpg', 'wechat', { w: 200, h: 50 }));
    meta = await sharp(r.body).metadata();
    expect(meta.height).toBe(50);
    expect(meta.width).toBeLessThanOrEqual(200);
    r = await get(img('/mmbiz/cover.jpg', 'wechat', { w: 4000 }));
    meta = await sharp(r.body).metadata();
    expect(meta.width).toBe(640);
    r = await get(img('/mmbiz/cover.jpg', 'wechat', { fmt: 'webp', q: 60 }));
    expect(r.res.headers.get('content-type')).toBe('image/webp');
    expect((await sharp(r.body).metadata()).format).toBe('webp');
    r = await get(img('/mmbiz/cover.jpg', 'wechat', { fmt: 'png', w: 32 }));
    expect((await sharp(r.body).metadata()).format).toBe('png');
    // One upstream fetch served every variant.
    expect(cdn.hits.get('/mmbiz/cover.jpg')).toBe(1);
    const again = await get(img('/mmbiz/cover.jpg', 'wechat', { fmt: 'webp', q: 60 }));
    expect(again.body.equals(r.body)).toBe(false);
    expect(again.res.headers.get('content-type')).toBe('image/webp');
  });

  it('fmt=auto negotiates from Accept and says Vary: Accept', async () => {
    const url = img('/mmbiz/cover.jpg', 'wechat', { fmt: 'auto', w: 64 });
    let r = await get(url, { Accept: 'image/avif,image/webp,*/*' });
    expect(r.res.headers.get('content-type')).toBe('image/avif');
    expect(r.res.headers.get('vary')).toContain('Accept');
    r = await get(url, { Accept: 'image/webp,*/*' });
    expect(r.res.headers.get('content-type')).toBe('image/webp');
    r = await get(url, { Accept: '*/*' });
    expect(r.res.headers.get('content-type')).toBe('image/jpeg');
    expect((await sharp(r.body).metadata()).format).toBe('jpeg');
  });

  it('WebP sources convert to JPEG on request', async () => {
    const webp = await sharp(jpeg).webp().toBuffer();
    cdn.files.set('/mmbiz/cover.webp', { body: webp, type: 'image/webp' });
    const r = await get(img('/mmbiz/cover.webp', 'wechat', { fmt: 'jpeg' }));
    expect(r.res.headers.get('content-type')).toBe('image/jpeg');
    expect((await sharp(r.body).metadata()).format).toBe('jpeg');
  });

  it('concurrent misses fetch once', async () => {
    cdn.files.set('/mmbiz/slowish.jpg', { body: jpeg, type: 'image/jpeg', headerDelayMs: 300 });
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => get(img('/mmbiz/slowish.jpg', 'wechat', i % 2 ? { w: 50 } : {}))));
    expect(all.every((r) => r.res.status === 200)).toBe(true);
    expect(cdn.hits.get('/mmbiz/slowish.jpg')).toBe(1);
  });

  it('serves Range from a cached image', async () => {
    await get(img('/mmbiz/cover.jpg'));
    const r = await get(img('/mmbiz/cover.jpg'), { Range: 'bytes=10-19' });
    expect(r.res.status).toBe(206);
    expect(r.res.headers.get('content-range')).toBe(`bytes 10-19/${jpeg.length}`);
    expect(r.body.equals(jpeg.subarray(10, 20))).toBe(true);
  });

  it('streams video through untouched, Range passed to the CDN', async () => {
    const mp4 = sampleMp4();
    let r = await get(img('/video/clip.mp4'), { Range: 'bytes=1000-1999' });
    expect(r.res.status).toBe(206);
    expect(r.res.headers.get('content-range')).toBe(`bytes 1000-1999/${mp4.length}`);
    expect(r.body.equals(mp4.subarray(1000, 2000))).toBe(true);
    expect(cdn.lastHeaders?.range).toBe('bytes=1000-1999');
    r = await get(img('/video/clip.mp4'));
    expect(r.res.status).toBe(200);
    expect(r.res.headers.get('content-type')).toBe('video/mp4');
    expect(r.body.equals(mp4)).toBe(true);
  });

  it('clear errors: 413 too large (declared or streamed), 504 slow, 404 gone, 415 not media or not an image', async () => {
    expect((await get(img('/huge.jpg'))).res.status).toBe(413);
    expect((await get(img('/huge-chunked.jpg'))).res.status).toBe(413);
    const slow = await get(img('/slow.jpg'));
    expect(slow.res.status).toBe(504);
    expect(JSON.parse(slow.body.toString()).error.code).toBe('UPSTREAM_TIMEOUT');
    expect((await get(img('/nothing-here.jpg'))).res.status).toBe(404);
    expect((await get(img('/page.html'))).res.status).toBe(415);
    expect((await get(img('/not-image.jpg', 'wechat', { w: 10 }))).res.status).toBe(415);
    expect((await get(img('/video/clip.mp4', 'wechat', { w: 10 }))).res.status).toBe(415);
  });

  it('rejects bad transform parameters with 400', async () => {
    for (const q of ['w=0', 'w=abc', 'w=5000', 'h=-1', 'fmt=gif', 'q=0', 'q=101']) {
      const res = await fetch(`${app.url}/proxy?url=${encodeURIComponent(`${cdn.url}/mmbiz/cover.jpg`)}&${q}`);
      expect(res.status, q).toBe(400);
    }
  });
});

describe('media cache tiers', () => {
  it('survives a restart on disk; a corrupt file is never served; temp leftovers are cleaned', async () => {
    const dataDir = tempDir();
    app = await start({ DATA_DIR: dataDir });
    await get(img('/mmbiz/cover.jpg'));
    await get(img('/mmbiz/cover.jpg', 'wechat', { w: 100 }));
    await app.close(false);
    expect(cdn.hits.get('/mmbiz/cover.jpg')).toBe(1);

    app = await start({ DATA_DIR: dataDir });
    const r = await get(img('/mmbiz/cover.jpg'));
    expect(r.body.equals(jpeg)).toBe(true);
    expect((await get(img('/mmbiz/cover.jpg', 'wechat', { w: 100 }))).res.status).toBe(200);
    expect(cdn.hits.get('/mmbiz/cover.jpg')).toBe(1);
    await app.close(false);

    // Damage every cached body and leave a half-written file behind.
    const dir = join(dataDir, 'media');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.bin'))) writeFileSync(join(dir, f), 'garbage');
    writeFileSync(join(dir, `${'0'.repeat(64)}.bin.tmp-abc`), 'partial');
    app = await start({ DATA_DIR: dataDir });
    expect(existsSync(join(dir, `${'0'.repeat(64)}.bin.tmp-abc`))).toBe(false);
    const fresh = await get(img('/mmbiz/cover.jpg'));
    expect(fresh.body.equals(jpeg)).toBe(true);
    expect(cdn.hits.get('/mmbiz/cover.jpg')).toBe(2);
    await app.close();
  });

  it('the disk tier stays within its byte bound, evicting the least recently used', async () => {
    const dir = join(tempDir(), 'media');
    const cache = new MediaCache({ memoryBytes: 1024 * 1024, diskBytes: 10_000, dir });
    const entry = (n: number) => ({ body: Buffer.alloc(3000, n), contentType: 'image/jpeg', etag: `"${n}"`, lastModified: 0 });
    await cache.set('a', entry(1));
    await cache.set('b', entry(2));
    await cache.set('c', entry(3));
    // Files written in the same millisecond would tie; age them as if written a minute apart.
    const file = (k: string) => join(dir, `${createHash('sha256').update(k).digest('hex')}.bin`);
    ['a', 'b', 'c'].forEach((k, i) => utimesSync(file(k), new Date(Date.now() - (3 - i) * 60_000), new Date(Date.now() - (3 - i) * 60_000)));
    // Reading through a fresh instance (cold memory) makes "a" the most recently used on disk.
    const reopened = new MediaCache({ memoryBytes: 1024 * 1024, diskBytes: 10_000, dir });
    expect((await reopened.get('a'))?.etag).toBe('"1"');
    await reopened.set('d', entry(4));
    expect(reopened.diskBytes).toBeLessThanOrEqual(10_000);
    const cold = new MediaCache({ memoryBytes: 1024 * 1024, diskBytes: 10_000, dir });
    expect(await cold.get('b')).toBeUndefined();
    expect((await cold.get('a'))?.etag).toBe('"1"');
    expect((await cold.get('d'))?.etag).toBe('"4"');
  });
});

describe('per-client concurrency', () => {
  it('a client with too many media requests in flight gets 429 with Retry-After, and its slots come back', async () => {
    cdn.files.set('/slow-stream.mp4', { body: Buffer.alloc(2 * 1024 * 1024, 3), type: 'video/mp4', chunkDelayMs: 30 });
    app = await start({ PROXY_CLIENT_CONCURRENCY: 2 });
    const url = app.url + app.app.links.video(`${cdn.url}/slow-stream.mp4`, 'channels');
    const controllers = [new AbortController(), new AbortController()];
    const open = await Promise.all(controllers.map((c) => fetch(url, { signal: c.signal })));
    expect(open.map((r) => r.status)).toEqual([200, 200]);
    const third = await fetch(url);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    for (const c of controllers) c.abort();
    await new Promise((r) => setTimeout(r, 200));
    const again = await fetch(img('/mmbiz/cover.jpg'));
    expect(again.status).toBe(200);
    await app.close();
  });
});
