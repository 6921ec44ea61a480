import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedData } from '../src/feeds/model.js';
import { formats } from '../src/feeds/render/index.js';
import { negotiateEncoding } from '../src/http/compress.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { rawRequest } from './helpers/raw.js';
import { itFeedparser } from './helpers/tools.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

const render = (f: 'rss' | 'atom' | 'json', feed: FeedData) => formats[f].render(feed, { selfUrl: 'http://127.0.0.1/feeds/x', ttlSeconds: 300 });

const video: FeedData = {
  id: 'channels:v2_a',
  title: '示例频道 (WeChat Channels)',
  link: 'https://channels.weixin.qq.com/',
  description: '每天一个小视频',
  image: 'http://127.0.0.1/proxy?url=avatar&sig=x',
  authors: [{ name: '示例频道' }],
  items: [
    {
      guid: '1',
      title: '第一个视频',
      summary: '第一个视频的说明',
      contentHtml: '<p>第一个视频的说明</p>',
      published: Date.UTC(2026, 2, 1),
      image: 'http://127.0.0.1/proxy?url=cover1&sig=y',
      enclosures: [{ url: 'http://127.0.0.1/play/channels/1/2?sig=z', type: 'video/mp4', length: 1000, duration: 3725 }],
    },
    { guid: '2', title: 'undated a' },
    { guid: '3', title: 'undated b' },
  ],
};

