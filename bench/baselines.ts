/**
 * Child process for the benchmarks: the baselines, serving the very bytes and headers feedgate serves.
 * BASELINE=node: bare node:http; BASELINE=koa: bare Koa 3 + @koa/router; BASELINE=relay: the least a
 * relay can do (undici request to the CDN, body piped into a node:http response, no framework).
 * Responses come from BENCH_FIXTURES, a JSON file of { path: { headers, body (base64) } }.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import { Agent } from 'undici';

type Fixture = { headers: Record<string, string>; body: Buffer };
const raw = JSON.parse(readFileSync(process.env.BENCH_FIXTURES ?? '/dev/null', 'utf8') || '{}') as Record<string, { headers: Record<string, string>; body: string }>;
const fixtures = new Map<string, Fixture>(Object.entries(raw).map(([p, f]) => [p, { headers: f.headers, body: Buffer.from(f.body, 'base64') }]));

let server;
switch (process.env.BASELINE) {
  case 'koa': {
    const app = new Koa();
    const router = new Router();
    for (const [path, f] of fixtures) {
      router.get(path, (ctx) => {
        ctx.set(f.headers);
        ctx.body = f.body;
      });
    }
    app.use(router.routes());
    server = app.listen(0, '127.0.0.1');
    break;
  }
  case 'relay': {
    const target = new URL(process.env.CDN_URL!);
    const agent = new Agent();
    server = createServer(async (req, res) => {
      const up = await agent.request({ origin: target.origin, path: req.url!, method: 'GET' });
      res.writeHead(up.statusCode, { 'content-type': 'video/mp4', 'content-length': String(up.headers['content-length']) });
      pipeline(up.body, res, () => {});
    }).listen(0, '127.0.0.1');
    break;
  }
  default:
    server = createServer((req, res) => {
      const f = fixtures.get(req.url!.split('?')[0]!);
      if (!f) return res.writeHead(404).end();
      res.writeHead(200, { ...f.headers, 'content-length': f.body.length });
      res.end(f.body);
    }).listen(0, '127.0.0.1');
}
server.once('listening', () => console.error('BENCH ' + JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
process.on('SIGTERM', () => process.exit(0));
