import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify as yamlScalar } from 'yaml';
import { z } from 'zod';
import { LANGS, isTimeZone } from './i18n/index.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Milliseconds from `300` (seconds) or `500ms`, `30s`, `5m`, `2h`, `1d`. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 300, 30s, 5m, 2h or 1d, got "${v}"` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * DURATION_UNITS[(m[2] ?? 's').toLowerCase()]!);
});

/** Bytes from `1048576` or `512KB`, `64MB`, `1GB`. */
export const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|k|m|g)?\s*$/i.exec(String(v));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, 512KB, 64MB or 1GB, got "${v}"` });
    return z.NEVER;
  }
  let unit = (m[2] ?? 'b').toLowerCase();
  if (unit.length === 1 && unit !== 'b') unit += 'b';
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]!);
});

export const bool = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
  return z.NEVER;
});

/** A whole number in [min, max]; the message says what is allowed and what was given. */
export const int = (min: number, max: number) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const s = String(v).trim();
    const n = Number(s);
    if (!/^-?\d+$/.test(s) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: `expected a whole number from ${min} to ${max}, got "${v}"` });
      return z.NEVER;
    }
    return n;
  });
export const text = z.union([z.string(), z.number()]).transform((v) => String(v).trim());
export const nonEmpty = text.refine((v) => v !== '', 'must not be empty');
export const oneOf = <const T extends string>(values: readonly [T, ...T[]]) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const s = String(v).trim() as T;
    if (values.includes(s)) return s;
    ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}, got "${v}"` });
    return z.NEVER;
  });

export const httpUrl = text.refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}, 'expected an http(s) URL such as https://example.org');

export const optionalHttpUrl = text.refine((v) => v === '' || httpUrl.safeParse(v).success, 'expected an http(s) URL or nothing');

/**
 * One setting, declared where it is read: the shared ones below, each source's in its folder. The
 * declarations are the truth; config/default.yaml, .env.example and the README's table are generated
 * from them (npm run settings) and a test keeps them equal.
 */
export interface SettingDecl {
  /** Reads a value as YAML or the environment gives it, and says what is wrong with a bad one. */
  parse: z.ZodType;
  default: string | number | boolean;
  /** What it is and does: the comment in config/default.yaml and the README's table. */
  help: string;
  /** A one-line comment above it in .env.example. */
  env?: string;
  /** Never shown back anywhere (pages say only whether it is set). */
  secret?: boolean;
  /** Belongs to how feedgate runs (where it listens, its data directory): only a comment in .env.example. */
  deployment?: boolean;
}

export interface SettingsSection<S extends Record<string, SettingDecl> = Record<string, SettingDecl>> {
  title: string;
  /** Said after the title in config/default.yaml and the README. */
  detail?: string;
  settings: S;
  /** Comment lines under the heading in .env.example. */
  envNote?: readonly string[];
  /** Lines at the end of the section in .env.example (variables that are not settings). */
  envTail?: readonly string[];
  /** Checks between settings, on the parsed values: each problem as "KEY: what is wrong". */
  check?(config: Record<string, unknown>): string[];
}

/** A section, typed by what it declares. */
export const section = <S extends Record<string, SettingDecl>>(s: SettingsSection<S>): SettingsSection<S> => s;

/** The parsed values a section declares. */
export type SettingsOf<X> = X extends SettingsSection<infer S> ? { [K in keyof S]: z.output<S[K]['parse']> } : never;

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
 * The declared defaults, then CONFIG_FILE, then the environment, then `overrides` (tests use those),
 * for the settings of `sections`. Every bad value is reported at once, by name.
 */
