import { HttpError } from '../../http/errors.js';
import type { CallBudget } from '../../upstream/budget.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { UpstreamError } from '../../upstream/errors.js';
import { parseJson } from '../../upstream/json.js';
import { aBogus, fakeMsToken, fingerprint, verifyFp, xBogus } from './sign.js';

export const SEC_UID = /^MS4wLjABAAAA[A-Za-z0-9_-]{10,120}$/;
export const AWEME_ID = /^\d{8,25}$/;

/** The browser the base parameters describe, read from the configured user agent so they agree with it. */
export interface Browser {
  name: string;
  version: string;
  engine: string;
  engineVersion: string;
  os: string;
  osVersion: string;
  platform: 'Win32' | 'MacIntel';
}

export function browserOf(ua: string): Browser {
  const edge = /Edg\/([\d.]+)/.exec(ua);
  const chrome = /Chrome\/([\d.]+)/.exec(ua);
  const firefox = /Firefox\/([\d.]+)/.exec(ua);
  const safari = /Version\/([\d.]+).*Safari/.exec(ua);
  const mac = /Mac OS X ([\d_]+)/.exec(ua);
  const win = /Windows NT ([\d.]+)/.exec(ua);
  const [name, version] = edge ? ['Edge', edge[1]!] : chrome ? ['Chrome', chrome[1]!] : firefox ? ['Firefox', firefox[1]!] : safari ? ['Safari', safari[1]!] : ['Chrome', '130.0.0.0'];
  const engine = firefox ? 'Gecko' : safari && !chrome ? 'WebKit' : 'Blink';
  const engineVersion = engine === 'Blink' ? (chrome?.[1] ?? version) : version;
  return {
    name,
    version,
    engine,
    engineVersion,
    os: mac ? 'Mac OS' : 'Windows',
    osVersion: mac ? mac[1]!.replace(/_/g, '.') : win?.[1] === '10.0' ? '10' : (win?.[1] ?? '10'),
    platform: mac ? 'MacIntel' : 'Win32',
  };
}

