import { request } from 'node:http';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Names and values as sent, in order: [name, value, name, value, …]. */
  rawHeaders: string[];
  /** The bytes as sent (fetch would decode a compressed body). */
  body: Buffer;
}

/** A request as a hostile or unusual client sends it: any method, any request target, any Host header. */
export function rawRequest(base: string, target: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  const headers = opts.headers ?? {};
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port: Number(port), method: opts.method ?? 'GET', path: target, headers, setHost: !('Host' in headers) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}
