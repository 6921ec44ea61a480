/**
 * Child process for the background refresh benchmark: a fake HDHive with BENCH_FEEDS titles of five
 * resources each (tv/200000 on), and a count of its calls per second at /calls. Prints its URLs on
 * stderr as one "BENCH {json}" line.
 */
import { createServer } from 'node:http';
import { sampleTv101172, startFakeHdhive } from '../test/fakes/hdhive.js';

const FEEDS = Number(process.env.BENCH_FEEDS ?? 10_000);
const hdhive = await startFakeHdhive();
// A quota that plans nothing out: background refresh keeps to half of HDHive's stated daily quota, and
// 10 000 feeds every 120 s are 7.2 million calls a day.
hdhive.quota = { limit: 1_000_000_000, reset: 1795536000 };
const base = sampleTv101172();
for (let t = 0; t < FEEDS; t++) {
  hdhive.resources.set(
    `tv/${200_000 + t}`,
    Array.from({ length: 5 }, (_, i) => ({ ...base[i % 2], slug: `${String(t).padStart(8, '0')}${String(i).padStart(4, '0')}${'0'.repeat(20)}`, title: `剧集 ${t}`, remark: `第${i + 1}集 更新`, created_at: `2026-03-${String(10 + i).padStart(2, '0')} 17:40:15` })),
  );
}
// Calls per whole second since start: the benchmark checks the pace and counts the calls.
const perSecond = new Map<number, number>();
const t0 = Date.now();
const seen = hdhive.totalCalls;
let last = 0;
setInterval(() => {
  const now = seen();
  const s = Math.floor((Date.now() - t0) / 1000);
  perSecond.set(s, (perSecond.get(s) ?? 0) + now - last);
  last = now;
}, 100).unref();
const stats = createServer((_req, res) => res.end(JSON.stringify({ total: seen(), perSecond: Object.fromEntries(perSecond) })));
await new Promise<void>((r) => stats.listen(0, '127.0.0.1', r));
console.error('BENCH ' + JSON.stringify({ hdhive: hdhive.url, apiKey: hdhive.apiKey, stats: `http://127.0.0.1:${(stats.address() as { port: number }).port}` }));
process.on('SIGTERM', () => process.exit(0));
