import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, Next } from 'koa';
import type { SettingStore } from '../store/settings.js';
import { HttpError } from '../http/errors.js';

type Params = Record<string, string | number | bigint | undefined>;

const HAS_SIG = /(^|&)sig=/;

/** Parameters that are never signed: the signature itself and the reader's access token. */
const UNSIGNED = new Set(['sig', 'token']);

/**
 * imgproxy-style URL signing: HMAC-SHA256 over the path and the canonical (sorted, encoded) query,
 * truncated to 128 bits, base64url. A valid signature is proof enough to fetch, since feed readers
 * cannot add tokens; changing, adding or removing any signed parameter breaks it.
 */
export class UrlSigner {
  constructor(private readonly secret: Buffer) {}

  private mac(path: string, pairs: Array<[string, string]>): Buffer {
    const canonical = pairs
      .filter(([k]) => !UNSIGNED.has(k))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    return createHmac('sha256', this.secret).update(`${path}?${canonical}`).digest().subarray(0, 16);
  }

  /** A root-relative signed URL: `path?…&sig=…`. */
  sign(path: string, params: Params): string {
    const pairs: Array<[string, string]> = Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => [k, String(v)]);
    const qs = new URLSearchParams(pairs);
    qs.set('sig', this.mac(path, pairs).toString('base64url'));
    return `${path}?${qs}`;
  }

  verify(path: string, query: URLSearchParams): boolean {
    const sig = query.getAll('sig');
    if (sig.length !== 1) return false;
    const pairs = [...query.entries()];
    // Repeated parameters are ambiguous to the handlers; never accept them as signed.
    if (new Set(pairs.map(([k]) => k)).size !== pairs.length) return false;
    // Compared as text, not as decoded bytes: the last of the 22 characters carries four bits that
    // decoding drops, so sixteen spellings would otherwise verify. One link has one signature.
    const given = Buffer.from(sig[0]!, 'utf8');
    const expected = Buffer.from(this.mac(path, pairs).toString('base64url'), 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** PROXY_SECRET, or one generated on first start and kept in DATA_DIR/proxy-secret (mode 0600). */
export function loadProxySecret(configured: string, dataDir: string): Buffer {
  if (configured) return Buffer.from(configured, 'utf8');
  const file = join(dataDir, 'proxy-secret');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32);
  writeFileSync(file, secret.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return secret;
}

/** The media link secret, as the server uses it: PROXY_SECRET, else the database's (PostgreSQL), else DATA_DIR's. */
export async function proxySecretOf(config: { PROXY_SECRET: string; DATA_DIR: string }, db: { engine: string }, settings: () => SettingStore): Promise<Buffer> {
  if (config.PROXY_SECRET) return Buffer.from(config.PROXY_SECRET, 'utf8');
  return db.engine === 'postgres' ? sharedProxySecret(settings()) : loadProxySecret('', config.DATA_DIR);
}

/**
 * The secret every replica on one database shares: made by whichever starts first and kept in the
 * database (settings.proxy_secret), so signed links made by one verify on all without configuration.
 */
export async function sharedProxySecret(settings: SettingStore): Promise<Buffer> {
  return Buffer.from(await settings.once('proxy_secret', () => randomBytes(32).toString('hex')), 'hex');
}

/**
 * Route-level, on media routes: a `sig` parameter is checked here. A good one marks the request as
 * signed (it needs no access token); a bad one is a 403 whatever else the request carries.
 */
export function verifySignedMedia(signer: UrlSigner) {
  return async function signedMedia(ctx: Context, next: Next): Promise<void> {
    if (HAS_SIG.test(ctx.querystring)) {
      if (!signer.verify(ctx.path, new URLSearchParams(ctx.querystring))) {
        throw new HttpError(403, 'BAD_SIGNATURE', 'the signature does not match this URL; use the link exactly as the feed gave it');
      }
      ctx.state.signed = true;
    }
    await next();
  };
}
