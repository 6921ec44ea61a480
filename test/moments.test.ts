import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IDS, KEYS, useFakeMoments, type FakeMoments } from './fakes/moments.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { itFeedparser } from './helpers/tools.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';

const holder = useFakeMoments();
let app: RunningApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const weflow = (m: FakeMoments, extra: Record<string, unknown> = {}) =>
  startApp({ WEFLOW_API_URL: m.weflowUrl, WEFLOW_TOKEN: m.token, PROXY_ALLOW_HOSTS: m.cdn.host, MOMENTS_PAGE_SIZE: 20, ...extra });
const ecloud = (m: FakeMoments, extra: Record<string, unknown> = {}) =>
  startApp({ MOMENTS_PROVIDER: 'ecloud', ECLOUD_API_URL: m.ecloudUrl, ECLOUD_AUTH: m.ecloudAuth, ECLOUD_WID: m.ecloudWid, PROXY_ALLOW_HOSTS: m.cdn.host, ...extra });

async function feed(a: RunningApp, path = '/feeds/moments', q = '') {
  const res = await fetch(`${a.url}${path}.json${q}`);
  const text = await res.text();
  return { res, feed: res.ok ? JSON.parse(text) : undefined, body: res.ok ? undefined : JSON.parse(text) };
}
const bytes = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { headers });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
};
/** The URL of every <img>/<video> src and poster in an item, in order. */
const srcs = (html: string, attr = 'src') => [...html.matchAll(new RegExp(`<(?:img|video)[^>]*? ${attr}="([^"]+)"`, 'g'))].map((x) => x[1]!.replace(/&amp;/g, '&'));