export function loadSettings(sections: readonly SettingsSection[], env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const decls = new Map(sections.flatMap((s) => Object.entries(s.settings)));
  const raw: Record<string, unknown> = Object.fromEntries([...decls].map(([k, d]) => [k, d.default]));
  const problems: string[] = [];
  if (env.CONFIG_FILE) {
    const user = readYaml(env.CONFIG_FILE);
    for (const key of Object.keys(user)) if (!decls.has(key)) problems.push(`${env.CONFIG_FILE}: unknown setting ${key}`);
    Object.assign(raw, user);
  }
  for (const key of decls.keys()) {
    const v = env[key];
    if (v !== undefined) raw[key] = v;
  }
  Object.assign(raw, overrides);
  const out: Record<string, unknown> = {};
  for (const [key, decl] of decls) {
    const result = decl.parse.safeParse(raw[key]);
    if (result.success) {
      out[key] = result.data;
      continue;
    }
    // Every problem names the setting, what is allowed, and the value given (when the message has not yet).
    for (const issue of result.error.issues) {
      const given = raw[key] !== undefined && !issue.message.includes('got "') ? `, got "${String(raw[key])}"` : '';
      problems.push(`${key}: ${issue.message}${given}`);
    }
  }
  if (problems.length === 0) for (const s of sections) problems.push(...(s.check?.(out) ?? []));
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

const HEADING_WIDTH = 100;
const wrap = (text: string, width: number, prefix: string) => {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && prefix.length + line.length + 1 + word.length > width) {
      lines.push(prefix + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(prefix + line);
  return lines;
};
const titleOf = (s: SettingsSection) => (s.detail ? `${s.title} ${s.detail}` : s.title);
const yamlValue = (v: SettingDecl['default']) => yamlScalar(v, { lineWidth: 0 }).trim();
const envValue = (v: SettingDecl['default']) => (typeof v === 'string' && /[\s#"'$]/.test(v) ? JSON.stringify(v) : String(v));

/** config/default.yaml: every setting, its default, and what it does, by section. */
export function defaultYaml(sections: readonly SettingsSection[]): string {
  const out = [
    '# feedgate: every setting and its default. Generated from the declarations in src/ (npm run settings):',
    '# editing this file changes nothing.',
    '#',
    '# Every key here is also an environment variable of the same name. To change settings, export',
    '# variables (see .env.example), or point CONFIG_FILE at a YAML file of your own with any subset of',
    '# these keys (this file is a good start). Order of precedence: environment > CONFIG_FILE > defaults.',
    '#',
    '# Durations take seconds (300) or a unit: 500ms, 30s, 5m, 2h, 1d.',
    '# Sizes take bytes (1048576) or a unit: 512KB, 64MB, 1GB (powers of 1024).',
  ];
  for (const s of sections) {
    const heading = `# --- ${titleOf(s)} `;
    out.push('', heading + '-'.repeat(Math.max(3, HEADING_WIDTH - heading.length)));
    for (const [key, d] of Object.entries(s.settings)) out.push(...wrap(d.help, 108, '# '), `${key}: ${yamlValue(d.default)}`);
  }
  return `${out.join('\n')}\n`;
}

/** .env.example: every setting with its default; those that belong to the deployment as comments. */
export function envExample(sections: readonly SettingsSection[]): string {
  const out = [
    '# feedgate settings. Every one is optional; defaults and explanations are in config/default.yaml.',
    '# Copy to .env in the directory feedgate starts from: it is read at start (real environment variables win).',
    '# Process managers can load it too (systemd EnvironmentFile=, docker --env-file, ...).',
  ];
  for (const s of sections) {
    out.push('', `# --- ${s.title}`, ...(s.envNote ?? []).map((l) => `# ${l}`));
    for (const [key, d] of Object.entries(s.settings)) {
      if (d.env) out.push(`# ${d.env}`);
      out.push(`${d.deployment ? '# ' : ''}${key}=${d.default === '' ? '' : envValue(d.default)}`);
    }
    out.push(...(s.envTail ?? []));
  }
  return `${out.join('\n')}\n`;
}

/** The README's settings table, by section. */
export function settingsTable(sections: readonly SettingsSection[]): string {
  const out: string[] = [];
  for (const s of sections) {
    out.push('', `**${titleOf(s)}**`, '', '| setting | default | meaning |', '| --- | --- | --- |');
    for (const [key, d] of Object.entries(s.settings)) {
      const v = yamlValue(d.default);
      const help = d.help.replace(/\|/g, '\\|').replace(/</g, '&lt;') + (d.secret ? ' *Secret: never shown back, logged or put in a feed.*' : '');
      out.push(`| \`${key}\` | ${v === '""' ? '(empty)' : `\`${v}\``} | ${help} |`);
    }
  }
  return out.join('\n').trim();
}

/** The settings every source shares: the server, the feed cache and state, the upstream client. */
export const SERVER_SETTINGS = [
  section({
  title: 'Server',
  envNote: [
    'Where feedgate listens and keeps its state belong to how it runs, not to this file: npm start uses',
    '127.0.0.1:8080 and ./data, the image and compose 0.0.0.0:8080 and /data, the systemd unit',
    '/var/lib/feedgate. Set them here only for npm start, and only to change those.',
  ],
  envTail: [
    '# Optional, read by glibc before Node starts (EnvironmentFile= or --env-file work, .env does not): glibc keeps',
    '# up to 64 MiB of freed heap, fewer page faults on /play for more memory (README, "Start it").',
    '# GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864',
    '# A YAML file with any subset of these keys (between the defaults and the environment)',
    '# CONFIG_FILE=/etc/feedgate/config.yaml',
  ],
  settings: {
    HOST: {
      parse: nonEmpty,
      default: '127.0.0.1',
      help: "Address to listen on. Use 0.0.0.0 to accept connections from other machines (then set ACCESS_TOKEN).",
      deployment: true,
    },
    PORT: {
      parse: int(0, 65535),
      default: 8080,
      help: "Port to listen on (0: any free port).",
      deployment: true,
    },
    PUBLIC_URL: {
      parse: optionalHttpUrl.transform((v) => v.replace(/\/+$/, '')),
      default: '',
      help: "Public base URL of this service as readers reach it (e.g. https://feeds.example.org). Used for atom:link rel=\"self\" and every media link. Empty: the request's own origin.",
      env: "Public base URL readers use, e.g. https://feeds.example.org (empty: the request's own origin)",
    },
    TRUST_PROXY: {
      parse: bool,
      default: false,
      help: "Honour X-Forwarded-Proto / X-Forwarded-Host / X-Forwarded-For from a reverse proxy in front.",
      env: "true when a reverse proxy in front sets X-Forwarded-Proto / X-Forwarded-Host",
    },
    ACCESS_TOKEN: {
      parse: text,
      default: '',
      help: "When set, every route except /healthz needs ?token=<ACCESS_TOKEN> or \"Authorization: Bearer <ACCESS_TOKEN>\".",
      env: "When set, every route except /healthz needs ?token=... or \"Authorization: Bearer ...\"",
      secret: true,
    },
    DATA_DIR: {
      parse: nonEmpty,
      default: './data',
      help: "Where SQLite (feedgate.db) and other state live. Created when missing.",
      deployment: true,
    },
    LOG_LEVEL: {
      parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
      default: 'info',
      help: "pino level: fatal, error, warn, info, debug, trace or silent. error: feedgate's own faults, with a stack; warn: upstream failures and stale copies served; info: one line per request; debug: every upstream call (path without query, status, time), feed-cache decision, media fetch and media kept, and each client error (4xx, 501).",
    },
    SHUTDOWN_TIMEOUT: {
      parse: duration,
      default: '10s',
      help: "How long requests in flight may take to finish on SIGTERM/SIGINT. After half of it, upstream calls and media streams still running are aborted; at the end, remaining connections are closed.",
    },
  },
}),
  section({
  title: 'Feed cache',
  settings: {
    CACHE_TTL: {
      parse: duration.pipe(z.number().min(1000, 'must be at least 1s')),
      default: '5m',
      help: "How long feed data stays fresh. Readers are told the time left as Cache-Control max-age, and this as the RSS <ttl> (in minutes); a feed refreshed in the background is told its next refresh and its interval instead.",
    },
    CACHE_MAX_BYTES: {
      parse: size.pipe(z.number().min(1024 * 1024, 'must be at least 1MB')),
      default: '64MB',
      help: "Memory bound of the feed-data cache, in bytes (least recently used entries leave first).",
    },
    STALE_TTL: {
      parse: duration,
      default: '24h',
      help: "How long past CACHE_TTL a last good copy may still be served when the upstream fails (marked with the response header X-Feed-Stale: 1).",
    },
    FEED_MAX_LIMIT: {
      parse: int(1, 100_000),
      default: 500,
      help: "Largest `limit` a reader may ask for; feeds without `limit` are not cut.",
    },
    OPML_DAYS: {
      parse: int(1, 3650),
      default: 30,
      help: "GET /opml lists the feeds built on the start page, and those read within this many days.",
      env: "/opml lists feeds built on the start page and those read within this many days",
    },
    REDIS_URL: {
      parse: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['redis:', 'rediss:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected redis://[user:password@]host:port[/db], rediss://…, or nothing'),
      default: '',
      help: "Several replicas: redis://host:6379/0 shares the feed cache, its single-flight locks, the failure memo and the call budgets (MP, Douyin, HDHive) between them, so they make one upstream call per key. Media caches stay per replica. Empty: per-process memory. If Redis goes away, each replica carries on alone and picks it up again when it is back.",
      env: "Several replicas share the feed cache, locks and budgets through Redis, e.g. redis://127.0.0.1:6379/0",
    },
    DATABASE_URL: {
      parse: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected postgres://user:password@host:5432/database[?sslmode=require], or nothing for SQLite in DATA_DIR'),
      default: '',
      help: "Durable state (MP credentials and articles, Moments posts, first-seen dates, the OPML list, feed snapshots, the media archive's index and queue, the media link secret): empty keeps it in SQLite at DATA_DIR/feedgate.db. postgres://user:password@host:5432/feedgate puts it in PostgreSQL, shared by every replica; TLS and other options go in the URL as node-postgres reads them (?sslmode=require). Replicas starting together migrate the schema once. Move an existing DATA_DIR with npm run cli -- migrate-data.",
      env: "Durable state in PostgreSQL, shared by every replica (empty: SQLite in DATA_DIR), e.g. postgres://feedgate:secret@127.0.0.1:5432/feedgate",
      secret: true,
    },
    DATABASE_POOL_MAX: {
      parse: int(1, 200),
      default: 10,
      help: "Connections each replica keeps to PostgreSQL at most.",
    },
    DATABASE_STATEMENT_TIMEOUT: {
      parse: duration.pipe(z.number().min(100, 'must be at least 100ms')),
      default: '10s',
      help: "A statement running longer than this is cancelled (PostgreSQL's statement_timeout).",
    },
    SQLITE_CACHE_SIZE: {
      parse: size.pipe(z.number().min(256 * 1024, 'must be at least 256KB')),
      default: '8MB',
      help: "Memory SQLite keeps of DATA_DIR/feedgate.db's pages (its page cache), in bytes; unused with DATABASE_URL. Pages it does not keep are read again from the system's file cache, which costs a little CPU and no memory of feedgate's. better-sqlite3 would take 16MB: in the background-refresh benchmark (10 000 feeds) that was 8MB more resident than 8MB, for CPU within the runs' noise. 4MB measured the same; SQLite's own default, 2MB, cost about a quarter more CPU per refresh (3 000 feeds).",
    },
    ARCHIVE_S3_URL: {
      parse: text.refine((v) => v === '' || /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(v), 'expected s3://<bucket>/<prefix>, or nothing for DATA_DIR/archive'),
      default: '',
      help: "Where archived media bytes go: empty keeps them in DATA_DIR/archive; s3://bucket/prefix puts them in S3-compatible storage every replica reads (AWS S3, MinIO, Garage, Ceph RGW, Cloudflare R2). Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION (or the SDK's other sources).",
      env: "Archived media in S3-compatible storage (empty: DATA_DIR/archive), e.g. s3://feedgate/archive; with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION",
    },
    ARCHIVE_S3_ENDPOINT: {
      parse: optionalHttpUrl,
      default: '',
      help: "The S3 server, for anything but AWS (path-style requests): http://minio:9000, https://<account>.r2.cloudflarestorage.com.",
      env: "The S3 server when it is not AWS (MinIO, Garage, Ceph RGW, R2), e.g. http://127.0.0.1:9000",
    },
    PODCAST_OWNER_EMAIL: {
      parse: text.refine((v) => v === '' || /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/.test(v), 'expected an e-mail address or nothing'),
      default: '',
      help: "Feeds with audio or video are podcasts too; directories (and the W3C validator) ask them for an owner's e-mail (itunes:owner). Empty: none is given.",
      env: "itunes:owner e-mail for feeds that carry audio or video (podcast directories ask for one)",
    },
    FEED_LANGUAGE: {
      parse: oneOf(LANGS),
      default: 'zh-CN',
      help: "The language of the text feedgate writes into feeds (titles it makes up, notices, labels): zh-CN or en. Feed readers send no useful Accept-Language, so it is one setting.",
      env: "Language of the text feedgate writes into feeds (zh-CN or en), and the time zone of its dates",
    },
    READER_SUBSCRIBE_URL: {
      parse: text.refine((v) => v === '' || (v.includes('{url}') && httpUrl.safeParse(v.replace('{url}', 'x')).success), 'expected an http(s) URL with {url} where the feed URL goes, or nothing'),
      default: '',
      help: "Your own reader's \"add a feed\" address, with {url} where the feed URL goes, offered on the start page beside Inoreader, Feedly and NewsBlur once a URL is built. Miniflux: https://miniflux.example.org/bookmarklet?uri={url}; FreshRSS: https://freshrss.example.org/i/?c=feed&a=add&url_rss={url}; Tiny Tiny RSS: https://tt-rss.example.org/public.php?op=subscribe&feed_url={url}. Empty: none.",
      env: "Your reader's add-a-feed address with {url}, e.g. https://miniflux.example.org/bookmarklet?uri={url}",
    },
    TZ: {
      parse: nonEmpty.refine(isTimeZone, 'expected an IANA time zone such as Asia/Shanghai or Europe/Berlin'),
      default: 'Asia/Shanghai',
      help: "The time zone of dates in text feedgate writes (an untitled post's date, a notice's time); feed timestamps themselves are always UTC as the formats require. An IANA name; the TZ of the environment.",
    },
  },
}),
  section({
  title: 'Upstream HTTP client',
  detail: '(shared by every source)',
  settings: {
    UPSTREAM_CONNECT_TIMEOUT: {
      parse: duration.pipe(z.number().min(1, 'must be more than 0')),
      default: '5s',
      help: "TCP/TLS connect timeout.",
    },
    UPSTREAM_TIMEOUT: {
      parse: duration.pipe(z.number().min(1, 'must be more than 0')),
      default: '15s',
      help: "Time allowed until response headers arrive, and between body chunks.",
    },
    UPSTREAM_DEADLINE: {
      parse: duration.pipe(z.number().min(1, 'must be more than 0')),
      default: '30s',
      help: "The whole of one upstream call, queueing and retries included: a slow or drip-feeding upstream is cut off after this and the feed's last good copy is served.",
      env: "The whole of one upstream call; then the last good copy is served",
    },
    FEED_DEADLINE: {
      parse: duration.pipe(z.number().min(1, 'must be more than 0')),
      default: '10s',
      help: "No reader waits longer than this for a feed. A refresh that takes longer (or waits for a call budget slot beyond it) is answered with the last good copy (X-Feed-Stale: 1), or, for a feed never built before, 503 FEED_PENDING with Retry-After; the refresh goes on and the next poll gets it. MP full texts not fetched by then are marked pending and filled in by the next build.",
      env: "A slower refresh is answered with the last good copy while it finishes in the background",
    },
    UPSTREAM_RETRIES: {
      parse: int(0, 10),
      default: 2,
      help: "Retries (with exponential backoff) for idempotent calls after network errors and 5xx answers.",
    },
    UPSTREAM_MAX_BYTES: {
      parse: size.pipe(z.number().min(1024, 'must be at least 1KB')),
      default: '8MB',
      help: "Largest upstream API response body accepted; larger ones fail with 502.",
    },
    UPSTREAM_CONCURRENCY: {
      parse: int(1, 1000),
      default: 4,
      help: "Most calls in flight to one upstream at a time; further calls queue.",
    },
    UPSTREAM_PROXY: {
      parse: text.refine((v) => {
    if (v === '') return true;
    try {
      return ['http:', 'https:', 'socks5:', 'socks5h:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  }, 'expected an http://, https:// or socks5:// proxy URL, or nothing'),
      default: '',
      help: "Outbound proxy for the API upstreams: http://host:port, https://…, or socks5://host:port (user:pass@ allowed). Empty: the standard HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment variables are honoured when set.",
      env: "Outbound proxy: http://, https:// or socks5:// (empty: HTTPS_PROXY/HTTP_PROXY/NO_PROXY when set)",
    },
    PROXY_MEDIA_VIA_UPSTREAM_PROXY: {
      parse: bool,
      default: false,
      help: "Also fetch media (/proxy, /play) through that proxy. Targets are still checked before they leave: their names are resolved here and private addresses refused (unless in PROXY_ALLOW_HOSTS).",
    },
  },
}),
] as const;

/** The media proxy's and the alerts' settings: documented after the sources'. */
export const MEDIA_SETTINGS = [
  section({
  title: 'Media proxy',
  detail: '(/proxy for images and media, /play for videos)',
  settings: {
    PROXY_SECRET: {
      parse: text,
      default: '',
      help: "Key for signing media links in feeds (HMAC-SHA256). Empty: one is generated on first start and kept in DATA_DIR/proxy-secret, or, with DATABASE_URL, in the database every replica shares. Changing it invalidates every media link already in readers.",
      env: "Empty: generated once and kept in DATA_DIR/proxy-secret (in the database with DATABASE_URL)",
      secret: true,
    },
    PROXY_ALLOW_HOSTS: {
      parse: text.refine(
    (v) => v.split(',').every((h) => h.trim() === '' || /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(h.trim())),
    'expected comma-separated host or host:port entries',
  ),
      default: '',
      help: "Extra hosts /proxy and /play may fetch from, comma-separated host or host:port. These may be private or loopback addresses (a LAN CDN, a test server). Platform CDNs (WeChat, Douyin, HDHive) need no entry.",
      env: "Extra host or host:port entries /proxy and /play may fetch from (may be private), comma-separated",
    },
    PROXY_MAX_IMAGE_BYTES: {
      parse: size.pipe(z.number().min(1024, 'must be at least 1KB')),
      default: '20MB',
      help: "Largest image /proxy buffers (to cache or transform); larger ones fail with 413. Video is streamed, never buffered.",
    },
    PROXY_TIMEOUT: {
      parse: duration.pipe(z.number().min(1, 'must be more than 0')),
      default: '30s',
      help: "Time allowed until a CDN's response headers arrive, and between body chunks.",
    },
    PROXY_CLIENT_CONCURRENCY: {
      parse: int(1, 10_000),
      default: 64,
      help: "Media requests one client address may have in flight at once; more get 429. Behind a reverse proxy without TRUST_PROXY every reader shares one address, so keep this generous.",
    },
    MEDIA_CACHE_MEMORY_BYTES: {
      parse: size.pipe(z.number().min(1024 * 1024, 'must be at least 1MB')),
      default: '64MB',
      help: "Image cache, memory tier: bounded in bytes, least recently used out first.",
    },
    MEDIA_CACHE_DISK_BYTES: {
      parse: size,
      default: '1GB',
      help: "Image cache, disk tier (DATA_DIR/media): bounded in bytes, least recently used out first; survives restarts.",
    },
    KEYSTREAM_CACHE_KEYS: {
      parse: int(1, 100_000),
      default: 64,
      help: "How many 128 KiB video keystreams (one per decodeKey) to keep in memory.",
    },
  },
}),
  section({
    title: 'Background refresh',
    detail: '(feeds people read are kept fresh, so a poll is a cache hit)',
    settings: {
      SUBSCRIPTION_DAYS: {
        parse: int(1, 3650),
        default: 14,
        help: 'A feed is refreshed in the background while it was read within this many days, built on the start page, or has a live WebSub subscription. Each source sets how often (REFRESH_<SOURCE>). Jobs run on BullMQ with REDIS_URL, on pg-boss with DATABASE_URL, in process otherwise.',
      },
      REFRESH_MAX: {
        parse: duration.pipe(z.number().min(60_000, 'must be at least 1m')),
        default: '6h',
        help: 'The longest a feed waits between background refreshes: its interval grows while nothing new comes and after failures, up to this.',
      },
      REFRESH_CONCURRENCY: {
        parse: int(1, 64),
        default: 2,
        help: 'Background refreshes each replica runs at once (the sources\' call budgets still pace their calls).',
      },
    },
  }),
  section({
    title: 'Archive',
    detail: '(every item a feed has shown, kept: history, search, export)',
    settings: {
      ARCHIVE_MAX_ITEMS: {
        parse: int(0, 10_000_000),
        default: 10_000,
        help: 'Items kept per feed, at most: over it, the oldest the upstream no longer lists go first (an item it still lists is always kept). 0 turns the archive off: feeds show only the upstream\'s answer, and search and history have nothing.',
      },
      ARCHIVE_DAYS: {
        parse: int(1, 36_500),
        default: 3650,
        help: 'An item the upstream no longer lists is kept this many days after it was last seen.',
      },
      ARCHIVE_BACKFILL_PAGES: {
        parse: int(0, 1000),
        default: 5,
        help: "A feed refreshed in the background has its archive filled back from this many of the upstream's later pages (Channels, MP), five per refresh, within the source's call budget; progress is on the start page. 0 turns it off.",
      },
    },
  }),
  section({
    title: 'WebSub',
    detail: '(feedgate is the hub of its own feeds, at /websub)',
    settings: {
      WEBSUB_CALLBACK_ALLOW: {
        parse: text.refine(
          (v) => v.split(',').every((h) => h.trim() === '' || /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(h.trim())),
          'expected comma-separated host or host:port entries',
        ),
        default: '',
        help: 'Subscriber callbacks on private or loopback addresses the hub may call, comma-separated host or host:port (a FreshRSS or Miniflux on the LAN). Public addresses need no entry.',
        env: 'Private callbacks the WebSub hub may call, e.g. 192.168.1.20:8080 (a reader on the LAN)',
      },
      WEBSUB_PUBLISH_TO: {
        parse: text.refine((v) => v.split(',').every((u) => u.trim() === '' || /^https?:\/\/\S+$/.test(u.trim())), 'expected comma-separated http(s) URLs'),
        default: '',
        help: 'External WebSub hubs to ping (hub.mode=publish) when a feed without an access token changes, comma-separated, e.g. https://pubsubhubbub.appspot.com/. Empty: none.',
      },
    },
  }),
  section({
    title: 'Alerts',
    detail: '(when a source breaks, and when it works again)',
    settings: {
      ALERT_URLS: {
        parse: text,
        default: '',
        help: 'Where to say it when a source or account changes state (credentials expired or expiring, blocked, rate limited, unreachable, answers changed shape, working again), comma-separated, in the URL forms Apprise uses: json://host/path or jsons:// (a JSON POST), ntfy://topic (ntfy.sh) or ntfy://host/topic, tgram://bot-token/chat-id, wecombot://key (WeCom group bot), dingtalk://token or dingtalk://secret@token, feishu://hook-token or feishu://secret@hook-token. Empty: no alerts; the changes are still in /feeds/feedgate/health.',
        env: 'Alerts when a source breaks or recovers, e.g. ntfy://feedgate-alerts,tgram://123456:ABC/987654',
        secret: true,
      },
      ALERT_SECRET: {
        parse: text,
        default: '',
        help: 'When set, json:// and jsons:// alerts carry X-Feedgate-Signature: sha256=<HMAC-SHA256 of the body with this key, hex>, for the receiver to check.',
        secret: true,
      },
      ALERT_REPEAT: {
        parse: duration,
        default: '24h',
        help: 'A bad state that lasts is said again this often, once across replicas (0: only when it changes).',
      },
    },
  }),
] as const;

type Shared = typeof SERVER_SETTINGS[number] | typeof MEDIA_SETTINGS[number];
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
/** The values of every section in a union of sections, as one object. */
export type ValuesOf<X> = UnionToIntersection<X extends unknown ? SettingsOf<X> : never>;
/** What the shared settings parse to. */
export type SharedConfig = ValuesOf<Shared>;
