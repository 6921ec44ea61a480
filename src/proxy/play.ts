import type { Context } from 'koa';
import { badRequest } from '../http/errors.js';
import { parseDecodeKey } from './decode-key.js';
import type { MediaFetcher } from './fetch.js';
import { PREFIX_BYTES, type KeystreamCache } from './keystream-cache.js';
import { mediaRequest } from './media-request.js';
import { streamMedia } from './stream.js';
import type { TargetPolicy } from './ssrf.js';

export interface PlayDeps {
  fetcher: MediaFetcher;
  keystreams: KeystreamCache;
  policy: TargetPolicy;
  accessTokenConfigured: boolean;
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
    await streamMedia(ctx, deps.fetcher, deps.keystreams, req, { key, limit: mode === 'full' ? Infinity : PREFIX_BYTES, defaultType: 'video/mp4' });
  };
}
