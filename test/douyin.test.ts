import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DouyinClient, baseQuery, browserOf } from '../src/feeds/douyin/client.js';
import { CallBudget } from '../src/upstream/budget.js';
import { UpstreamClient } from '../src/upstream/client.js';
import { COOKIE, EMPTY_UID, IDS, PRIVATE_UID, SEC_UID, UA, aBogusCovers, useFakeDouyin, type FakeDouyin } from './fakes/douyin.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { itFeedparser } from './helpers/tools.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';

const holder = useFakeDouyin();
let app: RunningApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const start = (d: FakeDouyin, extra: Record<string, unknown> = {}, opts: { logFile?: string } = {}) =>
  startApp({ DOUYIN_BASE_URL: d.url, DOUYIN_COOKIE: COOKIE, DOUYIN_CALLS_PER_MINUTE: 600, PROXY_ALLOW_HOSTS: `${d.host},${d.cdn.host}`, ...extra }, opts);
const feedUrl = (a: RunningApp, uid = SEC_UID, q = '') => `${a.url}/feeds/douyin/${uid}.json${q}`;
async function getJson(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  return { res, body: JSON.parse(text) };
}

/** A fixed sequence of "random" numbers, so two clients sign identically. */
function seeded(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

describe('signing the exact query that is sent', () => {
  it('the fake receives byte for byte the query that was signed, base parameters in order and unencoded', async () => {
    const { d } = holder;
    const http = new UpstreamClient({ name: 'douyin', baseUrl: d.url, connectTimeoutMs: 2000, timeoutMs: 5000, deadlineMs: 10000, retries: 0, maxBytes: 1 << 22, concurrency: 2 });
    const make = () =>
      new DouyinClient(http, { userAgent: UA, cookie: COOKIE, signer: 'ab', budget: new CallBudget({ name: 't', perMinute: 600, setting: 'X' }), blockBackoffSeconds: 60, now: () => 1735689600123, random: seeded(7) });
    const res = await make().posts(SEC_UID, '0');
    expect(Array.isArray(res.aweme_list)).toBe(true);
    const sent = d.raw.at(-1)!;
    expect(sent).toBe(`/aweme/v1/web/aweme/post/?${make().signedQuery([['max_cursor', '0'], ['count', 18], ['sec_user_id', SEC_UID]])}`);
    const query = sent.slice(sent.indexOf('?') + 1);
    const names = query.split('&').map((kv) => kv.split('=')[0]);
    expect(names.slice(0, 6)).toEqual(['device_platform', 'aid', 'channel', 'pc_client_type', 'publish_video_strategy_type', 'pc_libra_divert']);
    expect(names.slice(-5)).toEqual(['msToken', 'max_cursor', 'count', 'sec_user_id', 'a_bogus']);
    // The msToken from the cookie, sent as is (f2 does not encode it either).
    expect(query).toContain('&msToken=ZmFrZW1zdG9rZW4xMjM0NTY3ODkw==&');
    const at = query.lastIndexOf('&a_bogus=');
    const [signed, sig] = [query.slice(0, at), query.slice(at + '&a_bogus='.length)];
    expect(aBogusCovers(signed, sig)).toBe(true);
    expect(aBogusCovers(`${signed}&x=1`, sig)).toBe(false);
    await http.close();
  });

  it('browser parameters follow the configured user agent', () => {
    const mac = browserOf('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15');
    expect(mac).toMatchObject({ name: 'Safari', version: '17.4', engine: 'WebKit', os: 'Mac OS', osVersion: '10.15.7', platform: 'MacIntel' });
    const edge = browserOf(UA);
    expect(edge).toMatchObject({ name: 'Edge', version: '130.0.0.0', engine: 'Blink', engineVersion: '130.0.0.0', os: 'Windows', osVersion: '10', platform: 'Win32' });
    expect(baseQuery(edge, 'T', [['aweme_id', '1']])).toContain('browser_platform=Win32&browser_name=Edge&browser_version=130.0.0.0&browser_online=true&engine_name=Blink&engine_version=130.0.0.0&os_name=Windows&os_version=10');
  });
});

describe('Douyin feed', () => {
  it('items: guid, first line as title, /video and /note links, hashtags, times; pinned sorted by time; deleted, prohibited skipped', async () => {
    const { d } = holder;
    app = await start(d);
    const { res, body: f } = await getJson(feedUrl(app));
    expect(res.status).toBe(200);
    expect(jsonFeedErrors(f)).toEqual([]);
    expect(f.title).toBe('测试博主 (Douyin)');
    expect(f.home_page_url).toBe(`https://www.douyin.com/user/${SEC_UID}`);
    const ids = f.items.map((i: any) => i.id);
    expect(ids).toEqual([IDS.video, IDS.note, IDS.h265only, IDS.pinned]);
    expect(d.refusals).toEqual([]);
    const [video, note, h265, pinned] = f.items;
    expect(video.title).toBe('周末去爬山 #徒步 #风景');
    expect(video.url).toBe(`https://www.douyin.com/video/${IDS.video}`);
    expect(video.tags).toEqual(['徒步', '风景']);
    expect(video.authors).toEqual([{ name: '测试博主' }]);
    expect(video.content_html).toContain('❤️ 1.5万 · 💬 88 · ↗️ 12');
    expect(note.url).toBe(`https://www.douyin.com/note/${IDS.note}`);
    expect(pinned.content_html).toContain('📌 pinned');
    // The H.264 stream is the enclosure: its size, the post's duration, a stable signed /play link.
    expect(video.attachments).toEqual([{ url: expect.stringMatching(new RegExp(`^${app.url}/play/douyin/${IDS.video}\\?sig=`)), mime_type: 'video/mp4', size_in_bytes: d.video.length, duration_in_seconds: 4 }]);
    expect(h265.attachments).toBeUndefined(); // no H.264 variant: no enclosure a reader could not play
    // Image posts: every picture through /proxy, the live-photo clip as <video>.
    const imgs = [...note.content_html.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
    expect(imgs).toHaveLength(2);
    for (const src of imgs) {
      const r = await fetch(src);
      expect(r.status).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(d.jpeg)).toBe(true);
    }
    expect(d.cdn.lastHeaders!.referer).toBe('https://www.douyin.com/');
    expect(note.content_html).toMatch(new RegExp(`<video [^>]*src="${app.url}/play/douyin/${IDS.note}\\?i=1&amp;sig=`));
  });

  it('pages=2 follows max_cursor; bad ids are 400 before any call', async () => {
    const { d } = holder;
    app = await start(d);
    const { body: f } = await getJson(feedUrl(app, SEC_UID, '?pages=2'));
    expect(f.items.map((i: any) => i.id)).toContain(IDS.older);
    expect(d.raw.filter((r) => r.startsWith('/aweme/v1/web/aweme/post/')).map((r) => /max_cursor=(\d+)/.exec(r)![1])).toEqual(['0', '1731663000000']);
    const calls = d.raw.length;
    for (const bad of ['/feeds/douyin/123', '/feeds/douyin/MS4wLjABAAAA<x>', `/feeds/douyin/${SEC_UID}?pages=99`, '/play/douyin/abc', `/play/douyin/${IDS.video}?i=x`]) {
      expect((await fetch(app.url + bad)).status, bad).toBe(400);
    }
    expect(d.raw.length).toBe(calls);
  });

  it('the first page links the next (max_cursor), which lists the older post; a background refresh fills the archive back from it', async () => {
    const { d } = holder;
    app = await start(d, { CACHE_TTL: '1s', REFRESH_DOUYIN: '1s' });
    const { body: first } = await getJson(feedUrl(app));
    expect(first.items.map((i: any) => i.id)).not.toContain(IDS.older);
    expect(new URL(first.next_url).searchParams.get('max_cursor')).toBe('1731663000000');
    const { body: next } = await getJson(first.next_url);
    expect(next.items.map((i: any) => i.id)).toEqual([IDS.older]);
    expect(next.next_url).toBeUndefined();
    expect((await fetch(feedUrl(app, SEC_UID, '?max_cursor=abc'))).status).toBe(400);
    // The backfill reads that page in the background; the first page then shows the older post too, kept.
    let row: { pages_done: number; added: number } | undefined;
    for (let i = 0; i < 100 && !(row = await app.db.get<{ pages_done: number; added: number }>('SELECT * FROM archive_backfill'))?.pages_done; i++) await new Promise((r) => setTimeout(r, 100));
    expect(row).toMatchObject({ pages_done: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    const { body: again } = await getJson(feedUrl(app));
    expect(again.items.map((i: any) => i.id)).toContain(IDS.older);
  }, 30_000);

  it('subscribe by share link: the redirect is followed and checked, then 302 to the canonical feed', async () => {
    const { d } = holder;
    app = await start(d, { ACCESS_TOKEN: 'tok' });
    const share = `5.17 复制打开抖音，看看【测试博主的作品】 ${d.url}/s/iRNBho6u/ a@b.cn 04/20 QKx:/`;
    const res = await fetch(`${app.url}/feeds/douyin.atom?token=tok&url=${encodeURIComponent(share)}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`/feeds/douyin/${SEC_UID}.atom?token=tok`);
    const feed = await fetch(new URL(res.headers.get('location')!, app.url));
    expect(feed.status).toBe(200);
    expect(await feed.text()).toContain('<title type="text">测试博主 (Douyin)</title>');
    // A profile URL needs no request; other hosts are refused.
    const direct = await fetch(`${app.url}/feeds/douyin?token=tok&url=${encodeURIComponent(`https://www.douyin.com/user/${SEC_UID}?from_tab_name=main`)}`, { redirect: 'manual' });
    expect(direct.headers.get('location')).toBe(`/feeds/douyin/${SEC_UID}?token=tok`);
    expect((await fetch(`${app.url}/feeds/douyin?token=tok&url=${encodeURIComponent('https://evil.example/user/x')}`)).status).toBe(400);
    expect((await fetch(`${app.url}/feeds/douyin?token=tok`)).status).toBe(400);
    // The start page asks for JSON instead of a redirect.
    const asJson = await fetch(`${app.url}/feeds/douyin?token=tok&url=${encodeURIComponent(share)}`, { headers: { accept: 'application/json' } });
    expect(asJson.status).toBe(200);
    expect(await asJson.json()).toEqual({ secUserId: SEC_UID, feed: `/feeds/douyin/${SEC_UID}` });
  });

  it('enclosures never expire: /play/douyin resolves through the detail endpoint and the redirector, Range works, and a rotated CDN URL is re-resolved once', async () => {
    const { d } = holder;
    app = await start(d);
    const { body: f } = await getJson(feedUrl(app));
    const play = f.items[0].attachments[0].url as string;
    const whole = await fetch(play);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await whole.arrayBuffer()).equals(d.video)).toBe(true);
    expect(d.calls.get('/aweme/v1/play/')).toBe(1);
    expect(d.cdn.lastHeaders!.referer).toBe('https://www.douyin.com/');
    // The cookie goes to Douyin's redirector; not past a redirect to a host of no platform (here the
    // allow-listed test CDN; in production the CDN is Douyin's own, douyinvod.com, and gets it).
    expect(d.lastCookie).toBe(COOKIE);
    expect(d.cdn.lastHeaders!.cookie).toBeUndefined();
    const part = await fetch(play, { headers: { range: 'bytes=1000-1999' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(d.video.subarray(1000, 2000))).toBe(true);
    expect(d.calls.get('/aweme/v1/web/aweme/detail/')).toBe(1); // resolution cached briefly
    // The CDN rotates: the cached redirect target is refused, resolved afresh, played.
    d.rotate();
    const again = await fetch(play, { headers: { range: 'bytes=0-99' } });
    expect(again.status).toBe(206);
    expect(Buffer.from(await again.arrayBuffer()).equals(d.video.subarray(0, 100))).toBe(true);
    // The live-photo clip of image 1.
    const noteClip = f.items[1].content_html.match(/src="([^"]*\/play\/douyin\/[^"]+)"/)[1].replace(/&amp;/g, '&');
    expect(Buffer.from(await (await fetch(noteClip)).arrayBuffer()).equals(d.video)).toBe(true);
  });

  it.each([
    ['empty', 502, 'DOUYIN_EMPTY_BODY'],
    ['captcha', 502, 'DOUYIN_CAPTCHA'],
    ['forbidden', 502, 'DOUYIN_FORBIDDEN'],
    ['ratelimit', 429, 'UPSTREAM_RATE_LIMITED'],
  ] as const)('%s: its own code and what to do; that user is left alone for DOUYIN_BLOCK_BACKOFF; "blocked" counted', async (mode, status, code) => {
    const { d } = holder;
    app = await start(d);
    d.mode = mode;
    const { res, body } = await getJson(feedUrl(app));
    expect(res.status).toBe(status);
    expect(body.error.code).toBe(code);
    expect(body.error.message).toMatch(mode === 'ratelimit' ? /DOUYIN_CALLS_PER_MINUTE/ : /DOUYIN_COOKIE/);
    expect(res.headers.get('retry-after')).toBe('600');
    const calls = d.raw.length;
    expect((await fetch(feedUrl(app))).status).toBe(status);
    expect(d.raw.length).toBe(calls); // backing off
    expect(await (await fetch(`${app.url}/metrics`)).text()).toMatch(new RegExp(`feedgate_douyin_blocked_total\\{reason="${mode === 'ratelimit' ? 'rate_limited' : mode}"\\} 1`));
  });

  it('a block after a good fetch serves the last good copy', async () => {
    const { d } = holder;
    app = await start(d, { CACHE_TTL: '1s' });
    expect((await fetch(feedUrl(app))).status).toBe(200);
    d.mode = 'captcha';
    await new Promise((r) => setTimeout(r, 1100));
    const res = await fetch(feedUrl(app));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-feed-stale')).toBe('1');
  });

  it('user not found is a 404, a private account a 403, an account without posts an empty feed', async () => {
    const { d } = holder;
    app = await start(d);
    const missing = await getJson(feedUrl(app, 'MS4wLjABAAAAdoesNotExist00000000000000000000000000'));
    expect(missing.res.status).toBe(404);
    expect(missing.body.error.code).toBe('DOUYIN_USER_NOT_FOUND');
    const priv = await getJson(feedUrl(app, PRIVATE_UID));
    expect(priv.res.status).toBe(403);
    expect(priv.body.error.code).toBe('DOUYIN_PRIVATE_ACCOUNT');
    const none = await getJson(feedUrl(app, EMPTY_UID));
    expect(none.res.status).toBe(200);
    expect(none.body.items).toEqual([]);
    expect(none.body.description).toBe('一个新号');
  });

  it('guest mode: ttwid registered once, msToken and s_v_web_id made here; a refusal says a logged-in cookie is needed', async () => {
    const { d } = holder;
    app = await start(d, { DOUYIN_COOKIE: '', DOUYIN_TTWID_URL: `${d.url}/ttwid/union/register/` });
    expect((await fetch(feedUrl(app))).status).toBe(200);
    expect(d.lastCookie).toMatch(/^ttwid=1%7CguestTtwid123; msToken=[A-Za-z0-9+-]{182}==; s_v_web_id=verify_/);
    await fetch(feedUrl(app, SEC_UID, '?pages=2'));
    expect(d.calls.get('ttwid')).toBe(1);
    d.mode = 'guest-refused';
    const { res, body } = await getJson(feedUrl(app, EMPTY_UID));
    expect(res.status).toBe(502);
    expect(body.error.message).toContain('set DOUYIN_COOKIE to the cookie of a logged-in browser session');
  });

  it('DOUYIN_SIGNER=xb signs with X-Bogus', async () => {
    const { d } = holder;
    app = await start(d, { DOUYIN_SIGNER: 'xb' });
    expect((await fetch(feedUrl(app))).status).toBe(200);
    expect(d.raw.at(-1)).toMatch(/&X-Bogus=DFSzswVY[A-Za-z0-9/-]{20}$/);
  });

  it('the cookie never appears in feeds, errors, /api/sources, metrics or logs', async () => {
    const { d } = holder;
    const marker = 'CoOkIeMaRk99';
    const log = join(tempDir(), 'feedgate.log');
    app = await start(d, { DOUYIN_COOKIE: `sessionid=${marker}; sid_tt=${marker}`, LOG_LEVEL: 'debug' }, { logFile: log });
    const out: string[] = [];
    for (const fmt of ['rss', 'atom', 'json']) out.push(await (await fetch(`${app.url}/feeds/douyin/${SEC_UID}.${fmt}`)).text());
    d.mode = 'empty';
    out.push(await (await fetch(feedUrl(app, EMPTY_UID))).text());
    out.push(await (await fetch(`${app.url}/api/sources`)).text());
    out.push(await (await fetch(`${app.url}/metrics`)).text());
    await new Promise((r) => setTimeout(r, 250));
    out.push(readFileSync(log, 'utf8'));
    for (const o of out) expect(o).not.toContain(marker);
  });
});

describe('Douyin feeds in real parsers', () => {
  itFeedparser('RSS and Atom parse cleanly, with the video enclosure', async () => {
    const { d } = holder;
    app = await start(d);
    for (const fmt of ['rss', 'atom']) {
      const p = await feedparser({ url: `${app.url}/feeds/douyin/${SEC_UID}.${fmt}` });
      expect(p.bozo_exception).toBeNull();
      expect(p.entries).toHaveLength(4);
      expect(p.entries[0]!.enclosures[0]?.type).toBe('video/mp4');
      expect(p.entries[0]!.tags).toEqual(['徒步', '风景']);
    }
  });
});
