import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { isInteger, isSafeNumber, parse as losslessParse } from 'lossless-json';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../src/upstream/client.js';
import { parseRetryAfter } from '../src/upstream/errors.js';
import { parseJson } from '../src/upstream/json.js';
import { isNotModified } from '../src/http/conditional.js';

const servers: Array<ReturnType<typeof createServer>> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof UpstreamClient>[0]> = {}) =>
  new UpstreamClient({ name: 't', baseUrl, connectTimeoutMs: 1000, timeoutMs: 1000, retries: 2, maxBytes: 1 << 20, concurrency: 4, backoffMs: 5, deadlineMs: 10_000, ...extra });

describe('lossless JSON', () => {
  it('keeps integers beyond 2^53 exact as strings and leaves the rest as numbers', () => {
    const v = parseJson('{"id": 14819096805414996657, "small": 42, "neg": -9007199254740993, "f": 1.5, "safe": 9007199254740991, "s": "x"}') as Record<string, unknown>;
    expect(v).toEqual({ id: '14819096805414996657', small: 42, neg: '-9007199254740993', f: 1.5, safe: 9007199254740991, s: 'x' });
  });

  it('reads any document as the lossless parser does, whether or not it takes the JSON.parse path', () => {
    const lossless = (text: string) => losslessParse(text, null, (value: string) => (isInteger(value) && !isSafeNumber(value) ? value : Number(value)));
    // Numbers as upstreams write them: small, near and beyond 2^53, negative, with fractions and exponents.
    const number = fc.oneof(
      fc.integer().map(String),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
      fc.tuple(fc.boolean(), fc.bigInt({ min: 2n ** 53n - 3n, max: 2n ** 53n + 3n })).map(([neg, n]) => (neg ? '-' : '') + n),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
      fc.tuple(fc.integer({ min: 1, max: 99 }), fc.integer({ min: -30, max: 30 })).map(([m, e]) => `${m}e${e}`),
    );
    const token = '\u0000NUM';
    // Strings with long runs of digits, some looking like a token (all-digit slugs, "a:1234…" in a title).
    const digits = fc.tuple(fc.constantFrom('', ':', ',', '[', ' ', 'x', '-'), fc.bigInt({ min: 10n ** 14n, max: 10n ** 22n })).map(([p, n]) => p + n);
    const doc = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, number.map((n) => token + n), fc.string(), digits, fc.constantFrom(true, false, null), fc.array(tie('value'), { maxLength: 5 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 5 })),
    })).value;
    fc.assert(
      // Compact, or with whitespace and newlines between every token as upstreams also write it.
      fc.property(doc, fc.constantFrom(undefined, 1, '\t', ' \r\n '), (v, space) => {
        // Raw number tokens put back in place of their markers: JSON.stringify would round them first.
        const text = JSON.stringify(v, null, space).replace(/"\\u0000NUM([^"]*)"/g, '$1');
        expect(parseJson(text)).toStrictEqual(lossless(text));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('UpstreamClient', () => {
  it("a call ends its ties: no listener left on the caller's signal, retries or not, and a later abort there changes nothing", async () => {
    const { EventEmitter } = await import('node:events');
    const { getEventListeners } = EventEmitter;
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      res.writeHead(n === 1 ? 503 : 200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const c = client(url);
    const caller = new AbortController();
    const r = await c.json({ path: '/x', signal: caller.signal });
    expect(r.data).toEqual({ ok: true });
    expect(n).toBe(2);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    // Many calls on one long-lived signal (the app's shutdown signal is one) leave it as they found it.
    await Promise.all(Array.from({ length: 20 }, () => c.json({ path: '/x', signal: caller.signal })));
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    caller.abort();
    // And a caller that has gone before the call starts: it is abandoned, not sent.
    const seen = n;
    await expect(c.json({ path: '/x', signal: caller.signal })).rejects.toMatchObject({ kind: 'aborted' });
    expect(n).toBe(seen);
    await c.close();
  });

  it('retries 5xx for GET with backoff, then succeeds', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      res.writeHead(n < 3 ? 503 : 200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const r = await client(url).json({ path: '/x' });
    expect(r.status).toBe(200);
    expect(n).toBe(3);
  });

  it('does not retry POST, and returns the final 5xx to the caller after retries', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      res.writeHead(500).end('{}');
    });
    expect((await client(url).request({ method: 'POST', path: '/x', body: '{}' })).status).toBe(500);
    expect(n).toBe(1);
    n = 0;
    expect((await client(url).request({ path: '/x' })).status).toBe(500);
    expect(n).toBe(3);
  });

  it('timeouts become 504, refused connections 502, oversized bodies 502', async () => {
    const slow = await serve((_req, res) => setTimeout(() => res.end('{}'), 2000).unref());
    await expect(client(slow, { timeoutMs: 100 }).request({ path: '/' })).rejects.toMatchObject({ status: 504, code: 'UPSTREAM_TIMEOUT' });
    await expect(client('http://127.0.0.1:9').request({ path: '/' })).rejects.toMatchObject({ status: 502, code: 'UPSTREAM_UNREACHABLE' });
    const big = await serve((_req, res) => res.end('x'.repeat(5000)));
    await expect(client(big, { maxBytes: 1000 }).request({ path: '/' })).rejects.toMatchObject({ status: 502, code: 'UPSTREAM_TOO_LARGE' });
  });

  it('caps concurrent calls per upstream', async () => {
    let active = 0;
    let peak = 0;
    const url = await serve((_req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        res.end('{}');
      }, 30);
    });
    const c = client(url, { concurrency: 2 });
    await Promise.all(Array.from({ length: 8 }, () => c.request({ path: '/' })));
    expect(peak).toBe(2);
  });

  it('keeps a path prefix from the base URL and encodes the query', async () => {
    let seen = '';
    const url = await serve((req, res) => {
      seen = req.url ?? '';
      res.end('{}');
    });
    await client(`${url}/base/`).request({ path: '/api/x', query: { a: 'b c', skip: undefined, n: 1 } });
    expect(seen).toBe('/base/api/x?a=b+c&n=1');
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter('Wed, 25 Nov 2026 10:00:30 GMT', Date.parse('2026-11-25T10:00:00Z'))).toBe(30);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('conditional requests', () => {
  it('compares ETags weakly, accepts lists and *, and treats If-Modified-Since as "not newer than"', () => {
    expect(isNotModified({ 'if-none-match': '"abc"' }, '"abc"')).toBe(true);
    expect(isNotModified({ 'if-none-match': 'W/"abc"' }, '"abc"')).toBe(true);
    expect(isNotModified({ 'if-none-match': '"x", "abc"' }, '"abc"')).toBe(true);
    expect(isNotModified({ 'if-none-match': '*' }, '"abc"')).toBe(true);
    expect(isNotModified({ 'if-none-match': '"x"', 'if-modified-since': 'Fri, 01 Jan 2100 00:00:00 GMT' }, '"abc"', 1000)).toBe(false);
    const lm = Date.parse('2026-03-12T09:40:15.500Z');
    expect(isNotModified({ 'if-modified-since': 'Thu, 12 Mar 2026 09:40:15 GMT' }, '"abc"', lm)).toBe(true);
    expect(isNotModified({ 'if-modified-since': 'Thu, 12 Mar 2026 09:40:14 GMT' }, '"abc"', lm)).toBe(false);
    expect(isNotModified({ 'if-modified-since': 'garbage' }, '"abc"', lm)).toBe(false);
  });
});
