import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ACCOUNT, useFakeChannels } from './fakes/channels.js';
import { EMPTY_UID, COOKIE, useFakeDouyin } from './fakes/douyin.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { useFakeMoments } from './fakes/moments.js';
import { useStartApp } from './helpers/app.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

/** What feed checkers and podcast directories ask of the defaults (issue 22, "Feeds that pass every checker"). */

const channels = useFakeChannels();
const douyin = useFakeDouyin();
const hd = useFakeHdhive();
const moments = useFakeMoments();
const start = useStartApp();

describe('feeds without dated items', () => {
  it('an empty feed is dated when it was built, not 1970, in Atom, RSS and Last-Modified', async () => {
    const { d } = douyin;
    const app = await start({ DOUYIN_BASE_URL: d.url, DOUYIN_COOKIE: COOKIE, DOUYIN_CALLS_PER_MINUTE: 600, PROXY_ALLOW_HOSTS: `${d.host},${d.cdn.host}` });
    const before = Date.now() - 1000;
    const atom = await fetch(`${app.url}/feeds/douyin/${EMPTY_UID}.atom`);
    const doc = parseXml(await atom.text());
    expect(childrenNamed(doc, 'entry')).toEqual([]);
    const updated = Date.parse(child(doc, 'updated')!.text);
    expect(updated).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(atom.headers.get('last-modified')!)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    const rss = parseXml(await (await fetch(`${app.url}/feeds/douyin/${EMPTY_UID}.rss`)).text());
    expect(Date.parse(child(child(rss, 'channel')!, 'lastBuildDate')!.text)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    // The same bytes again while the copy is cached: the time is the fetch's, not the request's.
    const again = await fetch(`${app.url}/feeds/douyin/${EMPTY_UID}.atom`);
    expect(again.headers.get('etag')).toBe(atom.headers.get('etag'));
  });
});

describe('podcast directories', () => {
  it('itunes:image is a 1400 px square through /proxy, cropped from the account picture; fit=cover needs w and h', async () => {
    const { fake, cdn } = channels;
    const app = await start({ WXCD_API_URL: fake.wxcdUrl, PROXY_ALLOW_HOSTS: cdn.host });
    const rss = parseXml(await (await fetch(`${app.url}/feeds/channels/${encodeURIComponent(ACCOUNT)}.rss`)).text());
    const channel = child(rss, 'channel')!;
    const art = child(channel, 'itunes:image')!.attrs.href!;
    expect(art).toMatch(/\/proxy\?.*w=1400.*&h=1400.*fit=cover|fit=cover.*w=1400/);
    const res = await fetch(art);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([1400, 1400]);
    expect(child(channel, 'itunes:category')!.attrs.text).toBe('TV & Film');
    // The channel picture for readers stays the original.
    expect(child(child(channel, 'image')!, 'url')!.text).not.toContain('fit=cover');
    const bad = await fetch(app.url + app.app.links.image(`${cdn.url}/head/132`, 'wechat', { w: 100, fit: 'cover' }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('fit=cover needs both w and h');
  });

  it('Moments with video is filed under Society & Culture > Personal Journals, not TV & Film', async () => {
    const { m } = moments;
    const app = await start({ WEFLOW_API_URL: m.weflowUrl, WEFLOW_TOKEN: m.token, PROXY_ALLOW_HOSTS: m.cdn.host, MOMENTS_ARCHIVE: false });
    const rss = parseXml(await (await fetch(`${app.url}/feeds/moments.rss`)).text());
    const category = child(child(rss, 'channel')!, 'itunes:category')!;
    expect(category.attrs.text).toBe('Society & Culture');
    expect(child(category, 'itunes:category')!.attrs.text).toBe('Personal Journals');
  });
});

describe('the start page', () => {
  it('tells the owner to set PODCAST_OWNER_EMAIL while it is empty, and not once it is set', async () => {
    const without = await start({ ACCESS_TOKEN: 'tok' });
    expect(await (await fetch(`${without.url}/?token=tok`)).text()).toContain('set PODCAST_OWNER_EMAIL, then restart');
    // Not before the token is given: the prompt shows nothing about the setup.
    expect(await (await fetch(`${without.url}/`)).text()).not.toContain('PODCAST_OWNER_EMAIL');
    const withEmail = await start({ ACCESS_TOKEN: 'tok', PODCAST_OWNER_EMAIL: 'me@example.org' });
    expect(await (await fetch(`${withEmail.url}/?token=tok`)).text()).not.toContain('PODCAST_OWNER_EMAIL');
  });
});

describe('the OPML export', () => {
  it('lists each feed once, in RSS or Atom: one read only as JSON Feed is listed as RSS', async () => {
    const app = await start(hd.config({ ACCESS_TOKEN: 'tok' }));
    for (const path of ['/feeds/hdhive/movie/550.json', '/feeds/hdhive/movie/550.atom', '/feeds/hdhive/tv/101172.json']) {
      expect((await fetch(`${app.url}${path}?token=tok`)).status).toBe(200);
    }
    const doc = parseXml(await (await fetch(`${app.url}/opml?token=tok`)).text());
    const outlines = childrenNamed(child(doc, 'body')!, 'outline').flatMap((f) => childrenNamed(f, 'outline'));
    const urls = outlines.map((o) => new URL(o.attrs.xmlUrl!).pathname).sort();
    expect(urls).toEqual(['/feeds/hdhive/movie/550.atom', '/feeds/hdhive/tv/101172.rss']);
    expect(outlines.map((o) => o.attrs.type).sort()).toEqual(['atom', 'rss']);
  });
});
