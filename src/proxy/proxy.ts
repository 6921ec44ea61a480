import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { MediaCache, MediaEntry } from '../cache/media-cache.js';
import { isNotModified } from '../http/conditional.js';
import { HttpError } from '../http/errors.js';
import type { ReadyResponses } from '../http/ready.js';
import { requestedRange } from '../http/range.js';
import { parseDecodeKey } from './decode-key.js';
import { header, mediaStatusError, mediaType, type MediaFetcher, type MediaResponse } from './fetch.js';
import type { KeystreamCache } from './keystream-cache.js';
import { copyValidators, mediaHeaders, mediaRequest, type MediaRequest } from './media-request.js';
import { decryptImage } from './decrypt-image.js';
import type { MediaArchive } from '../cache/media-archive.js';
import type { TargetPolicy } from './ssrf.js';
import { streamMedia } from './stream.js';
import { isIdentity, negotiateFormat, parseTransform, sniffImage, transformImage, type OutputFormat } from './transform.js';
import { readCapped } from '../upstream/read-body.js';

export interface ProxyDeps {
  fetcher: MediaFetcher;
  keystreams: KeystreamCache;
  cache: MediaCache;
  policy: TargetPolicy;
  accessTokenConfigured: boolean;
  maxImageBytes: number;
  /** Media kept when first seen (Moments), served once the CDN link has expired. */
  archive?: MediaArchive;
  /** Where a cache hit is offered to be answered again before koa. */
  ready?: ReadyResponses;
}

const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/binary']);
const STREAMABLE = /^(image|video|audio)\/|^application\/(mp4|ogg|vnd\.apple\.mpegurl|x-mpegurl|dash\+xml)$/;

type Loaded = { entry: MediaEntry } | { response: MediaResponse; taken: boolean };

const etagOf = (body: Buffer) => `"${createHash('sha1').update(body).digest('base64url')}"`;

/**
 * GET|HEAD /proxy?url=<encoded>[&w=&h=&fmt=jpeg|webp|avif|png|auto&q=][&key=<whole-file XOR key>][&p=][&sig=]
 * Images are fetched once (single-flight), kept in the two-tier media cache, transformed with sharp on
 * request (results cached too) and served with validators and Range. Other media (video, audio) streams
 * through untouched, Range included.
 */
