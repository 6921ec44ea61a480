import { createHash } from 'node:crypto';

/**
 * Douyin's web-API signatures, from the descriptions in notes/douyin.md §3-§4 (X-Bogus and a_bogus).
 * Clock and randomness are parameters, so the notes' vectors are known answers. SM3 and MD5 come from
 * Node's OpenSSL (checked against the standard SM3 answers in the tests).
 */

const md5 = (b: Uint8Array | string) => createHash('md5').update(b).digest();
const sm3 = (b: Uint8Array | string) => createHash('sm3').update(b).digest();

/**
 * Textbook RC4 (KSA + PRGA). Data values are XORed as integers, so a value above 255 (a_bogus's field
 * table may hold some; see the notes' pitfalls) keeps its high bits.
 */
export function rc4(key: ArrayLike<number>, data: ArrayLike<number>): number[] {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 255;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out: number[] = [];
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255;
    j = (j + s[i]!) & 255;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out.push(data[n]! ^ s[(s[i]! + s[j]!) & 255]!);
  }
  return out;
}

const latin1 = (s: string) => Array.from(Buffer.from(s, 'latin1'));

/**
 * Base64 over a given 64-character alphabet, with '=' padding. Values are ORed into 24-bit groups as
 * integers (a_bogus's may exceed 255, as in the reference).
 */
function base64(bytes: ArrayLike<number>, alphabet: string): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let k = 0; k < 4; k++) out += k < chars ? alphabet[(n >> (18 - 6 * k)) & 63] : '=';
  }
  return out;
}

// --- X-Bogus ------------------------------------------------------------------------------------

const XB_ALPHABET = 'Dkdpgh4ZKsQB80/Mfvw36XI1R25-WUAlEi7NLboqYTOPuzmFjJnryx9HVGcaStCe=';
const STD_B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** X-Bogus (28 characters) for a query string, a user agent and a Unix time in seconds. */
export function xBogus(query: string, userAgent: string, unixSeconds: number, body = ''): string {
  const uaHash = md5(base64(rc4([0, 1, 12], latin1(userAgent)), STD_B64));
  const bodyHash = md5(md5(body));
  const qHash = md5(md5(query));
  const t = unixSeconds >>> 0;
  const block = [64, 0, 1, 12, qHash[14]!, qHash[15]!, bodyHash[14]!, bodyHash[15]!, uaHash[14]!, uaHash[15]!, (t >>> 24) & 255, (t >>> 16) & 255, (t >>> 8) & 255, t & 255, 0x20, 0x00, 0xbe, 0x90];
  block.push(block.reduce((a, b) => a ^ b, 0));
  // 21 bytes: seven whole groups, so no padding.
  return base64([2, 255, ...rc4([255], block)], XB_ALPHABET);
}

// --- a_bogus ------------------------------------------------------------------------------------

const AB_OUT = 'Dkdpgh2ZmsQB80/MfvV36XI1R45-WUAlEixNLwoqYTOPuzKFjJnry79HbGcaStCe';
const AB_UA = 'ckdp1h4ZKsUB80/Mfvw36XIgR25+WQAlEi7NLboqYTOPuzmFjJnryx9HVGDaStCe';
const ORDER = [18, 20, 52, 26, 30, 34, 58, 38, 40, 53, 42, 21, 27, 54, 55, 31, 35, 57, 39, 41, 43, 22, 28, 32, 60, 36, 23, 29, 33, 37, 44, 45, 59, 46, 47, 48, 49, 50, 24, 25, 65, 66, 70, 71];
const AID = 6383;
const OPTIONS = [0, 1, 14];

export interface ABogusInput {
  query: string;
  body?: string;
  userAgent: string;
  /** The browser fingerprint string (see fingerprint()). */
  fingerprint: string;
  /** Clock read before and after hashing, in ms. */
  startMs: number;
  endMs: number;
  /** Three integers in [0, 9999]. */
  random: [number, number, number];
}

