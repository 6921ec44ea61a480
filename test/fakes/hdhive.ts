import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach } from 'vitest';

/**
 * A fake HDHive OpenAPI on an ephemeral loopback port, speaking seed 004: X-API-Key plus optional
 * Bearer user token, the {success, code, message, data, meta} envelope, quota headers, and the error
 * shapes from notes/peers.md §3.3. Data is shaped like the public sample of /resources/tv/101172.
 */

export type FakeMode = 'ok' | 'rate_limited' | 'error500' | 'slow' | 'garbage' | 'huge' | 'cloudflare' | 'reset';

export interface FakeHdhive {
  url: string;
  apiKey: string;
  userToken: string;
  mode: FakeMode;
  /** Delay before answering, in ms (used with mode "slow"). */
  delayMs: number;
  retryAfter: number;
  /**
   * The daily quota its headers state: calls a day, calls left (by default what the calls so far leave)
   * and the reset (unix seconds; the default is in the past, so feedgate works it out itself).
   */
  quota: { limit: number; remaining?: number; reset: number };
  /** When set, every call is answered with exactly this (status, headers, raw body). */
  scripted?: { status: number; headers?: Record<string, string>; body: string };
  /** Calls per path. */
  calls: Map<string, number>;
  /** Resource lists by "type/tmdbId"; tests may edit them between refreshes. */
  resources: Map<string, Record<string, unknown>[]>;
  shares: Record<string, unknown>[];
  totalCalls(): number;
  close(): Promise<void>;
}

/** The public sample's two entries (notes/peers.md §3.2), with their odd size formats kept. */
export function sampleTv101172(): Record<string, unknown>[] {
  return [
    {
      slug: '74366deefd1544c1905ab0f58ee4c9f8',
      title: '吞噬星空 (2020)',
      pan_type: '115',
      media_url: 'https://hdhive.com/tv/44267f43fbd611edb16e0242c0a81003',
      media_slug: '44267f43fbd611edb16e0242c0a81003',
      share_size: '228.75',
      video_resolution: ['4K'],
      source: ['WEB-DL/WEBRip'],
      subtitle_language: ['简中'],
      subtitle_type: [],
      remark: '已整理命名，S01E01-E215，持续更新',
      unlock_points: 6,
      unlocked_users_count: 15,
      validate_status: null,
      validate_message: null,
      last_validated_at: null,
      is_official: false,
      is_unlocked: false,
      user: { id: 54697, nickname: '开心超人', avatar_url: 'https://t.me/i/userpic/320/lv442R3QBGMVKB3G6JWNDiXL0-2ygBnpwG8L8tE1-zE.jpg' },
      created_at: '2026-03-12 17:40:15',
    },
    {
      slug: '41f71882302145bbb51b2400c8b834e8',
      title: '吞噬星空 (2020)',
      pan_type: '115',
      media_url: 'https://hdhive.com/tv/44267f43fbd611edb16e0242c0a81003',
      media_slug: '44267f43fbd611edb16e0242c0a81003',
      share_size: '1.07g',
      video_resolution: ['4K'],
      source: ['WEB-DL/WEBRip'],
      subtitle_language: ['简中'],
      subtitle_type: ['内嵌'],
      remark: '吞噬星空E211\nSwallowed.Star.S01E211.2020.2160p.WEB-DL.H265.AAC',
      unlock_points: 2,
      unlocked_users_count: 10,
      validate_status: null,
      validate_message: null,
      last_validated_at: null,
      is_official: false,
      is_unlocked: false,
      user: { id: 47494, nickname: 'Shrom ', avatar_url: '' },
      created_at: '2026-02-16 20:41:26',
    },
  ];
}

