import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LANGS, isTimeZone } from './i18n/index.js';

/** Where the documented defaults live; the same relative path works from src/ and from dist/. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../config/default.yaml', import.meta.url));

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Milliseconds from `300` (seconds) or `500ms`, `30s`, `5m`, `2h`, `1d`. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 300, 30s, 5m, 2h or 1d, got "${v}"` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]!);
});

/** Bytes from `1048576` or `512KB`, `64MB`, `1GB`. */
const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|k|m|g)?\s*$/i.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, 512KB, 64MB or 1GB, got "${v}"` });
    return z.NEVER;
  }
  let unit = (m[2] ?? 'b').toLowerCase();
  if (unit.length === 1 && unit !== 'b') unit += 'b';
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]!);
});

const bool = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
  return z.NEVER;
});

/** A whole number in [min, max]; the message says what is allowed and what was given. */
const int = (min: number, max: number) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const s = String(v).trim();
    const n = Number(s);
    if (!/^-?\d+$/.test(s) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${v}"` });
      return z.NEVER;
    }
    return n;
  });
const text = z.union([z.string(), z.number()]).transform((v) => String(v).trim());
const nonEmpty = text.refine((v) => v !== '', 'must not be empty');
const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const s = String(v).trim() as T;
    if (values.includes(s)) return s;
    ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}, got "${v}"` });
    return z.NEVER;
  });


const httpUrl = text.refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http(s) URL such as https://example.org');

const optionalHttpUrl = text.refine((v) => v === '' || httpUrl.safeParse(v).success, 'expected an http(s) URL or nothing');

const schema = z.object({
  HOST: nonEmpty,
  PORT: int(0, 65535),
  PUBLIC_URL: optionalHttpUrl.transform((v) => v.replace(/\/+$/, '')),
  TRUST_PROXY: bool,
  ACCESS_TOKEN: text,
  DATA_DIR: nonEmpty,
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  SHUTDOWN_TIMEOUT: duration,
  CACHE_TTL: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  CACHE_MAX_BYTES: size.pipe(z.number().min(1024 * 1024, 'must be at least 1MB')),
  STALE_TTL: duration,
  FEED_MAX_LIMIT: int(1, 100_000),
  OPML_DAYS: int(1, 3650),
  REDIS_URL: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['redis:', 'rediss:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected redis://[user:password@]host:port[/db], rediss://…, or nothing'),
  DATABASE_URL: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected postgres://user:password@host:5432/database[?sslmode=require], or nothing for SQLite in DATA_DIR'),
  DATABASE_POOL_MAX: int(1, 200),
  DATABASE_STATEMENT_TIMEOUT: duration.pipe(z.number().min(100, 'must be at least 100ms')),
  ARCHIVE_S3_URL: text.refine((v) => v === '' || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v), 'expected s3://<bucket>/<prefix>, or nothing for DATA_DIR/archive'),
  ARCHIVE_S3_ENDPOINT: optionalHttpUrl,
  PODCAST_OWNER_EMAIL: text.refine((v) => v === '' || /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(v), 'expected an e-mail address or nothing'),
  FEED_LANGUAGE: oneOf(LANGS),
  READER_SUBSCRIBE_URL: text.refine((v) => v === '' || (v.includes('{url}') && httpUrl.safeParse(v.replace('{url}', 'x')).success), 'expected an http(s) URL with {url} where the feed URL goes, or nothing'),
  TZ: nonEmpty.refine(isTimeZone, 'expected an IANA time zone such as Asia/Shanghai or Europe/Berlin'),
  UPSTREAM_CONNECT_TIMEOUT: duration.pipe(z.number().min(1, 'must be more than 0')),
  UPSTREAM_TIMEOUT: duration.pipe(z.number().min(1, 'must be more than 0')),
  UPSTREAM_DEADLINE: duration.pipe(z.number().min(1, 'must be more than 0')),
  FEED_DEADLINE: duration.pipe(z.number().min(1, 'must be more than 0')),
  UPSTREAM_RETRIES: int(0, 10),
  UPSTREAM_MAX_BYTES: size.pipe(z.number().min(1024, 'must be at least 1KB')),
  UPSTREAM_CONCURRENCY: int(1, 1000),
  UPSTREAM_PROXY: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['http:', 'https:', 'socks5:', 'socks5h:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected an http://, https:// or socks5:// proxy URL, or nothing'),
  PROXY_MEDIA_VIA_UPSTREAM_PROXY: bool,
  HDHIVE_API_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  HDHIVE_API_KEY: text,
  HDHIVE_ACCESS_TOKEN: text,
  HDHIVE_HIDE_INVALID: bool,
  CHANNELS_PROVIDER: oneOf(['wxcd', 'ecloud']),
  WXCD_API_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  ECLOUD_API_URL: optionalHttpUrl.transform((v) => v.replace(/\/+$/, '')),
  ECLOUD_AUTH: text,
  ECLOUD_WID: text,
  CHANNELS_MAX_PAGES: int(1, 20),
  CHANNELS_PLAY_TTL: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  MP_BASE_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  MP_REFRESH_TOKEN: text,
  MP_CREDENTIAL_TTL: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  MP_CALLS_PER_MINUTE: int(1, 600),
  MP_LIMITED_BACKOFF: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  MP_MAX_PAGES: int(1, 20),
  MP_FETCH_CONCURRENCY: int(1, 32),
  MP_ARTICLE_TTL: duration,
  MOMENTS_PROVIDER: oneOf(['weflow', 'ecloud']),
  WEFLOW_API_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  WEFLOW_TOKEN: text,
  MOMENTS_PAGE_SIZE: int(1, 200),
  MOMENTS_MAX_PAGES: int(1, 50),
  MOMENTS_ARCHIVE: bool,
  MOMENTS_ARCHIVE_MAX_BYTES: size,
  MOMENTS_ARCHIVE_VIDEO_MAX_BYTES: size,
  MOMENTS_ARCHIVE_CONCURRENCY: int(1, 32),
  DOUYIN_BASE_URL: httpUrl.transform((v) => v.replace(/\/+$/, '')),
  DOUYIN_COOKIE: text,
  DOUYIN_USER_AGENT: nonEmpty.refine((v) => /Mozilla\/5\.0/.test(v) && /^[\x20-\x7e]+$/.test(v), 'expected a browser user agent (Mozilla/5.0 …, ASCII)'),
  DOUYIN_SIGNER: oneOf(['ab', 'xb']),
  DOUYIN_TTWID_URL: httpUrl,
  DOUYIN_CALLS_PER_MINUTE: int(1, 600),
  DOUYIN_MAX_PAGES: int(1, 20),
  DOUYIN_PLAY_TTL: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  DOUYIN_BLOCK_BACKOFF: duration.pipe(z.number().min(1000, 'must be at least 1s')),
  PROXY_SECRET: text,
  PROXY_ALLOW_HOSTS: text.refine(
    (v) => v.split(',').every((h) => h.trim() === '' || /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(h.trim())),
    'expected comma-separated host or host:port entries',
  ),
  PROXY_MAX_IMAGE_BYTES: size.pipe(z.number().min(1024, 'must be at least 1KB')),
  PROXY_TIMEOUT: duration.pipe(z.number().min(1, 'must be more than 0')),
  PROXY_CLIENT_CONCURRENCY: int(1, 10_000),
  MEDIA_CACHE_MEMORY_BYTES: size.pipe(z.number().min(1024 * 1024, 'must be at least 1MB')),
  MEDIA_CACHE_DISK_BYTES: size,
  KEYSTREAM_CACHE_KEYS: int(1, 100_000),
});

const checked = schema.superRefine((c, ctx) => {
  if (c.CHANNELS_PROVIDER === 'ecloud' && !c.ECLOUD_API_URL) {
    ctx.addIssue({ code: 'custom', path: ['ECLOUD_API_URL'], message: 'is required when CHANNELS_PROVIDER is ecloud' });
  }
  if (c.MOMENTS_PROVIDER === 'ecloud' && !c.ECLOUD_API_URL) {
    ctx.addIssue({ code: 'custom', path: ['ECLOUD_API_URL'], message: 'is required when MOMENTS_PROVIDER is ecloud' });
  }
});

export type Config = z.output<typeof schema>;
export const CONFIG_KEYS = Object.keys(schema.shape) as Array<keyof Config>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

function readYaml(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`${file}: ${(err as Error).message}`]);
  }
  if (parsed == null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError([`${file}: expected a mapping of KEY: value`]);
  return parsed as Record<string, unknown>;
}

/**
 * Defaults from config/default.yaml, then CONFIG_FILE, then the environment, then `overrides`
 * (tests use those). Every bad value is reported at once, by name.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof Config, unknown>> = {}): Config {
  const raw: Record<string, unknown> = { ...readYaml(DEFAULT_CONFIG_FILE) };
  const problems: string[] = [];
  if (env.CONFIG_FILE) {
    const user = readYaml(env.CONFIG_FILE);
    for (const key of Object.keys(user)) {
      if (!(CONFIG_KEYS as string[]).includes(key)) problems.push(`${env.CONFIG_FILE}: unknown setting ${key}`);
    }
    Object.assign(raw, user);
  }
  for (const key of CONFIG_KEYS) {
    const v = env[key];
    if (v !== undefined) raw[key] = v;
  }
  Object.assign(raw, overrides);
  const result = checked.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join('.');
      // Every problem names the setting, what is allowed, and the value given (when the message has not yet).
      const given = key && raw[key] !== undefined && !issue.message.includes('got "') ? `, got "${String(raw[key])}"` : '';
      problems.push(`${key || '(root)'}: ${issue.message}${given}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}
