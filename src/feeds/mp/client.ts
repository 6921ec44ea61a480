import type { CallBudget } from '../../upstream/budget.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { UpstreamError, httpStatusError } from '../../upstream/errors.js';
import { parseJson } from '../../upstream/json.js';
import type { MpCredentials } from '../../store/mp-accounts.js';
import type { MpArticleMeta } from '../../store/mp-articles.js';
import { unixTime } from '../../upstream/shape.js';

/** The Windows WeChat (XWEB) browser, as getmsg expects it (notes/channels-mp.md §3.2). */
const WECHAT_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) UnifiedPCWindowsWechat(0xf2541022) XWEB/16467 Flue';
/** Article pages are public: a desktop browser without Referer or cookies (notes §5). */
const BROWSER_HEADERS = {
  'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
  'accept-language': 'zh-CN,zh;q=0.9',
  'upgrade-insecure-requests': '1',
};

export const MP_HOST = 'mp.weixin.qq.com';
const ARTICLE_PUSH = 49;

/** One article of a message list, with its canonical URL. */
export interface MpListedArticle {
  url: string;
  biz: string;
  pushedAt: number;
  idx: number;
  meta: MpArticleMeta;
}

export interface MpListPage {
  articles: MpListedArticle[];
  /** The offset of the next (older) page, when WeChat says there is one. */
  next?: number;
}

/**
 * The permanent form of an article link: https, mp.weixin.qq.com/s, `__biz`, `mid`, `idx`, `sn` only
 * (RSSHub's rule, notes/peers.md §1.12). Short /s/<id> links lose their query. Undefined for anything
 * that is not a WeChat article link.
 */
export function canonicalArticleUrl(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim().replace(/&amp;/g, '&').replace(/\\x26/g, '&'), `https://${MP_HOST}`);
  } catch {
    return undefined;
  }
  if (u.hostname !== MP_HOST) return undefined;
  if (u.pathname.startsWith('/s/') && /^\/s\/[\w-]{4,64}$/.test(u.pathname)) return `https://${MP_HOST}${u.pathname}`;
  if (u.pathname !== '/s' && u.pathname !== '/mp/appmsg/show') return undefined;
  const q = u.searchParams;
  const biz = q.get('__biz');
  const mid = q.get('mid') ?? q.get('appmsgid');
  const idx = q.get('idx') ?? q.get('itemidx');
  const sn = q.get('sn') ?? q.get('sign');
  if (!biz || !mid || !idx || !sn || !/^\d+$/.test(mid) || !/^\d+$/.test(idx) || !/^\w+$/.test(sn)) return undefined;
  // A raw "+" in a link decodes as a space, and no __biz holds one: put it back. "=" padding stays
  // readable, everything else is encoded, so the one account has one spelling.
  const b = encodeURIComponent(biz.replace(/ /g, '+')).replace(/%3D/g, '=');
  return `https://${MP_HOST}/s?__biz=${b}&mid=${mid}&idx=${idx}&sn=${sn}`;
}

const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** Unescapes the HTML entities WeChat leaves in list fields (`&amp;`, `&quot;`, …). */
function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ' })[e]!);
}

/**
 * One article from an app_msg_ext_info or one of its multi_app_msg_item_list entries; undefined for
 * deleted ones (del_flag other than 1 when present) and entries without a usable link.
 */
function article(raw: Record<string, unknown>, biz: string, pushedAt: number, leadAuthor: string): MpListedArticle | undefined {
  const del = num(raw.del_flag);
  if (del !== undefined && del !== 1) return undefined;
  const url = canonicalArticleUrl(str(raw.content_url));
  if (!url) return undefined;
  const idx = Number(new URL(url).searchParams.get('idx') ?? 1) || 1;
  return {
    url,
    biz,
    pushedAt,
    idx,
    meta: {
      title: unescapeHtml(str(raw.title)).trim(),
      digest: unescapeHtml(str(raw.digest)).trim(),
      author: unescapeHtml(str(raw.author)).trim() || leadAuthor,
      cover: unescapeHtml(str(raw.cover)).trim(),
      sourceUrl: unescapeHtml(str(raw.source_url)).trim(),
      showType: num(raw.item_show_type) ?? 0,
    },
  };
}

/** The `general_msg_list` string, parsed: every article of every article push, leads first. */
export function parseMessageList(generalMsgList: string, biz: string): MpListedArticle[] {
  const parsed = obj(parseJson(generalMsgList));
  const list = Array.isArray(parsed?.list) ? parsed.list : [];
  const out: MpListedArticle[] = [];
  for (const entry of list) {
    const info = obj(obj(entry)?.comm_msg_info);
    const ext = obj(obj(entry)?.app_msg_ext_info);
    if (!info || !ext || num(info.type) !== ARTICLE_PUSH) continue;
    if (!num(info.datetime)) continue;
    // A push whose time is absurd still counts; it is dated when it was read.
    const pushedAt = unixTime(info.datetime) ?? Date.now();
    const leadAuthor = unescapeHtml(str(ext.author)).trim();
    const lead = article(ext, biz, pushedAt, '');
    if (lead) out.push(lead);
    const subs = Array.isArray(ext.multi_app_msg_item_list) ? ext.multi_app_msg_item_list : [];
    for (const sub of subs) {
      const a = obj(sub) && article(obj(sub)!, biz, pushedAt, leadAuthor);
      if (a) out.push(a);
    }
  }
  return out;
}


