import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { listenLoopback, useFake } from '../helpers/listen.js';
import { sampleJpeg } from '../helpers/media.js';

/**
 * A fake mp.weixin.qq.com on an ephemeral loopback port: `profile_ext?action=getmsg` with the
 * credentials it was given (ret=-3 for any other key, ret=-6 when limited, a JSON string inside the
 * JSON), article pages of every kind from test/fixtures/mp, and mmbiz-style images that turn into a
 * placeholder when a foreign Referer is sent. Shapes from notes/channels-mp.md §3.2.
 */

export const BIZ = 'MzA3MDM3NjE5NQ==';
export const NICKNAME = '系统编程笔记';
export type PageKind = 'article' | 'pictures' | 'text' | 'video' | 'deleted' | 'captcha' | 'html500';
export type ListMode = 'ok' | 'limited' | 'html' | 'empty' | 'garbage' | 'status500' | 'badjsonstring';

export interface FakeArticle {
  mid: number;
  idx: number;
  title: string;
  digest: string;
  author?: string;
  cover?: string;
  kind: PageKind;
  delFlag?: number;
  sourceUrl?: string;
}

export interface FakePush {
  id: number;
  /** Unix seconds. */
  datetime: number;
  /** 49 = article push; 1 = text message (not an article). */
  type: number;
  articles: FakeArticle[];
}

export interface FakeMp {
  url: string;
  host: string;
  /** The key getmsg accepts per biz; any other gets ret=-3. */
  validKeys: Map<string, string>;
  mode: ListMode;
  /** When set, getmsg answers with this HTTP status and a JSON body without ret. */
  listStatus?: number;
  pushes: FakePush[];
  /** Message lists of accounts other than BIZ (the bench uses a one-article account). */
  others: Map<string, FakePush[]>;
  /** Articles that now answer with the "deleted by the publisher" page. */
  deleted: Set<string>;
  articleDelayMs: number;
  listCalls: number;
  /** Article page requests per "mid:idx". */
  pageHits: Map<string, number>;
  imageHits: number;
  placeholderHits: number;
  lastListUrl?: URL;
  lastListHeaders?: IncomingMessage['headers'];
  lastPageHeaders?: IncomingMessage['headers'];
  sn(mid: number, idx: number): string;
  articleUrl(mid: number, idx: number): string;
  jpeg: Buffer;
  placeholder: Buffer;
  reset(): void;
  close(): Promise<void>;
}

const FIXTURES = fileURLToPath(new URL('../fixtures/mp/', import.meta.url));
const fixture = (name: string) => readFileSync(`${FIXTURES}${name}.html`, 'utf8');

const sn = (mid: number, idx: number) => ((mid * 31 + idx) >>> 0).toString(16).padStart(8, '0').repeat(4);

/** 25 pushes, newest first: a multi-article push, a text message, a video, a blocked one, then plain articles. */
export function defaultPushes(cdn: string, now = Math.floor(Date.now() / 1000)): FakePush[] {
  const pushes: FakePush[] = [
    {
      id: 1000000125,
      datetime: now - 3600,
      type: 49,
      articles: [
        { mid: 2650000125, idx: 1, title: 'Rust 异步运行时的调度：从 work-stealing 说起', digest: '本文梳理 tokio 调度器的设计取舍。', author: '陈工', cover: `${cdn}/mmbiz_jpg/cover-a1/0?wx_fmt=jpeg`, kind: 'article', sourceUrl: 'https://example.org/blog/work-stealing' },
        { mid: 2650000125, idx: 2, title: '周末的三张照片', digest: '湖边，雨后。', author: '', cover: `${cdn}/mmbiz_jpg/pic-cover/0?wx_fmt=jpeg`, kind: 'pictures' },
        { mid: 2650000125, idx: 3, title: '已删除的第三篇', digest: 'gone', author: '陈工', cover: '', kind: 'article', delFlag: 4 },
        { mid: 2650000125, idx: 4, title: '今天停更一天', digest: '今天停更一天，明天见。', cover: '', kind: 'text' },
      ],
    },
    { id: 1000000124, datetime: now - 7200, type: 1, articles: [] },
    { id: 1000000123, datetime: now - 86400, type: 49, articles: [{ mid: 2650000123, idx: 1, title: '三分钟看懂调度器', digest: '一段演示视频。', author: '王编辑', cover: `${cdn}/mmbiz_jpg/video-cover/0?wx_fmt=jpeg`, kind: 'video' }] },
    { id: 1000000122, datetime: now - 2 * 86400, type: 49, articles: [{ mid: 2650000122, idx: 1, title: '被拦下的一篇 &amp; 标题', digest: '摘要 &lt;b&gt;', cover: `${cdn}/mmbiz_jpg/cover-22/0?wx_fmt=jpeg&amp;tp=webp`, kind: 'captcha' }] },
  ];
  for (let i = 0; i < 21; i++) {
    const mid = 2650000121 - i;
    pushes.push({ id: 1000000121 - i, datetime: now - (3 + i) * 86400, type: 49, articles: [{ mid, idx: 1, title: `第 ${121 - i} 期周报`, digest: `周报 ${121 - i}`, author: '陈工', cover: `${cdn}/mmbiz_jpg/w${mid}/0?wx_fmt=jpeg`, kind: 'article' }] });
  }
  return pushes;
}

