import type { Cheerio, CheerioAPI } from 'cheerio';
import type { Element } from 'domhandler';
import { cheerio } from '../cheerio.js';
import { CpuLane } from '../cpu-lane.js';
import { escapeHtml, textToHtml } from '../http/html.js';
import { unixTime } from '../upstream/shape.js';

/**
 * WeChat Official Account article pages, read with a real HTML parser: what kind of page it is, its
 * metadata, and the body cleaned so that it reads anywhere (notes/channels-mp.md §3.2, §5;
 * notes/peers.md §1.12). Media keep their original absolute URLs here; proxyImages() points them at
 * /proxy when a feed or page is built, so what is stored never depends on the signing key.
 */

export type PageKind = 'article' | 'pictures' | 'text' | 'video' | 'audio' | 'deleted' | 'blocked' | 'unknown';

export interface ArticlePage {
  kind: PageKind;
  title: string;
  author: string;
  /** The account's name as the page shows it. */
  account: string;
  /** Publication time (ms), from the page's own `ct`. */
  published?: number;
  sourceUrl?: string;
  cover?: string;
  /** Cleaned HTML; empty for deleted, blocked and unknown pages. */
  body: string;
  audio?: { url: string; duration?: number };
  /** Why there is no body. */
  reason?: string;
}

/** Kinds whose body is the article: worth keeping. */
export const READABLE: ReadonlySet<PageKind> = new Set(['article', 'pictures', 'text', 'video', 'audio']);

const SHOW_TYPE: Record<string, PageKind> = { '0': 'article', '5': 'video', '6': 'audio', '7': 'audio', '8': 'pictures', '10': 'text', '17': 'text' };

const DROP = 'script, style, noscript, link, meta, form, input, button, textarea, select, object, embed, template, canvas';
/** Attributes worth keeping; everything else (handlers, data-*, WeChat's layout hooks) goes. */
const KEEP_ATTRS: Record<string, readonly string[]> = {
  '*': ['style', 'title', 'lang', 'dir'],
  a: ['href'],
  img: ['src', 'alt', 'width', 'height'],
  audio: ['src', 'controls', 'preload'],
  video: ['src', 'controls', 'preload', 'poster'],
  source: ['src', 'type'],
  td: ['colspan', 'rowspan', 'align', 'valign'],
  th: ['colspan', 'rowspan', 'align', 'valign', 'scope'],
  col: ['span', 'width'],
  colgroup: ['span'],
  ol: ['start', 'type', 'reversed'],
  li: ['value'],
};
/** The attributes kept per tag, as sets, made once. */
const KEEP_SETS = new Map<string, ReadonlySet<string>>();
function keptAttrs(tag: string): ReadonlySet<string> {
  let set = KEEP_SETS.get(tag);
  if (!set) KEEP_SETS.set(tag, (set = new Set([...KEEP_ATTRS['*']!, ...(KEEP_ATTRS[tag] ?? [])])));
  return set;
}
/** Declarations WeChat's own script undoes on load; a reader without that script would show nothing. */
const HIDING = /^(visibility\s*:\s*hidden|opacity\s*:\s*0(\.0*)?)$/i;

const VOICE = 'https://res.wx.qq.com/voice/getvoice?mediaid=';

/** A quoted JS value assigned to `name` (`name = "…"`, `name: '…'`) in the page's scripts, unescaped. */
function jsValues(scripts: string, name: string): string[] {
  const re = new RegExp(`(?:^|[^\\w$.])${name}\\s*[:=]\\s*(?:\\(\\s*)?(['"])((?:\\\\.|(?!\\1)[^\\\\\\n])*)\\1`, 'g');
  return [...scripts.matchAll(re)].map((m) => unescapeJs(m[2]!));
}

function unescapeJs(s: string): string {
  return s
    .replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)/g, (_m, e: string) => {
      if (e[0] === 'x' || (e[0] === 'u' && e.length === 5)) return String.fromCharCode(parseInt(e.slice(1), 16));
      return e === 'n' ? '\n' : e === 'r' ? '' : e === 't' ? '\t' : e;
    })
    .replace(/&amp;/g, '&');
}

/** https for WeChat's protocol-relative and http links; relative ones against the page; others untouched. */
function absolute(url: string, pageUrl: string): string | undefined {
  const s = url.trim().replace(/&amp;/g, '&');
  if (!s) return undefined;
  try {
    const u = new URL(s, pageUrl);
    if (u.protocol === 'http:' && /(^|\.)(qpic\.cn|qq\.com|qlogo\.cn)$/.test(u.hostname)) u.protocol = 'https:';
    return u.href;
  } catch {
    return undefined;
  }
}

const isHttp = (u: string | undefined): u is string => !!u && /^https?:\/\//i.test(u);

function cleanStyle(style: string): string {
  return style
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && !HIDING.test(d.replace(/\s*!important$/i, '')))
    .join('; ');
}

