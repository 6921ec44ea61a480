import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Whatever alerts are sent to: records each request; answers what `answer` says for its path (200 {} otherwise). */
export interface FakeReceiver {
  url: string;
  hostPort: string;
  received: Received[];
  answer: (req: Received) => { status: number; body: unknown } | undefined;
  /** Resolves when `n` requests have arrived (or fails after `ms`). */
  until(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<FakeReceiver> {
  let server: Server;
  const fake: FakeReceiver = {
    url: '',
    hostPort: '',
    received: [],
    answer: () => undefined,
    async until(n, ms = 10_000) {
      const end = Date.now() + ms;
      while (fake.received.length < n) {
        if (Date.now() > end) throw new Error(`${fake.received.length} of ${n} requests arrived`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      fake.received.push(got);
      const a = fake.answer(got) ?? { status: 200, body: {} };
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.hostPort = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.url = `http://${fake.hostPort}`;
  return fake;
}