describe('Moments via WeFlow', () => {
  it('one item per post, every kind, from rawXml (ids and keys exact), WeFlow proxy URLs never used', async () => {
    const { m } = holder;
    app = await weflow(m);
    const { res, feed: f } = await feed(app);
    expect(res.status).toBe(200);
    expect(jsonFeedErrors(f)).toEqual([]);
    const byId = Object.fromEntries(f.items.map((i: any) => [i.id, i]));
    expect(Object.keys(byId).sort()).toEqual(Object.values(IDS).sort());
    const photos = byId[IDS.photos];
    expect(photos.title).toBe('周末爬山 ⛰️');
    expect(photos.authors).toEqual([{ name: 'Alice' }]);
    expect(photos.date_published).toBe(new Date((m.now - 600) * 1000).toISOString().replace('.000Z', 'Z'));
    expect(photos.url).toMatch(new RegExp(`^${app.url}/moments/post/${IDS.photos}\\?sig=`));
    expect(photos.content_html).toContain('📍 北高峰, 杭州市, 中国');
    expect(photos.content_html).not.toContain('❤️'); // likes and comments only with ?comments=1
    expect(byId[IDS.video].title).toBe('[video]');
    expect(byId[IDS.link].title).toBe('值得一读');
    expect(byId[IDS.link].url).toBe('https://mp.weixin.qq.com/s/xyz');
    expect(byId[IDS.link].content_html).toContain('一篇好文');
    expect(byId[IDS.text].content_html).toContain('明天也不想 &lt;b&gt;真的&lt;/b&gt; &amp; 不想');
    expect(byId[IDS.jsonOnly].title).toBe('只有 JSON 的一条');
    // The Channels share plays through feedgate's Channels route (the Channels source is configured).
    expect(byId[IDS.finder].title).toBe('推荐这个视频');
    expect(byId[IDS.finder].content_html).toMatch(/\/play\/channels\/14819096805414996657\/8732196345812730919\?/);
    expect(JSON.stringify(f)).not.toContain('/api/v1/sns/media/proxy');
    expect(JSON.stringify(f)).not.toContain('7886446226772543000'); // WeFlow's rounded key
  });

  it('photos decrypt to their plaintext through /proxy (keys above 2^53), live photos and videos through /play with Range across 128 KiB', async () => {
    const { m } = holder;
    app = await weflow(m);
    const { feed: f } = await feed(app);
    const photos = f.items.find((i: any) => i.id === IDS.photos);
    const imgs = srcs(photos.content_html).filter((u) => u.includes('/proxy?'));
    expect(imgs).toHaveLength(3);
    for (const [i, path] of ['/mmsns/AbC1/0', '/mmsns/AbC2/0', '/mmsns/AbC3/0'].entries()) {
      const { res, body } = await bytes(imgs[i]!);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      // AbC1 carries WeChat's trailer: checked, then left out.
      expect(body.equals(m.plain.get(path)!), path).toBe(true);
    }
    expect(m.cdn.lastHeaders!['user-agent']).toBe('MicroMessenger Client');
    expect(m.cdn.lastHeaders!.referer).toBeUndefined();
    // The live photo: a <video> with the still as poster, and an enclosure.
    const live = srcs(photos.content_html).find((u) => u.includes('/play?'))!;
    expect(srcs(photos.content_html, 'poster')[0]).toBe(imgs[2]);
    expect(photos.attachments).toEqual([{ url: live, mime_type: 'video/mp4', title: 'Live photo', size_in_bytes: m.plain.get('/103/20303/snsvideodownload')!.length, duration_in_seconds: 2.378 }]);
    const clip = await bytes(live);
    expect(clip.body.equals(m.plain.get('/103/20303/snsvideodownload')!)).toBe(true);

    const video = f.items.find((i: any) => i.id === IDS.video);
    const src = video.attachments[0].url as string;
    expect(video.attachments[0]).toMatchObject({ mime_type: 'video/mp4', size_in_bytes: m.plain.get('/102/20202/snsvideodownload')!.length, duration_in_seconds: 4 });
    const plain = m.plain.get('/102/20202/snsvideodownload')!;
    const part = await bytes(src, { range: 'bytes=131000-131199' });
    expect(part.res.status).toBe(206);
    expect(part.res.headers.get('content-range')).toBe(`bytes 131000-131199/${plain.length}`);
    expect(part.body.equals(plain.subarray(131000, 131200))).toBe(true);
    const whole = await bytes(src);
    expect(whole.body.equals(plain)).toBe(true);
    // The video's poster: its plaintext thumbnail.
    const poster = srcs(video.content_html, 'poster')[0]!;
    expect((await bytes(poster)).body.equals(m.plain.get('/150/20250/snsvideodownload')!)).toBe(true);
  });

  it('a wrong key is a clear 502, never garbage bytes', async () => {
    const { m } = holder;
    app = await weflow(m);
    const url = `${m.cdn.url}/mmsns/AbC3/0?token=WSEN5&idx=1`;
    const res = await fetch(app.url + app.app.links.image(url, 'moments', { key: String(KEYS.photo3 + 1n) }));
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe('DECRYPT_FAILED');
    const good = await fetch(app.url + app.app.links.image(url, 'moments', { key: String(KEYS.photo3) }));
    expect(good.status).toBe(200);
  });

  it('?comments=1 adds likes and comments; per-person feeds, usernames= and keyword= filter', async () => {
    const { m } = holder;
    app = await weflow(m);
    const withComments = (await feed(app, '/feeds/moments', '?comments=1')).feed;
    const photos = withComments.items.find((i: any) => i.id === IDS.photos);
    expect(photos.content_html).toContain('❤️ Bob, Carol');
    expect(photos.content_html).toContain('<strong>Alice</strong> → Bob: 谢谢');
    expect(photos.content_html).not.toContain('已删除的评论');
    const video = withComments.items.find((i: any) => i.id === IDS.video);
    expect(video.content_html).toContain('JSON 里的评论'); // from WeFlow's JSON when the XML has none
    const alice = (await feed(app, '/feeds/moments/wxid_alice01')).feed;
    expect(alice.title).toBe('Alice (WeChat Moments)');
    expect(alice.items.map((i: any) => i.id).sort()).toEqual([IDS.finder, IDS.photos].sort());
    const two = (await feed(app, '/feeds/moments', '?usernames=wxid_bob02,wxid_carol3')).feed;
    expect(two.items.map((i: any) => i.id).sort()).toEqual([IDS.text, IDS.video, IDS.jsonOnly].sort());
    const kw = (await feed(app, '/feeds/moments', `?keyword=${encodeURIComponent('爬山')}`)).feed;
    expect(kw.items.map((i: any) => i.id)).toEqual([IDS.photos]);
    for (const bad of ['/feeds/moments/bad%20id', '/feeds/moments?usernames=a,<b>', '/feeds/moments?pages=0', '/feeds/moments?comments=maybe']) {
      expect((await fetch(app.url + bad)).status, bad).toBe(400);
    }
  });

  it('pages follow the end time cursor and never repeat a post', async () => {
    const { m } = holder;
    app = await weflow(m, { MOMENTS_PAGE_SIZE: 2 });
    const one = (await feed(app)).feed;
    expect(one.items).toHaveLength(2);
    const all = (await feed(app, '/feeds/moments', '?pages=5')).feed;
    expect(all.items.map((i: any) => i.id)).toEqual(Object.values(IDS));
    expect(m.calls.get('weflow /api/v1/sns/timeline')).toBeGreaterThanOrEqual(4);
  });

  it('without the token WeFlow answers 401: a 502 naming WEFLOW_TOKEN; an unset token is a 503 before any call', async () => {
    const { m } = holder;
    app = await weflow(m, { WEFLOW_TOKEN: 'wrong' });
    const r = await feed(app);
    expect(r.res.status).toBe(502);
    expect(r.body.error.code).toBe('UPSTREAM_AUTH');
    expect(r.body.error.message).toContain('WEFLOW_TOKEN');
    await app.close();
    m.calls.clear();
    app = await weflow(m, { WEFLOW_TOKEN: '' });
    const n = await feed(app);
    expect(n.res.status).toBe(503);
    expect(n.body.error.message).toContain('WEFLOW_TOKEN');
    expect(m.calls.size).toBe(0);
  });

  it('kept after they expire: media archived in the background; once the CDN expires its tokens and WeFlow drops the post, the feed still shows it with its pictures and video', async () => {
    const { m } = holder;
    const dataDir = tempDir();
    app = await weflow(m, { CACHE_TTL: '1s', DATA_DIR: dataDir });
    await feed(app);
    await app.app.keeper.idle();
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/feedgate_media_keep_total\{kind="image",outcome="kept"\} [5-9]/);
    expect(metrics).toMatch(/feedgate_media_keep_total\{kind="video",outcome="kept"\} 2/);
    expect(metrics).toMatch(/feedgate_media_archive_bytes [1-9]/);

    m.expired = true;
    m.posts = m.posts.filter((p) => p.id !== IDS.photos && p.id !== IDS.video);
    await app.close(false);
    app = await weflow(m, { CACHE_TTL: '1s', DATA_DIR: dataDir });
    const f = (await feed(app)).feed;
    const photos = f.items.find((i: any) => i.id === IDS.photos);
    expect(photos, 'the dropped post stays').toBeDefined();
    const hits = m.cdn.hits.get('/mmsns/AbC1/0') ?? 0;
    for (const [i, path] of ['/mmsns/AbC1/0', '/mmsns/AbC2/0', '/mmsns/AbC3/0'].entries()) {
      const { res, body } = await bytes(srcs(photos.content_html).filter((u) => u.includes('/proxy?'))[i]!);
      expect(res.status, path).toBe(200);
      expect(body.equals(m.plain.get(path)!), path).toBe(true);
    }
    expect(m.cdn.hits.get('/mmsns/AbC1/0') ?? 0).toBe(hits); // served from the archive
    // ...and not copied into the media cache's disk tier as well.
    expect(readdirSync(join(dataDir, 'media')).filter((f) => f.endsWith('.bin'))).toEqual([]);
    const video = f.items.find((i: any) => i.id === IDS.video);
    const plain = m.plain.get('/102/20202/snsvideodownload')!;
    const part = await bytes(video.attachments[0].url, { range: 'bytes=131060-131080' });
    expect(part.res.status).toBe(206);
    expect(part.body.equals(plain.subarray(131060, 131081))).toBe(true);
    // A post never kept, with expired links: a clear error, not garbage.
    const gone = await fetch(app.url + app.app.links.image(`${m.cdn.url}/mmsns/Cov1/0?token=LT&idx=1`, 'moments', { key: '999' }));
    expect(gone.status).toBe(502);
  });

  it('MOMENTS_ARCHIVE=false keeps nothing', async () => {
    const { m } = holder;
    app = await weflow(m, { MOMENTS_ARCHIVE: false });
    await feed(app);
    await app.app.keeper.idle();
    expect(await (await fetch(`${app.url}/metrics`)).text()).not.toMatch(/feedgate_media_keep_total\{/);
    expect(m.cdn.hits.size).toBe(0);
  });

  it('the post page: signed link from the feed, a complete page; unknown posts 404', async () => {
    const { m } = holder;
    app = await weflow(m, { ACCESS_TOKEN: 'tok' });
    const f = (await feed(app, '/feeds/moments', '?token=tok')).feed;
    const page = f.items.find((i: any) => i.id === IDS.photos).url as string;
    expect(page).not.toContain('token=');
    const res = await fetch(page);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toContain('<h1>周末爬山 ⛰️</h1>');
    expect(html).toContain('❤️ Bob, Carol');
    expect((await fetch(`${app.url}/moments/post/${IDS.photos}`)).status).toBe(401);
    expect((await fetch(`${app.url}/moments/post/123?token=tok`)).status).toBe(404);
    expect((await fetch(`${app.url}/moments/post/abc?token=tok`)).status).toBe(400);
  });
});

