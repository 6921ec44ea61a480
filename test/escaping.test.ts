import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeedData } from '../src/feeds/model.js';
import { formats } from '../src/feeds/render/index.js';
import { xmlSafe } from '../src/feeds/render/xml.js';
import { feedparserTool } from './helpers/tools.js';
import { feedparser } from './helpers/validate.js';
import { child, childrenNamed, parseXml, type XmlNode } from './helpers/xml.js';

/** Text that broke writers before: pre-escaped entities, CDATA ends, controls, lone surrogates, bidi marks, astral emoji. */
const NASTY = ['&amp;', '&lt;script&gt;', '&quot;', '&apos;', '&#38;', '&#x26;', ']]>', '<![CDATA[', '<b>', '"', "'", '&', '<', '>', '\u0000', '\u0001', '\u001f', '\r\n', '\r', '\t', '\n', '\uD800', '\uDFFF', '\u202E', '\u200F', '\uFFFE', '😀', '𠜎', ' ', '\u00A0'];
const nasty = fc
  .array(fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ maxLength: 8 })), { minLength: 1, maxLength: 8 })
  .map((parts) => parts.join(''));

const SELF = 'http://127.0.0.1:8080/feeds/x?limit=2&filter=a%26b';

function feedOf(s: string[]): FeedData {
  const at = (i: number) => s[i % s.length]!;
  return {
    id: 'prop:feed',
    title: at(0),
    link: `https://example.org/?q=${at(1)}`,
    description: at(2),
    authors: [{ name: at(3) }],
    items: [
      {
        guid: at(4),
        title: at(5),
        link: `https://example.org/item?x=${at(6)}`,
        summary: at(7),
        contentHtml: at(8),
        authors: [{ name: at(9) }],
        categories: [at(10)],
        published: Date.UTC(2026, 0, 1),
        enclosures: [{ url: `https://example.org/v.mp4?k=${at(11)}`, type: 'video/mp4', length: 1, title: at(12) }],
      },
    ],
  };
}

const render = (f: 'rss' | 'atom' | 'json', feed: FeedData) => formats[f].render(feed, { selfUrl: SELF, ttlSeconds: 300 });
/** What a strict parser must give back: the input, less what XML cannot carry. */
const x = xmlSafe;

/** A child's text; an element left out (the value was empty) reads as "". */
const textOf = (n: XmlNode, name: string) => child(n, name)?.text ?? '';

function checkRss(doc: XmlNode, s: FeedData): void {
  const ch = child(doc, 'channel')!;
  expect(textOf(ch, 'title')).toBe(x(s.title));
  expect(textOf(ch, 'link')).toBe(x(s.link));
  const it = s.items[0]!;
  const item = child(ch, 'item')!;
  expect(textOf(item, 'title')).toBe(x(it.title));
  expect(textOf(item, 'link')).toBe(x(it.link!));
  expect(textOf(item, 'description')).toBe(x(it.summary!));
  expect(textOf(item, 'content:encoded')).toBe(x(it.contentHtml!));
  expect(textOf(item, 'dc:creator')).toBe(x(it.authors![0]!.name));
  expect(textOf(item, 'category')).toBe(x(it.categories![0]!));
  expect(textOf(item, 'guid')).toBe(x(it.guid));
  expect(child(item, 'enclosure')!.attrs.url).toBe(x(it.enclosures![0]!.url));
}

function checkAtom(doc: XmlNode, s: FeedData): void {
  expect(textOf(doc, 'title')).toBe(x(s.title));
  expect(textOf(doc, 'subtitle')).toBe(x(s.description));
  const it = s.items[0]!;
  const entry = child(doc, 'entry')!;
  expect(textOf(entry, 'title')).toBe(x(it.title));
  expect(textOf(entry, 'summary')).toBe(x(it.summary!));
  expect(textOf(entry, 'content')).toBe(x(it.contentHtml!));
  expect(child(child(entry, 'author')!, 'name')!.text).toBe(x(it.authors![0]!.name));
  expect(child(entry, 'category')!.attrs.term).toBe(x(it.categories![0]!));
  const links = childrenNamed(entry, 'link');
  expect(links.find((l) => l.attrs.rel === 'alternate')!.attrs.href).toBe(x(it.link!));
  const enc = links.find((l) => l.attrs.rel === 'enclosure')!;
  expect(enc.attrs.href).toBe(x(it.enclosures![0]!.url));
  expect(enc.attrs.title).toBe(x(it.enclosures![0]!.title!));
}