describe('podcast apps and readers', () => {
  it('a feed with video carries the iTunes namespace: channel image, author, category, explicit, type; item duration, image, author', () => {
    const rss = render('rss', video);
    const doc = parseXml(rss);
    expect(doc.attrs['xmlns:itunes']).toBe('http://www.itunes.com/dtds/podcast-1.0.dtd');
    const ch = child(doc, 'channel')!;
    expect(child(ch, 'itunes:image')!.attrs.href).toBe(video.image);
    expect(child(child(ch, 'image')!, 'url')!.text).toBe(video.image);
    expect(child(ch, 'itunes:author')!.text).toBe('示例频道');
    expect(child(ch, 'itunes:category')!.attrs.text).toBe('TV & Film');
    expect(child(ch, 'itunes:explicit')!.text).toBe('false');
    expect(child(ch, 'itunes:type')!.text).toBe('episodic');
    const item = childrenNamed(ch, 'item')[0]!;
    expect(child(item, 'itunes:duration')!.text).toBe('1:02:05');
    expect(child(item, 'itunes:image')!.attrs.href).toBe(video.items[0]!.image);
    expect(child(item, 'itunes:summary')!.text).toBe('第一个视频的说明');
  });

  it('itunes:owner carries PODCAST_OWNER_EMAIL when it is set, and is left out otherwise', () => {
    const ch = child(parseXml(formats.rss.render(video, { selfUrl: 'http://127.0.0.1/feeds/x', ttlSeconds: 300, ownerEmail: 'me@example.org' })), 'channel')!;
    const owner = child(ch, 'itunes:owner')!;
    expect(child(owner, 'itunes:email')!.text).toBe('me@example.org');
    expect(child(owner, 'itunes:name')!.text).toBe('示例频道');
    expect(render('rss', video)).not.toContain('itunes:owner');
  });

  it('a feed without audio or video declares no iTunes namespace', () => {
    expect(render('rss', { ...video, items: [video.items[1]!] })).not.toContain('itunes');
  });

  itFeedparser('feedparser reads the podcast feed without errors', async () => {
    const p = await feedparser({ body: render('rss', video) });
    expect(p.bozo).toBeFalsy();
    expect(p.namespaces.itunes).toBe('http://www.itunes.com/dtds/podcast-1.0.dtd');
  });

  it('JSON Feed: the square image is the icon, favicon when known, top-level authors', () => {
    const doc = JSON.parse(render('json', { ...video, favicon: 'https://channels.weixin.qq.com/favicon.ico' }));
    expect(jsonFeedErrors(doc)).toEqual([]);
    expect(doc.icon).toBe(video.image);
    expect(doc.favicon).toBe('https://channels.weixin.qq.com/favicon.ico');
    expect(doc.authors).toEqual([{ name: '示例频道' }]);
  });

  it('Atom: undated entries never share an updated value, and the avatar is the icon', () => {
    const doc = parseXml(render('atom', video));
    const updated = childrenNamed(doc, 'entry').map((e) => child(e, 'updated')!.text);
    expect(new Set(updated).size).toBe(updated.length);
    expect(child(doc, 'icon')!.text).toBe(video.image);
  });

  it('Accept-Encoding negotiation follows q-values and prefers brotli', () => {
    expect(negotiateEncoding(undefined)).toBe('identity');
    expect(negotiateEncoding('gzip, deflate, br')).toBe('br');
    expect(negotiateEncoding('gzip')).toBe('gzip');
    expect(negotiateEncoding('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(negotiateEncoding('gzip;q=0.2, br;q=0.1')).toBe('gzip');
    expect(negotiateEncoding('*')).toBe('br');
    expect(negotiateEncoding('*;q=0')).toBe('identity');
    expect(negotiateEncoding('identity')).toBe('identity');
    expect(negotiateEncoding('gzip;q=0, br;q=0')).toBe('identity');
  });
});

const hd = useFakeHdhive();
let app: RunningApp;
beforeAll(async () => {
  app = await startApp(hd.config());
  hd.fake.resources.set('tv/777', [
    { slug: 'c'.repeat(32), title: '汉字测试 软件', pan_type: '115', remark: `简体中文说明。${'这是一段很长的说明文字，'.repeat(40)}`, created_at: '2026-03-12 17:40:15' },
  ]);
});
afterAll(async () => {
  await app.close();
});

const raw = (path: string, headers: Record<string, string> = {}) => rawRequest(app.url, path, { headers });

describe('compression and text parameters over HTTP', () => {
  it('feeds are compressed once per encoding, with Vary and a distinct ETag per encoding; 304 works for each', async () => {
    const plain = await raw('/feeds/hdhive/tv/777');
    const br = await raw('/feeds/hdhive/tv/777', { 'accept-encoding': 'gzip, br' });
    const gz = await raw('/feeds/hdhive/tv/777', { 'accept-encoding': 'gzip' });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(br.headers['content-encoding']).toBe('br');
    expect(gz.headers['content-encoding']).toBe('gzip');
    for (const r of [plain, br, gz]) expect(r.headers.vary).toBe('Accept-Encoding');
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    expect(br.body.length).toBeLessThan(plain.body.length / 2);
    expect(new Set([plain.headers.etag, br.headers.etag, gz.headers.etag]).size).toBe(3);
    const again = await raw('/feeds/hdhive/tv/777', { 'accept-encoding': 'gzip, br', 'if-none-match': br.headers.etag as string });
    expect(again.status).toBe(304);
    // The same bytes again: compressed once, not per request.
    const br2 = await raw('/feeds/hdhive/tv/777', { 'accept-encoding': 'br' });
    expect(br2.body.equals(br.body)).toBe(true);
  });

  it('JSON APIs are compressed too', async () => {
    const r = await raw('/api/sources', { 'accept-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(r.body).toString()).sources.length).toBeGreaterThan(0);
  });

  it('opencc converts titles and content; a bad value is a 400', async () => {
    const t = (await raw('/feeds/hdhive/tv/777?opencc=s2t')).body.toString();
    expect(t).toContain('漢字測試 軟件');
    expect(t).toContain('簡體中文說明');
    const tw = (await raw('/feeds/hdhive/tv/777.json?opencc=s2twp')).body.toString();
    expect(JSON.parse(tw).items[0].title).toContain('軟體');
    const bad = await raw('/feeds/hdhive/tv/777?opencc=x2y');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body.toString()).error.message).toContain('s2t');
  });

  it('brief=N gives a plain-text summary of N characters instead of the body', async () => {
    const doc = JSON.parse((await raw('/feeds/hdhive/tv/777.json?brief=100')).body.toString());
    const item = doc.items[0];
    expect(item.content_html).toBeUndefined();
    expect([...item.content_text].length).toBe(101);
    expect(item.content_text.endsWith('…')).toBe(true);
    expect(item.content_text).not.toMatch(/[<>]/);
    expect((await raw('/feeds/hdhive/tv/777?brief=50')).status).toBe(400);
  });
});
