import type { Context } from 'koa';
import { HttpError, badRequest } from '../http/errors.js';
import { parseDecodeKey } from './decode-key.js';
import type { MediaFetcher } from './fetch.js';
import { PREFIX_BYTES, type KeystreamCache } from './keystream-cache.js';
import { mediaRequest, type MediaRequest } from './media-request.js';
import type { Platform } from './platforms.js';
import { checkTarget } from './ssrf.js';
import { sendArchived, streamMedia } from './stream.js';
import type { MediaArchive } from '../cache/media-archive.js';
import type { TargetPolicy } from './ssrf.js';

export interface PlayDeps {
  fetcher: MediaFetcher;
  keystreams: KeystreamCache;
  policy: TargetPolicy;
  accessTokenConfigured: boolean;
  /** Media kept when first seen (Moments): served from disk once the CDN link has expired. */
  archive?: MediaArchive;
}

/**
 * GET|HEAD /play?url=<encoded CDN URL>&key=<decodeKey>[&mode=full][&p=<platform>][&sig=…]
 * Streams the file, XORing the first 128 KiB with the key's ISAAC-64 keystream (Channels videos), or
 * the whole file with mode=full (Moments media). No key: plain pass-through.
 */
export function playHandler(deps: PlayDeps) {
  return async function play(ctx: Context): Promise<void> {
    const key = parseDecodeKey(ctx.query.key);
    const mode = ctx.query.mode ?? 'prefix';
    if (mode !== 'prefix' && mode !== 'full') throw badRequest('parameter mode must be prefix or full');
    const req = mediaRequest(ctx, deps.policy, deps.accessTokenConfigured);
    const id = deps.policy.platforms.identity(req.target.url, req.platform, key);
    const kept = await deps.archive?.lookup(id);
    if (kept && (await sendArchived(ctx, deps.archive!, id, kept, req.signed))) return;
    await streamMedia(ctx, deps.fetcher, deps.keystreams, req, { key, limit: mode === 'full' ? Infinity : PREFIX_BYTES, defaultType: 'video/mp4' });
  };
}

export interface ResolvedMedia {
  url: string;
  /** decodeKey as the upstream gave it. */
  key?: string;
  platform: Platform;
  /** Headers the platform's hosts want besides its rules (Douyin's cookie); never sent past a redirect elsewhere. */
  headers?: Record<string, string>;
}

/** `fresh` asks for a new resolution, skipping any cached one (the CDN refused the last). */
export type MediaResolver = (ctx: Context, fresh: boolean) => Promise<ResolvedMedia>;

/**
 * GET|HEAD /play/<source>/… : stable play URLs for feeds. The current media URL, token and decodeKey
 * are resolved when the video is requested (upstream URLs expire; enclosures in readers must not), then
 * streamed like /play. When the CDN refuses a resolved URL, it is resolved once more, fresh.
 */
export function resolvedPlayHandler(deps: PlayDeps, resolve: MediaResolver) {
  return async function resolvedPlay(ctx: Context): Promise<void> {
    let media = await resolve(ctx, false);
    for (let attempt = 0; ; attempt++) {
      let key: bigint | undefined;
      try {
        key = parseDecodeKey(media.key);
      } catch {
        throw new HttpError(502, 'UPSTREAM_BAD_KEY', 'the upstream gave a decodeKey that is not a 64-bit number');
      }
      const req: MediaRequest = { target: checkTarget(media.url, deps.policy), platform: media.platform, signed: ctx.state.signed === true, platformOnly: false };
      try {
        await streamMedia(ctx, deps.fetcher, deps.keystreams, req, { key, limit: PREFIX_BYTES, defaultType: 'video/mp4', headers: media.headers });
        return;
      } catch (err) {
        // 403/404/410 and the like from the CDN: the resolved link has expired or rotated.
        const refused = err instanceof HttpError && (err.code === 'UPSTREAM_NOT_FOUND' || err.code === 'UPSTREAM_ERROR');
        if (attempt > 0 || !refused) throw err;
        media = await resolve(ctx, true);
      }
    }
  };
}
