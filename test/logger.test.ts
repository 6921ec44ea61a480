import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, requestLine, type Logger } from '../src/logger.js';
import { tempDir } from './helpers/app.js';

/** A pino logger like createLogger's, writing into an array, so both writers can be read back. */
function capturing(opts: Parameters<typeof pino>[0] = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'info', base: undefined, ...opts }, { write: (l: string) => void lines.push(l) }) as unknown as Logger;
  return { logger, lines };
}

/** No lone surrogate (String.prototype.isWellFormed is not in this TypeScript lib). */
const wellFormed = (s: string) => !/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''));
const withoutTime = (line: string) => line.replace(/^\{"level":30,"time":\d+,/, '{"level":30,');

describe('request line', () => {
  it('writes what pino writes for the same fields, and reads back whatever the strings hold', () => {
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme-ascii', maxLength: 120 }), fc.constantFrom('/feeds/x?token=[redacted]', 'ab12-3f', 'GET', '\u2028', '\ud800', '"\\'));
    const ms = fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constantFrom(0, 0.1, 12.3, Number.NaN, Number.POSITIVE_INFINITY));
    fc.assert(
      fc.property(text, text, text, fc.integer({ min: 100, max: 599 }), ms, (reqId, method, url, status, took) => {
        const { logger, lines } = capturing();
        logger.info({ reqId, method, url, status, ms: took }, 'request');
        requestLine(logger)!(reqId, method, url, status, took);
        expect(lines).toHaveLength(2);
        // Every string read back exactly, lone surrogates included (escaped, as JSON.stringify does)...
        const back = JSON.parse(lines[1]!) as Record<string, unknown>;
        expect([back.reqId, back.method, back.url, back.status, back.ms, back.msg]).toEqual([reqId, method, url, status, Number.isFinite(took) ? took : null, 'request']);
        // ...and otherwise the very bytes pino writes (pino before Node 25 writes a short string's lone surrogate raw).
        if ([reqId, method, url].every(wellFormed)) expect(withoutTime(lines[1]!)).toBe(withoutTime(lines[0]!));
      }),
      { numRuns: 500, seed: 20261202 },
    );
  });

  it('leaves the line to pino when info is off or the logger adds anything of its own', () => {
    expect(requestLine(capturing({ level: 'warn' }).logger)).toBeUndefined();
    expect(requestLine(capturing().logger.child({ reqId: 'x' }))).toBeUndefined();
    expect(requestLine(capturing({ base: { pid: 1 } }).logger)).toBeUndefined();
    expect(requestLine(capturing({ mixin: () => ({ a: 1 }) }).logger)).toBeUndefined();
    expect(requestLine(capturing({ timestamp: pino.stdTimeFunctions.isoTime }).logger)).toBeUndefined();
  });

  it('keeps its place among the other lines of the same destination', async () => {
    const file = join(tempDir(), 'log');
    writeFileSync(file, '');
    const log = createLogger('info', file);
    const line = requestLine(log)!;
    log.info('first');
    line('id-1', 'GET', '/healthz', 200, 0.4);
    log.warn('third');
    await new Promise((r) => setTimeout(r, 250));
    const msgs = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string; time: number });
    expect(msgs.map((m) => m.msg)).toEqual(['first', 'request', 'third']);
    expect(Math.abs(msgs[1]!.time - Date.now())).toBeLessThan(5000);
  });
});
