import type { Dispatcher } from 'undici';

export interface ProxyChoice {
  /** Makes the dispatcher on first use: undici is loaded only when a request needs it. */
  create(): Promise<Dispatcher>;
  /** For error messages: which setting routes calls through a proxy. */
  via: string;
}

type Env = Record<string, string | undefined>;

/**
 * The outbound proxy for upstream calls: UPSTREAM_PROXY (http://, https:// or socks5:// URL) when set,
 * else the standard HTTPS_PROXY / HTTP_PROXY / NO_PROXY of the environment (either case), else none.
 */
export function outboundProxy(upstreamProxy: string, env: Env = process.env, opts: { connectTimeoutMs?: number } = {}): ProxyChoice | undefined {
  if (upstreamProxy) {
    const protocol = new URL(upstreamProxy).protocol;
    if (protocol === 'socks5:' || protocol === 'socks5h:') {
      return { via: 'UPSTREAM_PROXY', create: async () => new (await import('undici')).Socks5ProxyAgent(upstreamProxy) };
    }
    return { via: 'UPSTREAM_PROXY', create: async () => new (await import('undici')).ProxyAgent({ uri: upstreamProxy, connect: { timeout: opts.connectTimeoutMs } }) };
  }
  const get = (name: string) => env[name] ?? env[name.toLowerCase()];
  const httpProxy = get('HTTP_PROXY');
  const httpsProxy = get('HTTPS_PROXY');
  if (!httpProxy && !httpsProxy) return undefined;
  return {
    via: 'HTTPS_PROXY/HTTP_PROXY',
    create: async () => new (await import('undici')).EnvHttpProxyAgent({ httpProxy, httpsProxy, noProxy: get('NO_PROXY'), connect: { timeout: opts.connectTimeoutMs } }),
  };
}
