import type { FeedData, FeedItem } from './model.js';
import { cheerio } from '../cheerio.js';

/**
 * RSSHub's reader-facing text parameters: `opencc` converts between Simplified and Traditional Chinese
 * (opencc-js, a maintained pure-JavaScript OpenCC), `brief=N` replaces each item's body with a plain-text
 * summary of N characters. Both are loaded on first use: most feeds never ask for them.
 */

/** RSSHub's opencc values, as opencc-js locales (cn: Simplified, t: OpenCC Traditional, tw/twp/hk/jp: regional). */
export const OPENCC: Record<string, { from: string; to: string }> = {
  s2t: { from: 'cn', to: 't' },
  t2s: { from: 't', to: 'cn' },
  s2tw: { from: 'cn', to: 'tw' },
  tw2s: { from: 'tw', to: 'cn' },
  s2twp: { from: 'cn', to: 'twp' },
  tw2sp: { from: 'twp', to: 'cn' },
  s2hk: { from: 'cn', to: 'hk' },
  hk2s: { from: 'hk', to: 'cn' },
  t2tw: { from: 't', to: 'tw' },
  tw2t: { from: 'tw', to: 't' },
  t2hk: { from: 't', to: 'hk' },
  hk2t: { from: 'hk', to: 't' },
  t2jp: { from: 't', to: 'jp' },
  jp2t: { from: 'jp', to: 't' },
};

export const BRIEF_MIN = 100;
export const BRIEF_MAX = 10_000;

type Convert = (s: string) => string;
const converters = new Map<string, Convert>();

async function converter(mode: string): Promise<Convert> {
  let c = converters.get(mode);
  if (!c) {
    const { Converter } = await import('opencc-js');
    c = Converter(OPENCC[mode] as never) as Convert;
    converters.set(mode, c);
  }
  return c;
}

/** The visible text of an HTML fragment, white space folded (cheerio, never a regex over tags). */
export async function htmlText(html: string): Promise<string> {
  const { load } = await cheerio();
  const $ = load(html, null, false);
  $('script, style, noscript, template').remove();
  $('br, p, div, li, tr, h1, h2, h3, h4, h5, h6, blockquote, pre').after(' ');
  return $.root().text().replace(/\s+/g, ' ').trim();
}

/** Applies opencc and brief to the feed and the items to render; the cached data is never changed. */
export async function transformText(feed: FeedData, items: FeedItem[], opts: { opencc?: string; brief?: number }): Promise<{ feed: FeedData; items: FeedItem[] }> {
  let out = items;
  let head = feed;
  if (opts.brief !== undefined) {
    const n = opts.brief;
    out = await Promise.all(
      out.map(async (item) => {
        const text = item.contentHtml !== undefined ? await htmlText(item.contentHtml) : (item.summary ?? '');
        const summary = [...text].length > n ? `${[...text].slice(0, n).join('')}…` : text;
        return { ...item, summary, contentHtml: undefined };
      }),
    );
  }
  if (opts.opencc) {
    const c = await converter(opts.opencc);
    const s = (v: string | undefined) => (v === undefined ? undefined : c(v));
    out = out.map((item) => ({
      ...item,
      title: c(item.title),
      summary: s(item.summary),
      contentHtml: s(item.contentHtml),
      authors: item.authors?.map((a) => ({ ...a, name: c(a.name) })),
      categories: item.categories?.map(c),
    }));
    head = { ...feed, title: c(feed.title), description: c(feed.description), authors: feed.authors?.map((a) => ({ ...a, name: c(a.name) })) };
  }
  return { feed: head, items: out };
}
