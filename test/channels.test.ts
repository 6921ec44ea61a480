import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { base64ToId, idToBase64 } from '../src/feeds/channels/ids.js';
import type { FakeCdn } from './fakes/cdn.js';
import { ACCOUNT, PAGE2_MARKER, VIDEO_ID, VIDEO_NONCE, useFakeChannels, type FakeChannels } from './fakes/channels.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';
import { itFeedparser } from './helpers/tools.js';

const ch = useFakeChannels();
let cdn: FakeCdn;
let fake: FakeChannels;
let app: RunningApp;
let plain: Buffer;
beforeEach(() => {
  ({ cdn, fake, plain } = ch);
});
afterEach(async () => {
  await app?.close();
});

const wxcd = (extra: Record<string, unknown> = {}) => startApp({ WXCD_API_URL: fake.wxcdUrl, PROXY_ALLOW_HOSTS: cdn.host, ...extra });
const ecloud = (extra: Record<string, unknown> = {}) =>
  startApp({ CHANNELS_PROVIDER: 'ecloud', ECLOUD_API_URL: fake.ecloudUrl, ECLOUD_AUTH: fake.ecloudAuth, ECLOUD_WID: fake.ecloudWid, PROXY_ALLOW_HOSTS: cdn.host, ...extra });
const json = async (url: string) => {
  const res = await fetch(url);
  return { res, body: (await res.json()) as any };
};

describe('oid/nid mapping', () => {
  it('matches the notes: 14819096805414996657 <-> zagCB5LjCrE, both ways', () => {
    expect(idToBase64('14819096805414996657')).toBe('zagCB5LjCrE');
    expect(base64ToId('zagCB5LjCrE')).toBe('14819096805414996657');
    expect(base64ToId(idToBase64('18446744073709551615'))).toBe('18446744073709551615');
    expect(base64ToId(idToBase64('1'))).toBe('1');
  });
});

