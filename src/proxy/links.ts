import type { Platform } from './platforms.js';
import type { UrlSigner } from './sign.js';

/**
 * The one way sources point at media: signed, root-relative links to /proxy and /play. The feed route
 * makes them absolute against PUBLIC_URL (or the request's origin) when it renders, so cached feed
 * data does not depend on who asked first. Sources never sign by hand.
 */
export class MediaLinks {
  constructor(private readonly signer: UrlSigner) {}

  /** An image through /proxy; `key` decrypts a whole-file-XOR image (Moments). */
  image(url: string, platform: Platform, opts: { w?: number; h?: number; fit?: 'cover'; fmt?: 'jpeg' | 'webp' | 'avif' | 'png' | 'auto'; q?: number; key?: string | bigint } = {}): string {
    return this.signer.sign('/proxy', { url, p: platform, w: opts.w, h: opts.h, fit: opts.fit, fmt: opts.fmt, q: opts.q, key: opts.key });
  }

  /** A picture as podcast directories want it (itunes:image): a 1400 px square JPEG, cropped around the centre. */
  podcastArt(url: string, platform: Platform, opts: { key?: string | bigint } = {}): string {
    return this.image(url, platform, { w: 1400, h: 1400, fit: 'cover', fmt: 'jpeg', key: opts.key });
  }

  /** A video (or other media) through /play, decrypted with `key` when given. */
  video(url: string, platform: Platform, opts: { key?: string | bigint; mode?: 'prefix' | 'full' } = {}): string {
    return this.signer.sign('/play', { url, p: platform, key: opts.key, mode: opts.mode === 'full' ? 'full' : undefined });
  }

  /** Any other signed route of ours (e.g. stable per-object play URLs). */
  route(path: string, params: Record<string, string | number | undefined> = {}): string {
    return this.signer.sign(path, params);
  }
}