export function proxyHandler(deps: ProxyDeps) {
  const inflight = new Map<string, Promise<Loaded>>();

  /** One upstream fetch per original, however many readers ask at once. */
  function loadOriginal(id: string, req: MediaRequest, key: bigint | undefined): Promise<Loaded> {
    let p = inflight.get(id);
    if (!p) {
      p = fetchOriginal(req, key, id).finally(() => inflight.delete(id));
      inflight.set(id, p);
    }
    return p;
  }

  async function fetchOriginal(req: MediaRequest, key: bigint | undefined, id: string): Promise<Loaded> {
    const cached = await deps.cache.get(id);
    if (cached) return { entry: cached };
    // Kept when first seen: its CDN link may have expired since.
    const archived = await deps.archive?.lookup(id);
    if (archived && archived.contentType.startsWith('image/')) {
      const body = await deps.archive!.readAll(id, archived).catch(() => undefined);
      if (body) {
        const entry: MediaEntry = { body, contentType: archived.contentType, etag: etagOf(body), lastModified: archived.storedAt };
        await deps.cache.set(id, entry, { disk: false });
        return { entry };
      }
    }
    const up = await deps.fetcher.open(req.target, { platform: req.platform, platformOnly: req.platformOnly });
    if (up.status !== 200) {
      up.body.destroy();
      throw mediaStatusError(up.status, req.target.hostname);
    }
    const type = mediaType(up.headers);
    const declared = Number(header(up.headers, 'content-length') ?? NaN);
    const looksImage = type.startsWith('image/') || key !== undefined || (GENERIC.has(type) && Number.isFinite(declared) && declared <= deps.maxImageBytes);
    if (!looksImage) {
      if (!STREAMABLE.test(type) && !GENERIC.has(type)) {
        up.body.destroy();
        throw new HttpError(415, 'UNSUPPORTED_MEDIA', `${req.target.hostname} sent ${type || 'no type'}; /proxy serves images, video and audio only`);
      }
      return { response: up, taken: false };
    }
    const raw = await readCapped(up.body, header(up.headers, 'content-length'), deps.maxImageBytes).catch(() => {
      throw new HttpError(502, 'UPSTREAM_RESET', `${req.target.hostname} broke off while sending the image`);
    });
    if (!raw) throw new HttpError(413, 'TOO_LARGE', `the image is larger than PROXY_MAX_IMAGE_BYTES (${deps.maxImageBytes} bytes)`);
    // Whole-file XOR (Moments images, notes/moments.md §2.6), checked before anything is cached.
    let body = decryptImage(raw, key, deps.keystreams);
    let sniffed = sniffImage(body);
    // Only raster images are served from our origin: an SVG can carry script, so it is rasterized.
    if (!sniffed && type === 'image/svg+xml') {
      body = (await transformImage(body, { fmt: 'png' })).body;
      sniffed = 'image/png';
    }
    if (!sniffed) throw new HttpError(415, 'NOT_AN_IMAGE', `${req.target.hostname} sent ${type || 'no type'} that is not a raster image`);
    const lm = Date.parse(header(up.headers, 'last-modified') ?? '');
    const entry: MediaEntry = { body, contentType: sniffed, etag: etagOf(body), lastModified: Number.isNaN(lm) ? Date.now() : lm };
    await deps.cache.set(id, entry);
    return { entry };
  }

  const variants = new Map<string, Promise<MediaEntry>>();
  function transformOnce(id: string, original: MediaEntry, spec: { w?: number; h?: number; q?: number; fmt?: OutputFormat }): Promise<MediaEntry> {
    let p = variants.get(id);
    if (!p) {
      p = (async () => {
        const cached = await deps.cache.get(id);
        if (cached) return cached;
        const out = await transformImage(original.body, spec);
        const entry: MediaEntry = { body: out.body, contentType: out.contentType, etag: etagOf(out.body), lastModified: original.lastModified };
        await deps.cache.set(id, entry);
        return entry;
      })().finally(() => variants.delete(id));
      variants.set(id, p);
    }
    return p;
  }

  return async function proxy(ctx: Context): Promise<void> {
    const spec = parseTransform(ctx.query);
    const key = parseDecodeKey(ctx.query.key);
    const req = mediaRequest(ctx, deps.policy, deps.accessTokenConfigured);
    const fmt = spec.fmt === 'auto' ? negotiateFormat(ctx.get('Accept')) : spec.fmt;
    if (spec.fmt === 'auto') ctx.vary('Accept');
    const original = deps.policy.platforms.identity(req.target.url, req.platform, key);
    const transform = { w: spec.w, h: spec.h, q: spec.q, fit: spec.fit, fmt };
    const variant = isIdentity(spec) ? original : `${original}#w=${spec.w ?? ''}&h=${spec.h ?? ''}&fit=${spec.fit ?? ''}&q=${spec.q ?? ''}&fmt=${fmt}`;

    let entry = await deps.cache.get(variant);
    if (!entry) {
      // A ranged request for something not cached (a player seeking in a video): stream it through.
      if (ctx.get('Range') && isIdentity(spec) && key === undefined) {
        return streamMedia(ctx, deps.fetcher, deps.keystreams, req, { limit: 0, defaultType: 'application/octet-stream' });
      }
      const loaded = await loadOriginal(original, req, key);
      if ('response' in loaded) {
        if (!isIdentity(spec)) {
          if (!loaded.taken) loaded.response.body.destroy();
          throw new HttpError(415, 'NOT_AN_IMAGE', 'only images can be resized or converted');
        }
        if (loaded.taken) return streamMedia(ctx, deps.fetcher, deps.keystreams, req, { limit: 0, defaultType: 'application/octet-stream' });
        loaded.taken = true;
        return sendStream(ctx, loaded.response, req.signed);
      }
      entry = isIdentity(spec) ? loaded.entry : await transformOnce(variant, loaded.entry, transform);
    }
    sendEntry(ctx, entry, req.signed);
    // Sent again before koa while the memory tier keeps this entry; not when the format follows Accept.
    if (deps.ready && spec.fmt !== 'auto' && ctx.status !== 206) {
      const kept = entry;
      deps.ready.remember(ctx, { body: kept.body, etag: kept.etag, lastModified: kept.lastModified, valid: () => deps.cache.holds(variant, kept) });
    }
  };
}

/** A cached body with validators, 304 and single-range support. */
function sendEntry(ctx: Context, entry: MediaEntry, signed: boolean): void {
  mediaHeaders(ctx, signed);
  ctx.set('ETag', entry.etag);
  ctx.set('Last-Modified', new Date(entry.lastModified).toUTCString());
  ctx.type = entry.contentType;
  if (isNotModified(ctx.headers, entry.etag, entry.lastModified)) {
    ctx.status = 304;
    return;
  }
  const r = requestedRange(ctx, entry.body.length, entry.etag);
  if (r) {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${r.start}-${r.end}/${entry.body.length}`);
    ctx.body = entry.body.subarray(r.start, r.end + 1);
    return;
  }
  ctx.status = 200;
  ctx.body = entry.body;
}

/** Media that is not cached (video, audio): straight through with the CDN's length and validators. */
function sendStream(ctx: Context, up: MediaResponse, signed: boolean): void {
  ctx.status = 200;
  if (ctx.method === 'HEAD') up.body.destroy();
  else ctx.body = up.body;
  ctx.type = mediaType(up.headers) || 'application/octet-stream';
  const len = header(up.headers, 'content-length');
  if (len) ctx.set('Content-Length', len);
  copyValidators(ctx, up.headers);
  mediaHeaders(ctx, signed);
}