describe.each([
  ['wxcd', wxcd],
  ['ecloud', ecloud],
])('Channels feed via %s', (_name, start) => {
  beforeEach(async () => {
    app = await start();
  });

  itFeedparser('maps every object to an item: guid, title, page link, author, date, hashtags, enclosure, media', async () => {
    const p = await feedparser({ url: `${app.url}/feeds/channels/${ACCOUNT}` });
    expect(p.bozo_exception).toBeNull();
    expect(p.feed.title).toBe('示例频道 (WeChat Channels)');
    const video = p.entries.find((e) => e.id === VIDEO_ID)!;
    expect(video.title).toBe('第一行是标题 #美食 #旅行');
    expect(video.link).toBe(`https://channels.weixin.qq.com/web/pages/feed?oid=zagCB5LjCrE&nid=${idToBase64(VIDEO_NONCE)}`);
    expect(video.author).toBe('示例频道');
    expect(video.published).toBe('2025-01-01T00:00:00Z');
    expect(video.tags).toEqual(['美食', '旅行']);
    expect(video.enclosures).toHaveLength(1);
    const enc = video.enclosures[0]!;
    expect(enc.type).toBe('video/mp4');
    expect(enc.length).toBe(String(plain.length));
    expect(enc.href.startsWith(`${app.url}/play/channels/${VIDEO_ID}/${VIDEO_NONCE}?`)).toBe(true);
    expect(video.media_content[0]).toMatchObject({ type: 'video/mp4', medium: 'video', duration: '42', width: '1080', height: '1920' });
    expect(video.media_thumbnail[0]!.url!.startsWith(`${app.url}/proxy?`)).toBe(true);
    const html = video.content[0]!;
    expect(html).toContain('<video');
    expect(html).toContain(`poster="${app.url}/proxy?`);
    // feedparser's sanitiser unescapes text, so check the escaping on the JSON Feed's HTML instead.
    const doc = (await (await fetch(`${app.url}/feeds/channels/${ACCOUNT}.json`)).json()) as any;
    expect(doc.items[0].content_html).toContain('第二行 &lt;b&gt;不是&lt;/b&gt; HTML &amp; 更多');
    // First page only by default: the album is there, the live item and the old video are on page 2.
    expect(p.entries.map((e) => e.id)).toEqual([VIDEO_ID, '14600000000000000002']);
  });

  it('follows lastBuffer with ?pages=N: albums show every picture, live items say so, untitled items get the date', async () => {
    const res = await fetch(`${app.url}/feeds/channels/${ACCOUNT}.json?pages=2`);
    const doc = (await res.json()) as any;
    expect(jsonFeedErrors(doc)).toEqual([]);
    expect(doc.items.map((i: { id: string }) => i.id)).toEqual([VIDEO_ID, '14600000000000000002', '14600000000000000003', '14600000000000000004']);
    const album = doc.items[1];
    expect(album.title).toBe('Pictures of 2024-12-31');
    expect(album.content_html.match(/<img /g)).toHaveLength(2);
    expect(album.attachments).toBeUndefined();
    const live = doc.items[2];
    expect(live.title).toBe('[Live] 今晚八点直播');
    expect(live.content_html).toContain('Live stream');
    expect(live.attachments).toBeUndefined();
    // Every proxied picture actually loads through the signed link.
    const src = /<img src="([^"]+)"/.exec(album.content_html)![1]!.replace(/&amp;/g, '&');
    expect((await fetch(src)).status).toBe(200);
  });

  itFeedparser('an enclosure plays the decrypted video, byte for byte, after the upstream rotated URL and token', async () => {
    const p = await feedparser({ url: `${app.url}/feeds/channels/${ACCOUNT}.atom` });
    const enclosure = p.entries.find((e) => e.id.endsWith(VIDEO_ID))!.enclosures[0]!.href;
    fake.rotate();
    let res = await fetch(enclosure);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await res.arrayBuffer()).equals(plain)).toBe(true);
    // Range works through the resolved route too.
    res = await fetch(enclosure, { headers: { Range: 'bytes=131000-131100' } });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(plain.subarray(131000, 131101))).toBe(true);
    // Rotated again while the resolution is cached: the CDN refuses, feedgate resolves afresh and retries.
    fake.rotate();
    res = await fetch(enclosure);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(plain)).toBe(true);
  });

  it('plays an object without decodeKey unencrypted', async () => {
    const doc = (await (await fetch(`${app.url}/feeds/channels/${ACCOUNT}.json?pages=2`)).json()) as any;
    const old = doc.items.find((i: { id: string }) => i.id === '14600000000000000004');
    const res = await fetch(old.attachments[0].url);
    expect(Buffer.from(await res.arrayBuffer()).equals(plain)).toBe(true);
  });

  it('?quality= picks a spec variant for the play URL, with the size of the variant asked of the CDN once', async () => {
    const doc = (await (await fetch(`${app.url}/feeds/channels/${ACCOUNT}.json?quality=xWT111`)).json()) as any;
    const att = doc.items[0].attachments[0];
    expect(att.url).toContain('q=xWT111');
    // The list reports no size for a variant: the CDN's, for the variant's own URL.
    expect(att.size_in_bytes).toBe(plain.length);
    expect(cdn.lastUrl?.searchParams.get('X-snsvideoflag')).toBe('xWT111');
    const rss = await (await fetch(`${app.url}/feeds/channels/${ACCOUNT}.rss?quality=xWT111&limit=1`)).text();
    expect(rss).toContain(`length="${plain.length}"`);
    expect(rss).not.toContain('length="0"');
    const atom = await (await fetch(`${app.url}/feeds/channels/${ACCOUNT}.atom?quality=xWT111&limit=1`)).text();
    expect(atom).toMatch(new RegExp(`rel="enclosure"[^>]*length="${plain.length}"`));
    // Remembered: other formats and a rebuild ask the CDN no more.
    const hits = cdn.total();
    expect((await fetch(`${app.url}/feeds/channels/${ACCOUNT}.rss?quality=xWT111&pages=2`)).status).toBe(200);
    expect(cdn.total() - hits).toBeLessThanOrEqual(2);
    const res = await fetch(att.url, { headers: { Range: 'bytes=0-9' } });
    expect(res.status).toBe(206);
    expect(cdn.lastUrl?.searchParams.get('X-snsvideoflag')).toBe('xWT111');
  });

  it('search returns accounts with avatar and feed URL', async () => {
    const { res, body } = await json(`${app.url}/api/channels/search?keyword=${encodeURIComponent('示例')}`);
    expect(res.status).toBe(200);
    expect(body.accounts).toHaveLength(1);
    expect(body.accounts[0]).toMatchObject({ username: ACCOUNT, nickname: '示例频道', signature: '每天一个小视频', feed: `${app.url}/feeds/channels/${encodeURIComponent(ACCOUNT)}` });
    expect((await fetch(body.accounts[0].avatar)).status).toBe(200);
    expect((await fetch(body.accounts[0].feed)).status).toBe(200);
    expect((await json(`${app.url}/api/channels/search?keyword=nobody`)).body.accounts).toEqual([]);
    expect((await fetch(`${app.url}/api/channels/search`)).status).toBe(400);
  });

  it('bad input: unknown account 404, malformed username, pages and quality 400', async () => {
    expect((await fetch(`${app.url}/feeds/channels/v2_nobody@finder`)).status).toBe(404);
    for (const q of ['pages=0', 'pages=6', 'pages=x', 'quality=../../x']) {
      expect((await fetch(`${app.url}/feeds/channels/${ACCOUNT}?${q}`)).status, q).toBe(400);
    }
    expect((await fetch(`${app.url}/feeds/channels/${encodeURIComponent('bad name!')}`)).status).toBe(400);
  });
});