describe('Moments via E云', () => {
  it('getCircle pages by firstPageMd5 and maxId (bare 64-bit numbers), getSnsObject once per post with media', async () => {
    const { m } = holder;
    app = await ecloud(m, { CACHE_TTL: '1s' });
    const { res, feed: f } = await feed(app, '/feeds/moments', '?pages=5');
    expect(res.status).toBe(200);
    expect(f.items.map((i: any) => i.id)).toEqual(Object.values(IDS));
    // Media links come from getSnsObject (the list's have no token) and decrypt.
    const photos = f.items.find((i: any) => i.id === IDS.photos);
    const first = srcs(photos.content_html).find((u) => u.includes('/proxy?'))!;
    expect((await bytes(first)).body.equals(m.plain.get('/mmsns/AbC1/0')!)).toBe(true);
    const details = m.calls.get('ecloud /getSnsObject');
    expect(details).toBe(3); // photos, video, link cover
    const pages = m.ecloudBodies.filter((b) => b.includes('firstPageMd5'));
    expect(pages[0]).toMatch(/"firstPageMd5":"","maxId":0\}$/);
    expect(pages[1]).toMatch(/"firstPageMd5":"087ed4f0b41e46e3","maxId":14901234000000000001\}$/);
    for (const b of m.ecloudBodies.filter((x) => x.includes('"id":'))) expect(b).toMatch(/"id":\d{20}\}$/);
    // Likes and comments from the envelope.
    const c = (await feed(app, '/feeds/moments', '?pages=5&comments=1')).feed;
    expect(c.items.find((i: any) => i.id === IDS.photos).content_html).toContain('<strong>Alice</strong> → Bob: 谢谢');
    // Known posts are not asked for again.
    await new Promise((r) => setTimeout(r, 1100));
    await feed(app, '/feeds/moments', '?pages=5');
    expect(m.calls.get('ecloud /getSnsObject')).toBe(details);
  });

  it('one friend through getFriendCircle; code 1001 is a 502 with E云\'s message', async () => {
    const { m } = holder;
    app = await ecloud(m);
    const alice = (await feed(app, '/feeds/moments/wxid_alice01')).feed;
    expect(alice.items.map((i: any) => i.id)).toEqual([IDS.photos, IDS.finder]);
    expect(m.calls.get('ecloud /getFriendCircle')).toBeGreaterThan(0);
    m.ecloudFail = { code: '1001', message: '实例已离线' };
    const r = await feed(app, '/feeds/moments/wxid_bob02');
    expect(r.res.status).toBe(502);
    expect(r.body.error.message).toContain('实例已离线');
    // The failure is Moments' upstream's, not the Channels source's (both use E云).
    const sources = ((await (await fetch(`${app.url}/api/sources`)).json()) as any).sources;
    const upstream = (name: string) => sources.flatMap((s: any) => s.upstreams).find((u: any) => u.name === name);
    expect(upstream('ecloud-moments')).toMatchObject({ state: 'failing', lastError: expect.stringContaining('实例已离线') });
    expect(upstream('wxcd').state).not.toBe('failing');
  });
});

