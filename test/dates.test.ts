import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeedData, FeedItem } from '../src/feeds/model.js';
import { parseUpstreamTime } from '../src/feeds/time.js';
import { FORMATS, formats } from '../src/feeds/render/index.js';
import { plausibleTime, unixTime } from '../src/upstream/shape.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { ACCOUNT, useFakeChannels } from './fakes/channels.js';
import { COOKIE, useFakeDouyin } from './fakes/douyin.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { useFakeMoments } from './fakes/moments.js';
import { useStartApp, type RunningApp } from './helpers/app.js';
import { jsonFeedErrors } from './helpers/validate.js';
import { parseXml, type XmlNode } from './helpers/xml.js';

/**
 * Out-of-range and absurd upstream times (issue 21, item 1): they cost an item its date, never the feed.
 * Every format renders whatever numbers the model holds; every source reads its times through
 * plausibleTime, so a good copy is never replaced by a broken one.
 */

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const RFC822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

const nasty = fc.oneof(
  fc.double(),
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }),
  fc.constantFrom(1e20, -1e20, Number.NaN, Infinity, -Infinity, 8.64e15, 8.64e15 + 1, 253402300800000, -1, 0, Date.UTC(9999, 11, 31, 23, 59, 59)),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

const item: fc.Arbitrary<FeedItem> = fc.record({
  guid: fc.string({ minLength: 1, maxLength: 8 }),
  title: fc.string({ maxLength: 8 }),
  published: maybe(nasty),
  updated: maybe(nasty),
  enclosures: maybe(fc.array(fc.record({ url: fc.constant('https://example.org/v.mp4'), type: fc.constant('video/mp4'), length: maybe(nasty), duration: maybe(nasty), width: maybe(nasty), height: maybe(nasty) }), { maxLength: 2 })),
});
const feed: fc.Arbitrary<FeedData> = fc.record({
  id: fc.constant('t:dates'),
  title: fc.constant('Dates'),
  link: fc.constant('https://example.org/'),
  description: fc.constant('random times'),
  updated: maybe(nasty),
  items: fc.array(item, { maxLength: 6 }),
});

const walk = (n: XmlNode, out: XmlNode[] = []) => {
  out.push(n);
  for (const c of n.children) walk(c, out);
  return out;
};

describe('every format renders any number in every date field', () => {
  it('RSS, Atom and JSON Feed never throw, never print Invalid Date or NaN, and every date they print is well-formed', () => {
    fc.assert(
      fc.property(feed, (f) => {
        for (const format of FORMATS) {
          const out = formats[format].render(f, { selfUrl: 'http://127.0.0.1/feeds/t', ttlSeconds: 300 });
          expect(out).not.toMatch(/Invalid Date|NaN|Infinity/);
          if (format === 'json') {
            const doc = JSON.parse(out);
            expect(jsonFeedErrors(doc)).toEqual([]);
            for (const i of doc.items) for (const d of [i.date_published, i.date_modified]) if (d !== undefined) expect(d).toMatch(RFC3339);
            continue;
          }
          const nodes = walk(parseXml(out));
          for (const n of nodes) {
            if (n.name === 'pubDate' || n.name === 'lastBuildDate') expect(n.text).toMatch(RFC822);
            if (n.name === 'updated' || n.name === 'published') expect(n.text).toMatch(RFC3339);
            for (const a of ['length', 'fileSize', 'duration', 'width', 'height']) if (n.attrs[a] !== undefined) expect(n.attrs[a]).toMatch(/^\d+$/);
          }
        }
      }),
      { numRuns: 300, seed: 20261204 },
    );
  });

  it('upstream times are plausible or absent: before 2005, a day ahead, non-finite or garbage read as no date', () => {
    const now = Date.UTC(2026, 11, 4);
    expect(plausibleTime(Date.UTC(2004, 11, 31), now)).toBeUndefined();
    expect(plausibleTime(Date.UTC(2005, 0, 1), now)).toBe(Date.UTC(2005, 0, 1));
    expect(plausibleTime(now + 86_400_000, now)).toBe(now + 86_400_000);
    expect(plausibleTime(now + 86_400_001, now)).toBeUndefined();
    expect(unixTime(1e20, now)).toBeUndefined();
    expect(unixTime('1735689600', now)).toBe(1735689600000);
    expect(unixTime('x', now)).toBeUndefined();
    expect(parseUpstreamTime('9999-12-31 23:59:59')).toBeUndefined();
    expect(parseUpstreamTime(1e20)).toBeUndefined();
    expect(parseUpstreamTime('2026-03-12 17:40:15')).toBe(Date.UTC(2026, 2, 12, 9, 40, 15));
    fc.assert(
      fc.property(fc.oneof(nasty, fc.string(), fc.constant(null)), (v) => {
        const t = parseUpstreamTime(v);
        expect(t === undefined || (t >= Date.UTC(2005, 0, 1) && t <= Date.now() + 86_400_000)).toBe(true);
        const u = unixTime(v);
        expect(u === undefined || Number.isFinite(new Date(u).getTime())).toBe(true);
      }),
      { numRuns: 500, seed: 21 },
    );
  });
});

