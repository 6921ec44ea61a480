import { Transform } from 'node:stream';
import type { Context } from 'koa';
import { HttpError } from './errors.js';

/** One byte range as a client asked for it: `a-b`, `a-` (end undefined) or `-n` (suffix). */
export type RangeSpec = { start: number; end?: number } | { suffix: number };

/**
 * The first range of a `Range: bytes=…` header. Several ranges are served as the first one (RFC 9110
 * lets a server ignore the rest); an unreadable header is ignored as the RFC asks, giving a full 200.
 */
export function parseRange(header: string | undefined): RangeSpec | undefined {
  if (!header) return undefined;
  const m = /^\s*bytes\s*=\s*([^,]*)/i.exec(header);
  if (!m) return undefined;
  const part = m[1]!.trim();
  let r: RegExpExecArray | null;
  if ((r = /^(\d{1,16})-(\d{1,16})?$/.exec(part))) {
    const start = Number(r[1]);
    const end = r[2] === undefined ? undefined : Number(r[2]);
    if (end !== undefined && end < start) return undefined;
    return { start, end };
  }
  if ((r = /^-(\d{1,16})$/.exec(part))) {
    // bytes=-0 asks for nothing: unsatisfiable (416), not unreadable.
    return { suffix: Number(r[1]) };
  }
  return undefined;
}

export function rangeHeader(spec: RangeSpec): string {
  return 'suffix' in spec ? `bytes=-${spec.suffix}` : `bytes=${spec.start}-${spec.end ?? ''}`;
}

/** Absolute [start, end] within a file of `total` bytes, or undefined when unsatisfiable (416). */
export function resolveRange(spec: RangeSpec, total: number): { start: number; end: number } | undefined {
  if ('suffix' in spec) return total === 0 || spec.suffix === 0 ? undefined : { start: Math.max(0, total - spec.suffix), end: total - 1 };
  if (spec.start >= total) return undefined;
  return { start: spec.start, end: Math.min(spec.end ?? total - 1, total - 1) };
}

/**
 * The bytes of a stored file of `total` bytes a request asks for: its Range, honoured unless an
 * If-Range names another version than `etag`. Undefined means the whole file (200); a range that
 * cannot be met is a 416 naming the size.
 */
export function requestedRange(ctx: Context, total: number, etag: string): { start: number; end: number } | undefined {
  const spec = parseRange(ctx.get('Range'));
  const ifRange = ctx.get('If-Range');
  if (!spec || (ifRange && ifRange !== etag)) return undefined;
  const r = resolveRange(spec, total);
  if (!r) throw new HttpError(416, 'RANGE_NOT_SATISFIABLE', 'the requested range is outside the file', { 'Content-Range': `bytes */${total}` });
  return r;
}

/** `Content-Range: bytes a-b/total` (total may be `*`); undefined unless a <= b < total. */
export function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = value && /^\s*bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)\s*$/i.exec(value);
  if (!m) return undefined;
  const r = { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
  if (r.end < r.start || (r.total !== undefined && r.end >= r.total)) return undefined;
  return r;
}

/** Drops the first `skip` bytes, passes `length` bytes, then ends (for upstreams that ignore Range). */
export function sliceStream(skip: number, length: number): Transform {
  let toSkip = skip;
  let left = length;
  return new Transform({
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _enc, done) {
      if (left <= 0) return done();
      let c = chunk;
      if (toSkip > 0) {
        const n = Math.min(toSkip, c.length);
        toSkip -= n;
        c = c.subarray(n);
      }
      if (c.length > left) c = c.subarray(0, left);
      left -= c.length;
      if (c.length) this.push(c);
      if (left <= 0) this.push(null);
      done();
    },
  });
}
