/**
 * Child process for bench/run.ts: the fake CDN with a 64 MB encrypted video and a JPEG, and a bare
 * node:http server that will return whatever bytes the parent posts to it (the proxied image).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeCdn } from '../test/fakes/cdn.js';
import { encrypt, sampleJpeg } from '../test/helpers/media.js';

const KEY = 7886446226772543123n;
const cdn = await startFakeCdn();
const plain = randomBytes(64 * 1024 * 1024);
cdn.files.set('/video.mp4', { body: encrypt(plain, KEY), type: 'video/mp4' });
cdn.files.set('/cover.jpg', { body: await sampleJpeg(800, 600), type: 'image/jpeg' });

let body = Buffer.alloc(0);
let etag = '""';
const bare = createServer((req, res) => {
  if (req.method === 'PUT') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      body = Buffer.concat(chunks);
      etag = String(req.headers.etag ?? '""');
      res.end();
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length, etag, 'cache-control': 'public, max-age=31536000, immutable' });
  res.end(body);
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
console.error('BENCH ' + JSON.stringify({ url: cdn.url, host: cdn.host, key: KEY.toString(), bytes: plain.length, bare: `http://127.0.0.1:${(bare.address() as AddressInfo).port}/cover.jpg` }));
process.on('SIGTERM', () => process.exit(0));