describe('Moments feeds in real parsers', () => {
  itFeedparser('RSS and Atom parse cleanly with enclosures', async () => {
    const { m } = holder;
    app = await weflow(m);
    for (const fmt of ['rss', 'atom']) {
      const p = await feedparser({ url: `${app.url}/feeds/moments.${fmt}?comments=1` });
      expect(p.bozo_exception).toBeNull();
      expect(p.entries).toHaveLength(6);
      const video = p.entries.find((e) => e.id.endsWith(IDS.video))!;
      expect(video.enclosures[0]?.type).toBe('video/mp4');
    }
  });
});

describe('Moments helper API and archive bounds', () => {
  it('/api/moments/usernames lists WeFlow\'s authors with names from kept posts and feed URLs', async () => {
    const { m } = holder;
    app = await weflow(m);
    await feed(app);
    const r = (await (await fetch(`${app.url}/api/moments/usernames`)).json()) as any;
    expect(r.users.map((u: any) => u.username)).toEqual(['wxid_alice01', 'wxid_bob02', 'wxid_carol3', 'wxid_dave04']);
    expect(r.users[0]).toEqual({ username: 'wxid_alice01', nickname: 'Alice', posts: 2, feed: `${app.url}/feeds/moments/wxid_alice01` });
  });
});
