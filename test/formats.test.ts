import { describe, expect, it } from 'vitest';
import type { FeedData } from '../src/feeds/model.js';
import { formats } from '../src/feeds/render/index.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';
import { itFeedparser } from './helpers/tools.js';

const SELF = 'http://127.0.0.1:8080/feeds/demo?limit=2&filter=a%26b';

/** Everything the model can carry, plus the text that breaks naive writers. */
function fixture(): FeedData {
  return {
    id: 'demo:feed',
    title: 'Demo & <friends>',
    link: 'https://example.org/home?a=1&b=2',
    description: 'A feed with "quotes" & ]]> inside',
    language: 'zh-CN',
    image: 'https://example.org/logo.png',
    items: [
      {
        guid: '14819096805414996657',
        title: 'Video <one> & ]]> done\u0001',
        link: 'https://example.org/v/1?x=1&y=2',
        summary: 'short text',
        contentHtml: '<p>Hello &amp; <img src="https://example.org/i.jpg?a=1&amp;b=2"> ]]> end</p>',
        authors: [{ name: '开心超人' }],
        published: Date.UTC(2026, 2, 12, 9, 40, 15),
        categories: ['tag one', '标签'],
        image: 'https://example.org/cover.jpg',
        enclosures: [
          { url: 'https://example.org/play/1?sig=abc&exp=2', type: 'video/mp4', length: 1234567, duration: 61, width: 1080, height: 1920 },
          { url: 'https://example.org/cover.jpg', type: 'image/jpeg', length: 2048 },
        ],
        thumbnails: [{ url: 'https://example.org/cover.jpg', width: 540, height: 960 }],
      },
      {
        guid: 'https://example.org/p/2',
        title: 'Second',
        contentHtml: '<p>only html</p>',
        published: Date.UTC(2026, 1, 16, 12, 41, 26),
        updated: Date.UTC(2026, 1, 17, 0, 0, 0),
      },
      { guid: 'undated', title: 'No date, no body' },
    ],
  };
}

const render = (f: 'rss' | 'atom' | 'json', feed = fixture()) => formats[f].render(feed, { selfUrl: SELF, ttlSeconds: 300 });

describe('RSS 2.0', () => {
  itFeedparser('parses without bozo and round-trips titles, links, dates with zone, authors and enclosures', async () => {
    const p = await feedparser({ body: render('rss') });
    expect(p.bozo_exception).toBeNull();
    expect(p.bozo).toBeFalsy();
    expect(p.version).toBe('rss20');
    expect(p.feed.title).toBe('Demo & <friends>');
    expect(p.feed.link).toBe('https://example.org/home?a=1&b=2');
    expect(p.feed.links).toContainEqual({ rel: 'self', href: SELF, type: 'application/rss+xml' });
    expect(p.feed.ttl).toBe('5');
    const [a, b, c] = p.entries;
    expect(a!.title).toBe('Video <one> & ]]> done');
    expect(a!.link).toBe('https://example.org/v/1?x=1&y=2');
    expect(a!.id).toBe('14819096805414996657');
    expect(a!.published).toBe('2026-03-12T09:40:15Z');
    expect(a!.published_raw).toMatch(/GMT$/);
    expect(a!.author).toBe('开心超人');
    expect(a!.tags).toEqual(['tag one', '标签']);
    expect(a!.summary).toBe('short text');
    expect(a!.content[0]).toContain('<img src="https://example.org/i.jpg?a=1&amp;b=2"');
    expect(a!.content[0]).toContain(']]> end');
    // RSS allows one <enclosure>: the first, with explicit type and length.
    expect(a!.enclosures).toEqual([{ href: 'https://example.org/play/1?sig=abc&exp=2', type: 'video/mp4', length: '1234567' }]);
    expect(a!.media_content).toHaveLength(2);
    expect(a!.media_content[0]).toMatchObject({ url: 'https://example.org/play/1?sig=abc&exp=2', type: 'video/mp4', medium: 'video', filesize: '1234567', duration: '61', width: '1080', height: '1920' });
    expect(a!.media_thumbnail[0]).toMatchObject({ url: 'https://example.org/cover.jpg', width: '540', height: '960' });
    expect(b!.summary).toBe('<p>only html</p>');
    expect(c!.published).toBeNull();
    expect(c!.title).toBe('No date, no body');
  });

  it('declares every prefix it uses and writes no "now"', () => {
    const xml = render('rss');
    const used = new Set([...xml.matchAll(/<\/?([a-z]+):[a-z]+/gi)].map((m) => m[1]));
    for (const prefix of used) expect(xml).toContain(`xmlns:${prefix}=`);
    expect(xml).toContain('<lastBuildDate>Thu, 12 Mar 2026 09:40:15 GMT</lastBuildDate>');
    expect(xml).toContain('<guid isPermaLink="false">');
    expect(xml.indexOf('<description>short text')).toBeLessThan(xml.indexOf('<content:encoded>'));
  });
});

