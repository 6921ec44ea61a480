import { createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Context } from 'koa';
import { Agent, request } from 'undici';
import { HttpError, badRequest } from '../http/errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { guardedLookup, inExtra, isPublicAddress, type TargetPolicy } from '../proxy/ssrf.js';
import type { WebSubStore, WebSubSubscription } from '../store/websub.js';

/** Leases (seconds): what a subscriber gets when it asks for none, and the bounds of what it may ask. */
export const LEASE = { default: 7 * 86_400, min: 3_600, max: 30 * 86_400 } as const;

export interface WebSubHubOptions {
  store: WebSubStore;
  /** Callbacks: any public address; private ones only where WEBSUB_CALLBACK_ALLOW lists them. */
  policy: TargetPolicy;
  accessToken: string;
  /**
   * Which feed loads refresh a topic: the feed route's path (no format suffix) and the source's own
   * parameters, sorted. Undefined when the URL is not a feed of ours.
   */
  topicKey(url: URL): string | undefined;
  /** External hubs pinged (hub.mode=publish) when a public feed changes (WEBSUB_PUBLISH_TO). */
  publishTo: readonly string[];
  logger: Logger;
  metrics?: Metrics;
  /** A subscription was verified (the app refreshes its feed in the background from then on). */
  onSubscribed?: (topic: string) => void;
  /** Waits between delivery tries: base, ×4, ×16 (default 1 s). */
  retryBaseMs?: number;
  now?: () => number;
}

export interface Rendered {
  body: Buffer;
  contentType: string;
}

const TIMEOUT_MS = 10_000;
/** Deliveries in flight at once, per change. */
const DELIVERY_CONCURRENCY = 32;
const MAX_BODY = 64 * 1024;

/**
 * feedgate is the WebSub hub of its own feeds (W3C WebSub, the hub's part): POST /websub takes
 * subscriptions, each verified by a challenge sent to its callback before it counts; a feed load that
 * finds new or changed items delivers the whole feed, signed with hub.secret, to every live
 * subscription of its topic. Subscriptions are durable and shared by replicas; a delivery is claimed
 * by one of them. Every callback goes through the same address checks as /proxy.
 */