function listItem(p: FakePush, mp: FakeMp, biz: string) {
  const link = (a: FakeArticle) =>
    `http://mp.weixin.qq.com/s?__biz=${biz}&amp;mid=${a.mid}&amp;idx=${a.idx}&amp;sn=${mp.sn(a.mid, a.idx)}&amp;chksm=ea1b2c3d4e5f&amp;scene=27#wechat_redirect`;
  const fields = (a: FakeArticle) => ({
    title: a.title,
    digest: a.digest,
    content: '',
    fileid: a.mid * 10 + a.idx,
    content_url: link(a),
    source_url: a.sourceUrl ?? '',
    cover: a.cover ?? '',
    // Left out when not given: the docs do not promise it.
    ...(a.author !== undefined ? { author: a.author } : {}),
    copyright_stat: 100,
    del_flag: a.delFlag ?? 1,
    item_show_type: a.kind === 'pictures' ? 8 : a.kind === 'text' ? 10 : a.kind === 'video' ? 5 : 0,
    audio_fileid: 0,
    duration: 0,
    play_url: '',
    malicious_title_reason_id: 0,
    malicious_content_type: 0,
  });
  const info = { id: p.id, type: p.type, datetime: p.datetime, fakeid: '3070376195', status: 2, content: p.type === 1 ? '一条文字消息' : '' };
  if (p.type !== 49) return { comm_msg_info: info };
  const [lead, ...subs] = p.articles;
  return { comm_msg_info: info, app_msg_ext_info: { ...fields(lead!), subtype: 9, is_multi: subs.length ? 1 : 0, multi_app_msg_item_list: subs.map(fields) } };
}

