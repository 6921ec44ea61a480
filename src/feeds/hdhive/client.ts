import { HttpError } from '../../http/errors.js';
import type { Metrics } from '../../metrics.js';
import type { DailyQuota } from '../descriptor.js';
import type { UpstreamClient, UpstreamRequest } from '../../upstream/client.js';
import { parseJson } from '../../upstream/json.js';
import type { CallBudget } from '../../upstream/budget.js';
import { UpstreamError, parseRetryAfter } from '../../upstream/errors.js';
import { arr, num, str } from '../../upstream/shape.js';

/**
 * HDHive OpenAPI (seed 004, notes/peers.md §3). Read-only: this client has no unlock call on purpose,
 * since unlocking spends the user's points.
 */

/** One resource as HDHive lists it (notes/peers.md §3), each field as the feed uses it. */
export interface HdhiveResource {
  slug: string;
  title?: string;
  pan_type?: string;
  media_url?: string;
  media_slug?: string;
  share_size?: string;
  video_resolution: string[];
  source: string[];
  subtitle_language: string[];
  subtitle_type: string[];
  remark?: string;
  unlock_points?: number;
  unlocked_users_count?: number;
  validate_status?: string;
  validate_message?: string;
  last_validated_at?: string;
  is_official?: boolean;
  is_unlocked?: boolean;
  user?: { id?: string; nickname?: string; avatar_url?: string };
  created_at?: string | number;
  updated_at?: string | number;
}

const strings = (v: unknown): string[] => arr(v).flatMap((x) => str(x) ?? []);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const time = (v: unknown): string | number | undefined => (typeof v === 'string' || typeof v === 'number' ? v : undefined);

/**
 * A listed resource, or undefined when it has no slug (nothing to link or to know it by again). A field
 * of the wrong shape reads as absent, as in the other sources' readers: one odd field does not hide the
 * resource. Written out rather than a zod schema: run in the background refresh of every feed, zod's
 * parse left most of what survived young-generation collections (29 KB a refresh promoted to old space,
 * 5 KB without it; scavenge pauses 5 ms against under 2), the memory growth and the pauses readers' polls
 * saw. Why it outlived the parse was not found; it did not happen in a loop of parses on their own.
 */
export function readResource(entry: unknown): HdhiveResource | undefined {
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) return undefined;
  const e = entry as Record<string, unknown>;
  const slug = str(e.slug);
  if (!slug) return undefined;
  const u = e.user && typeof e.user === 'object' && !Array.isArray(e.user) ? (e.user as Record<string, unknown>) : undefined;
  return {
    slug,
    title: str(e.title),
    pan_type: str(e.pan_type),
    media_url: str(e.media_url),
    media_slug: str(e.media_slug),
    share_size: str(e.share_size),
    video_resolution: strings(e.video_resolution),
    source: strings(e.source),
    subtitle_language: strings(e.subtitle_language),
    subtitle_type: strings(e.subtitle_type),
    remark: str(e.remark),
    unlock_points: num(e.unlock_points),
    unlocked_users_count: num(e.unlocked_users_count),
    validate_status: str(e.validate_status),
    validate_message: str(e.validate_message),
    last_validated_at: str(e.last_validated_at),
    is_official: bool(e.is_official),
    is_unlocked: bool(e.is_unlocked),
    user: u && { id: str(u.id), nickname: str(u.nickname), avatar_url: str(u.avatar_url) },
    created_at: time(e.created_at),
    updated_at: time(e.updated_at),
  };
}

interface Envelope {
  success?: boolean;
  code?: string;
  message?: string;
  data?: unknown;
  meta?: Record<string, unknown>;
}