/** WeChat's getmsg and article pages, on MP_BASE_URL. */
export class MpClient {
  /** Article fetches in flight, by URL: two feeds asking for one article make one call. */
  private readonly inflight = new Map<string, Promise<{ status: number; html: string; url: string }>>();

  constructor(
    private readonly list: UpstreamClient,
    private readonly pages: UpstreamClient,
    private readonly budget: CallBudget,
  ) {}

  /** One page (10 pushes) of an account's message list from `offset`. */
  async messages(c: MpCredentials, offset: number, signal?: AbortSignal): Promise<MpListPage> {
    await this.budget.take(signal);
    const referer =
      `https://${MP_HOST}/mp/profile_ext?action=home&__biz=${encodeURIComponent(c.biz)}&scene=124&uin=${encodeURIComponent(c.uin)}` +
      `&key=${encodeURIComponent(c.key)}&devicetype=UnifiedPCWindows&version=f2541022&lang=zh_CN&a8scene=1&acctmode=0&pass_ticket=${encodeURIComponent(c.passTicket)}`;
    const res = await this.list.json({
      path: '/mp/profile_ext',
      query: { action: 'getmsg', __biz: c.biz, uin: c.uin, key: c.key, pass_ticket: c.passTicket, wxtoken: '', x5: 0, count: 10, offset, f: 'json' },
      headers: {
        'user-agent': WECHAT_UA,
        referer,
        'accept-language': 'en-US,en;q=0.9',
        'sec-fetch-dest': 'empty',
        'sec-fetch-mode': 'cors',
        'sec-fetch-site': 'same-origin',
        'x-requested-with': 'XMLHttpRequest',
      },
      signal,
    }, (status) =>
      status === 200
        ? undefined
        : httpStatusError('mp', 'WeChat (the message list)', status, {
            refused: "the account's credentials may have expired (open one of its articles in desktop WeChat to push fresh ones), or MP_BASE_URL or UPSTREAM_PROXY leads somewhere that refuses",
            other: 'WeChat may be briefly unavailable (the last good copy is served meanwhile); if it persists, check MP_BASE_URL and UPSTREAM_PROXY',
          }),
    );
    const data = obj(res.data);
    if (!data) throw new UpstreamError('mp', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `WeChat answered HTTP ${res.status} without a message list`);
    const ret = data.ret === undefined || data.ret === null || data.ret === '' ? NaN : Number(data.ret);
    if (ret === -3) throw new UpstreamError('mp', 'auth', 502, 'MP_CREDENTIALS_EXPIRED', 'WeChat no longer accepts the credentials of this account (ret=-3)');
    if (ret === -6) throw new UpstreamError('mp', 'rate_limited', 429, 'MP_LIMITED', 'WeChat is limiting requests for this account (ret=-6)');
    if (ret !== 0) {
      const msg = str(data.errmsg).slice(0, 200);
      throw new UpstreamError(
        'mp',
        'bad_response',
        502,
        'UPSTREAM_ERROR',
        Number.isFinite(ret)
          ? `WeChat answered the message list with ret=${ret}${msg ? ` (${msg})` : ''}; if it persists, push fresh credentials by opening one of the account's articles in desktop WeChat`
          : `WeChat answered HTTP ${res.status} without a ret code: not a message list; check MP_BASE_URL and UPSTREAM_PROXY`,
      );
    }
    const general = str(data.general_msg_list);
    let articles: MpListedArticle[];
    try {
      articles = general ? parseMessageList(general, c.biz) : [];
    } catch {
      throw new UpstreamError('mp', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'WeChat sent a message list that is not valid JSON');
    }
    const next = num(data.next_offset);
    const more = num(data.can_msg_continue) === 1 && next !== undefined && next > offset;
    return { articles, next: more ? next : undefined };
  }

  /** An article page's HTML, following WeChat's own redirects (at most 3, same site). */
  article(url: string, signal?: AbortSignal): Promise<{ status: number; html: string; url: string }> {
    let p = this.inflight.get(url);
    if (!p) {
      p = this.fetchPage(url, signal).finally(() => this.inflight.delete(url));
      this.inflight.set(url, p);
    }
    return p;
  }

  private async fetchPage(url: string, signal?: AbortSignal): Promise<{ status: number; html: string; url: string }> {
    let target = new URL(url);
    for (let hop = 0; ; hop++) {
      const res = await this.pages.request({ path: target.pathname + target.search, headers: BROWSER_HEADERS, signal });
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && typeof location === 'string') {
        const next = new URL(location, target);
        if (/captcha|verify/i.test(next.pathname)) return { status: 200, html: '<html><body>环境异常 (redirected to a verification page)</body></html>', url: next.href };
        if (hop >= 3 || next.hostname !== MP_HOST) {
          throw new UpstreamError('mp-article', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `WeChat redirected the article to ${next.hostname}${next.pathname}`);
        }
        target = next;
        continue;
      }
      if (res.status >= 400) throw new UpstreamError('mp-article', 'status', 502, 'UPSTREAM_ERROR', `WeChat answered HTTP ${res.status} for the article page`);
      return { status: res.status, html: res.body.toString('utf8'), url: target.href };
    }
  }
}