/** a_bogus (164-172 characters) for the exact query string that will be sent. */
export function aBogus(i: ABogusInput): string {
  const pHash = sm3(sm3(`${i.query}cus`));
  const bHash = sm3(sm3(`${i.body ?? ''}cus`));
  const uaHash = sm3(base64(rc4([0, 1, 14], latin1(i.userAgent)), AB_UA));
  const byte = (ms: number, shift: number) => Math.floor(ms / 2 ** shift) & 255;
  const f: Record<number, number> = {
    8: 3,
    18: 44,
    20: byte(i.startMs, 24),
    21: byte(i.startMs, 16),
    22: byte(i.startMs, 8),
    23: byte(i.startMs, 0),
    24: Math.floor(i.startMs / 2 ** 32),
    25: Math.floor(i.startMs / 2 ** 40),
    26: (OPTIONS[0]! >>> 24) & 255,
    27: (OPTIONS[0]! >>> 16) & 255,
    28: (OPTIONS[0]! >>> 8) & 255,
    29: OPTIONS[0]! & 255,
    30: Math.floor(OPTIONS[1]! / 256) & 255,
    31: OPTIONS[1]! % 256,
    32: (OPTIONS[1]! >>> 24) & 255,
    33: (OPTIONS[1]! >>> 16) & 255,
    34: (OPTIONS[2]! >>> 24) & 255,
    35: (OPTIONS[2]! >>> 16) & 255,
    36: (OPTIONS[2]! >>> 8) & 255,
    37: OPTIONS[2]! & 255,
    38: pHash[21]!,
    39: pHash[22]!,
    40: bHash[21]!,
    41: bHash[22]!,
    42: uaHash[23]!,
    43: uaHash[24]!,
    44: byte(i.endMs, 24),
    45: byte(i.endMs, 16),
    46: byte(i.endMs, 8),
    47: byte(i.endMs, 0),
    48: 3,
    49: Math.floor(i.endMs / 2 ** 32),
    50: Math.floor(i.endMs / 2 ** 40),
    56: AID,
    57: AID & 255,
    58: (AID >> 8) & 255,
    59: 0,
    60: 0,
    65: i.fingerprint.length,
  };
  const seq = ORDER.map((k) => f[k] ?? 0);
  const checksum = seq.reduce((a, b) => a ^ b, 0);
  const plain = [...seq, ...Array.from(i.fingerprint, (c) => c.charCodeAt(0)), checksum];
  const prefix = i.random.flatMap((rd) => [((rd & 255) & 0xaa) | 1, ((rd & 255) & 0x55) | 2, ((rd >> 8) & 0xaa) | 5, ((rd >> 8) & 0x55) | 40]);
  return base64([...prefix, ...rc4([0x79], plain)], AB_OUT);
}

const int = (lo: number, hi: number, rand: () => number) => lo + Math.floor(rand() * (hi - lo + 1));

/** A plausible browser fingerprint (f2's shape), fresh per request as a browser would vary. */
export function fingerprint(platform: 'Win32' | 'MacIntel', rand: () => number = Math.random): string {
  const innerW = int(1024, 1920, rand);
  const innerH = int(768, 1080, rand);
  const outerW = innerW + int(24, 32, rand);
  const outerH = innerH + int(75, 90, rand);
  const screenY = rand() < 0.5 ? 0 : 30;
  const sizeW = int(1024, 1920, rand);
  const sizeH = int(768, 1080, rand);
  const availW = int(1280, 1920, rand);
  const availH = int(800, 1080, rand);
  return `${innerW}|${innerH}|${outerW}|${outerH}|0|${screenY}|0|0|${sizeW}|${sizeH}|${availW}|${availH}|${innerW}|${innerH}|24|24|${platform}`;
}

// --- Guest tokens (notes §5) --------------------------------------------------------------------

const MS_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-';
const UUID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A locally made msToken (182 random characters and "=="), as f2 makes when mssdk is not asked. */
export function fakeMsToken(rand: () => number = Math.random): string {
  let s = '';
  for (let i = 0; i < 182; i++) s += MS_ALPHABET[Math.floor(rand() * MS_ALPHABET.length)];
  return `${s}==`;
}

/** s_v_web_id / verifyFp: "verify_" + base36(ms) + "_" + a UUID-shaped string over 0-9A-Za-z. */
export function verifyFp(nowMs: number, rand: () => number = Math.random): string {
  const u: string[] = [];
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) u.push('_');
    else if (i === 14) u.push('4');
    else {
      const r = Math.floor(rand() * 62);
      u.push(UUID_ALPHABET[i === 19 ? (r & 3) | 8 : r]!);
    }
  }
  return `verify_${nowMs.toString(36)}_${u.join('')}`;
}
