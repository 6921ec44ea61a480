/**
 * Child process for bench/run.ts: a fake HDHive with a 20-item title, feedgate in front of it, and a bare
 * node:http server that returns the very bytes feedgate serves. Prints their URLs on stderr as one "BENCH {json}" line.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sampleTv101172, startFakeHdhive } from '../test/fakes/hdhive.js';
import { startApp } from '../test/helpers/app.js';

const fake = await startFakeHdhive();
const base = sampleTv101172();
fake.resources.set(
  'tv/101172',
  Array.from({ length: 20 }, (_, i) => ({ ...base[i % 2], slug: `${String(i).padStart(4, '0')}${'0'.repeat(28)}`, created_at: `2026-03-${String(10 + i).padStart(2, '0')} 17:40:15` })),
);
const app = await startApp({
  HDHIVE_API_URL: fake.url,
  HDHIVE_API_KEY: fake.apiKey,
  CACHE_TTL: '1h',
  // Production's default level: request logging is part of the cost being measured.
  LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
});
const path = '/feeds/hdhive/tv/101172';
const warm = await fetch(app.url + path);
const body = Buffer.from(await warm.arrayBuffer());
const etag = warm.headers.get('etag')!;

const bare = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/rss+xml; charset=utf-8', 'content-length': body.length, etag, 'cache-control': 'public, max-age=3600' });
  res.end(body);
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
console.error("BENCH " + JSON.stringify({ feedgate: app.url + path, bare: `http://127.0.0.1:${(bare.address() as AddressInfo).port}${path}`, bytes: body.length }));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
