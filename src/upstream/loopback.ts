import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { readCapped } from './read-body.js';

export interface LoopbackGet {
  /** GETs a root-relative path; undefined unless the answer is a 200 of at most `max` bytes. */
  get(path: string, max: number): Promise<{ body: Buffer; type: string } | undefined>;
  close(): Promise<void>;
}

/**
 * Our own routes, asked over HTTP on a private loopback port: what a long job (an export bundling
 * images) fetches goes through exactly what readers get (signature check, SSRF guard, cache,
 * decryption, kept media) instead of a second way around it.
 */
export async function loopback(listener: RequestListener): Promise<LoopbackGet> {
  const server = createServer(listener);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const get = originGet(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    get,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** GETs of root-relative paths on a running feedgate at `origin` (the command line's export asks the server). */
export function originGet(origin: string): LoopbackGet['get'] {
  return async (path, max) => {
    const res = await request(origin + path, { headersTimeout: 60_000, bodyTimeout: 60_000 });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      return undefined;
    }
    const body = await readCapped(res.body, res.headers['content-length'], max);
    const type = res.headers['content-type'];
    return body && { body, type: String(Array.isArray(type) ? type[0] : (type ?? '')) };
  };
}
