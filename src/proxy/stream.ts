import { pipeline, type Readable } from 'node:stream';
import type { ArchivedMedia, MediaArchive } from '../cache/media-archive.js';
import type { Context } from 'koa';
import { clientSignal } from '../http/client-signal.js';
import { HttpError } from '../http/errors.js';
import { parseContentRange, parseRange, rangeHeader, requestedRange, resolveRange, sliceStream } from '../http/range.js';
import { header, mediaStatusError, mediaType, type MediaFetcher } from './fetch.js';
import type { KeystreamCache } from './keystream-cache.js';
import { copyValidators, mediaHeaders, type MediaRequest } from './media-request.js';
import { xorStream } from './xor-stream.js';

/** What a media route may pass on: audio, video, images, and streaming manifests (never HTML or script). */
const PLAYABLE = /^(video|audio|image)\/(?!svg)|^application\/(mp4|ogg|vnd\.apple\.mpegurl|x-mpegurl|dash\+xml)$/;
const GENERIC_TYPES = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/binary', 'application/unknown', 'text/plain']);

export interface StreamOptions {
  /** XOR with this key's keystream... */
  key?: bigint;
  /** ...over absolute offsets below this (131072 for Channels videos, Infinity for whole-file). */
  limit: number;
  /** Content-Type when the CDN sends a generic one. */
  defaultType: string;
  /** Sent to the platform's hosts besides its rules (a cookie the CDN wants). */
  headers?: Record<string, string>;
}

/**
 * Streams a CDN file to the client, end to end: the client's Range goes upstream; the keystream offset
 * comes from the upstream's Content-Range (not from what we asked), and an upstream that ignores Range
 * is sliced here. Memory per stream is a few chunks whatever the file size. When the client goes away
 * the upstream request is aborted.
 */
export async function streamMedia(ctx: Context, fetcher: MediaFetcher, keystreams: KeystreamCache, req: MediaRequest, opts: StreamOptions): Promise<void> {
  const spec = parseRange(ctx.get('Range'));
  const up = await fetcher.open(req.target, { platform: req.platform, platformOnly: req.platformOnly, range: spec && rangeHeader(spec), signal: clientSignal(ctx), headers: opts.headers });
  const drop = () => up.body.destroy();

  if (up.status === 416) {
    drop();
    const cr = header(up.headers, 'content-range');
    throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', 'the requested range is outside the file', cr ? { 'Content-Range': cr } : {});
  }
  if (up.status !== 200 && up.status !== 206) {
    drop();
    throw mediaStatusError(up.status, req.target.hostname);
  }

  const declared = Number(header(up.headers, 'content-length') ?? NaN);
  let status: number;
  let offset = 0;
  let length: number | undefined;
  let contentRange: string | undefined;
  const stages: NodeJS.ReadWriteStream[] = [];

  if (up.status === 206) {
    const cr = parseContentRange(header(up.headers, 'content-range'));
    if (!cr) {
      drop();
      throw new HttpError(502, 'UPSTREAM_BAD_RANGE', `${req.target.hostname} answered 206 without a readable Content-Range`);
    }
    status = 206;
    offset = cr.start;
    length = cr.end - cr.start + 1;
    contentRange = `bytes ${cr.start}-${cr.end}/${cr.total ?? '*'}`;
  } else if (spec && Number.isFinite(declared)) {
    // The CDN ignored our Range: cut the answer down to what the client asked for.
    const r = resolveRange(spec, declared);
    if (!r) {
      drop();
      throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', 'the requested range is outside the file', { 'Content-Range': `bytes */${declared}` });
    }
    status = 206;
    offset = r.start;
    length = r.end - r.start + 1;
    contentRange = `bytes ${r.start}-${r.end}/${declared}`;
    const slicer = sliceStream(r.start, length);
    // Stop downloading once the slice is complete.
    slicer.once('end', drop);
    stages.push(slicer);
  } else {
    status = 200;
    length = Number.isFinite(declared) ? declared : undefined;
  }
  if (opts.key !== undefined && offset < opts.limit) stages.push(xorStream({ key: opts.key, offset, limit: opts.limit, keystreams }));

  const upstreamType = mediaType(up.headers);
  if (!GENERIC_TYPES.has(upstreamType) && !PLAYABLE.test(upstreamType)) {
    drop();
    throw new HttpError(415, 'UNSUPPORTED_MEDIA', `${req.target.hostname} sent ${upstreamType}; only audio and video are streamed here`);
  }
  ctx.status = status;
  if (ctx.method === 'HEAD') {
    drop();
  } else {
    ctx.body = stages.length ? (pipeline([up.body, ...stages] as never, () => {}) as unknown as Readable) : up.body;
  }
  // Headers after the body: koa drops Content-Length when a stream body replaces another.
  ctx.type = GENERIC_TYPES.has(upstreamType) ? opts.defaultType : upstreamType;
  if (length !== undefined) ctx.set('Content-Length', String(length));
  if (contentRange) ctx.set('Content-Range', contentRange);
  copyValidators(ctx, up.headers);
  mediaHeaders(ctx, req.signed);
  ctx.set('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
}

/**
 * A kept file (already decrypted), with Range: what /play serves once the CDN link has expired. False
 * (nothing sent) when its bytes are gone from the archive: the caller goes to the CDN.
 */
export async function sendArchived(ctx: Context, archive: MediaArchive, id: string, media: ArchivedMedia, signed: boolean): Promise<boolean> {
  const etag = `"a-${media.storedAt.toString(36)}-${media.bytes.toString(36)}"`;
  const r = requestedRange(ctx, media.bytes, etag);
  const start = r?.start ?? 0;
  const end = r?.end ?? media.bytes - 1;
  if (ctx.method !== 'HEAD' && media.bytes > 0) {
    const body = await archive.read(id, media, start, end);
    if (!body) return false;
    ctx.body = body;
  }
  ctx.status = r ? 206 : 200;
  if (r) ctx.set('Content-Range', `bytes ${start}-${end}/${media.bytes}`);
  ctx.type = media.contentType;
  ctx.set('Content-Length', String(media.bytes === 0 ? 0 : end - start + 1));
  ctx.set('ETag', etag);
  ctx.set('Last-Modified', new Date(media.storedAt).toUTCString());
  mediaHeaders(ctx, signed);
  ctx.set('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
  return true;
}
