import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { keystream } from '../../src/proxy/isaac64.js';

const FIXTURES = join(tmpdir(), 'feedgate-fixtures');

/**
 * A real H.264 MP4 of ~600 KB (well past the 128 KiB encrypted prefix), made once per machine with
 * Debian's ffmpeg (.ci/run installs it) and reused by every suite.
 */
export function sampleMp4(): Buffer {
  mkdirSync(FIXTURES, { recursive: true });
  const file = join(FIXTURES, 'sample-v2.mp4');
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.mp4`;
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=duration=4:size=320x240:rate=25,noise=alls=30:allf=t', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=4', '-c:v', 'libx264', '-b:v', '1500k', '-maxrate', '1500k', '-bufsize', '3000k', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', '-movflags', '+faststart', tmp]);
    execFileSync('mv', [tmp, file]);
  }
  return readFileSync(file);
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
