import { isInteger, isSafeNumber, parse } from 'lossless-json';

/**
 * No integer beyond 2^53 can be written in fewer than 16 digits: a text without a run of 16 holds none,
 * and JSON.parse reads it exactly. lossless-json allocates several times the text's size, and HDHive's
 * answers (every background refresh of every feed) seldom carry such ids.
 */
const LONG_DIGITS = /\d{16}/;

/**
 * JSON.parse that keeps integers beyond 2^53 exact, as decimal strings: every upstream here sends
 * 64-bit ids as bare numbers. Other numbers become ordinary JS numbers.
 */
export function parseJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return parse(text, null, (value: string) => (isInteger(value) && !isSafeNumber(value) ? value : Number(value)));
}
