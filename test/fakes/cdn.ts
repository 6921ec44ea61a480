import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake media CDN on an ephemeral loopback port, behaving like the WeChat, Douyin and Moments CDNs in
 * the ways that matter to /proxy and /play: Range support (or deliberately none), hotlink rules on
 * Referer and User-Agent, redirects, slow and oversized bodies, generic content types.
 */

export interface FakeFile {
  body: Buffer;
  type: string;
  /** Answer Range requests with 206 (default true). */
  ranges?: boolean;
  /** Hotlink rule: "no-referer" (mmbiz), "douyin-referer", "moments-ua". */
  rule?: 'no-referer' | 'douyin-referer' | 'moments-ua';
  /** Milliseconds between 64 KiB chunks (slow streams). */
  chunkDelayMs?: number;
  /** Milliseconds before the headers. */
  headerDelayMs?: number;
  headers?: Record<string, string>;
  /** Send no Content-Length (chunked). */
  chunked?: boolean;
  /** Answer with this status whatever was asked (with `headers`, e.g. a broken Content-Range). */
  status?: number;
  /** Send this many bytes of the body, then reset the connection. */
  resetAfter?: number;
  /** Signed-URL check (e.g. a token that rotates): false answers 403 like an expired CDN link. */
  validate?: (url: URL) => boolean;
}

export interface FakeCdn {
  url: string;
  host: string;
  files: Map<string, FakeFile>;
  /** Requests per path. */
  hits: Map<string, number>;
  /** Responses the client abandoned before the end. */
  aborted: number;
  lastHeaders: IncomingMessage['headers'] | undefined;
  lastUrl: URL | undefined;
  total(): number;
  close(): Promise<void>;
}

export async function startFakeCdn(): Promise<FakeCdn> {
  const cdn: FakeCdn = {
    url: '',
    host: '',
    files: new Map(),
    hits: new Map(),
    aborted: 0,
    lastHeaders: undefined,
    lastUrl: undefined,
    total: () => [...cdn.hits.values()].reduce((a, b) => a + b, 0),
    close: async () => {},
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://cdn');
    cdn.hits.set(url.pathname, (cdn.hits.get(url.pathname) ?? 0) + 1);
    cdn.lastHeaders = req.headers;
    cdn.lastUrl = url;

    if (url.pathname === '/badredirect') {
      res.writeHead(302, { location: 'http://[::1' }).end();
      return;
    }
    if (url.pathname === '/redirect') {
      const hops = Number(url.searchParams.get('hops') ?? 0);
      const to = hops > 0 ? `/redirect?hops=${hops - 1}&to=${encodeURIComponent(url.searchParams.get('to') ?? '/')}` : (url.searchParams.get('to') ?? '/');
      res.writeHead(302, { location: to }).end();
      return;
    }
    const file = cdn.files.get(url.pathname);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (file.validate && !file.validate(url)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('token expired');
      return;
    }
    if (file.rule === 'no-referer' && req.headers.referer) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('此图片来自微信公众平台，未经允许不可引用');
      return;
    }
    if (file.rule === 'douyin-referer' && req.headers.referer !== 'https://www.douyin.com/') {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden referer');
      return;
    }
    if (file.rule === 'moments-ua' && req.headers['user-agent'] !== 'MicroMessenger Client') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
      return;
    }
    if (file.headerDelayMs) await new Promise((r) => setTimeout(r, file.headerDelayMs));

    const total = file.body.length;
    let start = 0;
    let end = total - 1;
    let status = 200;
    const headers: Record<string, string> = { 'content-type': file.type, etag: `"v1-${total}"`, 'last-modified': 'Tue, 10 Nov 2026 08:00:00 GMT', ...file.headers };
    const range = req.headers.range;
    if (range && file.ranges !== false) {
      headers['accept-ranges'] = 'bytes';
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          end = m[2] ? Math.min(Number(m[2]), total - 1) : total - 1;
        } else {
          start = Math.max(0, total - Number(m[2]));
        }
        if (start >= total || start > end) {
          res.writeHead(416, { 'content-range': `bytes */${total}` }).end();
          return;
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${total}`;
      }
    }
    const slice = file.body.subarray(start, end + 1);
    if (!file.chunked) headers['content-length'] = String(slice.length);
    res.writeHead(file.status ?? status, headers);
    if (file.resetAfter !== undefined) {
      res.write(slice.subarray(0, file.resetAfter));
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (req.method === 'HEAD') return res.end();
    res.on('close', () => {
      if (!res.writableFinished) cdn.aborted++;
    });
    const CHUNK = 64 * 1024;
    for (let off = 0; off < slice.length; off += CHUNK) {
      if (res.destroyed) return;
      const ok = res.write(slice.subarray(off, off + CHUNK));
      if (file.chunkDelayMs) await new Promise((r) => setTimeout(r, file.chunkDelayMs));
      else if (!ok) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cdn.url = `http://127.0.0.1:${port}`;
  cdn.host = `127.0.0.1:${port}`;
  cdn.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return cdn;
}
