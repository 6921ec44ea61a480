/**
 * Child process for bench/run.ts: the least a relay can do — undici request to the CDN, body piped into a
 * node:http response, no framework, no decryption. Shows what one extra hop costs on this machine.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { Agent } from 'undici';

const target = new URL(`${process.env.CDN_URL}/video.mp4`);
const agent = new Agent();
const server = createServer(async (_req, res) => {
  const up = await agent.request({ origin: target.origin, path: target.pathname, method: 'GET' });
  res.writeHead(up.statusCode, { 'content-type': 'video/mp4', 'content-length': String(up.headers['content-length']) });
  pipeline(up.body, res, () => {});
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
console.error('BENCH ' + JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/video.mp4` }));
process.on('SIGTERM', () => process.exit(0));