/** The ≈27 base parameters in f2's order (notes §2.2), then the route's own: one string, never re-encoded. */
export function baseQuery(b: Browser, msToken: string, route: Array<[string, string | number]>): string {
  const pairs: Array<[string, string | number]> = [
    ['device_platform', 'webapp'],
    ['aid', 6383],
    ['channel', 'channel_pc_web'],
    ['pc_client_type', 1],
    ['publish_video_strategy_type', 2],
    ['pc_libra_divert', b.os === 'Mac OS' ? 'Mac' : 'Windows'],
    ['version_code', 290100],
    ['version_name', '29.1.0'],
    ['cookie_enabled', 'true'],
    ['screen_width', 1920],
    ['screen_height', 1080],
    ['browser_language', 'zh-CN'],
    ['browser_platform', b.platform],
    ['browser_name', b.name],
    ['browser_version', b.version],
    ['browser_online', 'true'],
    ['engine_name', b.engine],
    ['engine_version', b.engineVersion],
    ['os_name', b.os],
    ['os_version', b.osVersion],
    ['cpu_core_num', 12],
    ['device_memory', 8],
    ['platform', 'PC'],
    ['downlink', 10],
    ['effective_type', '4g'],
    ['round_trip_time', 100],
    ['msToken', msToken],
    ...route,
  ];
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export type Signer = 'ab' | 'xb';

export interface DouyinClientOptions {
  userAgent: string;
  cookie: string;
  signer: Signer;
  budget: CallBudget;
  /** Seconds a blocked answer keeps us away from that user (sent as Retry-After; the feed serves stale). */
  blockBackoffSeconds: number;
  onBlocked?: (reason: string) => void;
  /** Guest mode only: where ttwid is registered. */
  ttwid?: UpstreamClient;
  now?: () => number;
  random?: () => number;
}

/** Douyin's own words for a user that does not exist or closed the account: the only answer that means 404. */
const USER_GONE = /用户不存在|该用户已注销|账号已注销|user (?:does not|doesn't) exist/i;

const cookieValue = (cookie: string, name: string) => new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(cookie)?.[1];

/** Douyin's answer in a form each caller reads: the JSON, or the reason it could not be had. */
export class DouyinClient {
  private guestCookie?: Promise<string>;
  /** Set while the guest cookie lacks a ttwid: when registration is tried again. */
  private guestRetryAt?: number;
  private guestFailures = 0;
  private readonly browser: Browser;
  private readonly msToken: string;

  constructor(
    private readonly http: UpstreamClient,
    private readonly opts: DouyinClientOptions,
  ) {
    this.browser = browserOf(opts.userAgent);
    this.msToken = cookieValue(opts.cookie, 'msToken') ?? fakeMsToken(opts.random);
  }

  get hasCookie(): boolean {
    return this.opts.cookie !== '';
  }

  /**
   * The operator's cookie, or a guest one (ttwid, msToken, s_v_web_id). A guest cookie with a ttwid is
   * kept; one whose registration failed or timed out serves until the next try, which waits 5 s after
   * the first failure, doubling to 10 minutes.
   */
  private cookie(): Promise<string> {
    if (this.opts.cookie) return Promise.resolve(this.opts.cookie);
    const now = (this.opts.now ?? Date.now)();
    if (!this.guestCookie || (this.guestRetryAt !== undefined && now >= this.guestRetryAt)) {
      this.guestRetryAt = undefined;
      this.guestCookie = this.registerGuest();
    }
    return this.guestCookie;
  }

  /** Registration is shared by every waiting request, so no caller's signal ends it: the client's own deadline does. */
  private async registerGuest(): Promise<string> {
    const parts = [`msToken=${this.msToken}`, `s_v_web_id=${verifyFp((this.opts.now ?? Date.now)(), this.opts.random)}`];
    let ttwid: string | undefined;
    try {
      const res = await this.opts.ttwid?.request({
        method: 'POST',
        path: '/',
        headers: { 'content-type': 'application/json', 'user-agent': this.opts.userAgent },
        body: JSON.stringify({ region: 'cn', aid: 1768, needFid: false, service: 'www.ixigua.com', migrate_info: { ticket: '', source: 'node' }, cbUrlProtocol: 'https', union: true }),
      });
      const set = res?.headers['set-cookie'];
      ttwid = (Array.isArray(set) ? set : set ? [set] : []).map((c) => /^ttwid=([^;]+)/.exec(c)?.[1]).find(Boolean);
    } catch {
      // Counted below; Douyin will say whether the cookie without it is enough.
    }
    if (ttwid) {
      this.guestFailures = 0;
      return [`ttwid=${ttwid}`, ...parts].join('; ');
    }
    this.guestFailures++;
    this.guestRetryAt = (this.opts.now ?? Date.now)() + Math.min(600_000, 5_000 * 2 ** (this.guestFailures - 1));
    return parts.join('; ');
  }

  /** The exact query string sent, signature included: built once, signed, never re-encoded. */
  signedQuery(route: Array<[string, string | number]>): string {
    const query = baseQuery(this.browser, this.msToken, route);
    const now = this.opts.now ?? Date.now;
    const random = this.opts.random ?? Math.random;
    if (this.opts.signer === 'xb') return `${query}&X-Bogus=${xBogus(query, this.opts.userAgent, Math.floor(now() / 1000))}`;
    const startMs = now();
    const r = () => Math.floor(random() * 10000);
    const sig = aBogus({ query, userAgent: this.opts.userAgent, fingerprint: fingerprint(this.browser.platform, random), startMs, endMs: startMs + 1 + Math.floor(random() * 4), random: [r(), r(), r()] });
    return `${query}&a_bogus=${sig}`;
  }

  private blocked(reason: 'empty' | 'captcha' | 'forbidden', message: string): UpstreamError {
    this.opts.onBlocked?.(reason);
    const code = reason === 'empty' ? 'DOUYIN_EMPTY_BODY' : reason === 'captcha' ? 'DOUYIN_CAPTCHA' : 'DOUYIN_FORBIDDEN';
    const fix = this.hasCookie
      ? 'the cookie in DOUYIN_COOKIE may have expired: copy a fresh one from a logged-in browser'
      : 'guest mode is not enough: set DOUYIN_COOKIE to the cookie of a logged-in browser session on www.douyin.com';
    return new UpstreamError('douyin', 'auth', 502, code, `${message}; ${fix}`, { 'Retry-After': String(this.opts.blockBackoffSeconds) });
  }

  /** GET a signed web-API path; the JSON object, or a typed error naming what to do. */
  async get(path: string, route: Array<[string, string | number]>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    await this.opts.budget.take(signal);
    const cookie = await this.cookie();
    const res = await this.http.request({
      path: `${path}?${this.signedQuery(route)}`,
      headers: { 'user-agent': this.opts.userAgent, referer: 'https://www.douyin.com/', cookie, accept: 'application/json, text/plain, */*' },
      signal,
    });
    const text = res.body.toString('utf8').trim();
    if (res.status === 429) {
      this.opts.onBlocked?.('rate_limited');
      throw new UpstreamError('douyin', 'rate_limited', 429, 'UPSTREAM_RATE_LIMITED', 'Douyin asked us to slow down (HTTP 429); lower DOUYIN_CALLS_PER_MINUTE or poll less often', { 'Retry-After': String(this.opts.blockBackoffSeconds) });
    }
    if (/验证码|captcha|verify_page|middle_page|验证/i.test(text.slice(0, 4000)) && !text.startsWith('{')) {
      throw this.blocked('captcha', 'Douyin answered with its verification (captcha) page');
    }
    // A refusal is never "no such user": only Douyin's own words say that (below).
    if (res.status === 401 || res.status === 403) throw this.blocked('forbidden', `Douyin refused the request (HTTP ${res.status})`);
    if (res.status >= 300) throw new UpstreamError('douyin', 'status', 502, 'UPSTREAM_ERROR', `Douyin answered HTTP ${res.status}, not the JSON of its web API; check DOUYIN_BASE_URL`);
    if (!text) throw this.blocked('empty', 'Douyin answered with an empty body, which is how it refuses a cookie or signature');
    let data: unknown;
    try {
      data = parseJson(text);
    } catch {
      throw new UpstreamError('douyin', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `Douyin answered HTTP ${res.status} with something that is not JSON`);
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new UpstreamError('douyin', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'Douyin answered with JSON that is not an object');
    const body = data as Record<string, unknown>;
    const status = Number(body.status_code ?? 0);
    if (status !== 0) {
      const msg = typeof body.status_msg === 'string' ? body.status_msg.slice(0, 200) : '';
      const secUid = route.find(([k]) => k === 'sec_user_id')?.[1];
      if (secUid !== undefined && USER_GONE.test(msg)) throw notFound(String(secUid), msg);
      throw new UpstreamError('douyin', 'status', 502, 'UPSTREAM_ERROR', `Douyin answered status_code ${status}${msg ? ` (${msg})` : ''}`);
    }
    return body;
  }

  posts(secUid: string, maxCursor: string, signal?: AbortSignal) {
    return this.get('/aweme/v1/web/aweme/post/', [
      ['max_cursor', maxCursor],
      ['count', 18],
      ['sec_user_id', secUid],
    ], signal);
  }

  detail(awemeId: string, signal?: AbortSignal) {
    return this.get('/aweme/v1/web/aweme/detail/', [['aweme_id', awemeId]], signal);
  }

  profile(secUid: string, signal?: AbortSignal) {
    return this.get('/aweme/v1/web/user/profile/other/', [['sec_user_id', secUid]], signal);
  }
}

/** The sec_user_id in a profile URL or the final URL of a share link (notes §6), or undefined. */
export function secUidOf(finalUrl: string): string | undefined {
  let u: URL;
  try {
    u = new URL(finalUrl);
  } catch {
    return undefined;
  }
  const candidates = [u.searchParams.get('sec_uid'), /\/user\/([^/?#]+)/.exec(u.pathname)?.[1]];
  return candidates.find((c): c is string => !!c && SEC_UID.test(c));
}

/** The first http(s) link in pasted share text. */
export function firstLink(text: string): string | undefined {
  return /https?:\/\/[^\s"'<>，。]+/.exec(text)?.[0];
}

export function notFound(secUid: string, said: string): HttpError {
  return new HttpError(404, 'DOUYIN_USER_NOT_FOUND', `Douyin has no user ${secUid.slice(0, 80)} ("${said}"; check the sec_user_id, or subscribe by share link with /feeds/douyin?url=…)`);
}

/** A success answer without the fields we read: Douyin changed shape, or refused us in a new way. */
export function badShape(what: string): UpstreamError {
  return new UpstreamError('douyin', 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `Douyin answered status_code 0 but ${what}; its web API may have changed, or it refused DOUYIN_COOKIE in a new way`);
}
