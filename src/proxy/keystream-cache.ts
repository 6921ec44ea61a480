import { LRUCache } from 'lru-cache';
import { Isaac64, keystream } from './isaac64.js';

/** Channels videos are encrypted over their first 128 KiB only. */
export const PREFIX_BYTES = 131072;

/**
 * The 128 KiB keystream prefix per key, computed once (~5 ms) and kept in a small LRU, so a Range
 * request is a slice. Longer streams (whole-file XOR of Moments images) continue past the prefix
 * on demand and are not cached.
 */
export class KeystreamCache {
  private readonly lru: LRUCache<string, Buffer>;

  constructor(maxKeys: number) {
    this.lru = new LRUCache({ max: Math.max(1, maxKeys) });
  }

  prefix(key: bigint): Buffer {
    const id = key.toString();
    let ks = this.lru.get(id);
    if (!ks) {
      ks = keystream(key, 0, PREFIX_BYTES);
      this.lru.set(id, ks);
    }
    return ks;
  }
}

/** Hands out consecutive keystream bytes from any starting offset. */
export class KeystreamCursor {
  private pos: number;
  private gen: Isaac64 | undefined;
  private spare = Buffer.alloc(0);

  constructor(
    private readonly key: bigint,
    offset: number,
    private readonly cache: KeystreamCache,
  ) {
    this.pos = offset;
  }

  take(n: number): Buffer {
    const start = this.pos;
    this.pos += n;
    if (!this.gen && start + n <= PREFIX_BYTES) return this.cache.prefix(this.key).subarray(start, start + n);
    // Past the cached prefix: a generator of our own, positioned once, then continued.
    if (!this.gen) {
      this.gen = new Isaac64(this.key);
      this.gen.skipWords(Math.floor(start / 8));
      const first = Buffer.alloc(8);
      this.gen.fill(first);
      this.spare = first.subarray(start % 8);
    }
    const out = Buffer.alloc(n);
    const filled = this.spare.copy(out, 0, 0, Math.min(n, this.spare.length));
    this.spare = this.spare.subarray(filled);
    if (filled < n) {
      const need = n - filled;
      const more = Buffer.alloc(Math.ceil(need / 8) * 8);
      this.gen.fill(more);
      more.copy(out, filled, 0, need);
      this.spare = more.subarray(need);
    }
    return out;
  }
}
