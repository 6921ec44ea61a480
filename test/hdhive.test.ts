import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HdhiveClient, readResource } from '../src/feeds/hdhive/client.js';
import { UpstreamClient } from '../src/upstream/client.js';
import { formatShareSize } from '../src/feeds/hdhive/feed.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { feedparser, jsonFeedErrors } from './helpers/validate.js';
import { itFeedparser } from './helpers/tools.js';

const hd = useFakeHdhive();
let app: RunningApp;

describe('HDHive resource reader', () => {
  // The zod schema the client used before its hand-written reader, kept as the reference: what it
  // accepted must read the same, and what it threw away whole for one odd field now keeps its slug.
  const text = z.union([z.string(), z.number()]).transform(String).nullish();
  const strings = z.array(z.union([z.string(), z.number()]).transform(String)).nullish().transform((v) => v ?? []);
  const reference = z.object({
    slug: z.union([z.string().min(1), z.number()]).transform(String),
    title: text, pan_type: text, media_url: text, media_slug: text, share_size: text,
    video_resolution: strings, source: strings, subtitle_language: strings, subtitle_type: strings,
    remark: text, unlock_points: z.number().nullish(), unlocked_users_count: z.number().nullish(),
    validate_status: text, validate_message: text, last_validated_at: text,
    is_official: z.boolean().nullish(), is_unlocked: z.boolean().nullish(),
    user: z.object({ id: z.union([z.string(), z.number()]).nullish(), nickname: text, avatar_url: text }).passthrough().nullish(),
    created_at: z.union([z.string(), z.number()]).nullish(), updated_at: z.union([z.string(), z.number()]).nullish(),
  });
  /** Nulls read as absent, as the feed treats them; the user's extra fields are not read. */
  const plain = (v: unknown): unknown => {
    if (v === null) return undefined;
    if (Array.isArray(v)) return v.map(plain);
    if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, plain(x)]));
    return v;
  };
  // Every field as HDHive sends it and as a changed or broken answer might: wrong types, nulls, absurd numbers.
  const odd = fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.object()), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
  // Fields as HDHive sends them (`odd` false), or with any of them odd.
  const fields = (oddToo: boolean) => {
    const or = <T,>(good: fc.Arbitrary<T>) => (oddToo ? fc.oneof(good, odd) : good);
    const textish = or(fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null)));
    const list = or(fc.oneof(fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }), fc.constant(null)));
    const count = or(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(1e300), fc.constant(null)));
    const flag = or(fc.oneof(fc.boolean(), fc.constant(null)));
    return fc.record(
      {
        slug: or(fc.oneof(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 32, maxLength: 32 }), fc.integer())),
        title: textish, pan_type: textish, media_url: textish, media_slug: textish, share_size: textish,
        video_resolution: list, source: list, subtitle_language: list, subtitle_type: list,
        remark: textish, unlock_points: oddToo ? fc.oneof(count, fc.constantFrom('5', '')) : count, unlocked_users_count: count,
        validate_status: textish, validate_message: textish, last_validated_at: textish,
        is_official: flag, is_unlocked: flag,
        user: or(fc.oneof(fc.record({ id: textish, nickname: textish, avatar_url: textish, extra: odd }, { requiredKeys: [] }), fc.constant(null))),
        created_at: textish, updated_at: textish,
      },
      { requiredKeys: oddToo ? [] : ['slug'] },
    );
  };
  const entry = fc.oneof(fields(false), fields(true), fc.constant({ slug: '' }));

  it('reads what the zod schema read the same, keeps a resource with an odd field, and never throws', () => {
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(entry, odd), (e) => {
        const r = readResource(e);
        const ref = reference.safeParse(e);
        if (ref.success) {
          accepted++;
          const { user, ...rest } = plain(ref.data) as Record<string, unknown> & { user?: Record<string, unknown> };
          expect(r).toEqual({ ...rest, ...(user ? { user: { id: user.id === undefined ? undefined : String(user.id), nickname: user.nickname, avatar_url: user.avatar_url } } : {}) });
          return;
        }
        const slug = e && typeof e === 'object' && !Array.isArray(e) ? (e as { slug?: unknown }).slug : undefined;
        expect(r === undefined).toBe(!((typeof slug === 'string' && slug !== '') || typeof slug === 'number'));
        if (!r) return;
        // What it reads has the types the feed relies on, whatever came in.
        for (const k of ['title', 'pan_type', 'media_url', 'share_size', 'remark', 'validate_status'] as const) expect(['string', 'undefined']).toContain(typeof r[k]);
        for (const k of ['video_resolution', 'source', 'subtitle_language', 'subtitle_type'] as const) expect(r[k].every((x) => typeof x === 'string')).toBe(true);
        for (const k of ['unlock_points', 'unlocked_users_count'] as const) expect(r[k] === undefined || Number.isFinite(r[k])).toBe(true);
        expect(r.user === undefined || typeof r.user.nickname !== 'object').toBe(true);
      }),
      { numRuns: 3000 },
    );
    // The comparison ran on a good share of what HDHive really sends, not only on rejects.
    expect(accepted).toBeGreaterThan(250);
  });

  it('a resource with one field of the wrong type is kept, that field read as absent', () => {
    const r = readResource({ slug: 'abc', title: '片名', unlock_points: 'many', video_resolution: ['4K', { x: 1 }, 1080], is_official: 'yes', user: [] });
    expect(r).toMatchObject({ slug: 'abc', title: '片名', unlock_points: undefined, video_resolution: ['4K', '1080'], is_official: undefined, user: undefined });
    expect(readResource({ title: 'no slug' })).toBeUndefined();
    expect(readResource([{ slug: 'x' }])).toBeUndefined();
  });
});


