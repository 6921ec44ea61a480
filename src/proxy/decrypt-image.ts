import { createHash } from 'node:crypto';
import { HttpError } from '../http/errors.js';
import type { KeystreamCache } from './keystream-cache.js';
import { sniffImage } from './transform.js';
import { xorBuffer } from './xor-stream.js';

/** `75 f0 d3 3c 00 00 00 00` + MD5 of the JPEG before it: WeChat's trailer on decrypted images (notes/moments.md §2.6). */
const TRAILER = Buffer.from('75f0d33c00000000', 'hex');
const TRAILER_BYTES = 24;

const wrongKey = (why: string) => new HttpError(502, 'DECRYPT_FAILED', `the image could not be decrypted with its key (${why})`);

/**
 * A Moments image from its stored bytes: XORed whole with the key's keystream and kept only if the
 * result is an image; bytes that already are an image were not encrypted. A JPEG carrying WeChat's
 * checksum trailer is checked against it (a wrong key or a corrupt file is refused) and served without it.
 */
export function decryptImage(raw: Buffer, key: bigint | undefined, keystreams: KeystreamCache): Buffer {
  if (key === undefined || key === 0n) return raw;
  const decrypted = xorBuffer(raw, key, keystreams);
  if (sniffImage(decrypted)) return checkTrailer(decrypted);
  if (sniffImage(raw)) return raw;
  throw wrongKey('the result is not an image');
}

function checkTrailer(b: Buffer): Buffer {
  if (b.length <= TRAILER_BYTES + 3 || b[0] !== 0xff || b[1] !== 0xd8) return b;
  const tail = b.subarray(b.length - TRAILER_BYTES);
  if (!tail.subarray(0, 8).equals(TRAILER)) return b;
  const image = b.subarray(0, b.length - TRAILER_BYTES);
  if (!createHash('md5').update(image).digest().equals(tail.subarray(8))) throw wrongKey('its checksum trailer does not match');
  return image;
}
