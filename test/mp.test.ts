import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIZ, NICKNAME, useFakeMp, type FakeMp } from './fakes/mp.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { itFeedparser } from './helpers/tools.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';
import { parseXml } from './helpers/xml.js';

const holder = useFakeMp();
let app: RunningApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A value no output may ever contain: it is in every pushed secret. */
const MARKER = 'SeCrEt7q9Z';
const creds = (n = 1) => ({ biz: BIZ, uin: `MTIz${MARKER}NDU2`, key: `key${n}-${MARKER}-0123456789abcdef`, pass_ticket: `pt/${MARKER}+abc==`, appmsg_token: `1234_${MARKER}`, nickname: NICKNAME, avatar_url: '' });

const start = (mp: FakeMp, extra: Record<string, unknown> = {}, opts: { logFile?: string } = {}) =>
  startApp({ MP_BASE_URL: mp.url, PROXY_ALLOW_HOSTS: mp.host, MP_CALLS_PER_MINUTE: 600, ...extra }, opts);

async function push(a: RunningApp, mp: FakeMp, n = 1, query = '', accept = true): Promise<Response> {
  const body = creds(n);
  if (accept) mp.validKeys.set(BIZ, body.key);
  return fetch(`${a.url}/api/mp/refresh${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

const feedUrl = (a: RunningApp, q = '', fmt = 'json') => `${a.url}/feeds/mp/${encodeURIComponent(BIZ)}.${fmt}${q}`;
async function jsonFeed(url: string) {
  const res = await fetch(url);
  const text = await res.text();
  return { res, text, feed: res.ok ? (JSON.parse(text) as { items: any[]; next_url?: string; title: string; icon?: string }) : (undefined as never), body: res.ok ? undefined : JSON.parse(text) };
}

describe('credentials API', () => {
  it('POST /api/mp/refresh takes MP_REFRESH_TOKEN instead of ACCESS_TOKEN, or ACCESS_TOKEN; nothing else', async () => {
    const { mp } = holder;
    app = await start(mp, { MP_REFRESH_TOKEN: 'refresh-me', ACCESS_TOKEN: 'access-me' });
    expect((await push(app, mp)).status).toBe(401);
    expect((await push(app, mp, 1, '?token=wrong')).status).toBe(401);
    const ok = await push(app, mp, 1, '?token=refresh-me');
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as any;
    expect(body.code).toBe(0);
    expect(body.data.biz).toBe(BIZ);
    expect((await push(app, mp, 2, '?token=access-me')).status).toBe(200);
    // The refresh token opens this route only.
    expect((await fetch(`${app.url}/api/mp/list?token=refresh-me`)).status).toBe(401);
    expect((await fetch(`${app.url}/api/mp/list?token=access-me`)).status).toBe(200);
  });

  it('without MP_REFRESH_TOKEN the route needs ACCESS_TOKEN like any other', async () => {
    const { mp } = holder;
    app = await start(mp, { ACCESS_TOKEN: 'access-me' });
    expect((await push(app, mp)).status).toBe(401);
    expect((await push(app, mp, 1, '?token=access-me')).status).toBe(200);
  });

  it('bad bodies get a clear 4xx naming the field', async () => {
    const { mp } = holder;
    app = await start(mp);
    const post = (body: string, type = 'application/json') => fetch(`${app!.url}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': type }, body });
    const missing = await post(JSON.stringify({ biz: BIZ, uin: 'x', pass_ticket: 'y' }));
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as any).error.message).toContain('key');
    expect((await post('{not json')).status).toBe(400);
    expect((await post('[]')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    expect((await post('biz=x', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post(JSON.stringify({ ...creds(), biz: '../../etc' }))).status).toBe(400);
    expect((await post(JSON.stringify({ ...creds(), key: { a: 1 } }))).status).toBe(400);
    expect((await post('x'.repeat(70 * 1024))).status).toBe(413);
  });

  it('lists accounts with their state, paged and filtered, and deletes them; no credential in the answer', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    const other = { ...creds(), biz: 'MzI0OTk5OTk5OQ==', nickname: '另一个号', avatar_url: 'https://mmbiz.qpic.cn/avatar/0' };
    await fetch(`${app.url}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(other) });
    const res = await fetch(`${app.url}/api/mp/list?page=1&page_size=1`);
    const text = await res.text();
    expect(text).not.toContain(MARKER);
    const body = JSON.parse(text);
    expect(body.code).toBe(0);
    expect(body.data.total).toBe(2);
    expect(body.data.list).toHaveLength(1);
    const found = (await (await fetch(`${app.url}/api/mp/list?keyword=${encodeURIComponent('另一')}`)).json()) as any;
    expect(found.data.list.map((a: any) => a.biz)).toEqual(['MzI0OTk5OTk5OQ==']);
    const a = found.data.list[0];
    expect(a.is_effective).toBe(true);
    expect(a.state).toBe('effective');
    expect(a.avatar_url).toMatch(new RegExp(`^${app.url}/proxy\\?`));
    expect(a.feed).toBe(`${app.url}/feeds/mp/${encodeURIComponent('MzI0OTk5OTk5OQ==')}`);
    expect(((await (await fetch(`${app.url}/api/mp/list?is_effective=0`)).json()) as any).data.total).toBe(0);
    const del = await fetch(`${app.url}/api/mp/delete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz: 'MzI0OTk5OTk5OQ==' }) });
    expect(del.status).toBe(200);
    const again = await fetch(`${app.url}/api/mp/delete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz: 'MzI0OTk5OTk5OQ==' }) });
    expect(again.status).toBe(404);
    expect(((await (await fetch(`${app.url}/api/mp/list`)).json()) as any).data.total).toBe(1);
  });
});

describe('MP feed', () => {
  it('without credentials: 404 saying how to get them', async () => {
    const { mp } = holder;
    app = await start(mp);
    const { res, body } = await jsonFeed(feedUrl(app));
    expect(res.status).toBe(404);
    expect(body.error.code).toBe('MP_ACCOUNT_UNKNOWN');
    expect(body.error.message).toContain('/api/mp/refresh');
    expect(mp.listCalls).toBe(0);
  });

  it('rejects bad parameters before any call', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    for (const q of ['?offset=-1', '?offset=abc', '?pages=0', '?pages=99', '?content=yes', '?proxy_cover=2']) {
      const res = await fetch(feedUrl(app, q));
      expect(res.status, q).toBe(400);
    }
    expect((await fetch(`${app.url}/feeds/mp/${encodeURIComponent('<script>')}`)).status).toBe(400);
    expect((await fetch(`${app.url}/rss/mp`)).status).toBe(400);
    expect(mp.listCalls).toBe(0);
  });

  it('one item per article of every article push, with canonical guids, authors, dates, covers through /proxy', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    const { res, feed } = await jsonFeed(feedUrl(app));
    expect(res.status).toBe(200);
    expect(jsonFeedErrors(feed)).toEqual([]);
    expect(feed.title).toBe(NICKNAME);
    // The headers the notes give, and the credentials only where WeChat wants them.
    expect(mp.lastListHeaders!['user-agent']).toMatch(/MicroMessenger\/.*WindowsWechat/);
    expect(mp.lastListHeaders!.referer).toMatch(/^https:\/\/mp\.weixin\.qq\.com\/mp\/profile_ext\?action=home&__biz=/);
    expect(mp.lastListUrl!.searchParams.get('f')).toBe('json');
    expect(mp.lastListUrl!.searchParams.get('count')).toBe('10');
    expect(mp.lastListUrl!.searchParams.get('pass_ticket')).toBe(creds().pass_ticket);

    // 10 pushes: one holds 4 articles (one deleted), one is a text message: 3 + 0 + 1 + 1 + 6 = 11.
    expect(feed.items).toHaveLength(11);
    const ids = feed.items.map((i) => i.id);
    expect(new Set(ids).size).toBe(11);
    expect(ids[0]).toBe(mp.articleUrl(2650000125, 1));
    expect(ids).not.toContain(mp.articleUrl(2650000125, 3));
    for (const i of feed.items) {
      expect(i.id).toMatch(/^https:\/\/mp\.weixin\.qq\.com\/s\?__biz=MzA3MDM3NjE5NQ==&mid=\d+&idx=\d&sn=[0-9a-f]+$/);
      expect(i.url).toBe(i.id);
    }
    const [lead, pics, text, video, blocked] = feed.items;
    expect(lead.title).toBe('Rust 异步运行时的调度：从 work-stealing 说起');
    expect(lead.authors).toEqual([{ name: '陈工' }]);
    expect(pics.authors).toEqual([{ name: '陈工' }]); // empty author: the lead's
    expect(text.authors).toEqual([{ name: '陈工' }]); // missing author: the lead's
    expect(blocked.authors).toEqual([{ name: NICKNAME }]); // no author at all: the account
    expect(blocked.title).toBe('被拦下的一篇 & 标题');
    expect(blocked.summary).toBe('摘要 <b>');
    expect(lead.date_published).toBe(new Date(mp.pushes[0]!.datetime * 1000).toISOString().replace('.000Z', 'Z'));
    expect(pics.date_published).toBe(lead.date_published);
    expect(video.date_published).toBe(new Date(mp.pushes[2]!.datetime * 1000).toISOString().replace('.000Z', 'Z'));
    // Cover as image, thumbnail and at the top of the content, through signed /proxy.
    expect(lead.image).toMatch(new RegExp(`^${app.url}/proxy\\?`));
    expect(lead.content_html.startsWith(`<p><img src="${lead.image.replace(/&/g, '&amp;')}"`)).toBe(true);
    expect(lead.content_html).toContain('本文梳理 tokio 调度器的设计取舍。');
    expect(lead.content_html).toContain('https://example.org/blog/work-stealing');
    expect(blocked.image).toContain(encodeURIComponent(`${mp.url}/mmbiz_jpg/cover-22/0?wx_fmt=jpeg&tp=webp`));
    // The cover proxy passes WeChat's hotlink check: the real image, not the placeholder.
    const img = await fetch(lead.image, { headers: { referer: 'https://reader.example/' } });
    expect(img.status).toBe(200);
    expect(Buffer.from(await img.arrayBuffer()).equals(mp.jpeg)).toBe(true);
    expect(mp.placeholderHits).toBe(0);
    // No page is fetched without content=1.
    expect(mp.pageHits.size).toBe(0);
    // Paging: the next page's link, and offset is part of the cache key.
    expect(feed.next_url).toBe(`${feedUrl(app)}?offset=10`);
    const older = await jsonFeed(feed.next_url!);
    expect(older.feed.items[0].title).toBe('第 115 期周报');
    expect(older.feed.items.map((i: any) => i.id).some((id: string) => ids.includes(id))).toBe(false);
  });

  it('proxy_cover=0 leaves covers alone, proxy=1 points links at the article page, and the guid never changes', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    const plain = (await jsonFeed(feedUrl(app, '?proxy_cover=0'))).feed;
    expect(plain.items[0].image).toBe(`${mp.url}/mmbiz_jpg/cover-a1/0?wx_fmt=jpeg`);
    const proxied = (await jsonFeed(feedUrl(app, '?proxy=1'))).feed;
    expect(proxied.items.map((i: any) => i.id)).toEqual(plain.items.map((i: any) => i.id));
    expect(proxied.items[0].url).toMatch(new RegExp(`^${app.url}/mp/proxy\\?url=`));
  });

  it('pages=N walks next_offset; the downloader-compatible /rss/mp answers Atom with a next link', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    const two = (await jsonFeed(feedUrl(app, '?pages=2'))).feed;
    expect(mp.listCalls).toBe(2);
    expect(two.items).toHaveLength(21);
    expect(two.next_url).toContain('offset=20');
    const res = await fetch(`${app.url}/rss/mp?biz=${encodeURIComponent(BIZ)}&offset=0`);
    expect(res.headers.get('content-type')).toMatch(/application\/atom\+xml/);
    const doc = parseXml(await res.text());
    expect(doc.name).toBe('feed');
    const next = doc.children.find((c) => c.name === 'link' && c.attrs.rel === 'next');
    expect(next?.attrs.href).toContain('offset=10');
  });

  it('content=1: full text of every article, cleaned, images through /proxy; failures fall back to the digest', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    const { feed } = await jsonFeed(feedUrl(app, '?content=1'));
    const [lead, pics, text, video, blocked, weekly] = feed.items;
    expect(lead.content_html).toContain('第三层的段落。');
    expect(lead.content_html).not.toMatch(/<script|onclick|data-src|visibility: hidden/);
    // Body images through signed /proxy, which fetches them without a Referer.
    const bodyImg = /<img [^>]*src="([^"]*body-1[^"]*)"/.exec(lead.content_html.replace(/&amp;/g, '&'));
    expect(bodyImg?.[1]).toMatch(new RegExp(`^${app.url}/proxy\\?`));
    const r = await fetch(bodyImg![1]!);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(mp.jpeg)).toBe(true);
    expect(mp.lastPageHeaders!.referer).toBeUndefined();
    expect(pics.content_html.match(/<img /g)).toHaveLength(4); // cover + 3 pictures
    expect(text.content_html).toContain('——编辑部 &lt;script&gt;');
    expect(video.content_html).toContain('Watch the video in WeChat');
    expect(blocked.content_html).toContain('摘要 &lt;b&gt;');
    expect(blocked.content_html).toContain('Full text unavailable');
    expect(blocked.content_html).toContain('verification page');
    expect(weekly.content_html).toContain('嵌套的段落也必须留下来。');
    expect(mp.pageHits.get('2650000125:3')).toBeUndefined(); // deleted in the list: never fetched
  });

  it('with REFRESH_MP, a new article and its full text are fetched in the background: a content=1 poll after it is a hit and fetches no page', async () => {
    const { mp } = holder;
    app = await start(mp, { CACHE_TTL: '1s', REFRESH_MP: '1s' });
    await push(app, mp);
    // The reader's first poll waits for the pages; from then on the feed is refreshed in the background.
    await jsonFeed(feedUrl(app, '?content=1'));
    const t = Date.now();
    mp.pushes.unshift({ id: 1000000200, datetime: Math.floor(t / 1000), type: 49, articles: [{ mid: 2650000200, idx: 1, title: '后台取回的新文章', digest: '新的一篇。', author: '陈工', cover: '', kind: 'article' }] });
    const ranSince = async () => ((await app!.db.get<{ last_at: number | null }>('SELECT last_at FROM refresh_feeds'))?.last_at ?? 0) > t;
    for (let i = 0; i < 100 && !(mp.pageHits.get('2650000200:1') && (await ranSince())); i++) await new Promise((r) => setTimeout(r, 100));
    expect(mp.pageHits.get('2650000200:1')).toBe(1);
    const pages = [...mp.pageHits.values()].reduce((a, b) => a + b, 0);
    const lists = mp.listCalls;
    const { res, feed } = await jsonFeed(feedUrl(app, '?content=1'));
    expect(res.headers.get('x-cache')).toBe('HIT');
    expect(feed.items[0].title).toBe('后台取回的新文章');
    expect(feed.items[0].content_html).toContain('第三层的段落。');
    expect([...mp.pageHits.values()].reduce((a, b) => a + b, 0)).toBe(pages);
    expect(mp.listCalls).toBe(lists);
  });

  it('kept article texts survive a restart (no refetch) and WeChat deleting the article', async () => {
    const { mp } = holder;
    const dataDir = tempDir();
    app = await start(mp, { DATA_DIR: dataDir, CACHE_TTL: '1s' });
    await push(app, mp);
    await jsonFeed(feedUrl(app, '?content=1'));
    const fetched = [...mp.pageHits.values()].reduce((a, b) => a + b, 0);
    expect(fetched).toBe(11);
    await app.close(false);
    // Past the copy's freshness: a copy still fresh would be served from the database as it is.
    await new Promise((r) => setTimeout(r, 1100));

    app = await start(mp, { DATA_DIR: dataDir, CACHE_TTL: '1s' });
    // WeChat deletes the lead article: its page says so and the list drops it.
    mp.deleted.add('2650000125:1');
    mp.pushes[0]!.articles[0]!.delFlag = 4;
    const { feed } = await jsonFeed(feedUrl(app, '?content=1'));
    const lead = feed.items.find((i: any) => i.id === mp.articleUrl(2650000125, 1));
    expect(lead, 'the deleted article stays in the feed').toBeDefined();
    expect(lead.content_html).toContain('第三层的段落。');
    // Only the page that failed before (blocked) was asked for again.
    expect([...mp.pageHits.values()].reduce((a, b) => a + b, 0)).toBe(fetched + 1);
    expect(mp.pageHits.get('2650000122:1')).toBe(2);
    await app.close(true);
    app = undefined;
  });

  it('credentials rejected with ret=-3: a stable notice item, the kept articles, then gone after a refresh', async () => {
    const { mp } = holder;
    app = await start(mp, { CACHE_TTL: '1s' });
    await push(app, mp);
    const first = (await jsonFeed(feedUrl(app))).feed;
    expect(first.items[0].id).not.toMatch(/^feedgate:/);
    mp.validKeys.set(BIZ, 'rotated-by-wechat');
    await new Promise((r) => setTimeout(r, 1100));
    const a = (await jsonFeed(feedUrl(app))).feed;
    const notice = a.items[0];
    expect(notice.id).toMatch(/^feedgate:mp:.*:expired:\d+$/);
    expect(notice.title).toContain('expired');
    expect(notice.content_html).toMatch(/credentials expired since/i);
    expect(notice.content_html).toContain('open any article of this account in WeChat');
    expect(a.items.slice(1).map((i: any) => i.id)).toEqual(first.items.map((i: any) => i.id));
    const calls = mp.listCalls;
    await new Promise((r) => setTimeout(r, 1100));
    const b = (await jsonFeed(feedUrl(app))).feed;
    expect(b.items[0].id).toBe(notice.id); // shown once by a reader
    expect(mp.listCalls).toBe(calls); // nothing asked of WeChat with rejected credentials
    const list = (await (await fetch(`${app.url}/api/mp/list`)).json()) as any;
    expect(list.data.list[0]).toMatchObject({ is_effective: false, state: 'expired' });
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toContain('feedgate_mp_accounts{state="expired"} 1');
    expect(metrics).toContain('feedgate_mp_accounts{state="effective"} 0');
    // A fresh push: the notice goes away at once (the cache key follows the credentials).
    await push(app, mp, 2);
    const c = (await jsonFeed(feedUrl(app))).feed;
    expect(c.items.some((i: any) => String(i.id).startsWith('feedgate:'))).toBe(false);
    expect((await (await fetch(`${app.url}/metrics`)).text())).toContain('feedgate_mp_accounts{state="effective"} 1');
  });

  it('credentials expire by age (MP_CREDENTIAL_TTL) without asking WeChat', async () => {
    const { mp } = holder;
    app = await start(mp, { MP_CREDENTIAL_TTL: '1s', CACHE_TTL: '1s' });
    await push(app, mp);
    await jsonFeed(feedUrl(app));
    const calls = mp.listCalls;
    await new Promise((r) => setTimeout(r, 1100));
    const a = await (await fetch(feedUrl(app, '', 'rss'))).text();
    expect(a).toMatch(/credentials expired since/i);
    const b = (await jsonFeed(feedUrl(app))).feed;
    expect(b.items[0].id).toMatch(/:expired:/);
    expect(mp.listCalls).toBe(calls);
    // Older pages cannot be had without credentials: a clear error, not a crash.
    const older = await jsonFeed(feedUrl(app, '?offset=10'));
    expect(older.res.status).toBe(503);
    expect(older.body.error.code).toBe('MP_CREDENTIALS_EXPIRED');
  });

  // MP feeds are never answered from a ready copy: their cache key is read from the database on every
  // request, so a push through another replica counts at once.
  it('a feed read often (answered from the cache) still turns to the notice the moment credentials expire, and back on a push', async () => {
    const { mp } = holder;
    app = await start(mp, { MP_CREDENTIAL_TTL: '1s', CACHE_TTL: '1h' });
    await push(app, mp);
    for (let i = 0; i < 3; i++) {
      const r = await jsonFeed(feedUrl(app));
      expect(r.feed.items[0].id).not.toMatch(/^feedgate:/);
      if (i > 0) expect(r.res.headers.get('x-cache')).toBe('HIT');
    }
    await new Promise((r) => setTimeout(r, 1100));
    expect((await jsonFeed(feedUrl(app))).feed.items[0].id).toMatch(/:expired:/);
    await push(app, mp, 2);
    expect((await jsonFeed(feedUrl(app))).feed.items[0].id).not.toMatch(/^feedgate:/);
  });

  it('ret=-6: the account is left alone for MP_LIMITED_BACKOFF and the feed says so', async () => {
    const { mp } = holder;
    app = await start(mp, { CACHE_TTL: '1s' });
    await push(app, mp);
    await jsonFeed(feedUrl(app));
    mp.mode = 'limited';
    await new Promise((r) => setTimeout(r, 1100));
    const a = (await jsonFeed(feedUrl(app))).feed;
    expect(a.items[0].id).toMatch(/:limited:/);
    expect(a.items[0].content_html).toContain('ret=-6');
    expect(a.items.length).toBe(12);
    const calls = mp.listCalls;
    await new Promise((r) => setTimeout(r, 1100));
    await push(app, mp, 2); // new credentials do not lift WeChat's limit
    const b = (await jsonFeed(feedUrl(app))).feed;
    expect(b.items[0].id).toBe(a.items[0].id);
    expect(mp.listCalls).toBe(calls);
    const list = (await (await fetch(`${app.url}/api/mp/list`)).json()) as any;
    expect(list.data.list[0].state).toBe('limited');
    expect(list.data.list[0].limited_until).toBeDefined();
  });

  it.each(['html', 'empty', 'garbage', 'status500', 'badjsonstring'] as const)('WeChat answering %s: the last good copy, else a clear 502', async (mode) => {
    const { mp } = holder;
    app = await start(mp, { CACHE_TTL: '1s' });
    await push(app, mp);
    mp.mode = mode;
    const cold = await jsonFeed(feedUrl(app, '?pages=2'));
    expect(cold.res.status).toBe(502);
    expect(cold.body.error.message).not.toContain(MARKER);
    mp.mode = 'ok';
    await jsonFeed(feedUrl(app));
    mp.mode = mode;
    await new Promise((r) => setTimeout(r, 1100));
    const stale = await jsonFeed(feedUrl(app));
    expect(stale.res.status).toBe(200);
    expect(stale.res.headers.get('x-feed-stale')).toBe('1');
    expect(stale.feed.items).toHaveLength(11);
  });

  it('no credential appears in feeds, API answers, errors, metrics or logs', async () => {
    const { mp } = holder;
    const log = join(tempDir(), 'feedgate.log');
    app = await start(mp, { LOG_LEVEL: 'debug', MP_REFRESH_TOKEN: `rt-${MARKER}` }, { logFile: log });
    const outputs: string[] = [];
    const got = async (url: string, init?: RequestInit) => {
      const res = await fetch(url, init);
      outputs.push(JSON.stringify([...res.headers]), await res.text());
      return res;
    };
    await got(`${app.url}/api/mp/refresh?token=rt-${MARKER}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(creds()) });
    mp.validKeys.set(BIZ, creds().key);
    for (const fmt of ['rss', 'atom', 'json']) await got(feedUrl(app, '?content=1&proxy=1', fmt));
    await got(`${app.url}/rss/mp?biz=${encodeURIComponent(BIZ)}`);
    await got(`${app.url}/api/mp/list`);
    await got(`${app.url}/api/sources`);
    await got(`${app.url}/metrics`);
    mp.mode = 'garbage';
    await got(feedUrl(app, '?pages=3'));
    mp.mode = 'ok';
    mp.validKeys.set(BIZ, 'rotated');
    await got(feedUrl(app, '?pages=4'));
    await got(`${app.url}/api/mp/refresh?token=wrong`, { method: 'POST', body: '{}' });
    await new Promise((r) => setTimeout(r, 250)); // the log flushes every 100 ms
    const logText = readFileSync(log, 'utf8');
    expect(logText).toContain('MP credentials received');
    expect(logText).toContain('/api/mp/refresh?token=[redacted]');
    for (const out of [...outputs, logText]) expect(out).not.toContain(MARKER);
  });
});

