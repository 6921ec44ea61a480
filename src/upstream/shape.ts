/**
 * Tolerant readers for upstream JSON (parsed losslessly: ids beyond 2^53 arrive as decimal strings).
 * A field of the wrong shape reads as absent, never throws.
 */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : undefined);
export const num = (v: unknown): number | undefined => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};
export const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const EARLIEST = Date.UTC(2005, 0, 1);
const DAY = 86_400_000;

/**
 * An upstream time (epoch ms) worth showing, or undefined: none of these platforms has anything from
 * before 2005, and a time more than a day ahead is a wrong clock or garbage. Renderers would otherwise
 * print "Invalid Date" or throw on times outside JavaScript's range.
 */
export function plausibleTime(ms: number | undefined, now = Date.now()): number | undefined {
  return ms !== undefined && Number.isFinite(ms) && ms >= EARLIEST && ms <= now + DAY ? ms : undefined;
}

/** Epoch ms from a field in unix seconds (a number or a decimal string), when plausible. */
export function unixTime(v: unknown, now?: number): number | undefined {
  const s = num(v);
  return s === undefined ? undefined : plausibleTime(s * 1000, now);
}

/** The same field as whole unix seconds, when plausible. */
export function unixSeconds(v: unknown, now?: number): number | undefined {
  const ms = unixTime(v, now);
  return ms === undefined ? undefined : Math.floor(ms / 1000);
}