describe('Channels upstream failures (wxcd)', () => {
  it('the Channels page not open in WeChat: 503 with the hint', async () => {
    app = await wxcd();
    fake.mode = 'closed';
    const { res, body } = await json(`${app.url}/feeds/channels/${ACCOUNT}`);
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('CHANNELS_PAGE_CLOSED');
    expect(body.error.message).toContain('open (or refresh) a Channels page');
    expect(res.headers.get('retry-after')).toBe('30');
  });

  itFeedparser('errCode, timeouts and garbage map to 502/504; an empty account is an empty feed', async () => {
    app = await wxcd();
    fake.mode = 'errcode';
    expect((await json(`${app.url}/feeds/channels/v2_a@finder`)).res.status).toBe(502);
    fake.mode = 'timeout';
    expect((await json(`${app.url}/feeds/channels/v2_b@finder`)).res.status).toBe(504);
    fake.mode = 'garbage';
    expect((await json(`${app.url}/feeds/channels/v2_c@finder`)).body.error.code).toBe('UPSTREAM_BAD_RESPONSE');
    fake.mode = 'ok';
    const p = await feedparser({ url: `${app.url}/feeds/channels/v2_empty` });
    expect(p.bozo).toBeFalsy();
    expect(p.entries).toEqual([]);
    expect(p.feed.title).toBe('空账号 (WeChat Channels)');
  });

  it('serves the last good copy when the downloader goes away', async () => {
    app = await wxcd({ CACHE_TTL: '1s' });
    const url = `${app.url}/feeds/channels/${ACCOUNT}`;
    const good = await (await fetch(url)).text();
    await new Promise((r) => setTimeout(r, 1100));
    fake.mode = 'closed';
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-feed-stale')).toBe('1');
    expect(await res.text()).toBe(good);
  });

  it('a play link for an object that is gone is a clear error', async () => {
    app = await wxcd();
    const link = app.app.links.route('/play/channels/12345/678', {});
    const res = await fetch(app.url + link);
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.message).toContain('1011');
    expect((await fetch(`${app.url}/play/channels/abc/1`)).status).toBe(400);
  });
});

describe('Channels upstream failures (E云)', () => {
  it('1001 answers carry their message; bad credentials name the settings', async () => {
    app = await ecloud();
    fake.mode = 'ecloud-fail';
    let r = await json(`${app.url}/feeds/channels/${ACCOUNT}`);
    expect(r.res.status).toBe(502);
    expect(r.body.error.message).toContain('请求过于频繁');
    await app.close();
    app = await ecloud({ ECLOUD_AUTH: 'stale' });
    fake.mode = 'ok';
    r = await json(`${app.url}/feeds/channels/${ACCOUNT}`);
    expect(r.res.status).toBe(502);
    expect(r.body.error.message).toContain('登录信息失效');
  });

  it('ecloud without ECLOUD_API_URL is a configuration error at start', async () => {
    await expect(startApp({ CHANNELS_PROVIDER: 'ecloud' })).rejects.toThrow(/ECLOUD_API_URL/);
  });
});

describe('downloader-compatible /rss/channels', () => {
  itFeedparser('answers Atom by default with a next link carrying the percent-encoded marker, and pages on', async () => {
    app = await wxcd();
    const res = await fetch(`${app.url}/rss/channels?username=${encodeURIComponent(ACCOUNT)}`);
    expect(res.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
    const p = await feedparser({ body: await res.text() });
    expect(p.bozo).toBeFalsy();
    const next = p.feed.links.find((l) => l.rel === 'next')!.href;
    expect(new URL(next).searchParams.get('next_marker')).toBe(PAGE2_MARKER);
    expect(next).toContain(encodeURIComponent(PAGE2_MARKER).replace(/%2B/g, '%2B'));
    const page2 = await feedparser({ url: next });
    expect(page2.entries.map((e) => e.id.split(':').pop())).toEqual(['14600000000000000003', '14600000000000000004']);
    expect(page2.feed.links.find((l) => l.rel === 'next')).toBeUndefined();
    // The enclosure in the compatible feed is our signed, stable play link.
    const first = await feedparser({ url: `${app.url}/rss/channels?username=${encodeURIComponent(ACCOUNT)}&format=rss` });
    expect(first.entries[0]!.enclosures[0]!.href).toContain('/play/channels/');
  });
});