describe('MP feeds in the archive', () => {
  it('each variant is kept apart (the plain feed, content=1): loading one never rewrites the other', async () => {
    const { mp } = holder;
    app = await start(mp, { CACHE_TTL: '1s' });
    await push(app, mp);
    expect((await jsonFeed(feedUrl(app))).res.status).toBe(200);
    const plainRows = () => app!.db.all<{ guid: string; data: string }>('SELECT guid, data FROM archive_items WHERE feed = ? ORDER BY guid', [`mp:${BIZ}`]);
    const before = await plainRows();
    expect(before.length).toBeGreaterThan(0);
    let full = await jsonFeed(feedUrl(app, '?content=1'));
    // Full texts may come after the first answer: read again until they are in.
    for (let i = 0; i < 30 && full.feed.items.some((x) => !x.content_html?.includes('</')); i++) {
      await new Promise((r) => setTimeout(r, 1100));
      full = await jsonFeed(feedUrl(app, '?content=1'));
    }
    const feeds = await app.db.all<{ feed: string }>('SELECT DISTINCT feed FROM archive_items ORDER BY feed');
    expect(feeds.map((f) => f.feed)).toEqual([`mp:${BIZ}`, `mp:${BIZ}~content`]);
    expect(await plainRows()).toEqual(before);
    // The full text is not copied into the archive (mp_articles keeps it): the item names it instead.
    const kept = new Map((await app.db.all<{ guid: string; data: string }>('SELECT guid, data FROM archive_items WHERE feed = ?', [`mp:${BIZ}~content`])).map((r) => [r.guid, JSON.parse(r.data) as { contentHtml?: string; bodyOf?: string; bodyHash?: string }]));
    expect([...kept.keys()].sort()).toEqual(before.map((r) => r.guid));
    // (An article WeChat would not give keeps its digest and the reason, as served.)
    const withText = [...kept].filter(([, item]) => item.bodyOf);
    expect(withText.length).toBeGreaterThan(0);
    for (const [guid, item] of withText) expect(item, guid).toEqual(expect.objectContaining({ bodyOf: guid, bodyHash: expect.any(String) }));
    for (const [, item] of withText) expect(item.contentHtml).toBeUndefined();
    for (const [, item] of kept) if (!item.bodyOf) expect(item.contentHtml).toContain('Full text unavailable');
    // Read back (history with before=, the export), each has its full text again, as the feed shows it.
    const live = new Map(full.feed.items.map((x) => [x.id as string, x.content_html as string]));
    const history = await jsonFeed(feedUrl(app, `?content=1&before=${Date.now() + 86_400_000}&limit=50`));
    expect(history.feed.items.length).toBe(live.size);
    for (const x of history.feed.items) expect(x.content_html, x.id).toBe(live.get(x.id));
    const exported = (await (await fetch(`${app.url}/api/archive/export?feed=mp:${BIZ}~content`)).text()).trim().split('\n').map((l) => JSON.parse(l));
    const items = exported.filter((l) => l.type === 'item').map((l) => l.item as { guid: string; contentHtml: string });
    expect(items).toHaveLength(live.size);
    // As served, with absolute links made root-relative again (the feed makes them absolute).
    for (const i of items) expect(live.get(i.guid)!.replaceAll(app.url, ''), i.guid).toBe(i.contentHtml);
    // Search results point at our own media with absolute links.
    const found = (await (await fetch(`${app.url}/api/search?q=${encodeURIComponent(full.feed.items[0].title.slice(0, 2))}`)).json()) as { items: Array<{ image: string | null }> };
    expect(found.items.length).toBeGreaterThan(0);
    expect(found.items.some((i) => i.image?.startsWith(`${app!.url}/proxy?`))).toBe(true);
    // The plain feed read again is unchanged by it.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await jsonFeed(feedUrl(app))).res.status).toBe(200);
    expect(await plainRows()).toEqual(before);
  }, 60_000);
});