/** movie/550: no created_at on one entry (first-seen time applies), an invalid share, a free one, a 64-bit user id. */
export function sampleMovie550(): Record<string, unknown>[] {
  return [
    {
      slug: 'c68ce9afa88b11ef87c60242ac120005',
      title: '搏击俱乐部 (1999)',
      pan_type: 'quark',
      media_url: 'https://hdhive.com/movie/0b7b4bfc53c711ee9f3c0242ac120003',
      media_slug: '0b7b4bfc53c711ee9f3c0242ac120003',
      share_size: '58.3 GB',
      video_resolution: ['2160p'],
      source: ['蓝光原盘/REMUX'],
      subtitle_language: ['简中', '繁中', '英'],
      subtitle_type: ['内封'],
      remark: 'Fight.Club.1999.2160p.UHD.BluRay.REMUX.HDR.HEVC.DTS-HD.MA.5.1',
      unlock_points: null,
      unlocked_users_count: 120,
      validate_status: 'valid',
      validate_message: null,
      last_validated_at: '2026-11-20 08:00:00',
      is_official: true,
      is_unlocked: true,
      user: { id: 9007199254740993, nickname: '影巢官方', avatar_url: '' },
      created_at: '2026-11-01 09:00:00',
    },
    {
      slug: 'd2a0e7b1c4f54d7e9a8b6c5d4e3f2a1b',
      title: '搏击俱乐部 (1999)',
      pan_type: '123',
      media_url: 'https://hdhive.com/movie/0b7b4bfc53c711ee9f3c0242ac120003',
      media_slug: '0b7b4bfc53c711ee9f3c0242ac120003',
      share_size: '700MB',
      video_resolution: ['1080p'],
      source: ['WEB-DL/WEBRip'],
      subtitle_language: ['简中'],
      subtitle_type: ['外挂'],
      remark: 'Fight Club <1080p> & extras',
      unlock_points: 3,
      unlocked_users_count: 4,
      validate_status: 'invalid',
      validate_message: '链接已失效',
      last_validated_at: '2026-11-22 12:00:00',
      is_official: false,
      is_unlocked: false,
      user: null,
      created_at: null,
    },
  ];
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

const fail = (code: string, message: string) => ({ success: false, code, message, data: null });
/** A million calls a day: background refresh plans within half of it, so a test's few feeds keep their 1 s intervals. */
const defaultQuota = () => ({ limit: 1_000_000, reset: 1795536000 });

export async function startFakeHdhive(opts: { apiKey?: string; userToken?: string } = {}): Promise<FakeHdhive> {
  const fake: FakeHdhive = {
    url: '',
    apiKey: opts.apiKey ?? 'hk_test_key',
    userToken: opts.userToken ?? 'user-access-token',
    mode: 'ok',
    delayMs: 0,
    retryAfter: 30,
    quota: defaultQuota(),
    calls: new Map(),
    resources: new Map([
      ['tv/101172', sampleTv101172()],
      ['movie/550', sampleMovie550()],
    ]),
    shares: [{ ...sampleTv101172()[1]!, slug: 'aaaabbbbccccddddeeeeffff00001111', title: '我的分享' }],
    totalCalls: () => [...fake.calls.values()].reduce((a, b) => a + b, 0),
    close: async () => {},
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    fake.calls.set(url.pathname, (fake.calls.get(url.pathname) ?? 0) + 1);
    if (fake.delayMs > 0) await new Promise((r) => setTimeout(r, fake.delayMs));
    if (fake.scripted) {
      res.writeHead(fake.scripted.status, { 'content-type': 'application/json', ...fake.scripted.headers });
      return res.end(fake.scripted.body);
    }
    const q = fake.quota;
    const quota = { 'x-endpoint-limit': String(q.limit), 'x-endpoint-remaining': String(q.remaining ?? q.limit - fake.totalCalls()), 'x-ratelimit-reset': String(q.reset) };

    switch (fake.mode) {
      case 'rate_limited':
        return send(res, 429, { ...fail('RATE_LIMIT_EXCEEDED', '请求过于频繁'), limit_scope: 'user' }, { 'retry-after': String(fake.retryAfter), ...quota });
      case 'error500':
        return send(res, 500, fail('500', 'internal server error'));
      case 'garbage':
        return send(res, 200, '{"success": true, "data": [ {"slug": ', { 'content-type': 'application/json' });
      case 'cloudflare':
        return send(res, 403, '<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf challenge</body></html>');
      case 'huge': {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"success":true,"code":"200","data":[');
        const chunk = JSON.stringify(sampleTv101172()[0]) + ',';
        for (let i = 0; i < 40_000; i++) if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
        return res.end('{}]}');
      }
      case 'reset':
        req.socket.destroy();
        return;
      default:
        break;
    }

    const key = req.headers['x-api-key'];
    if (!key) return send(res, 401, fail('MISSING_API_KEY', '缺少 API Key'));
    if (key !== fake.apiKey) return send(res, 401, fail('INVALID_API_KEY', 'API Key 无效'));
    const auth = req.headers.authorization;
    const user = auth === `Bearer ${fake.userToken}` ? 'ok' : auth ? 'bad' : 'none';
    if (user === 'bad') return send(res, 401, fail('INVALID_OPENAPI_USER_TOKEN', '用户令牌无效'));

    let m: RegExpExecArray | null;
    if ((m = /^\/api\/open\/resources\/(movie|tv)\/([^/]+)$/.exec(url.pathname))) {
      // Titles a key alone may not query (the scope needs a user identity).
      if (m[2] === '403' && user !== 'ok') return send(res, 403, fail('OPENAPI_USER_REQUIRED', '缺少用户身份'));
      const list = fake.resources.get(`${m[1]}/${m[2]}`) ?? [];
      return send(res, 200, { success: true, code: '200', message: 'success', data: list, meta: { total: list.length } }, quota);
    }
    if ((m = /^\/api\/open\/resources\/([^/]+)\/([^/]+)$/.exec(url.pathname))) {
      return send(res, 400, fail('400', '参数无效'));
    }
    if (url.pathname === '/api/open/shares') {
      if (user !== 'ok') return send(res, 403, fail('OPENAPI_USER_REQUIRED', '缺少用户身份'));
      const pageSize = Number(url.searchParams.get('page_size') ?? 20);
      if (pageSize > 100) return send(res, 400, fail('400', 'page_size 不能超过 100'));
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
      return send(res, 200, { success: true, code: '200', message: 'success', data: fake.shares.slice((page - 1) * pageSize, page * pageSize), meta: { total: fake.shares.length, page } }, quota);
    }
    if (url.pathname === '/api/open/ping') {
      return send(res, 200, { success: true, code: '200', message: 'success', data: { message: 'pong', api_key_id: 1, name: 'feedgate tests' } }, quota);
    }
    return send(res, 404, fail('404', 'not found'));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

/**
 * One fake HDHive for a test file, reset before each test, and the settings that point feedgate at it.
 * Call at the top level of a test file.
 */
export function useFakeHdhive() {
  let fake: FakeHdhive | undefined;
  beforeAll(async () => {
    fake = await startFakeHdhive();
  });
  afterAll(async () => {
    await fake?.close();
  });
  beforeEach(() => {
    fake!.mode = 'ok';
    fake!.delayMs = 0;
    fake!.scripted = undefined;
    fake!.calls.clear();
    fake!.quota = defaultQuota();
  });
  return {
    get fake(): FakeHdhive {
      return fake!;
    },
    config: (extra: Record<string, unknown> = {}) => ({ HDHIVE_API_URL: fake!.url, HDHIVE_API_KEY: fake!.apiKey, HDHIVE_ACCESS_TOKEN: fake!.userToken, ...extra }),
  };
}
