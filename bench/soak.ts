/**
 * npm run soak: feedgate (production build) under steady wrk load at 200 connections on a feed, a proxied
 * image and an unknown route, for SOAK_SECONDS (120), sampling RSS (from /proc) and the V8 heap (from
 * /metrics) every SOAK_EVERY seconds (10). Prints the series and the growth over the second half, which
 * should be flat: caches are bounded and logging writes through a 4 KiB buffer.
 */
import { MediaLinks } from '../src/proxy/links.js';
import { UrlSigner } from '../src/proxy/sign.js';
import { ensureTools, feedgate, rssMb, startProc, tsChild, wrk } from './lib.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 120);
const EVERY = Number(process.env.SOAK_EVERY ?? 10);
ensureTools({ wrk: 'wrk' });

const up = await startProc(tsChild(1, 'upstreams.ts'));
const fg = await feedgate({ HDHIVE_API_URL: up.info.hdhive!, HDHIVE_API_KEY: up.info.apiKey!, ACCESS_TOKEN: 'soak', PROXY_SECRET: 'soak', PROXY_ALLOW_HOSTS: up.info.cdnHost!, CACHE_TTL: '1h', PROXY_CLIENT_CONCURRENCY: '1000' });
const image = new MediaLinks(new UrlSigner(Buffer.from('soak'))).image(`${up.info.cdn}/cover.jpg`, 'wechat');

async function heapMb(): Promise<number> {
  const text = await (await fetch(`${fg.info.url}/metrics?token=soak`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 1024 / 1024;
}

const samples: Array<{ t: number; rss: number; heap: number }> = [];
const t0 = performance.now();
const sample = async () => samples.push({ t: (performance.now() - t0) / 1000, rss: rssMb(fg.pid), heap: await heapMb() });
await sample();
const load = Promise.all([
  wrk(`${fg.info.url}/feeds/hdhive/tv/101172?token=soak`, { connections: 120, seconds: SECONDS }),
  wrk(fg.info.url + image, { connections: 60, seconds: SECONDS }),
  wrk(`${fg.info.url}/no/such/route`, { connections: 20, seconds: SECONDS }),
]);
const timer = setInterval(() => void sample(), EVERY * 1000);
const results = await load;
clearInterval(timer);
await sample();

console.log(`soak: ${SECONDS} s at 200 connections (feed ${Math.round(results[0].rps)} req/s, image ${Math.round(results[1].rps)} req/s, 404 ${Math.round(results[2].rps)} req/s)`);
console.log('   t (s)   RSS (MB)   heap used (MB)');
for (const s of samples) console.log(`${s.t.toFixed(0).padStart(8)} ${s.rss.toFixed(0).padStart(10)} ${s.heap.toFixed(1).padStart(16)}`);
const half = samples.filter((s) => s.t >= SECONDS / 2);
if (half.length >= 2) {
  const first = half[0]!;
  const last = half.at(-1)!;
  console.log(`second half: RSS ${(last.rss - first.rss).toFixed(0)} MB, heap ${(last.heap - first.heap).toFixed(1)} MB`);
}
await fg.stop();
await up.stop();
process.exit(0);
