import { plausibleTime } from '../upstream/shape.js';

/**
 * Epoch ms from an upstream timestamp: unix seconds or ms as numbers, ISO strings with a zone, or
 * zoneless "YYYY-MM-DD HH:MM:SS" strings, which are read in `zone` (HDHive and WeChat speak
 * Beijing time, +08:00). Undefined when unreadable or implausible (plausibleTime), never "now".
 */
export function parseUpstreamTime(value: unknown, zone = '+08:00'): number | undefined {
  return plausibleTime(readTime(value, zone));
}

function readTime(value: unknown, zone: string): number | undefined {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{9,13}$/.test(value.trim()))) {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) return undefined;
    return n < 1e12 ? n * 1000 : n;
  }
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(s);
  if (m) {
    const z = m[3] ? (m[3].toUpperCase() === 'Z' ? 'Z' : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3]) : zone;
    const t = Date.parse(`${m[1]}T${m[2]}${z}`);
    return Number.isNaN(t) ? undefined : t;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const t = Date.parse(`${s}T00:00:00${zone}`);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

