import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEED_PARAMS } from '../src/feeds/params.js';
import { canonicalFeed } from '../src/store/opml-feeds.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

/** The OPML list keeps canonical feed URLs only (issue 21, item 9); its bound is in the store contract. */

const hd = useFakeHdhive();
let app: RunningApp;
beforeAll(async () => {
  app = await startApp(hd.config({ ACCESS_TOKEN: 'tok' }));
});
afterAll(async () => {
  await app?.close();
});

const known = (path: string) => (/^\/feeds\/hdhive\/(movie|tv)\/\d+$/.test(path) ? FEED_PARAMS : /^\/feeds\/douyin\/[^/]+$/.test(path) ? new Set([...FEED_PARAMS, 'pages']) : undefined);

describe('canonical feed URLs', () => {
  it('keep the known parameters only, sorted, bounded, without token, signature or format', () => {
    expect(canonicalFeed('/feeds/hdhive/movie/550?zz=1&limit=5&token=t&sig=s&format=atom&filter=a', known)).toEqual({ url: '/feeds/hdhive/movie/550.atom?filter=a&limit=5', source: 'hdhive' });
    expect(canonicalFeed('/feeds/hdhive/movie/550?format=garbage', known)?.url).toBe('/feeds/hdhive/movie/550.rss');
    expect(canonicalFeed(`/feeds/hdhive/movie/550?filter=${'x'.repeat(600)}`, known)?.url).toBe('/feeds/hdhive/movie/550.rss');
    expect(canonicalFeed('/feeds/nosuchsource/1', known)).toBeUndefined();
    expect(canonicalFeed('/feeds/hdhive', known)).toBeUndefined();
    expect(canonicalFeed(`/feeds/hdhive/${'a'.repeat(600)}`, known)).toBeUndefined();
    expect(canonicalFeed('/proxy?url=x', known)).toBeUndefined();
  });
});

describe('the OPML table', () => {
  // The table's bound is in the store contract (store-contract.test.ts), on both engines.
  it('a fuzz of requested and built feed URLs leaves only canonical URLs of real sources, with parameters they read', async () => {
    const names = [...FEED_PARAMS, 'format', 'token', 'x', 'utm_source', 'pages', 'a'.repeat(300)];
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.constant('y'.repeat(3000)), fc.constantFrom('1', 'rss', 'atom', 'json', '%', ''));
    const query = fc.array(fc.tuple(fc.constantFrom(...names), value), { maxLength: 6 });
    const path = fc.constantFrom('/feeds/hdhive/movie/550', '/feeds/hdhive/tv/101172', '/feeds/hdhive/movie/550.atom', '/feeds/hdhive/movie/550.json', '/feeds/nosuch/1', '/feeds/hdhive', '/proxy');
    const samples = fc.sample(fc.tuple(fc.boolean(), path, query), { numRuns: 400, seed: 909 });
    for (const [post, p, q] of samples) {
      const qs = new URLSearchParams(q).toString();
      const url = `${p}${qs ? `?${qs}` : ''}`;
      if (post) {
        const r = await fetch(`${app.url}/api/opml/feeds?token=tok`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url, title: 't' }) });
        expect([204, 400, 413]).toContain(r.status);
      } else {
        const r = await fetch(`${app.url}${url}${url.includes('?') ? '&' : '?'}token=tok`);
        await r.arrayBuffer();
        expect(r.status).toBeLessThan(500);
      }
    }
    const doc = parseXml(await (await fetch(`${app.url}/opml?token=tok`)).text());
    const outlines = childrenNamed(child(doc, 'body')!, 'outline').flatMap((folder) => childrenNamed(folder, 'outline'));
    expect(outlines.length).toBeGreaterThan(10);
    for (const o of outlines) {
      const u = new URL(o.attrs.xmlUrl!);
      expect(u.href.length).toBeLessThanOrEqual(2048 + 40);
      expect(u.pathname).toMatch(/^\/feeds\/hdhive\/(movie|tv)\/\d+\.(rss|atom|json)$/);
      for (const [k, v] of u.searchParams) {
        expect(FEED_PARAMS.has(k), k).toBe(true);
        expect(v.length).toBeLessThanOrEqual(512);
      }
      const keys = [...u.searchParams.keys()];
      expect(keys).toEqual([...keys].sort());
    }
  }, 60_000);
});
