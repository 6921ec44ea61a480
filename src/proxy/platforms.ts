/**
 * The one table of per-platform media rules: which hosts belong to a platform (the SSRF allow list)
 * and which headers its CDNs want. A signed URL names its platform, so the rules hold even for a new
 * CDN hostname or a test server on 127.0.0.1; unsigned URLs get the platform of their host.
 */

export const PLATFORMS = ['wechat', 'channels', 'moments', 'douyin', 'hdhive'] as const;
export type Platform = (typeof PLATFORMS)[number];

const DESKTOP_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36';

interface PlatformRule {
  /** Host suffixes, matched on a dot boundary ("qpic.cn" covers "mmbiz.qpic.cn"). */
  hosts: readonly string[];
  /** Sent to the CDN. No platform here gets a Referer unless listed: WeChat's CDNs refuse foreign ones. */
  headers: Readonly<Record<string, string>>;
  /** Query parameters that change between syncs for the same object; left out of cache keys. */
  volatileParams?: readonly string[];
}

export const RULES: Readonly<Record<Platform, PlatformRule>> = {
  // Official Account images and assets: no Referer is what gets past mmbiz's hotlink check.
  wechat: {
    hosts: ['mmbiz.qpic.cn', 'mmbiz.qlogo.cn', 'qpic.cn', 'qlogo.cn', 'res.wx.qq.com', 'mp.weixin.qq.com', 'wx.qq.com'],
    headers: { 'user-agent': DESKTOP_UA, accept: 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8' },
  },
  // Channels videos and covers.
  channels: {
    hosts: ['finder.video.qq.com', 'wxapp.tc.qq.com', 'video.qq.com', 'tc.qq.com', 'channels.weixin.qq.com', 'findermp.video.qq.com'],
    headers: { 'user-agent': DESKTOP_UA, accept: '*/*' },
  },
  // Moments media: the CDN refuses requests without this user agent (notes/moments.md §2.3).
  moments: {
    hosts: ['mmsns.qpic.cn', 'shmmsns.qpic.cn', 'szmmsns.qpic.cn', 'snsvideo.c2c.wechat.com', 'vweixinthumb.tc.qq.com', 'vweixinf.tc.qq.com', 'wxsns.video.qq.com'],
    headers: { 'user-agent': 'MicroMessenger Client', accept: '*/*' },
    volatileParams: ['token', 'idx'],
  },
  // Douyin's CDNs check the Referer (notes/douyin.md).
  douyin: {
    hosts: ['douyinpic.com', 'douyinvod.com', 'douyincdn.com', 'douyinstatic.com', 'douyin.com', 'iesdouyin.com', 'amemv.com', 'byteimg.com', 'bytecdn.cn', 'zjcdn.com', 'snssdk.com'],
    headers: { 'user-agent': DESKTOP_UA, referer: 'https://www.douyin.com/', accept: '*/*' },
    // Signed image links expire; the object behind them does not.
    volatileParams: ['x-expires', 'x-signature'],
  },
  hdhive: {
    hosts: ['hdhive.com', 'image.tmdb.org'],
    headers: { 'user-agent': 'feedgate', accept: 'image/*,*/*;q=0.8' },
  },
};

/** Headers for hosts that are only in PROXY_ALLOW_HOSTS and belong to no platform. */
export const GENERIC_HEADERS: Readonly<Record<string, string>> = { 'user-agent': 'feedgate', accept: '*/*' };

export function isPlatform(s: unknown): s is Platform {
  return typeof s === 'string' && (PLATFORMS as readonly string[]).includes(s);
}

/** The platform whose host list has the longest suffix matching `hostname`, if any. */
export function platformOfHost(hostname: string): Platform | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  let best: { platform: Platform; len: number } | undefined;
  for (const platform of PLATFORMS) {
    for (const suffix of RULES[platform].hosts) {
      if ((host === suffix || host.endsWith(`.${suffix}`)) && (!best || suffix.length > best.len)) best = { platform, len: suffix.length };
    }
  }
  return best?.platform;
}

/** What a media file is, for the media cache and the archive: its URL without volatile parameters, and its key. */
export function mediaIdentity(url: URL, platform: Platform | undefined, key: bigint | undefined): string {
  return `${cacheIdentity(url, platform)}#key=${key ?? ''}`;
}

/** The URL without the platform's volatile parameters: the identity of the object for caching. */
export function cacheIdentity(url: URL, platform: Platform | undefined): string {
  const volatile = platform ? RULES[platform].volatileParams : undefined;
  if (!volatile?.length) return url.href;
  const u = new URL(url.href);
  for (const p of volatile) u.searchParams.delete(p);
  return u.href;
}

/** Tencent's own CDN hosts serve https; anything else (a mirror, a test server) keeps its scheme. */
const TENCENT_CDN = /(^|\.)(qpic\.cn|qlogo\.cn|qq\.com|wechat\.com|weixin\.com|gtimg\.com)$/i;

/**
 * Moments media URL rules (notes/moments.md §2.2): https on Tencent hosts; an image's thumbnail size
 * suffix (/150, /200, /480) becomes /0 (the original); the element's `token` attribute replaces any
 * token/idx in the URL, with idx=1, after the other parameters for images and first for videos.
 * Without the token the CDN answers 400. Undefined for what is not an http(s) URL.
 */
export function momentsMediaUrl(raw: string, token: string | undefined, kind: 'image' | 'video'): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.protocol === 'http:' && TENCENT_CDN.test(u.hostname)) u.protocol = 'https:';
  if (kind === 'image') u.pathname = u.pathname.replace(/\/(150|200|480)$/, '/0');
  if (token) {
    const rest = [...u.searchParams].filter(([k]) => k !== 'token' && k !== 'idx');
    const auth: Array<[string, string]> = [
      ['token', token],
      ['idx', '1'],
    ];
    u.search = new URLSearchParams(kind === 'image' ? [...rest, ...auth] : [...auth, ...rest]).toString();
  }
  return u.href;
}