export async function startFakeMp(): Promise<FakeMp> {
  const jpeg = await sampleJpeg(320, 240);
  const placeholder = await sampleJpeg(64, 64);
  const mp: FakeMp = {
    url: '',
    host: '',
    validKeys: new Map(),
    mode: 'ok',
    pushes: [],
    others: new Map(),
    deleted: new Set(),
    articleDelayMs: 0,
    listCalls: 0,
    pageHits: new Map(),
    imageHits: 0,
    placeholderHits: 0,
    sn,
    articleUrl: (mid, idx) => `https://mp.weixin.qq.com/s?__biz=${BIZ}&mid=${mid}&idx=${idx}&sn=${sn(mid, idx)}`,
    jpeg,
    placeholder,
    reset() {
      mp.validKeys.clear();
      mp.mode = 'ok';
      mp.listStatus = undefined;
      mp.pushes = defaultPushes(mp.url);
      mp.others.clear();
      mp.deleted.clear();
      mp.articleDelayMs = 0;
      mp.listCalls = 0;
      mp.pageHits.clear();
      mp.imageHits = 0;
      mp.placeholderHits = 0;
    },
    close: async () => {},
  };

  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify(body));
  };

  const getmsg = (url: URL, req: IncomingMessage, res: ServerResponse) => {
    mp.listCalls++;
    mp.lastListUrl = url;
    mp.lastListHeaders = req.headers;
    const q = url.searchParams;
    if (mp.listStatus) {
      res.writeHead(mp.listStatus, { 'content-type': 'application/json' });
      return res.end('{"errmsg":"refused"}');
    }
    if (mp.mode === 'status500') {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    }
    if (mp.mode === 'html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end('<html><head><title>微信公众平台</title></head><body>系统出错</body></html>');
    }
    if (mp.mode === 'empty') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('');
    }
    if (mp.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"ret":0,"general_msg_list":');
    }
    if (!/MicroMessenger/.test(req.headers['user-agent'] ?? '') || !(req.headers.referer ?? '').startsWith('https://mp.weixin.qq.com/mp/profile_ext?action=home')) {
      return json(res, { ret: -3, errmsg: 'no session', cookie_count: 0 });
    }
    const biz = q.get('__biz') ?? '';
    const valid = mp.validKeys.get(biz);
    if (!valid || q.get('key') !== valid || !q.get('uin') || !q.get('pass_ticket')) return json(res, { ret: -3, errmsg: 'no session', cookie_count: 1 });
    if (mp.mode === 'limited') return json(res, { ret: -6, errmsg: 'unknown error', cookie_count: 1 });
    const offset = Number(q.get('offset') ?? 0);
    const count = Number(q.get('count') ?? 10);
    const pushes = mp.others.get(biz) ?? mp.pushes;
    const page = pushes.slice(offset, offset + count);
    const more = offset + count < pushes.length;
    const general = JSON.stringify({ list: page.map((p) => listItem(p, mp, biz)) });
    json(res, {
      ret: 0,
      errmsg: 'ok',
      msg_count: page.length,
      can_msg_continue: more ? 1 : 0,
      general_msg_list: mp.mode === 'badjsonstring' ? general.slice(0, 40) : general,
      next_offset: offset + page.length,
      video_count: 1,
      use_video_tab: 1,
      real_type: 0,
      home_page_list: [],
    });
  };

  const page = async (url: URL, req: IncomingMessage, res: ServerResponse) => {
    mp.lastPageHeaders = req.headers;
    const mid = Number(url.searchParams.get('mid'));
    const idx = Number(url.searchParams.get('idx'));
    const key = `${mid}:${idx}`;
    mp.pageHits.set(key, (mp.pageHits.get(key) ?? 0) + 1);
    if (mp.articleDelayMs) await new Promise((r) => setTimeout(r, mp.articleDelayMs));
    const article = [mp.pushes, ...mp.others.values()].flat().flatMap((p) => p.articles).find((a) => a.mid === mid && a.idx === idx);
    if (!article || url.searchParams.get('sn') !== sn(mid, idx)) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(fixture('deleted'));
    }
    const kind = mp.deleted.has(key) ? 'deleted' : article.kind;
    if (kind === 'captcha') {
      // WeChat sends blocked readers to its verification page.
      res.writeHead(302, { location: `/mp/wappoc_appmsgcaptcha?poc_token=abc&target_url=${encodeURIComponent(url.pathname + url.search)}` });
      return res.end();
    }
    if (kind === 'html500') {
      res.writeHead(500, { 'content-type': 'text/html' });
      return res.end('<html><body>Internal Server Error</body></html>');
    }
    const html = fixture(kind)
      .replaceAll('{{CDN}}', mp.url)
      .replaceAll('{{CDN_HOST}}', mp.host)
      .replace(/<meta property="og:title" content="[^"]*">/, kind === 'article' ? `<meta property="og:title" content="${article.title}">` : '$&');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname === '/mp/profile_ext' && url.searchParams.get('action') === 'getmsg') return getmsg(url, req, res);
    if (url.pathname === '/s') return void page(url, req, res);
    if (url.pathname === '/mp/wappoc_appmsgcaptcha') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(fixture('captcha'));
    }
    if (/^\/mmbiz_(jpg|png)\//.test(url.pathname)) {
      // mmbiz's hotlink rule: a foreign Referer gets "此图片来自微信公众平台，未经允许不可引用".
      const referer = req.headers.referer;
      if (referer && !referer.startsWith('https://mp.weixin.qq.com/')) {
        mp.placeholderHits++;
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': placeholder.length });
        return res.end(placeholder);
      }
      mp.imageHits++;
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
      return res.end(jpeg);
    }
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<html><body>404</body></html>');
  });
  const listening = await listenLoopback(server);
  mp.url = listening.url;
  mp.host = listening.host;
  mp.pushes = defaultPushes(mp.url);
  mp.close = listening.close;
  return mp;
}

/** One fake for a test file, reset before each test. */
export function useFakeMp(): { readonly mp: FakeMp } {
  const h = useFake(startFakeMp);
  return {
    get mp() {
      return h.fake;
    },
  };
}

/** Pushes working credentials for BIZ to a running feedgate, as the downloader would, and lets the fake accept them. */
export async function pushCredentials(feedgateUrl: string, mp: FakeMp): Promise<void> {
  mp.validKeys.set(BIZ, 'k1');
  const res = await fetch(`${feedgateUrl}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz: BIZ, uin: 'MTIz', key: 'k1', pass_ticket: 'pt', nickname: 'n' }) });
  if (res.status !== 200) throw new Error(`pushing MP credentials answered ${res.status}: ${await res.text()}`);
}