export class WebSubHub {
  private readonly agent: Agent;
  private readonly now: () => number;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly lastPublished = new Map<string, string>();
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly opts: WebSubHubOptions) {
    this.now = opts.now ?? Date.now;
    this.agent = new Agent({ connect: { timeout: TIMEOUT_MS, lookup: guardedLookup(opts.policy) as never }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  }

  /** POST /websub: checks the request, answers 202, and verifies (or denies) in the background. */
  async handle(ctx: Context, form: URLSearchParams): Promise<void> {
    const mode = form.get('hub.mode');
    const callback = form.get('hub.callback') ?? '';
    const topic = form.get('hub.topic') ?? '';
    if (mode !== 'subscribe' && mode !== 'unsubscribe') throw badRequest('hub.mode must be subscribe or unsubscribe', 'WEBSUB_BAD_REQUEST');
    let topicUrl: URL;
    try {
      topicUrl = new URL(topic);
    } catch {
      throw badRequest('hub.topic must be the absolute URL of one of this feedgate\'s feeds', 'WEBSUB_BAD_REQUEST');
    }
    const key = this.opts.topicKey(topicUrl);
    if (!key) throw badRequest(`hub.topic ${topic.slice(0, 200)} is not a feed of this feedgate (/feeds/… or /rss/…)`, 'WEBSUB_BAD_REQUEST');
    const cb = this.callbackUrl(callback);
    const secret = form.get('hub.secret') ?? '';
    if (Buffer.byteLength(secret) > 199) throw badRequest('hub.secret must be shorter than 200 bytes', 'WEBSUB_BAD_REQUEST');
    const asked = Number(form.get('hub.lease_seconds') ?? LEASE.default);
    const lease = Number.isFinite(asked) ? Math.min(LEASE.max, Math.max(LEASE.min, Math.round(asked))) : LEASE.default;
    ctx.status = 202;
    ctx.body = '';
    // A private feed's topic carries the access token: a subscription needs that token, as a reader does.
    const denied = mode === 'subscribe' && this.opts.accessToken && topicUrl.searchParams.get('token') !== this.opts.accessToken ? 'the topic is a private feed and does not carry its access token' : undefined;
    this.track(denied ? this.deny(cb, topic, denied) : this.verify(mode, cb, topic, key, secret, lease));
  }

  /**
   * A load of `topicKey` finished with items whose digest is `digest`: every live subscription that has
   * not had this content gets it, rendered as its topic asks (format, limit, filters).
   */
  loaded(topicKey: string, digest: string, render: (topic: string) => Promise<Rendered>, publicTopic?: string): void {
    this.track(this.distribute(topicKey, digest, render));
    if (publicTopic && this.opts.publishTo.length && this.lastPublished.get(topicKey) !== digest) {
      if (this.lastPublished.size > 10_000) this.lastPublished.clear();
      const first = !this.lastPublished.has(topicKey);
      this.lastPublished.set(topicKey, digest);
      // The first load of a process only learns the digest: pinging on every restart would be noise.
      if (!first) for (const hub of this.opts.publishTo) this.track(this.publish(hub, publicTopic));
    }
  }

  /** Whether any live subscription reads the topic `topicKey`. */
  async hasSubscribers(topicKey: string): Promise<boolean> {
    return (await this.opts.store.live(topicKey, this.now())).length > 0;
  }

  async settled(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Drops ended leases every hour, from now on. */
  start(): void {
    const sweep = () => this.track(this.opts.store.expire(this.now()));
    sweep();
    this.sweeper = setInterval(sweep, 3_600_000);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.agent.close().catch(() => {});
  }

  private callbackUrl(raw: string): URL {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw badRequest('hub.callback must be an absolute http(s) URL', 'WEBSUB_BAD_REQUEST');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badRequest('hub.callback must be an http(s) URL', 'WEBSUB_BAD_REQUEST');
    if (u.username || u.password) throw new HttpError(403, 'TARGET_REFUSED', 'hub.callback URLs with credentials are refused');
    const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const allowed = inExtra(this.opts.policy, host, port);
    // Names are checked where the socket connects (guardedLookup); literal addresses here, at once.
    if (isIP(host) && !allowed && !isPublicAddress(host)) throw new HttpError(403, 'TARGET_REFUSED', `hub.callback ${host} is a private or reserved address; add it to WEBSUB_CALLBACK_ALLOW to allow it`);
    return u;
  }

  private async call(url: URL, init: { method: 'GET' | 'POST'; body?: Buffer | string; headers?: Record<string, string> }): Promise<{ status: number; body: string }> {
    const res = await request(url, { ...init, dispatcher: this.agent, headers: { 'user-agent': 'feedgate WebSub hub', ...init.headers } });
    let body = '';
    for await (const chunk of res.body) {
      if (body.length < MAX_BODY) body += (chunk as Buffer).toString('utf8');
    }
    return { status: res.statusCode, body: body.slice(0, MAX_BODY) };
  }

  private async verify(mode: 'subscribe' | 'unsubscribe', cb: URL, topic: string, key: string, secret: string, lease: number): Promise<void> {
    const challenge = randomBytes(18).toString('base64url');
    const url = new URL(cb.href);
    url.searchParams.set('hub.mode', mode);
    url.searchParams.set('hub.topic', topic);
    url.searchParams.set('hub.challenge', challenge);
    if (mode === 'subscribe') url.searchParams.set('hub.lease_seconds', String(lease));
    let ok = false;
    try {
      const res = await this.call(url, { method: 'GET' });
      ok = res.status >= 200 && res.status < 300 && res.body === challenge;
    } catch (err) {
      this.opts.logger.debug({ callback: cb.host, err: (err as Error)?.message }, 'WebSub verification failed');
    }
    if (!ok) {
      this.opts.metrics?.websubVerifications.inc({ mode, outcome: 'unverified' });
      this.opts.logger.debug({ callback: cb.host, mode }, 'WebSub intent not verified: the subscription is not changed');
      return;
    }
    this.opts.metrics?.websubVerifications.inc({ mode, outcome: 'verified' });
    if (mode === 'subscribe') {
      await this.opts.store.subscribe({ callback: cb.href, topic, topicKey: key, secret, expiresAt: this.now() + lease * 1000 });
      this.opts.onSubscribed?.(topic);
    }
    else await this.opts.store.unsubscribe(cb.href, topic);
    this.opts.logger.info({ callback: cb.host, mode, lease }, 'WebSub subscription verified');
  }

  private async deny(cb: URL, topic: string, reason: string): Promise<void> {
    this.opts.metrics?.websubVerifications.inc({ mode: 'subscribe', outcome: 'denied' });
    const url = new URL(cb.href);
    url.searchParams.set('hub.mode', 'denied');
    url.searchParams.set('hub.topic', topic);
    url.searchParams.set('hub.reason', reason);
    await this.call(url, { method: 'GET' }).catch(() => undefined);
  }

  private async distribute(topicKey: string, digest: string, render: (topic: string) => Promise<Rendered>): Promise<void> {
    const subs = (await this.opts.store.live(topicKey, this.now()).catch(() => [] as WebSubSubscription[])).filter((s) => s.lastDigest !== digest);
    const byTopic = new Map<string, Promise<Rendered>>();
    // A bounded number at a time: a thousand subscribers are a thousand sockets otherwise.
    let next = 0;
    const worker = async () => {
      while (next < subs.length) {
        const s = subs[next++]!;
        // One replica delivers each change: whoever moves the subscription to the new digest.
        if (!(await this.opts.store.claim(s.callback, s.topic, s.lastDigest, digest).catch(() => false))) continue;
        let rendered = byTopic.get(s.topic);
        if (!rendered) byTopic.set(s.topic, (rendered = render(s.topic)));
        await this.deliver(s, await rendered);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELIVERY_CONCURRENCY, subs.length) }, worker));
  }

  /** POSTs the feed to a subscriber, signed when it gave a secret; three tries; a 410 ends the subscription. */
  private async deliver(s: WebSubSubscription, r: Rendered): Promise<void> {
    const headers: Record<string, string> = { 'content-type': r.contentType, link: `<${new URL('/websub', s.topic).href}>; rel="hub", <${s.topic}>; rel="self"` };
    if (s.secret) headers['x-hub-signature'] = `sha256=${createHmac('sha256', s.secret).update(r.body).digest('hex')}`;
    const base = this.opts.retryBaseMs ?? 1000;
    for (let attempt = 0; ; attempt++) {
      let why: string;
      try {
        const res = await this.call(new URL(s.callback), { method: 'POST', body: r.body, headers });
        if (res.status >= 200 && res.status < 300) {
          this.opts.metrics?.websubDeliveries.inc({ outcome: 'delivered' });
          return;
        }
        if (res.status === 410) {
          this.opts.metrics?.websubDeliveries.inc({ outcome: 'gone' });
          await this.opts.store.unsubscribe(s.callback, s.topic).catch(() => {});
          return;
        }
        why = `HTTP ${res.status}`;
      } catch (err) {
        why = (err as Error)?.message ?? String(err);
      }
      if (attempt >= 2) {
        this.opts.metrics?.websubDeliveries.inc({ outcome: 'failed' });
        this.opts.logger.warn({ callback: new URL(s.callback).host, why }, 'a WebSub delivery failed three times; the next change is delivered again');
        return;
      }
      await new Promise((res) => setTimeout(res, base * 4 ** attempt));
    }
  }

  private async publish(hub: string, topic: string): Promise<void> {
    try {
      const res = await request(hub, { method: 'POST', body: new URLSearchParams({ 'hub.mode': 'publish', 'hub.url': topic }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
    } catch (err) {
      this.opts.logger.warn({ hub, err: (err as Error)?.message }, 'an external WebSub hub could not be pinged');
    }
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((err) => this.opts.logger.warn({ err: (err as Error)?.message }, 'WebSub work failed'));
    this.pending.add(q);
    void q.finally(() => this.pending.delete(q));
  }
}