describe('escaping holds for any text in any field', () => {
  it('a strict XML parser reads back exactly what went in (RSS and Atom); JSON Feed keeps it whole', () => {
    fc.assert(
      fc.property(fc.array(nasty, { minLength: 13, maxLength: 13 }), (s) => {
        const feed = feedOf(s);
        checkRss(parseXml(render('rss', feed)), feed);
        checkAtom(parseXml(render('atom', feed)), feed);
        const json = JSON.parse(render('json', feed));
        expect(json.title).toBe(feed.title);
        expect(json.items[0].title).toBe(feed.items[0]!.title);
        expect(json.items[0].content_html).toBe(feed.items[0]!.contentHtml);
        expect(json.items[0].authors[0].name).toBe(feed.items[0]!.authors![0]!.name);
        expect(json.items[0].tags[0]).toBe(feed.items[0]!.categories![0]);
      }),
      { numRuns: 400, seed: 20261125 },
    );
  });

  it('escaped HTML stays escaped: no live markup appears in content', () => {
    const feed = feedOf(['实验资源三 <b>&amp;</b>', 'a', 'd', 'n', 'g', '&lt;script&gt;alert(1)&lt;/script&gt;', 'l', 's', '<p>&lt;script&gt; &amp;p=channels</p>']);
    const rss = render('rss', feed);
    expect(rss).toContain('&amp;lt;script&amp;gt;');
    expect(rss).not.toMatch(/<script|&lt;script&gt;alert/);
    const doc = parseXml(rss);
    const item = child(child(doc, 'channel')!, 'item')!;
    expect(textOf(item, 'content:encoded')).toBe('<p>&lt;script&gt; &amp;p=channels</p>');
    expect(child(child(doc, 'channel')!, 'title')!.text).toBe('实验资源三 <b>&amp;</b>');
  });
});

const fp = feedparserTool();
const decodeHtml = (s: string) => s.replace(/&(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  if (e[0] !== '#') return named[e.toLowerCase()]!;
  return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
});

describe.skipIf(!fp.ok)(`feedparser reads plain-text fields back unchanged (${fp.hint})`, () => {
  // Plain text fields only: feedparser sanitizes HTML fields, as readers do. Control characters XML
  // cannot carry are dropped; feedparser also trims surrounding white space and folds \r\n.
  const visible = fc
    .array(fc.oneof(fc.constantFrom('&amp;', '&lt;script&gt;', ']]>', '<![CDATA[', '"', "'", '&', '😀', '\u202E', '&#38;', 'x'), fc.string({ minLength: 1, maxLength: 6 })), { minLength: 1, maxLength: 6 })
    .map((p) => p.join(''))
    .filter((s) => s.trim() === s && s.trim() !== '' && !/[<>]/.test(s));

  it('titles, authors, categories and ids, in RSS and Atom', async () => {
    const samples = fc.sample(fc.array(visible, { minLength: 13, maxLength: 13 }), { numRuns: 25, seed: 7 });
    for (const s of samples) {
      const feed = feedOf(s);
      for (const f of ['rss', 'atom'] as const) {
        const p = await feedparser({ body: render(f, feed) });
        expect(p.bozo, `${f}: ${p.bozo_exception}`).toBeFalsy();
        expect(p.feed.title).toBe(feed.title);
        const e = p.entries[0]!;
        const title = feed.items[0]!.title;
        // RSS does not say whether a title is text or HTML; where feedparser guesses HTML (the text holds
        // something entity-like) it may re-serialize bare "&" as "&amp;": the same text once decoded.
        if (f === 'rss' && e.title_type === 'text/html' && e.title !== title) expect(decodeHtml(e.title)).toBe(decodeHtml(title));
        else expect(e.title).toBe(title);
        expect(e.author).toBe(feed.items[0]!.authors![0]!.name);
        expect(e.tags).toEqual(feed.items[0]!.categories);
        if (f === 'rss') expect(e.id).toBe(feed.items[0]!.guid);
      }
    }
  });
});
