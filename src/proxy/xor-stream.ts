import { Transform } from 'node:stream';
import { KeystreamCursor, type KeystreamCache } from './keystream-cache.js';

export interface XorOptions {
  key: bigint;
  /** Absolute file offset of the first byte that will pass through. */
  offset: number;
  /** Bytes at absolute offsets below this are XORed; the rest pass untouched (Infinity: whole file). */
  limit: number;
  keystreams: KeystreamCache;
}

/** XORs a byte stream with the ISAAC-64 keystream at its absolute file offsets; constant memory. */
export function xorStream(opts: XorOptions): Transform {
  let pos = opts.offset;
  const cursor = new KeystreamCursor(opts.key, opts.offset, opts.keystreams);
  return new Transform({
    // Match the upstream body's buffer, so relaying does not stall on a 16 KiB default.
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _enc, done) {
      if (pos < opts.limit) {
        const n = Math.min(chunk.length, opts.limit - pos);
        const ks = cursor.take(n);
        for (let i = 0; i < n; i++) chunk[i]! ^= ks[i]!;
      }
      pos += chunk.length;
      done(null, chunk);
    },
  });
}

/** XOR of a whole in-memory buffer from offset 0 (Moments images). Returns a new buffer. */
export function xorBuffer(data: Buffer, key: bigint, keystreams: KeystreamCache, limit = Infinity): Buffer {
  const out = Buffer.from(data);
  const n = Math.min(out.length, limit);
  const ks = new KeystreamCursor(key, 0, keystreams).take(n);
  for (let i = 0; i < n; i++) out[i]! ^= ks[i]!;
  return out;
}