const channels = useFakeChannels();
const douyin = useFakeDouyin();
const hd = useFakeHdhive();
const mpFake = useFakeMp();
const moments = useFakeMoments();

const start = useStartApp();

/** Every format of a feed: 200, no broken dates, and the items it carries. */
async function allFormats(a: RunningApp, path: string): Promise<number> {
  let count = -1;
  for (const format of FORMATS) {
    const res = await fetch(`${a.url}${path}.${format}`);
    const text = await res.text();
    expect(res.status, `${path}.${format}: ${text.slice(0, 300)}`).toBe(200);
    expect(text).not.toMatch(/Invalid Date|NaN/);
    if (format === 'json') count = JSON.parse(text).items.length;
    else parseXml(text);
  }
  return count;
}

describe('a source answering absurd times still gives a feed, in every format', () => {
  const ABSURD = [1e20, -5, 253402300800, '99999999999999999999'];

  it('WeChat Channels (createtime)', async () => {
    const { fake, cdn } = channels;
    for (const t of ABSURD) {
      fake.times = t;
      const app = await start({ WXCD_API_URL: fake.wxcdUrl, PROXY_ALLOW_HOSTS: cdn.host });
      expect(await allFormats(app, `/feeds/channels/${encodeURIComponent(ACCOUNT)}`)).toBeGreaterThan(0);
      await app.close();
    }
  });

  it('Douyin (create_time)', async () => {
    const { d } = douyin;
    for (const t of ABSURD) {
      d.times = t;
      const app = await start({ DOUYIN_BASE_URL: d.url, DOUYIN_COOKIE: COOKIE, DOUYIN_CALLS_PER_MINUTE: 600, PROXY_ALLOW_HOSTS: `${d.host},${d.cdn.host}` });
      const res = await fetch(`${app.url}/feeds/douyin/MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop.json`);
      const f = (await res.json()) as { items: Array<{ date_published?: string }> };
      expect(res.status).toBe(200);
      expect(f.items.length).toBeGreaterThan(0);
      for (const i of f.items) expect(i.date_published).toBeUndefined();
      expect(await allFormats(app, '/feeds/douyin/MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop')).toBe(f.items.length);
      await app.close();
    }
  });

  it('HDHive (created_at, updated_at): first-seen time stands in', async () => {
    const list = hd.fake.resources.get('tv/101172')!;
    const saved = list.map((r) => ({ ...r }));
    try {
      for (const [i, r] of list.entries()) {
        r.created_at = ['9999-12-31 23:59:59', 1e20, '1970-01-01 00:00:00'][i % 3];
        r.updated_at = '+275760-09-13T00:00:00Z';
      }
      const app = await start(hd.config());
      const before = Date.now();
      const f = (await (await fetch(`${app.url}/feeds/hdhive/tv/101172.json`)).json()) as { items: Array<{ date_published: string; date_modified?: string }> };
      for (const item of f.items) {
        expect(Date.parse(item.date_published)).toBeGreaterThanOrEqual(before - 1000);
        expect(item.date_modified).toBeUndefined();
      }
      await allFormats(app, '/feeds/hdhive/tv/101172');
    } finally {
      hd.fake.resources.set('tv/101172', saved);
    }
  });

  it('WeChat MP (comm_msg_info.datetime): the push is kept, dated when it was read', async () => {
    const m = mpFake.mp;
    for (const p of m.pushes) p.datetime = 1e20;
    const app = await start({ MP_BASE_URL: m.url, PROXY_ALLOW_HOSTS: m.host, MP_CALLS_PER_MINUTE: 600 });
    await pushCredentials(app.url, m);
    const n = await allFormats(app, `/feeds/mp/${encodeURIComponent(BIZ)}`);
    expect(n).toBeGreaterThan(0);
  });

  it('WeChat Moments (createTime), WeFlow and E云', async () => {
    const { m } = moments;
    for (const p of m.posts) p.createTime = 1e20 as number;
    const weflow = await start({ WEFLOW_API_URL: m.weflowUrl, WEFLOW_TOKEN: m.token, PROXY_ALLOW_HOSTS: m.cdn.host, MOMENTS_ARCHIVE: false });
    expect(await allFormats(weflow, '/feeds/moments')).toBeGreaterThan(0);
    const app = await start({ MOMENTS_PROVIDER: 'ecloud', ECLOUD_API_URL: m.ecloudUrl, ECLOUD_AUTH: m.ecloudAuth, ECLOUD_WID: m.ecloudWid, PROXY_ALLOW_HOSTS: m.cdn.host, MOMENTS_ARCHIVE: false });
    expect(await allFormats(app, '/feeds/moments')).toBeGreaterThan(0);
  });
});
