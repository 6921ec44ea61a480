import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { keystream } from '../../src/proxy/isaac64.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/sample.mp4', import.meta.url));

/**
 * A real H.264 + AAC MP4, 320x240, 4 s, ~450 KiB (three times the 128 KiB encrypted prefix), committed so tests need no
 * ffmpeg. Made with: ffmpeg -f lavfi -i 'testsrc=duration=4:size=320x240:rate=15,noise=alls=30:allf=t'
 * -f lavfi -i 'sine=frequency=440:duration=4' -c:v libx264 -b:v 750k -pix_fmt yuv420p -c:a aac -b:a 48k
 * -shortest -movflags +faststart sample.mp4
 */
export function sampleMp4(): Buffer {
  return readFileSync(FIXTURE);
}

/** What the CDN stores: the first `limit` bytes XORed with the key's keystream (checked against the notes' vectors elsewhere). */
export function encrypt(plain: Buffer, key: bigint, limit = 131072): Buffer {
  const out = Buffer.from(plain);
  const n = Math.min(limit, out.length);
  const ks = keystream(key, 0, n);
  for (let i = 0; i < n; i++) out[i]! ^= ks[i]!;
  return out;
}

/** A JPEG with some structure (so resizing and re-encoding change it measurably). */
export async function sampleJpeg(width = 640, height = 480): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = ((x ^ y) & 0xff) % 256;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}
