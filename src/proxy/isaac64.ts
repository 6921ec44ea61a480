/**
 * Standard ISAAC-64 (Bob Jenkins), seeded the way WeChat seeds it: result slot 0 = the 64-bit key,
 * the other 255 slots 0. Words are consumed in the standard order (slot 255 down to 0, then refill)
 * and serialised big-endian. Notes: channels-mp.md §1.2, moments.md §2.5; vectors in §1.4 / §2.8.
 *
 * All arithmetic is mod 2^64 on BigUint64Array slots, which wrap on store.
 */

const GOLDEN = 0x9e3779b97f4a7c13n;
const MASK = 0xffffffffffffffffn;

export class Isaac64 {
  private readonly mem = new BigUint64Array(256);
  private readonly rsl = new BigUint64Array(256);
  private a = 0n;
  private b = 0n;
  private c = 0n;
  private next = 0;

  constructor(key: bigint) {
    this.rsl[0] = key;
    const s = new BigUint64Array(8).fill(GOLDEN);
    for (let i = 0; i < 4; i++) mix(s);
    for (const src of [this.rsl, this.mem]) {
      for (let i = 0; i < 256; i += 8) {
        for (let j = 0; j < 8; j++) s[j] = s[j]! + src[i + j]!;
        mix(s);
        for (let j = 0; j < 8; j++) this.mem[i + j] = s[j]!;
      }
    }
    this.refill();
  }

  private refill(): void {
    const mem = this.mem;
    const rsl = this.rsl;
    this.c = (this.c + 1n) & MASK;
    this.b = (this.b + this.c) & MASK;
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < 256; i++) {
      switch (i & 3) {
        case 0:
          a = ~(a ^ ((a << 21n) & MASK)) & MASK;
          break;
        case 1:
          a ^= a >> 5n;
          break;
        case 2:
          a ^= (a << 12n) & MASK;
          break;
        default:
          a ^= a >> 33n;
      }
      a = (a + mem[(i + 128) & 255]!) & MASK;
      const x = mem[i]!;
      const y = (mem[Number((x >> 3n) & 255n)]! + a + b) & MASK;
      mem[i] = y;
      b = (mem[Number((y >> 11n) & 255n)]! + x) & MASK;
      rsl[i] = b;
    }
    this.a = a;
    this.b = b;
    this.next = 256;
  }

  nextWord(): bigint {
    if (this.next === 0) this.refill();
    return this.rsl[--this.next]!;
  }

  /** Skips `n` words without materialising bytes. */
  skipWords(n: number): void {
    while (n > 0) {
      if (this.next === 0) this.refill();
      const take = Math.min(n, this.next);
      this.next -= take;
      n -= take;
    }
  }

  /** Writes the next words big-endian into `out` (whose length must be a multiple of 8). */
  fill(out: Uint8Array): void {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let off = 0; off < out.byteLength; off += 8) view.setBigUint64(off, this.nextWord(), false);
  }
}

function mix(s: BigUint64Array): void {
  // s[k] = s[k] op ...; BigUint64Array stores wrap mod 2^64, shifts left are masked by the store.
  let [a, b, c, d, e, f, g, h] = s as unknown as bigint[];
  a = (a! - e!) & MASK; f = f! ^ (h! >> 9n); h = (h! + a) & MASK;
  b = (b! - f) & MASK; g = g! ^ ((a << 9n) & MASK); a = (a + b) & MASK;
  c = (c! - g) & MASK; h = h ^ (b >> 23n); b = (b + c) & MASK;
  d = (d! - h) & MASK; a = a ^ ((c << 15n) & MASK); c = (c + d) & MASK;
  e = (e! - a) & MASK; b = b ^ (d >> 14n); d = (d + e) & MASK;
  f = (f - b) & MASK; c = c ^ ((e << 20n) & MASK); e = (e + f) & MASK;
  g = (g - c) & MASK; d = d ^ (f >> 17n); f = (f + g) & MASK;
  h = (h - d) & MASK; e = e ^ ((g << 14n) & MASK); g = (g + h) & MASK;
  s[0] = a; s[1] = b; s[2] = c; s[3] = d; s[4] = e; s[5] = f; s[6] = g; s[7] = h;
}

/** `length` keystream bytes starting at byte `offset` of the stream for `key`. */
export function keystream(key: bigint, offset: number, length: number): Buffer {
  const gen = new Isaac64(key);
  const firstWord = Math.floor(offset / 8);
  gen.skipWords(firstWord);
  const lead = offset - firstWord * 8;
  const words = Math.ceil((lead + length) / 8);
  const buf = Buffer.alloc(words * 8);
  gen.fill(buf);
  return buf.subarray(lead, lead + length);
}