/** The {success, code, message, data, meta} envelope, each field optional; undefined when the body is not a JSON object (an HTML challenge page, an empty body). */
function readEnvelope(body: Buffer): Envelope | undefined {
  let v: unknown;
  try {
    v = parseJson(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === 'string' || typeof x === 'number' ? String(x) : undefined);
  return {
    success: typeof o.success === 'boolean' ? o.success : undefined,
    code: str(o.code),
    message: str(o.message),
    data: o.data,
    meta: o.meta && typeof o.meta === 'object' && !Array.isArray(o.meta) ? (o.meta as Record<string, unknown>) : undefined,
  };
}

export interface HdhiveList {
  items: HdhiveResource[];
  /** Entries the client could not read (not an object, or no slug); they are left out, not fatal. */
  skipped: number;
  total?: number;
}

export interface HdhiveClientOptions {
  apiKey: string;
  accessToken: string;
  metrics?: Metrics;
  now?: () => number;
  /** Replicas' shared pause after a 429 (REDIS_URL), so no replica spends quota while HDHive says wait. */
  pause?: Pick<CallBudget, 'hold' | 'heldUntil'>;
}

const KEY_CODES = new Set(['MISSING_API_KEY', 'INVALID_API_KEY', 'DISABLED_API_KEY', 'EXPIRED_API_KEY']);
const USER_CODES = new Set(['INVALID_OPENAPI_USER_TOKEN', 'OPENAPI_REFRESH_REQUIRED', 'OPENAPI_REAUTH_REQUIRED', 'OPENAPI_USER_REQUIRED']);
const NAME = 'hdhive';

const DAY_MS = 86_400_000;
/** HDHive's quota starts again at midnight in Beijing (UTC+8) when its answer does not say when. */
const nextBeijingMidnight = (now: number) => Math.floor((now + 8 * 3_600_000) / DAY_MS) * DAY_MS + DAY_MS - 8 * 3_600_000;

export class HdhiveClient {
  /** After a 429, no call goes out until this time: HDHive counts refused calls against the quota too. */
  private cooldownUntil = 0;
  /** Each endpoint's daily quota (resources, shares), as its last answer stated it. */
  private readonly quotas = new Map<string, DailyQuota>();
  private readonly now: () => number;

  constructor(
    private readonly http: UpstreamClient,
    private readonly opts: HdhiveClientOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /** GET /api/open/resources/:type/:tmdb_id. An unknown title is an empty list upstream, not a 404. */
  async resources(type: 'movie' | 'tv', tmdbId: string, signal?: AbortSignal): Promise<HdhiveList> {
    return this.list({ path: `/api/open/resources/${type}/${encodeURIComponent(tmdbId)}`, signal }, this.opts.accessToken !== '');
  }

  /** GET /api/open/shares: the user's own shares (the route needs HDHIVE_ACCESS_TOKEN set; see index.ts). */
  async shares(page: number, pageSize: number, signal?: AbortSignal): Promise<HdhiveList> {
    return this.list({ path: '/api/open/shares', query: { page, page_size: pageSize }, signal }, true);
  }

  private async list(req: UpstreamRequest, withUser: boolean): Promise<HdhiveList> {
    const data = await this.call(req, withUser);
    const raw = Array.isArray(data.data) ? data.data : Array.isArray((data.data as { items?: unknown })?.items) ? (data.data as { items: unknown[] }).items : null;
    if (!raw) throw new UpstreamError(NAME, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'HDHive answered without a data list');
    const items: HdhiveResource[] = [];
    let skipped = 0;
    for (const entry of raw) {
      const r = readResource(entry);
      if (r) items.push(r);
      else skipped++;
    }
    const total = typeof data.meta?.total === 'number' ? data.meta.total : undefined;
    return { items, skipped, total };
  }

  /** Maps by HTTP status first, then by the envelope's code when the body has one: an error's shape never decides its status. */
  private async call(req: UpstreamRequest, withUser: boolean): Promise<Envelope> {
    const shared = (await this.opts.pause?.heldUntil()) ?? 0;
    const wait = Math.ceil((Math.max(this.cooldownUntil, shared) - this.now()) / 1000);
    if (wait > 0) throw this.rateLimited(wait, 'HDHive asked us to slow down; waiting before the next call');

    const headers: Record<string, string> = { 'x-api-key': this.opts.apiKey };
    if (withUser && this.opts.accessToken) headers.authorization = `Bearer ${this.opts.accessToken}`;
    const res = await this.http.request({ ...req, headers: { ...headers, accept: 'application/json' } });
    this.recordQuota(req.path.startsWith('/api/open/shares') ? 'shares' : 'resources', res.headers);

    const body = readEnvelope(res.body);
    const code = body?.code ?? '';
    const detail = body ? `${code}${body.message ? `: ${body.message}` : ''}` : 'a body that is not JSON';

    if (res.status === 429 || /RATE_LIMIT|QUOTA_EXCEEDED|COOLDOWN/.test(code)) {
      const retryAfter = parseRetryAfter(res.headers['retry-after'], this.now()) ?? 60;
      this.cooldownUntil = this.now() + retryAfter * 1000;
      await this.opts.pause?.hold(this.cooldownUntil);
      throw this.rateLimited(retryAfter, `HDHive rate limit (${detail})`);
    }
    if (KEY_CODES.has(code)) {
      throw new UpstreamError(NAME, 'auth', 502, 'UPSTREAM_AUTH', `HDHive refused the API key (${detail}); check HDHIVE_API_KEY`);
    }
    if (USER_CODES.has(code)) {
      throw new UpstreamError(NAME, 'auth', 502, 'UPSTREAM_AUTH', `HDHive refused the user token (${detail}); check HDHIVE_ACCESS_TOKEN`);
    }
    if ((res.status === 401 || res.status === 403) && !body) {
      throw new UpstreamError(NAME, 'auth', 502, 'UPSTREAM_BLOCKED', `HDHive answered HTTP ${res.status} with a page instead of JSON (a Cloudflare challenge?); try again later, or check HDHIVE_API_URL`);
    }
    if (res.status === 401 || res.status === 403) {
      throw new UpstreamError(NAME, 'auth', 502, 'UPSTREAM_AUTH', `HDHive refused access (HTTP ${res.status} ${detail}); check the scopes of HDHIVE_API_KEY and HDHIVE_ACCESS_TOKEN`);
    }
    // Only HDHive's own envelope may say "no such item"; a bare 404 is a wrong address or something in front.
    if (res.status === 404 && body?.code) {
      throw new HttpError(404, 'NOT_FOUND', `HDHive has no such item (${detail})`);
    }
    if (res.status === 404) {
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `HDHive answered HTTP 404 (no such address) without its JSON envelope; check HDHIVE_API_URL`);
    }
    if (res.status >= 400 || body?.success === false) {
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `HDHive answered HTTP ${res.status} (${detail || 'no detail'})`);
    }
    if (!body) throw new UpstreamError(NAME, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', `HDHive answered HTTP ${res.status} with ${detail}`);
    return body;
  }

  private rateLimited(seconds: number, message: string): UpstreamError {
    return new UpstreamError(NAME, 'rate_limited', 429, 'UPSTREAM_RATE_LIMITED', `${message}; retry after ${seconds} s`, { 'Retry-After': String(seconds) });
  }

  /**
   * The daily quota background refresh plans with: the tightest of the endpoints' (the fewest calls a
   * day, the fewest left), since one schedule holds the feeds of both. Undefined until HDHive has
   * stated one; it states none where none is configured.
   */
  quota(): DailyQuota | undefined {
    let q: DailyQuota | undefined;
    for (const e of this.quotas.values()) q = q ? { limit: Math.min(q.limit, e.limit), remaining: Math.min(q.remaining, e.remaining), resetAt: Math.max(q.resetAt, e.resetAt) } : { ...e };
    return q;
  }

  private recordQuota(endpoint: string, headers: Record<string, string | string[] | undefined>): void {
    // Each header read once, for /metrics and for planning.
    const stated = (header: string) => {
      const v = Number(headers[header]);
      return headers[header] !== undefined && Number.isFinite(v) ? v : undefined;
    };
    const limit = stated('x-endpoint-limit');
    const remaining = stated('x-endpoint-remaining');
    const reset = stated('x-ratelimit-reset');
    const gauge = this.opts.metrics?.upstreamQuota;
    for (const [kind, v] of [['limit', limit], ['remaining', remaining], ['reset', reset]] as const) if (gauge && v !== undefined) gauge.set({ upstream: NAME, kind }, v);
    if (limit === undefined || limit <= 0 || remaining === undefined) return;
    const now = this.now();
    this.quotas.set(endpoint, { limit, remaining: Math.max(0, remaining), resetAt: reset !== undefined && reset * 1000 > now ? reset * 1000 : nextBeijingMidnight(now) });
  }
}
