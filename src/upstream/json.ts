import { isInteger, isSafeNumber, parse } from 'lossless-json';

/**
 * No integer beyond 2^53 can be written in fewer than 16 digits, and a number token starts the text or
 * follows ":", "," or "[" (whitespace aside): a text without such a run there holds none, and JSON.parse
 * reads it exactly. A run inside a string (an all-digit slug or id) takes the slow way only when it too
 * follows one of those. lossless-json allocates several times the text's size, and the upstreams'
 * answers (every background refresh of every feed) seldom carry such ids.
 */
const LONG_DIGITS = /(?:^|[:,[])\s*-?\d{16}/;

/**
 * JSON.parse that keeps integers beyond 2^53 exact, as decimal strings: every upstream here sends
 * 64-bit ids as bare numbers. Other numbers become ordinary JS numbers.
 */
export function parseJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return parse(text, null, (value: string) => (isInteger(value) && !isSafeNumber(value) ? value : Number(value)));
}
