import type { Context } from 'koa';

/** An HTML page of ours: the page's CSP, no sniffing, no Referer to the hosts it links or loads. */
export function sendHtml(ctx: Context, html: string, opts: { csp: string; cacheControl: string }): void {
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', opts.csp);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cache-Control', opts.cacheControl);
  ctx.body = html;
}
