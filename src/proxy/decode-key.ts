import { badRequest } from '../http/errors.js';

const U64_MAX = (1n << 64n) - 1n;

/**
 * A decodeKey as an unsigned 64-bit BigInt: decimal digits, or 0x-prefixed hex as the downloader's
 * /play accepts. Never through Number: keys above 2^53 are common and would be rounded.
 * Undefined for an absent or empty key (pass-through); a 400 for anything else that is not a u64.
 */
export function parseDecodeKey(raw: unknown): bigint | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw badRequest('parameter key was given more than once', 'BAD_KEY');
  const s = raw.trim();
  let value: bigint;
  if (/^[0-9]{1,20}$/.test(s)) value = BigInt(s);
  else if (/^0x[0-9a-f]{1,16}$/i.test(s)) value = BigInt(s);
  else throw badRequest(`key must be an unsigned 64-bit integer (decimal, or 0x hex), got "${raw.slice(0, 40)}"`, 'BAD_KEY');
  if (value > U64_MAX) throw badRequest(`key must be at most 18446744073709551615, got "${raw.slice(0, 40)}"`, 'BAD_KEY');
  return value;
}
