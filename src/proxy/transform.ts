import type { Sharp, SharpOptions } from 'sharp';
import { HttpError, badRequest } from '../http/errors.js';

type SharpFactory = (input?: Buffer, options?: SharpOptions) => Sharp;
let loading: Promise<SharpFactory> | undefined;

/**
 * sharp (libvips) is loaded on the first transform, not at start: it adds ~20 MB of resident memory
 * that a server which never resizes should not carry. Its caches and thread pool are bounded so image
 * work cannot crowd out serving.
 */
function loadSharp(): Promise<SharpFactory> {
  loading ??= import('sharp').then(({ default: sharp }) => {
    sharp.cache({ memory: 32, files: 0, items: 64 });
    sharp.concurrency(1);
    return sharp as unknown as SharpFactory;
  });
  return loading;
}

/** Guard against decompression bombs (imgproxy's MAX_SRC_RESOLUTION is 16.8 MP; photos can be larger). */
const MAX_PIXELS = 50_000_000;

export const OUTPUT_FORMATS = ['jpeg', 'webp', 'avif', 'png'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface TransformSpec {
  w?: number;
  h?: number;
  /** cover: fill exactly w x h, cropping the overflow around the centre and enlarging a small picture (podcast art). */
  fit?: 'cover';
  fmt?: OutputFormat | 'auto';
  q?: number;
}

const MIME: Record<OutputFormat, string> = { jpeg: 'image/jpeg', webp: 'image/webp', avif: 'image/avif', png: 'image/png' };

function dimension(query: Record<string, unknown>, name: string): number | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > 4096) throw badRequest(`${name} must be a whole number from 1 to 4096`);
  return Number(v);
}

export function parseTransform(query: Record<string, unknown>): TransformSpec {
  const spec: TransformSpec = { w: dimension(query, 'w'), h: dimension(query, 'h') };
  const fit = query.fit;
  if (fit !== undefined && fit !== '' && fit !== 'inside') {
    if (fit !== 'cover') throw badRequest('fit must be inside or cover');
    if (!spec.w || !spec.h) throw badRequest('fit=cover needs both w and h');
    spec.fit = 'cover';
  }
  const fmt = query.fmt;
  if (fmt !== undefined && fmt !== '') {
    if (typeof fmt !== 'string' || !([...OUTPUT_FORMATS, 'auto'] as string[]).includes(fmt)) throw badRequest(`fmt must be one of ${OUTPUT_FORMATS.join(', ')}, auto`);
    spec.fmt = fmt as TransformSpec['fmt'];
  }
  const q = query.q;
  if (q !== undefined && q !== '') {
    if (typeof q !== 'string' || !/^\d{1,3}$/.test(q) || Number(q) < 1 || Number(q) > 100) throw badRequest('q must be a whole number from 1 to 100');
    spec.q = Number(q);
  }
  return spec;
}

export const isIdentity = (s: TransformSpec) => s.w === undefined && s.h === undefined && s.fmt === undefined && s.q === undefined && s.fit === undefined;

/** `fmt=auto`: the best format the reader says it accepts, else JPEG (every reader shows JPEG). */
export function negotiateFormat(accept: string): OutputFormat {
  if (/image\/avif/i.test(accept)) return 'avif';
  if (/image\/webp/i.test(accept)) return 'webp';
  return 'jpeg';
}

/** Fit inside w x h (never upscale), convert, re-encode. Throws 415 when the bytes are not an image. */
export async function transformImage(input: Buffer, spec: TransformSpec & { fmt?: OutputFormat }): Promise<{ body: Buffer; contentType: string }> {
  const sharp = await loadSharp();
  try {
    let img = sharp(input, { limitInputPixels: MAX_PIXELS, failOn: 'error' }).rotate();
    if (spec.fit === 'cover') img = img.resize({ width: spec.w, height: spec.h, fit: 'cover', position: 'centre' });
    else if (spec.w || spec.h) img = img.resize({ width: spec.w, height: spec.h, fit: 'inside', withoutEnlargement: true });
    const meta = await sharp(input, { limitInputPixels: MAX_PIXELS }).metadata();
    const source = meta.format === 'jpg' ? 'jpeg' : meta.format;
    const fmt: OutputFormat = spec.fmt ?? ((OUTPUT_FORMATS as readonly string[]).includes(source ?? '') ? (source as OutputFormat) : 'jpeg');
    const quality = spec.q;
    img =
      fmt === 'jpeg' ? img.flatten({ background: '#ffffff' }).jpeg({ quality: quality ?? 82, mozjpeg: true })
      : fmt === 'webp' ? img.webp({ quality: quality ?? 80 })
      : fmt === 'avif' ? img.avif({ quality: quality ?? 55, effort: 2 })
      : img.png({ compressionLevel: 9 });
    return { body: await img.toBuffer(), contentType: MIME[fmt] };
  } catch (err) {
    throw new HttpError(415, 'NOT_AN_IMAGE', `cannot transform this file as an image (${(err as Error).message.split('\n')[0]})`);
  }
}

const SIGNATURES: Array<[number, number[], string]> = [
  [0, [0xff, 0xd8, 0xff], 'image/jpeg'],
  [0, [0x89, 0x50, 0x4e, 0x47], 'image/png'],
  [0, [0x47, 0x49, 0x46, 0x38], 'image/gif'],
  [8, [0x57, 0x45, 0x42, 0x50], 'image/webp'],
  [0, [0x42, 0x4d], 'image/bmp'],
];

/** The image type the bytes announce, if they are a known image (notes/moments.md §2.6). */
export function sniffImage(b: Buffer): string | undefined {
  for (const [off, sig, type] of SIGNATURES) if (sig.every((v, i) => b[off + i] === v)) return type;
  if (b.subarray(4, 8).toString('latin1') === 'ftyp') {
    const brand = b.subarray(8, 12).toString('latin1');
    if (brand.startsWith('avi')) return 'image/avif';
    if (['heic', 'heix', 'mif1', 'msf1', 'heim', 'heis'].includes(brand)) return 'image/heic';
  }
  return undefined;
}