/** A 1×1 or 0×0 image, or one served by a reporting endpoint: a tracking pixel. */
function isTracker(img: Cheerio<Element>, src: string): boolean {
  const w = img.attr('width') ?? img.attr('data-w');
  const h = img.attr('height');
  if ((w === '0' || w === '1') && (h === undefined || h === '0' || h === '1')) return true;
  return /\/(mp\/(report|jsmonitor|appmsgreport)|beacon|pixel|tracker)/i.test(src);
}

/** Cleans an article body in place (`root` is the content element). */
function cleanBody($: CheerioAPI, root: Cheerio<Element>, pageUrl: string): void {
  root.find(DROP).remove();
  root.find('.code-snippet__line-index').remove();

  root.find('mpvoice, mp-common-mpaudio').each((_, el) => {
    const v = $(el);
    const id = v.attr('voice_encode_fileid') ?? v.attr('data-voice_encode_fileid') ?? v.attr('voiceid');
    if (!id) return void v.remove();
    const src = VOICE + encodeURIComponent(id);
    const name = v.attr('name') || v.attr('data-name') || 'Audio';
    const block = $('<p></p>');
    block.append($('<audio controls preload="none"></audio>').attr('src', src));
    block.append('<br>');
    block.append($('<a></a>').attr('href', src).text(`▶ ${name}`));
    v.replaceWith(block);
  });

  root.find('iframe').each((_, el) => {
    const f = $(el);
    const src = absolute(f.attr('data-src') ?? f.attr('src') ?? '', pageUrl);
    let href: string | undefined;
    let label = '▶ Video';
    if (src) {
      const u = new URL(src);
      const vid = u.searchParams.get('vid');
      if (/(^|\.)v\.qq\.com$/.test(u.hostname) && vid && /^\w+$/.test(vid)) {
        href = `https://v.qq.com/x/page/${vid}.html`;
        label = '▶ Video (v.qq.com)';
      } else if (u.hostname === 'mp.weixin.qq.com') href = src;
    }
    if (!href) return void f.remove();
    f.replaceWith($('<p></p>').append($('<a></a>').attr('href', href).text(label)));
  });

  // Channels videos and other WeChat widgets only render inside WeChat: say what they were.
  root.find('mpvideosnap, mp-common-videosnap, mp-common-profile, mpprofile, qqmusic, mp-miniprogram').each((_, el) => {
    const w = $(el);
    const name = w.attr('data-nickname') || w.attr('nickname') || w.attr('data-title') || w.attr('music_name') || '';
    const what = /videosnap/.test(el.tagName) ? 'Channels video' : /profile/.test(el.tagName) ? 'Official Account card' : /music/.test(el.tagName) ? 'Music' : 'Mini program';
    w.replaceWith($('<p></p>').append($('<em></em>').text(`[${what}${name ? `: ${name}` : ''}: open the article in WeChat to see it]`)));
  });

  root.find('img').each((_, el) => {
    const img = $(el);
    const src = absolute(img.attr('data-src') ?? img.attr('src') ?? '', pageUrl);
    if (!isHttp(src) || isTracker(img, src)) return void img.remove();
    img.attr('src', src);
  });

  // Code blocks: WeChat puts each line in its own <code>; keep the line breaks.
  root.find('pre').each((_, el) => {
    const codes = $(el).children('code');
    if (codes.length > 1) codes.slice(0, -1).after('\n');
  });

  root.find('*').each((_, el) => {
    const node = $(el);
    const keep = keptAttrs(el.tagName);
    for (const name of Object.keys(el.attribs)) {
      if (!keep.has(name)) node.removeAttr(name);
    }
    const style = node.attr('style');
    if (style !== undefined) {
      const cleaned = cleanStyle(style);
      if (cleaned) node.attr('style', cleaned);
      else node.removeAttr('style');
    }
    if (el.tagName === 'a') {
      const href = absolute(node.attr('href') ?? '', pageUrl);
      if (isHttp(href)) node.attr('href', href);
      else node.removeAttr('href');
    }
    if (el.tagName === 'img' || el.tagName === 'audio' || el.tagName === 'video') node.attr('referrerpolicy', 'no-referrer');
  });
}

const paragraphs = (text: string) =>
  text
    .split(/\n{2,}/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => `<p>${textToHtml(p)}</p>`)
    .join('');

const meta = ($: CheerioAPI, sel: string) => ($(sel).attr('content') ?? '').replace(/\s+/g, ' ').trim();

/** Parses and cleaning of article pages and bodies, one at a time with I/O between them (full text of a feed). */
const lane = new CpuLane();

/** Reads and cleans one article page. `pageUrl` resolves relative links. */
export async function parseArticlePage(html: string, pageUrl: string): Promise<ArticlePage> {
  const { load } = await cheerio();
  return lane.run(() => readPage(load(html), pageUrl));
}

