/**
 * Per-platform media rules: which hosts belong to a platform (the SSRF allow list) and which headers its
 * CDNs want. Each source declares the rules of the platforms it owns in its folder (its descriptor
 * module's `media`); the app gathers them into one Platforms table that /proxy, /play and the keeper
 * read. A signed URL names its platform, so the rules hold even for a new CDN hostname or a test
 * server on 127.0.0.1; unsigned URLs get the platform of their host.
 */

/** A platform's name, as a source declared it (wechat, channels, moments, douyin, hdhive, …). */
export type Platform = string;

export interface PlatformRule {
  /** Host suffixes, matched on a dot boundary ("qpic.cn" covers "mmbiz.qpic.cn"). */
  hosts: readonly string[];
  /** Sent to the CDN. No platform gets a Referer unless listed: WeChat's CDNs refuse foreign ones. */
  headers: Readonly<Record<string, string>>;
  /** Query parameters that change between syncs for the same object; left out of cache keys. */
  volatileParams?: readonly string[];
}

/** A desktop browser, for CDNs that refuse anything else. */
export const DESKTOP_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36';

/** Headers for hosts that are only in PROXY_ALLOW_HOSTS and belong to no platform. */
export const GENERIC_HEADERS: Readonly<Record<string, string>> = { 'user-agent': 'feedgate', accept: '*/*' };

/** Whether `hostname` is one of `hosts` or below one of them; the length of the longest match, else 0. */
export function hostMatch(hosts: readonly string[], hostname: string): number {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  let best = 0;
  for (const suffix of hosts) if ((host === suffix || host.endsWith(`.${suffix}`)) && suffix.length > best) best = suffix.length;
  return best;
}

/** The media rules of every platform the mounted sources declared. */
export class Platforms {
  private readonly rules: ReadonlyMap<string, PlatformRule>;

  constructor(rules: Iterable<readonly [string, PlatformRule]>) {
    const map = new Map<string, PlatformRule>();
    for (const [name, rule] of rules) {
      if (map.has(name) && map.get(name) !== rule) throw new Error(`two sources declare media rules for the platform "${name}"`);
      map.set(name, rule);
    }
    this.rules = map;
  }

  names(): string[] {
    return [...this.rules.keys()];
  }

  has(s: unknown): s is Platform {
    return typeof s === 'string' && this.rules.has(s);
  }

  /** What a request to the platform's CDN sends; generic headers for no (or an unknown) platform. */
  headers(platform: Platform | undefined): Readonly<Record<string, string>> {
    return (platform && this.rules.get(platform)?.headers) || GENERIC_HEADERS;
  }

  /** The platform whose host list has the longest suffix matching `hostname`, if any. */
  ofHost(hostname: string): Platform | undefined {
    let best: { platform: Platform; len: number } | undefined;
    for (const [platform, rule] of this.rules) {
      const len = hostMatch(rule.hosts, hostname);
      if (len > 0 && (!best || len > best.len)) best = { platform, len };
    }
    return best?.platform;
  }

  /** What a media file is, for the media cache and the archive: its URL without volatile parameters, and its key. */
  identity(url: URL, platform: Platform | undefined, key: bigint | undefined): string {
    return `${this.cacheIdentity(url, platform)}#key=${key ?? ''}`;
  }

  /** The URL without the platform's volatile parameters: the identity of the object for caching. */
  cacheIdentity(url: URL, platform: Platform | undefined): string {
    const volatile = platform ? this.rules.get(platform)?.volatileParams : undefined;
    if (!volatile?.length) return url.href;
    const u = new URL(url.href);
    for (const p of volatile) u.searchParams.delete(p);
    return u.href;
  }
}
