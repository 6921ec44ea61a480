import { isInteger, isSafeNumber, parse } from 'lossless-json';

/**
 * JSON.parse that keeps integers beyond 2^53 exact, as decimal strings: every upstream here sends
 * 64-bit ids as bare numbers. Other numbers become ordinary JS numbers.
 */
export function parseJson(text: string): unknown {
  return parse(text, null, (value: string) => (isInteger(value) && !isSafeNumber(value) ? value : Number(value)));
}
