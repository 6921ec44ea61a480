import type { Context } from 'koa';
import { escapeHtml } from '../http/html.js';
import { sendHtml } from '../http/html-response.js';

export interface ArticlePageView {
  title: string;
  author?: string;
  account?: string;
  /** The publication date, as the caller writes dates (its language and time zone). */
  date?: string;
  /** Cleaned body, media already pointing at our /proxy. */
  body: string;
  /** Where the item lives on its platform, when it has a public address. */
  original?: string;
  /** The link's text, in the reader's language. */
  originalLabel: string;
  /** Said above the body when the text is a kept copy (e.g. WeChat has deleted the article). */
  note?: string;
}

/**
 * Our pages show cleaned third-party HTML: no script may run, nothing may be submitted or framed, and
 * media may come from anywhere https (plus our own /proxy).
 */
const ARTICLE_PAGE_CSP =
  "default-src 'none'; img-src 'self' https: data:; media-src 'self' https:; style-src 'unsafe-inline'; frame-src https://v.qq.com; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

const STYLE = `body{margin:0;font:17px/1.7 -apple-system,BlinkMacSystemFont,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1f2328;background:#fff}
article{max-width:680px;margin:0 auto;padding:24px 16px 48px}h1{font-size:1.5em;line-height:1.35;margin:0 0 .4em}
.meta,.note{color:#656d76;font-size:.9em}.note{border-left:3px solid #d0d7de;padding-left:.8em}
img,video{max-width:100%!important;height:auto!important}pre{overflow:auto;white-space:pre-wrap}table{border-collapse:collapse;max-width:100%}
@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}a{color:#4493f8}.meta,.note{color:#9198a1}}`;

/** A complete, readable HTML page for one article (GET /mp/proxy) or post (GET /moments/post/:id). */
export function renderArticlePage(v: ArticlePageView): string {
  const meta = [v.author, v.account, v.date].filter(Boolean).map((s) => escapeHtml(s!)).join(' · ');
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(v.title)}</title><style>${STYLE}</style></head>
<body><article><h1>${escapeHtml(v.title)}</h1>${meta ? `<p class="meta">${meta}</p>` : ''}${v.note ? `<p class="note">${escapeHtml(v.note)}</p>` : ''}
${v.body}
${v.original ? `<p class="meta"><a href="${escapeHtml(v.original)}">${escapeHtml(v.originalLabel)}</a></p>` : ''}</article></body></html>
`;
}

/** Answers with such a page and the headers that keep its third-party HTML inert on our origin. */
export function sendArticlePage(ctx: Context, view: ArticlePageView, maxAgeSeconds: number): void {
  sendHtml(ctx, renderArticlePage(view), { csp: ARTICLE_PAGE_CSP, cacheControl: `private, max-age=${maxAgeSeconds}` });
}