describe('/mp/proxy', () => {
  it('serves the cleaned article as a complete page from a signed feed link; images stream through /proxy', async () => {
    const { mp } = holder;
    app = await start(mp, { ACCESS_TOKEN: 'tok' });
    await push(app, mp, 1, '?token=tok');
    const feed = (await jsonFeed(feedUrl(app, '?proxy=1&token=tok'))).feed;
    const link = feed.items[0].url as string;
    expect(link).toContain('sig=');
    expect(link).not.toContain('token=');
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<h1>Rust 异步运行时的调度：从 work-stealing 说起</h1>');
    expect(html).toContain('陈工 · 系统编程笔记');
    expect(html).toContain('第三层的段落。');
    expect(html).not.toMatch(/<script|onclick=|onmouseover=/);
    expect(html).toContain(`href="${mp.articleUrl(2650000125, 1).replace(/&/g, '&amp;')}"`);
    const img = /<img [^>]*src="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');
    expect(img.startsWith(`${app.url}/proxy?`)).toBe(true);
    const bytes = Buffer.from(await (await fetch(img)).arrayBuffer());
    expect(bytes.equals(mp.jpeg)).toBe(true);
    // Tampered or unsigned links need the token.
    expect((await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent(mp.articleUrl(2650000125, 1))}`)).status).toBe(401);
    expect((await fetch(link.replace('idx%3D1', 'idx%3D2'))).status).toBe(403);
    expect((await fetch(`${app.url}/mp/proxy?token=tok&url=${encodeURIComponent(mp.articleUrl(2650000125, 1))}`)).status).toBe(200);
  });

  it('accepts WeChat hosts only; images redirect to /proxy; seed-style &amp; links work', async () => {
    const { mp } = holder;
    app = await start(mp);
    const evil = await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent('https://evil.example/s?__biz=a')}`);
    expect(evil.status).toBe(403);
    expect(((await evil.json()) as any).error.code).toBe('HOST_NOT_ALLOWED');
    expect((await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent('http://169.254.169.254/latest')}`)).status).toBe(403);
    expect((await fetch(`${app.url}/mp/proxy`)).status).toBe(400);
    expect((await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent('https://mp.weixin.qq.com/mp/profile_ext?action=home')}`)).status).toBe(400);
    const img = await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent('https://mmbiz.qpic.cn/mmbiz_jpg/abc/0?wx_fmt=jpeg')}`, { redirect: 'manual' });
    expect(img.status).toBe(302);
    expect(img.headers.get('location')).toMatch(new RegExp(`^${app.url}/proxy\\?.*sig=`));
    const amp = mp.articleUrl(2650000123, 1).replace(/&/g, '&amp;') + '&amp;chksm=1#wechat_redirect';
    const video = await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent(amp)}`);
    expect(video.status).toBe(200);
    expect(await video.text()).toContain('Watch the video in WeChat');
  });

  it('a deleted article never kept is a 410, a blocked one a 502, never the captcha as the page', async () => {
    const { mp } = holder;
    app = await start(mp);
    mp.deleted.add('2650000121:1');
    const gone = await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent(mp.articleUrl(2650000121, 1))}`);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as any).error.code).toBe('MP_ARTICLE_DELETED');
    const blocked = await fetch(`${app.url}/mp/proxy?url=${encodeURIComponent(mp.articleUrl(2650000122, 1))}`);
    expect(blocked.status).toBe(502);
    const body = (await blocked.json()) as any;
    expect(body.error.code).toBe('MP_BLOCKED');
    expect(JSON.stringify(body)).not.toContain('去验证');
  });
});

describe('MP feeds in real parsers', () => {
  itFeedparser('RSS, Atom and JSON parse cleanly, full text included', async () => {
    const { mp } = holder;
    app = await start(mp);
    await push(app, mp);
    for (const fmt of ['rss', 'atom']) {
      const p = await feedparser({ url: feedUrl(app, '?content=1', fmt) });
      expect(p.bozo_exception).toBeNull();
      expect(p.entries).toHaveLength(11);
      // Already a URI: Atom keeps it as the entry id too.
      expect(p.entries[0]!.id).toBe(mp.articleUrl(2650000125, 1));
      expect(p.entries[0]!.content.join('')).toContain('第三层的段落。');
      expect(p.entries[0]!.media_thumbnail[0]?.url).toMatch(/\/proxy\?/);
      // The articles of one push share their published time; Atom still gives each its own updated.
      expect(p.entries[1]!.published).toBe(p.entries[0]!.published);
      if (fmt === 'atom') expect(new Set(p.entries.map((e) => e.updated)).size).toBe(p.entries.length);
    }
  });
});