function readPage($: CheerioAPI, pageUrl: string): ArticlePage {
  const scripts = $('script')
    .map((_, s) => $(s).text())
    .get()
    .join('\n');
  const content = $('#js_content').first();
  // A page with an article body is neither a deletion notice nor a verification page: skip reading all its text.
  const hasBody = content.length > 0 && (content.text().trim() !== '' || content.find('img').length > 0);
  const visible = hasBody ? '' : $('body').text().replace(/\s+/g, ' ');
  const base = {
    title: meta($, 'meta[property="og:title"]') || $('#activity-name').text().trim() || $('title').text().trim(),
    author: meta($, 'meta[name="author"]') || $('#js_author_name').text().trim(),
    account: $('#js_name').first().text().trim() || $('.wx_follow_nickname').first().text().trim(),
    cover: meta($, 'meta[property="og:image"]') || undefined,
    body: '',
  };

  if (/已被发布者删除|该内容已被发布者删除|此内容因违规无法查看|此内容被多人投诉/.test(visible)) {
    return { ...base, kind: 'deleted', reason: 'deleted by the publisher (or removed by WeChat)' };
  }
  if (/环境异常|完成验证后即可继续访问/.test(visible) || $('#js_verify, .weui-msg__verify, [id*=captcha]').length > 0) {
    return { ...base, kind: 'blocked', reason: 'WeChat answered with its "environment abnormal" verification page instead of the article' };
  }

  const published = unixTime(jsValues(scripts, 'ct')[0] ?? jsValues(scripts, 'create_time')[0]);
  const source = jsValues(scripts, 'msg_source_url')[0];
  const showType = jsValues(scripts, 'item_show_type')[0];
  const description = meta($, 'meta[property="og:description"]') || meta($, 'meta[name="description"]');
  const page = { ...base, published, sourceUrl: isHttp(source) ? source : undefined };

  const pictures = jsValues(scripts, 'cdn_url')
    .map((u) => absolute(u, pageUrl))
    .filter(isHttp);
  const kind: PageKind | undefined = showType !== undefined ? SHOW_TYPE[showType] : content.length ? 'article' : pictures.length ? 'pictures' : undefined;

  if (kind === 'pictures' || (pictures.length > 0 && !content.text().trim() && content.find('img').length === 0)) {
    const text = jsValues(scripts, 'content_noencode')[0] ?? description;
    const imgs = [...new Set(pictures)].map((u) => `<p><img src="${escapeHtml(u)}" alt="" referrerpolicy="no-referrer"></p>`).join('');
    return { ...page, kind: 'pictures', body: paragraphs(text) + imgs };
  }
  if (kind === 'text' && !content.text().trim()) {
    const text = jsValues(scripts, 'content_noencode')[0] ?? $('#js_text_content').text() ?? description;
    return { ...page, kind: 'text', body: paragraphs(text || description) };
  }
  if (kind === 'audio' && !content.length) {
    const id = jsValues(scripts, 'voiceid')[0] ?? jsValues(scripts, 'voice_id')[0];
    const duration = Number(jsValues(scripts, 'duration')[0]);
    if (id) {
      const url = VOICE + encodeURIComponent(id);
      return {
        ...page,
        kind: 'audio',
        audio: { url, duration: Number.isFinite(duration) && duration > 0 ? duration : undefined },
        body: `${paragraphs(description)}<p><audio controls preload="none" src="${escapeHtml(url)}" referrerpolicy="no-referrer"></audio></p>`,
      };
    }
  }
  if (kind === 'video' && !content.text().trim()) {
    const cover = base.cover && absolute(base.cover, pageUrl);
    return {
      ...page,
      kind: 'video',
      body: `${cover ? `<p><img src="${escapeHtml(cover)}" alt="" referrerpolicy="no-referrer"></p>` : ''}${paragraphs(description)}<p><a href="${escapeHtml(pageUrl)}">▶ Watch the video in WeChat</a></p>`,
    };
  }
  if (content.length && (content.text().trim() || content.find('img, iframe, mpvoice').length)) {
    cleanBody($, content, pageUrl);
    return { ...page, kind: kind ?? 'article', body: (content.html() ?? '').trim() };
  }
  return { ...page, kind: 'unknown', reason: 'the page has no article body feedgate recognises' };
}

/** Points every image of a cleaned body at `image(url)` (signed /proxy links). */
export async function proxyImages(body: string, image: (url: string) => string): Promise<string> {
  if (!body.includes('<img')) return body;
  const { load } = await cheerio();
  return lane.run(() => {
    const $ = load(body, null, false);
    $('img[src]').each((_, el) => {
      const src = $(el).attr('src')!;
      if (isHttp(src)) $(el).attr('src', image(src));
    });
    return $.html();
  });
}