describe('HDHive resources feed', () => {
  beforeEach(async () => {
    app = await startApp(hd.config());
  });
  afterEach(async () => {
    await app.close();
  });

  itFeedparser('lists every resource as an item: slug guid, descriptive title, HDHive link, Beijing time as UTC', async () => {
    const p = await feedparser({ url: `${app.url}/feeds/hdhive/tv/101172` });
    expect(p.bozo).toBeFalsy();
    expect(p.feed.title).toBe('HDHive: 吞噬星空 (2020)');
    expect(p.feed.links).toContainEqual({ rel: 'self', href: `${app.url}/feeds/hdhive/tv/101172`, type: 'application/rss+xml' });
    expect(p.entries.map((e) => e.id)).toEqual(['74366deefd1544c1905ab0f58ee4c9f8', '41f71882302145bbb51b2400c8b834e8']);
    const [a, b] = p.entries;
    expect(a!.title).toBe('吞噬星空 (2020) [4K · WEB-DL/WEBRip · 228.75 GB · 115 · 6 points]');
    expect(b!.title).toBe('吞噬星空 (2020) [4K · WEB-DL/WEBRip · 1.07 GB · 115 · 2 points]');
    expect(a!.link).toBe(`${hd.fake.url}/resource/115/74366deefd1544c1905ab0f58ee4c9f8`);
    // "2026-03-12 17:40:15" has no zone; HDHive speaks Beijing time (UTC+8).
    expect(a!.published).toBe('2026-03-12T09:40:15Z');
    expect(a!.author).toBe('开心超人');
    expect(b!.author).toBe('Shrom');
    expect(a!.tags).toEqual(['115', '4K', 'WEB-DL/WEBRip', '简中']);
    const body = a!.content[0]!;
    for (const part of ['228.75 GB', '6 points', '15 users', '已整理命名，S01E01-E215，持续更新', 'Open on HDHive', 'https://hdhive.com/tv/44267f43fbd611edb16e0242c0a81003']) {
      expect(body).toContain(part);
    }
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
  });

  itFeedparser('escapes upstream text in every format', async () => {
    const atom = await feedparser({ url: `${app.url}/feeds/hdhive/movie/550.atom` });
    expect(atom.bozo).toBeFalsy();
    const invalid = atom.entries.find((e) => e.id.endsWith('d2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b'))!;
    expect(invalid.title).toBe('[invalid] 搏击俱乐部 (1999) [1080p · WEB-DL/WEBRip · 700 MB · 123 · 3 points]');
    expect(invalid.content[0]).toContain('链接已失效');
    const res = await fetch(`${app.url}/feeds/hdhive/movie/550.json`);
    expect(res.headers.get('content-type')).toBe('application/feed+json; charset=utf-8');
    const doc = await res.json() as any;
    expect(jsonFeedErrors(doc)).toEqual([]);
    expect(doc.items.map((i: { id: string }) => i.id).sort()).toEqual(['c68ce9afa88b11ef87c60242ac120005', 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b']);
    const html = doc.items.find((i: { id: string }) => i.id === 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b').content_html;
    expect(html).toContain('<p>Fight Club &lt;1080p&gt; &amp; extras</p>');
  });

  itFeedparser('an unknown title is an empty but valid feed', async () => {
    const p = await feedparser({ url: `${app.url}/feeds/hdhive/movie/999999` });
    expect(p.bozo).toBeFalsy();
    expect(p.entries).toEqual([]);
    expect(p.feed.title).toBe('HDHive: TMDB movie 999999');
  });

  it('rejects bad parameters with 400 and a clear message, without calling HDHive', async () => {
    for (const [path, text] of [
      ['/feeds/hdhive/music/550', 'type must be movie or tv'],
      ['/feeds/hdhive/movie/abc', 'tmdbId must be a positive TMDB id'],
      ['/feeds/hdhive/movie/-5', 'tmdbId must be a positive TMDB id'],
      ['/feeds/hdhive/movie/0', 'tmdbId must be a positive TMDB id'],
      ['/feeds/hdhive/movie/12345678901', 'tmdbId must be a positive TMDB id'],
    ] as const) {
      const res = await fetch(app.url + path);
      expect(res.status, path).toBe(400);
      const body = await res.json() as any;
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.message).toContain(text);
    }
    expect(hd.fake.totalCalls()).toBe(0);
  });

  it('never calls the unlock endpoint', async () => {
    await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    await fetch(`${app.url}/feeds/hdhive/shares`);
    expect([...hd.fake.calls.keys()].some((p) => p.includes('unlock'))).toBe(false);
  });

  itFeedparser('my shares need the user token and list the shares', async () => {
    const p = await feedparser({ url: `${app.url}/feeds/hdhive/shares` });
    expect(p.bozo).toBeFalsy();
    expect(p.entries.map((e) => e.id)).toEqual(['aaaabbbbccccddddeeeeffff00001111']);
    expect(p.entries[0]!.title).toContain('我的分享');
  });
});

describe('HDHive first-seen dates', () => {
  it('items without created_at get the time feedgate first saw them, kept across restarts', async () => {
    const dataDir = tempDir();
    const first = await startApp(hd.config({ DATA_DIR: dataDir, CACHE_TTL: '1s' }));
    const before = Date.now();
    const a = await (await fetch(`${first.url}/feeds/hdhive/movie/550.json`)).json() as any;
    const seen = a.items.find((i: { id: string }) => i.id === 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b').date_published;
    expect(Date.parse(seen)).toBeGreaterThanOrEqual(before - 1000);
    // The upstream time wins where it exists.
    expect(a.items.find((i: { id: string }) => i.id === 'c68ce9afa88b11ef87c60242ac120005').date_published).toBe('2026-11-01T01:00:00Z');
    await first.close(false);

    await new Promise((r) => setTimeout(r, 1100));
    const second = await startApp(hd.config({ DATA_DIR: dataDir, CACHE_TTL: '1s' }));
    // A new resource appears after the restart: it is newer, so it sorts first.
    hd.fake.resources.get('movie/550')!.push({ slug: 'ffff0000ffff0000ffff0000ffff0000', title: '搏击俱乐部 (1999)', pan_type: 'baidu', share_size: null, video_resolution: [], source: [] });
    try {
      const b = await (await fetch(`${second.url}/feeds/hdhive/movie/550.json`)).json() as any;
      expect(b.items.find((i: { id: string }) => i.id === 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b').date_published).toBe(seen);
      expect(b.items[0].id).toBe('ffff0000ffff0000ffff0000ffff0000');
      expect(Date.parse(b.items[0].date_published)).toBeGreaterThan(Date.parse(seen));
    } finally {
      hd.fake.resources.get('movie/550')!.pop();
      await second.close();
    }
  });
});

describe('HDHive failures', () => {
  afterEach(async () => {
    await app.close();
  });

  async function errorOf(path: string) {
    const res = await fetch(app.url + path);
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json() as any) as { error: { code: string; message: string } } };
  }

  // Every documented error (notes/peers.md §3.3), with the envelope whole, stripped to its code, without
  // `data`, and replaced by an HTML page or an empty body: the HTTP status decides first, the code refines.
  const DOCUMENTED: Array<[number, string, number, string, string]> = [
    [401, 'MISSING_API_KEY', 502, 'UPSTREAM_AUTH', 'HDHIVE_API_KEY'],
    [401, 'INVALID_API_KEY', 502, 'UPSTREAM_AUTH', 'HDHIVE_API_KEY'],
    [401, 'DISABLED_API_KEY', 502, 'UPSTREAM_AUTH', 'HDHIVE_API_KEY'],
    [401, 'EXPIRED_API_KEY', 502, 'UPSTREAM_AUTH', 'HDHIVE_API_KEY'],
    [401, 'INVALID_OPENAPI_USER_TOKEN', 502, 'UPSTREAM_AUTH', 'HDHIVE_ACCESS_TOKEN'],
    [401, 'OPENAPI_REFRESH_REQUIRED', 502, 'UPSTREAM_AUTH', 'HDHIVE_ACCESS_TOKEN'],
    [401, 'OPENAPI_REAUTH_REQUIRED', 502, 'UPSTREAM_AUTH', 'HDHIVE_ACCESS_TOKEN'],
    [403, 'OPENAPI_USER_REQUIRED', 502, 'UPSTREAM_AUTH', 'HDHIVE_ACCESS_TOKEN'],
    [403, 'SCOPE_NOT_ALLOWED', 502, 'UPSTREAM_AUTH', 'scopes'],
    [403, 'USER_SCOPE_NOT_ALLOWED', 502, 'UPSTREAM_AUTH', 'scopes'],
    [403, 'VIP_REQUIRED', 502, 'UPSTREAM_AUTH', 'scopes'],
    [403, 'ENDPOINT_DISABLED', 502, 'UPSTREAM_AUTH', 'scopes'],
    [402, 'INSUFFICIENT_POINTS', 502, 'UPSTREAM_ERROR', 'INSUFFICIENT_POINTS'],
    [404, '404', 404, 'NOT_FOUND', 'no such item'],
    [400, '400', 502, 'UPSTREAM_ERROR', 'HTTP 400'],
    [429, 'RATE_LIMIT_EXCEEDED', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [429, 'ENDPOINT_QUOTA_EXCEEDED', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [429, 'GLOBAL_RATE_LIMIT_EXCEEDED', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [429, 'APP_RATE_LIMIT_EXCEEDED', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [429, 'USER_RATE_LIMIT_EXCEEDED', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [429, 'OPENAPI_COOLDOWN', 429, 'UPSTREAM_RATE_LIMITED', 'retry after'],
    [500, '500', 502, 'UPSTREAM_ERROR', 'HTTP 500'],
  ];
  const SHAPES: Array<[string, (code: string) => string]> = [
    ['full envelope', (code) => JSON.stringify({ success: false, code, message: 'msg', data: null, limit_scope: 'user' })],
    ['code only', (code) => JSON.stringify({ code })],
    ['no data key', (code) => JSON.stringify({ success: false, code, message: 'msg' })],
    ['numeric code', (code) => JSON.stringify({ success: false, code: /^\d+$/.test(code) ? Number(code) : code })],
  ];

  it.each(DOCUMENTED)('HTTP %i %s maps to %i %s in every envelope shape', async (http, code, status, ourCode, names) => {
    app = await startApp(hd.config({ UPSTREAM_RETRIES: 0 }));
    let tmdb = 1000;
    for (const [shape, body] of SHAPES) {
      hd.fake.scripted = { status: http, body: body(code), headers: http === 429 ? { 'retry-after': '7' } : {} };
      const e = await errorOf(`/feeds/hdhive/movie/${tmdb++}`);
      expect(e.status, shape).toBe(status);
      expect(e.body.error.code, shape).toBe(ourCode);
      expect(e.body.error.message, shape).toContain(names);
      if (status === 429) expect(e.retryAfter, shape).toBe('7');
      // A rate limit stops every call until it has passed: no later shape reaches the fake.
      if (status === 429) break;
    }
  });

  it.each([401, 403, 429, 500, 502, 200])('HTTP %i with an HTML page or an empty body is never taken for data', async (http) => {
    app = await startApp(hd.config({ UPSTREAM_RETRIES: 0 }));
    for (const [i, body] of ['<!DOCTYPE html><title>Just a moment...</title>', ''].entries()) {
      hd.fake.scripted = { status: http, body, headers: { 'content-type': 'text/html' } };
      const e = await errorOf(`/feeds/hdhive/movie/${2000 + i}`);
      expect(e.status).toBe(http === 429 ? 429 : 502);
      expect(e.body.error.code).toBe(http === 429 ? 'UPSTREAM_RATE_LIMITED' : http === 401 || http === 403 ? 'UPSTREAM_BLOCKED' : http === 200 ? 'UPSTREAM_BAD_RESPONSE' : 'UPSTREAM_ERROR');
      if (http === 429) break;
    }
  });

  it('a wrong API key is a 502 that names HDHIVE_API_KEY', async () => {
    app = await startApp(hd.config({ HDHIVE_API_KEY: 'wrong' }));
    const e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(502);
    expect(e.body.error.code).toBe('UPSTREAM_AUTH');
    expect(e.body.error.message).toContain('INVALID_API_KEY');
    expect(e.body.error.message).toContain('HDHIVE_API_KEY');
  });

  it('a missing API key is 503 SOURCE_NOT_CONFIGURED before any call, on every route; shares name both settings', async () => {
    app = await startApp(hd.config({ HDHIVE_API_KEY: '', HDHIVE_ACCESS_TOKEN: '' }));
    let e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(503);
    expect(e.body.error.code).toBe('SOURCE_NOT_CONFIGURED');
    expect(e.body.error.message).toContain('set HDHIVE_API_KEY');
    expect(e.body.error.message).not.toContain('HDHIVE_ACCESS_TOKEN');
    e = await errorOf('/feeds/hdhive/shares');
    expect(e.status).toBe(503);
    expect(e.body.error.message).toContain('HDHIVE_API_KEY, HDHIVE_ACCESS_TOKEN');
    expect(hd.fake.totalCalls()).toBe(0);
  });

  it('shares without a user token: 503 naming HDHIVE_ACCESS_TOKEN; a bad token 502', async () => {
    app = await startApp(hd.config({ HDHIVE_ACCESS_TOKEN: '' }));
    let e = await errorOf('/feeds/hdhive/shares');
    expect(e.status).toBe(503);
    expect(e.body.error.code).toBe('SOURCE_NOT_CONFIGURED');
    expect(e.body.error.message).toContain('set HDHIVE_ACCESS_TOKEN');
    expect(e.body.error.message).not.toContain('HDHIVE_API_KEY');
    await app.close();
    app = await startApp(hd.config({ HDHIVE_ACCESS_TOKEN: 'expired' }));
    e = await errorOf('/feeds/hdhive/shares');
    expect(e.status).toBe(502);
    expect(e.body.error.message).toContain('INVALID_OPENAPI_USER_TOKEN');
    expect(e.body.error.message).toContain('HDHIVE_ACCESS_TOKEN');
  });

  it('OPENAPI_USER_REQUIRED (403) names the user token setting', async () => {
    // Without a configured token the resources call goes out with the key alone; the fake demands a user for this title.
    app = await startApp(hd.config({ HDHIVE_ACCESS_TOKEN: '' }));
    const e = await errorOf('/feeds/hdhive/movie/403');
    expect(e.status).toBe(502);
    expect(e.body.error.message).toContain('OPENAPI_USER_REQUIRED');
    expect(e.body.error.message).toContain('HDHIVE_ACCESS_TOKEN');
    expect(hd.fake.calls.get('/api/open/resources/movie/403')).toBe(1);
  });

  it('429 passes through with Retry-After, and no call goes out during the cooldown', async () => {
    app = await startApp(hd.config({ CACHE_TTL: '1s' }));
    hd.fake.mode = 'rate_limited';
    hd.fake.retryAfter = 30;
    const e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(429);
    expect(e.retryAfter).toBe('30');
    expect(e.body.error.code).toBe('UPSTREAM_RATE_LIMITED');
    expect(e.body.error.message).toContain('RATE_LIMIT_EXCEEDED');
    hd.fake.mode = 'ok';
    const other = await errorOf('/feeds/hdhive/tv/101172');
    expect(other.status).toBe(429);
    expect(Number(other.retryAfter)).toBeGreaterThan(25);
    expect(hd.fake.totalCalls()).toBe(1);
  });

  it('5xx is a 502; a Cloudflare page or garbage JSON is a 502; a reset connection is a 502', async () => {
    app = await startApp(hd.config());
    for (const [mode, code, tmdb] of [
      ['error500', 'UPSTREAM_ERROR', 1],
      ['cloudflare', 'UPSTREAM_BLOCKED', 2],
      ['garbage', 'UPSTREAM_BAD_RESPONSE', 3],
      ['reset', 'UPSTREAM_UNREACHABLE', 4],
    ] as const) {
      hd.fake.mode = mode;
      const e = await errorOf(`/feeds/hdhive/movie/${tmdb}`);
      expect(e.status, mode).toBe(502);
      expect(e.body.error.code, mode).toBe(code);
      expect(JSON.stringify(e.body)).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it('a slow upstream is a 504', async () => {
    app = await startApp(hd.config({ UPSTREAM_TIMEOUT: '300ms' }));
    hd.fake.mode = 'slow';
    hd.fake.delayMs = 1500;
    const e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(504);
    expect(e.body.error.code).toBe('UPSTREAM_TIMEOUT');
  });

  it('a huge body is cut off at UPSTREAM_MAX_BYTES with a 502', async () => {
    app = await startApp(hd.config({ UPSTREAM_MAX_BYTES: '256KB' }));
    hd.fake.mode = 'huge';
    const e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(502);
    expect(e.body.error.code).toBe('UPSTREAM_TOO_LARGE');
  });

  it('an upstream that is not there at all is a 502', async () => {
    app = await startApp(hd.config({ HDHIVE_API_URL: 'http://127.0.0.1:9' }));
    const e = await errorOf('/feeds/hdhive/movie/550');
    expect(e.status).toBe(502);
    expect(e.body.error.code).toBe('UPSTREAM_UNREACHABLE');
  });
});

describe('share sizes', () => {
  it('reads the free-form formats HDHive sends', () => {
    expect(formatShareSize('228.75')).toBe('228.75 GB');
    expect(formatShareSize('1.07g')).toBe('1.07 GB');
    expect(formatShareSize('58.3 GB')).toBe('58.3 GB');
    expect(formatShareSize('700MB')).toBe('700 MB');
    expect(formatShareSize('1.2T')).toBe('1.2 TB');
    expect(formatShareSize('约 3 集')).toBe('约 3 集');
    expect(formatShareSize(null)).toBeUndefined();
    expect(formatShareSize('  ')).toBeUndefined();
  });
});

describe('HDHive my shares, page by page', () => {
  it('100 a page, each page linking the next; a background refresh fills the archive back from the next page', async () => {
    const saved = hd.fake.shares;
    hd.fake.shares = Array.from({ length: 150 }, (_, i) => ({ ...saved[0]!, slug: i.toString(16).padStart(32, '0'), title: `分享 ${i}` }));
    const a = await startApp(hd.config({ CACHE_TTL: '1s', REFRESH_HDHIVE: '1s' }));
    try {
      const first = (await (await fetch(`${a.url}/feeds/hdhive/shares.json`)).json()) as { items: unknown[]; next_url?: string };
      expect(first.items).toHaveLength(100);
      expect(new URL(first.next_url!).searchParams.get('page')).toBe('2');
      const next = (await (await fetch(first.next_url!)).json()) as { items: unknown[]; next_url?: string };
      expect(next.items).toHaveLength(50);
      expect(next.next_url).toBeUndefined();
      for (const bad of ['0', 'abc', '10000']) expect((await fetch(`${a.url}/feeds/hdhive/shares.json?page=${bad}`)).status, bad).toBe(400);
      let row: { pages_done: number; added: number } | undefined;
      for (let i = 0; i < 100 && !(row = await a.db.get<{ pages_done: number; added: number }>('SELECT * FROM archive_backfill'))?.pages_done; i++) await new Promise((r) => setTimeout(r, 100));
      expect(row).toMatchObject({ pages_done: 1, added: 50 });
      await new Promise((r) => setTimeout(r, 1100));
      const all = (await (await fetch(`${a.url}/feeds/hdhive/shares.json?limit=500`)).json()) as { items: unknown[] };
      expect(all.items).toHaveLength(150);
    } finally {
      hd.fake.shares = saved;
      await a.close();
    }
  }, 30_000);
});

describe("HDHive's daily quota, as its answers state it", () => {
  it('is the tightest of the endpoints; a reset in the past or missing is the next midnight in Beijing; none stated, none known', async () => {
    const { fake } = hd;
    const http = new UpstreamClient({ name: 'hdhive', baseUrl: fake.url, connectTimeoutMs: 1000, timeoutMs: 2000, deadlineMs: 5000, retries: 0, maxBytes: 1 << 20, concurrency: 2 });
    const now = Date.parse('2026-12-05T17:30:00Z');
    const client = new HdhiveClient(http, { apiKey: fake.apiKey, accessToken: fake.userToken, now: () => now });
    expect(client.quota()).toBeUndefined();
    fake.quota = { limit: 2000, remaining: 1500, reset: 1795536000 };
    await client.resources('tv', '101172');
    // 17:30 UTC is 01:30 on the 6th in Beijing: the quota starts again at midnight there, 16:00 UTC on the 6th.
    expect(client.quota()).toEqual({ limit: 2000, remaining: 1500, resetAt: Date.parse('2026-12-06T16:00:00Z') });
    fake.quota = { limit: 500, remaining: 400, reset: now / 1000 + 600 };
    await client.shares(1, 20);
    expect(client.quota()).toEqual({ limit: 500, remaining: 400, resetAt: Date.parse('2026-12-06T16:00:00Z') });
    fake.quota = { limit: 2000, remaining: 100, reset: now / 1000 + 600 };
    await client.resources('tv', '101172');
    expect(client.quota()).toEqual({ limit: 500, remaining: 100, resetAt: now + 600_000 });
    // Nonsense is not a quota: the last one stated stands.
    fake.scripted = { status: 200, headers: { 'x-endpoint-limit': 'lots', 'x-endpoint-remaining': '-3' }, body: JSON.stringify({ success: true, code: '200', data: [] }) };
    await client.resources('tv', '101172');
    expect(client.quota()).toEqual({ limit: 500, remaining: 100, resetAt: now + 600_000 });
  });
});