describe('Atom 1.0', () => {
  itFeedparser('parses without bozo and round-trips the same fields', async () => {
    const p = await feedparser({ body: render('atom') });
    expect(p.bozo_exception).toBeNull();
    expect(p.version).toBe('atom10');
    expect(p.feed.id).toBe('urn:feedgate:demo:feed');
    expect(p.feed.updated).toBe('2026-03-12T09:40:15Z');
    expect(p.feed.links).toContainEqual({ rel: 'self', href: SELF, type: 'application/atom+xml' });
    const [a, b, c] = p.entries;
    expect(a!.id).toBe('urn:feedgate:demo:feed:14819096805414996657');
    expect(a!.title).toBe('Video <one> & ]]> done');
    expect(a!.link).toBe('https://example.org/v/1?x=1&y=2');
    expect(a!.published).toBe('2026-03-12T09:40:15Z');
    expect(a!.authors).toEqual(['开心超人']);
    expect(a!.enclosures).toEqual([
      { href: 'https://example.org/play/1?sig=abc&exp=2', type: 'video/mp4', length: '1234567' },
      { href: 'https://example.org/cover.jpg', type: 'image/jpeg', length: '2048' },
    ]);
    expect(a!.media_thumbnail[0]).toMatchObject({ url: 'https://example.org/cover.jpg' });
    // A guid that is already a URI is its own id; every entry has updated and an author.
    expect(b!.id).toBe('https://example.org/p/2');
    expect(b!.updated).toBe('2026-02-17T00:00:00Z');
    // An undated entry takes the feed's time less a second per place (it is third), so no two entries share one.
    expect(c!.updated).toBe('2026-03-12T09:40:12Z');
    // Entries without authors inherit the feed's <author> (RFC 4287 §4.1.1).
    expect(c!.authors).toEqual([]);
    expect(render('atom')).toContain('<generator>feedgate</generator>');
    expect(render('atom')).toContain('<author><name>Demo &amp; &lt;friends&gt;</name></author>');
  });

  it('always has valid URI ids, even for awkward guids', () => {
    const feed = fixture();
    feed.items = [{ guid: 'a b/c?d#e', title: 'x', published: 0 }];
    const xml = render('atom', feed);
    const ids = [...xml.matchAll(/<id>([^<]+)<\/id>/g)].map((m) => m[1]!);
    expect(ids).toEqual(['urn:feedgate:demo:feed', 'urn:feedgate:demo:feed:a%20b%2Fc%3Fd%23e']);
    for (const id of ids) expect(URL.canParse(id)).toBe(true);
  });
});

describe('JSON Feed 1.1', () => {
  it('validates against the 1.1 schema and carries attachments and authors', () => {
    const doc = JSON.parse(render('json'));
    expect(jsonFeedErrors(doc)).toEqual([]);
    expect(doc.version).toBe('https://jsonfeed.org/version/1.1');
    expect(doc.feed_url).toBe(SELF);
    const [a, b, c] = doc.items;
    expect(a.id).toBe('14819096805414996657');
    expect(a.authors).toEqual([{ name: '开心超人' }]);
    expect(a.date_published).toBe('2026-03-12T09:40:15Z');
    expect(a.attachments[0]).toEqual({ url: 'https://example.org/play/1?sig=abc&exp=2', mime_type: 'video/mp4', size_in_bytes: 1234567, duration_in_seconds: 61 });
    expect(a.summary).toBe('short text');
    expect(b.content_html).toBe('<p>only html</p>');
    expect(c.content_text).toBe('');
  });

  it('the schema check itself rejects a 1.0-style document', () => {
    expect(jsonFeedErrors({ version: 'https://jsonfeed.org/version/1', title: 't', author: { name: 'x' }, items: [{ id: 1 }] }).length).toBeGreaterThan(0);
  });
});

describe('stable bytes', () => {
  it('the same data renders to the same bytes in every format', async () => {
    for (const f of ['rss', 'atom', 'json'] as const) {
      const first = render(f);
      await new Promise((r) => setTimeout(r, 5));
      expect(render(f)).toBe(first);
    }
  });

  itFeedparser('an empty feed is still valid', async () => {
    const feed: FeedData = { id: 'e', title: 'Empty', link: 'https://example.org/', description: '', items: [] };
    expect((await feedparser({ body: render('rss', feed) })).bozo).toBeFalsy();
    expect((await feedparser({ body: render('atom', feed) })).bozo).toBeFalsy();
    expect(jsonFeedErrors(JSON.parse(render('json', feed)))).toEqual([]);
  });
});
