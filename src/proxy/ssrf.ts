import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { HttpError } from '../http/errors.js';
import type { Platform, Platforms } from './platforms.js';

/**
 * Where /proxy and /play may go. Two layers, both applied to the first URL and to every redirect hop:
 * 1. the URL: http(s) only, no userinfo, host on a platform list or in PROXY_ALLOW_HOSTS;
 * 2. the address actually connected to (undici connect.lookup, so DNS rebinding cannot slip between
 *    a check and the connection): public unicast only, unless the host is in PROXY_ALLOW_HOSTS.
 */

export interface TargetPolicy {
  /** PROXY_ALLOW_HOSTS entries, lower case: "host" (any port) or "host:port". */
  extraHosts: ReadonlySet<string>;
  /** The media rules of the mounted sources: their hosts are allowed, each with its platform. */
  platforms: Platforms;
}

export interface Target {
  url: URL;
  /** Hostname without IPv6 brackets, lower case. */
  hostname: string;
  /** Platform of the host, if it is on a platform list. */
  platform?: Platform;
  /** The host is in PROXY_ALLOW_HOSTS: private addresses allowed. */
  extra: boolean;
}

export function parseAllowHosts(value: string): Set<string> {
  return new Set(
    value
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

const refused = (message: string) => new HttpError(403, 'TARGET_REFUSED', message);

/** Whether the allow list (PROXY_ALLOW_HOSTS, WEBSUB_CALLBACK_ALLOW) names this host, or this host and port. */
export function inExtra(policy: Pick<TargetPolicy, 'extraHosts'>, hostname: string, port: string): boolean {
  const host = hostname.includes(':') ? `[${hostname}]` : hostname;
  return policy.extraHosts.has(host) || policy.extraHosts.has(hostname) || policy.extraHosts.has(`${host}:${port}`);
}

/** Whether an address is one we may connect to without an explicit allowance. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // process() unwraps IPv4-mapped IPv6 (::ffff:127.0.0.1) to the IPv4 it carries.
  const ip = ipaddr.process(address);
  // Only global unicast: this excludes private, loopback, link-local, CGNAT, multicast, 0.0.0.0/8,
  // reserved and benchmarking ranges, ULA, and the IPv6 forms that embed IPv4 (6to4, Teredo, NAT64).
  return ip.range() === 'unicast';
}

/**
 * Checks a URL against the policy. `platformOnly` (unsigned requests without an access token) allows
 * only platform hosts, not PROXY_ALLOW_HOSTS.
 */
export function checkTarget(raw: string, policy: TargetPolicy, platformOnly = false): Target {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new HttpError(400, 'BAD_URL', 'url is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, 'BAD_URL', `only http and https URLs can be proxied, not ${url.protocol}`);
  if (url.username || url.password) throw refused('URLs with credentials (user@host) are refused');
  const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!hostname) throw new HttpError(400, 'BAD_URL', 'url has no host');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const extra = !platformOnly && inExtra(policy, hostname, port);
  const platform = isIP(hostname) ? undefined : policy.platforms.ofHost(hostname);
  if (!extra) {
    if (isIP(hostname) && !isPublicAddress(hostname)) throw refused(`${hostname} is a private or reserved address`);
    if (!platform) throw refused(`${hostname} is not a media host feedgate proxies (add it to PROXY_ALLOW_HOSTS to allow it)`);
  }
  return { url, hostname, platform, extra };
}

export class BlockedAddressError extends Error {
  readonly code = 'EFEEDGATE_BLOCKED';
  constructor(hostname: string, address: string) {
    super(`${hostname} resolves to ${address}, a private or reserved address`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A dns.lookup for undici's connect option that refuses non-public answers for hosts outside
 * PROXY_ALLOW_HOSTS. It is what the socket connects to, so a second resolution cannot differ.
 */
/**
 * The same check for a request that leaves through an outbound proxy (which resolves the name itself):
 * the target's name is resolved here first and refused when any address is not public, before anything
 * is sent. The proxy's own resolution may differ (DNS rebinding); that window is the price of a proxy.
 */
export function checkResolved(policy: TargetPolicy, hostname: string): Promise<void> {
  const host = hostname.replace(/^\[|\]$/g, '');
  // An address literal has nothing to resolve; checkTarget judged it already.
  if (isIP(host)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    guardedLookup(policy)(host, { all: true }, (err) => (err ? reject(err) : resolve()));
  });
}

export function guardedLookup(policy: TargetPolicy) {
  const trusted = (hostname: string) => [...policy.extraHosts].some((h) => h === hostname || h.startsWith(`${hostname}:`) || h === `[${hostname}]` || h.startsWith(`[${hostname}]:`));
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    const host = hostname.toLowerCase();
    dnsLookup(host, { ...options, all: true } as { all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      if (!trusted(host)) {
        const bad = addresses.find((a) => !isPublicAddress(a.address));
        if (bad) return callback(new BlockedAddressError(host, bad.address) as unknown as NodeJS.ErrnoException, []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) return callback(Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}
