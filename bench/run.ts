/**
 * npm run bench: feedgate against baselines measured in the same run, driven by wrk and curl (C), with
 * servers pinned to core 0 and load generators to core 1 where taskset works. Every figure is printed
 * with its baselines' absolute figures, so a ratio can be judged (a baseline limited by the generator
 * makes every ratio look good).
 *
 * BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_ONLY=feed,proxy,play,resize,mp,redis,store,websub,refresh,archive,memory,
 * BENCH_FEEDS (10000: feeds on the refresh schedule), BENCH_REFRESH (120: their interval, s),
 * BENCH_ARCHIVE_ITEMS (1000000: kept items), BENCH_ARCHIVE_FEED (100000: of them in one feed),
 * BENCH_NODE_FLAGS (extra node flags for feedgate, e.g. --cpu-prof).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { duration } from '../src/config.js';
import { MediaLinks } from '../src/proxy/links.js';
import { UrlSigner } from '../src/proxy/sign.js';
import { ROOT, cpuSeconds, curlRate, ensureTools, feedgate, freePort, median, minorFaults, peakRss, pinned, pinningNote, roundRatios, rssMb, showRatio, startPolled, startProc, tempDir, tsChild, wrk, type Proc, type WrkResult } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ONLY = new Set((process.env.BENCH_ONLY ?? 'feed,proxy,play,resize,mp,redis,store,websub,refresh,archive,memory').split(','));
const TOKEN = 'bench-token';
const SECRET = 'bench-secret';

ensureTools({ wrk: 'wrk', curl: 'curl', nginx: 'nginx-light' });
console.log(`feedgate benchmarks (${pinningNote}; wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} alternating rounds, medians)\n`);

const procs: Proc[] = [];
const track = async (p: Promise<Proc>) => {
  const proc = await p;
  procs.push(proc);
  return proc;
};
// SIGTERM, not SIGKILL: nginx's master must live to stop its workers, or they hold our stdout open.
process.on('exit', () => procs.forEach((p) => p.child.kill('SIGTERM')));

const up = await track(startProc(tsChild(1, 'upstreams.ts')));
const FG_ENV = { HDHIVE_API_URL: up.info.hdhive!, HDHIVE_API_KEY: up.info.apiKey!, ACCESS_TOKEN: TOKEN, PROXY_SECRET: SECRET, PROXY_ALLOW_HOSTS: up.info.cdnHost!, CACHE_TTL: '1h' };
const fg = await track(feedgate(FG_ENV));
const links = new MediaLinks(new UrlSigner(Buffer.from(SECRET)));
const FEED = `/feeds/hdhive/tv/101172?token=${TOKEN}`;
const IMAGE = links.image(`${up.info.cdn}/cover.jpg`, 'wechat');
const PLAY = links.video(`${up.info.cdn}/video.mp4`, 'channels', { key: up.info.key });

/** What feedgate answers, to be served byte for byte by the baselines. */
async function capture(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(fg.info.url + path, { headers });
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
  const keep: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id'].includes(k)) keep[k] = v;
  });
  return { headers: keep, body: Buffer.from(await res.arrayBuffer()).toString('base64') };
}

// fetch() decodes bodies: fetch the compressed variant with node's http to keep the bytes as sent.
async function captureRaw(path: string, headers: Record<string, string>) {
  const { request } = await import('node:http');
  return new Promise<{ headers: Record<string, string>; body: string }>((resolve, reject) => {
    request(fg.info.url + path, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const keep: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string' && !['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding', 'x-request-id'].includes(k)) keep[k] = v;
        resolve({ headers: keep, body: Buffer.concat(chunks).toString('base64') });
      });
    })
      .on('error', reject)
      .end();
  });
}

const GZ = { 'accept-encoding': 'gzip, br' };
const fixtures = {
  '/feed': await capture(FEED),
  '/feed-gz': await captureRaw(FEED, GZ),
  '/image': await capture(IMAGE),
};
const fixtureFile = join(tempDir(), 'fixtures.json');
writeFileSync(fixtureFile, JSON.stringify(fixtures));
const bareNode = await track(startProc(tsChild(0, 'baselines.ts'), { BASELINE: 'node', BENCH_FIXTURES: fixtureFile }));
const bareKoa = await track(startProc(tsChild(0, 'baselines.ts'), { BASELINE: 'koa', BENCH_FIXTURES: fixtureFile }));

const fmt = (r: WrkResult) => `${Math.round(r.rps).toString().padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms${r.errors ? `  (${r.errors} errors!)` : ''}`;

/** Alternating rounds of wrk over named targets; medians per target. */
async function compare(title: string, targets: Record<string, { url: string; headers?: Record<string, string> }>, goal: { vs: string; ratio: number; p99?: number }): Promise<void> {
  const runs: Record<string, WrkResult[]> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, t] of Object.entries(targets)) (runs[name] ??= []).push(await wrk(t.url, { connections: CONNECTIONS, seconds: SECONDS, headers: t.headers }));
  }
  const med: Record<string, WrkResult> = {};
  for (const [name, rs] of Object.entries(runs)) med[name] = { rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0) };
  console.log(title);
  for (const [name, r] of Object.entries(med)) console.log(`  ${name.padEnd(22)} ${fmt(r)}`);
  const ours = med.feedgate!;
  const ratioVs = (name: string) => roundRatios(runs.feedgate!.map((x) => x.rps), runs[name]!.map((x) => x.rps));
  for (const name of Object.keys(med)) if (name !== 'feedgate') console.log(`  ratio vs ${name.padEnd(13)} ${showRatio(ratioVs(name))}`);
  const ratio = ratioVs(goal.vs).median;
  const ok = ratio >= goal.ratio && (goal.p99 === undefined || ours.p99 < goal.p99);
  console.log(`  goal: >= ${goal.ratio}x ${goal.vs}${goal.p99 ? `, p99 < ${goal.p99} ms` : ''}: ${ok ? 'met' : 'NOT MET'}\n`);
}

if (ONLY.has('feed')) {
  await compare(`Cached 20-item RSS feed (${Buffer.from(fixtures['/feed'].body, 'base64').length} bytes; token, metrics, info logs to a file):`, {
    'bare node:http': { url: `${bareNode.info.url}/feed` },
    'bare Koa+router': { url: `${bareKoa.info.url}/feed` },
    feedgate: { url: fg.info.url + FEED },
  }, { vs: 'bare Koa+router', ratio: 0.8, p99: 10 });
  const gzBytes = Buffer.from(fixtures['/feed-gz'].body, 'base64').length;
  await compare(`The same feed compressed (${fixtures['/feed-gz'].headers['content-encoding'] ?? 'identity'}, ${gzBytes} bytes):`, {
    'bare node:http': { url: `${bareNode.info.url}/feed-gz` },
    'bare Koa+router': { url: `${bareKoa.info.url}/feed-gz` },
    feedgate: { url: fg.info.url + FEED, headers: GZ },
  }, { vs: 'bare Koa+router', ratio: 0.8, p99: 10 });
}

if (ONLY.has('proxy')) {
  await compare(`/proxy image cache hit (${Buffer.from(fixtures['/image'].body, 'base64').length} bytes):`, {
    'bare node:http': { url: `${bareNode.info.url}/image` },
    'bare Koa+router': { url: `${bareKoa.info.url}/image` },
    feedgate: { url: fg.info.url + IMAGE },
  }, { vs: 'bare Koa+router', ratio: 0.8 });
}

let streamsPeak = NaN;
if (ONLY.has('play')) {
  const dir = tempDir();
  const nginxConf = join(dir, 'nginx.conf');
  const nginxPort = await freePort();
  const tunedPort = await freePort();
  // Two relays in one nginx: its defaults (what the issue measured: with proxy_buffering off it moves
  // one 4 KiB page per read), and 64 KiB buffers, the size Node reads a socket in.
  const location = `proxy_pass ${up.info.cdn}; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off;`;
  writeFileSync(
    nginxConf,
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  server { listen 127.0.0.1:${nginxPort}; location / { ${location} } }
  server { listen 127.0.0.1:${tunedPort}; location / { ${location} proxy_buffer_size 64k; proxy_buffers 4 64k; proxy_busy_buffers_size 128k; } } }\n`,
  );
  const nginx = await track(startPolled(pinned(0, 'nginx', ['-c', nginxConf, '-e', `${dir}/error.log`]), `http://127.0.0.1:${nginxPort}`));
  const relay = await track(startProc(tsChild(0, 'baselines.ts'), { BASELINE: 'relay', CDN_URL: up.info.cdn! }));
  const targets: Record<string, string> = {
    'direct from the CDN': `${up.info.cdn}/video.mp4`,
    'nginx relay': `${nginx.info.url}/video.mp4`,
    'nginx, 64 KiB buffers': `http://127.0.0.1:${tunedPort}/video.mp4`,
    'bare undici relay': `${relay.info.url}/video.mp4`,
    feedgate: fg.info.url + PLAY,
  };
  // Steady state: three untimed streams each first (feedgate loads undici on the first, and its relay path
  // runs through more stream code than a bare relay, so the JIT needs a few streams to settle).
  for (const url of Object.values(targets)) for (let i = 0; i < 3; i++) await curlRate(url);
  const SINGLE_STREAMS = 5;
  const single: Record<string, number[]> = {};
  const twenty: Record<string, number[]> = {};
  const faults: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, url] of Object.entries(targets)) {
      // One 64 MiB stream takes ~0.1 s, within reach of a scheduler hiccup: a round's figure is
      // SINGLE_STREAMS of them back to back (bytes over summed time).
      const f0 = name === 'feedgate' ? minorFaults(fg.pid) : 0;
      let bytes = 0;
      let seconds = 0;
      for (let i = 0; i < SINGLE_STREAMS; i++) {
        const one = await curlRate(url);
        bytes += one.bytes;
        seconds += one.seconds;
      }
      if (name === 'feedgate') faults.push(Math.round((minorFaults(fg.pid) - f0) / SINGLE_STREAMS));
      (single[name] ??= []).push(bytes / seconds / 1e6);
      const t0 = performance.now();
      const work = () => Promise.all(Array.from({ length: 20 }, () => curlRate(url)));
      const { peak, result } = name === 'feedgate' ? await peakRss(fg.pid, work) : { peak: NaN, result: await work() };
      if (name === 'feedgate') streamsPeak = Math.max(Number.isNaN(streamsPeak) ? 0 : streamsPeak, peak);
      (twenty[name] ??= []).push(result.reduce((a, x) => a + x.bytes, 0) / ((performance.now() - t0) / 1000) / 1e6);
    }
  }
  for (const [label, data] of [[`one 64 MiB stream at a time, ${SINGLE_STREAMS} per round`, single], ['20 concurrent 64 MiB streams', twenty]] as const) {
    console.log(`/play decrypting, ${label} (MB/s, curl):`);
    for (const [name, xs] of Object.entries(data)) console.log(`  ${name.padEnd(22)} ${median(xs).toFixed(0).padStart(6)} MB/s`);
    const vsNginx = roundRatios(data.feedgate!, data['nginx relay']!);
    const ratio = vsNginx.median;
    console.log(`  ratio vs nginx relay    ${showRatio(vsNginx)}; vs bare undici relay ${showRatio(roundRatios(data.feedgate!, data['bare undici relay']!))}`);
    // Tuned nginx is what no Node relay reaches here: the bare undici relay's own ratio says how far off.
    console.log(`  vs nginx, 64 KiB buffers ${showRatio(roundRatios(data.feedgate!, data['nginx, 64 KiB buffers']!))}; bare undici relay vs it ${showRatio(roundRatios(data['bare undici relay']!, data['nginx, 64 KiB buffers']!))}`);
    if (data === single) console.log(`  feedgate minor page faults per stream, mean of each round: ${faults.join(', ')} (each is a page glibc gave back and took again)`);
    console.log(`  goal: >= 0.9x nginx relay (its defaults, as in the issue): ${ratio >= 0.9 ? 'met' : 'NOT MET'}\n`);
  }
}

if (ONLY.has('resize')) {
  const original = Buffer.from(fixtures['/image'].body, 'base64');
  const N = 20;
  const ours: number[] = [];
  for (let i = 0; i < N; i++) {
    const r = await curlRate(fg.info.url + links.image(`${up.info.cdn}/cover.jpg`, 'wechat', { w: 300 + i, fmt: 'jpeg' }));
    ours.push(r.seconds * 1000);
  }
  const alone: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await sharp(original).resize({ width: 300 + i, withoutEnlargement: true, fit: 'inside' }).jpeg().toBuffer();
    alone.push(performance.now() - t0);
  }
  console.log(`Cold resize 800x600 JPEG -> ~300 px JPEG (median of ${N}):`);
  console.log(`  sharp alone            ${median(alone).toFixed(1)} ms`);
  console.log(`  feedgate /proxy?w=     ${median(ours).toFixed(1)} ms (HTTP included)`);
  console.log(`  ratio                  ${(median(ours) / median(alone)).toFixed(2)}x the time of sharp alone\n`);
}

if (ONLY.has('mp')) {
  // Full text is latency-bound, not throughput-bound: cold requests one at a time, timed end to end.
  // One cold sample swung the ratio from 2.3x to 3.2x on this machine, so each round has its own
  // accounts and articles (nothing cached), and the ratio is the median of the rounds'.
  const { startFakeMp } = await import('../test/fakes/mp.js');
  const mp = await startFakeMp();
  const now = Math.floor(Date.now() / 1000);
  const bizOf = (n: number) => Buffer.from(String(3249990000 + n)).toString('base64');
  const account = (biz: string, firstMid: number, count: number) => {
    mp.others.set(biz, Array.from({ length: count }, (_, i) => ({ id: firstMid + i, datetime: now - i * 3600, type: 49, articles: [{ mid: firstMid + i, idx: 1, title: `Article ${firstMid + i}`, digest: 'd', author: 'a', cover: '', kind: 'article' as const }] })));
    return biz;
  };
  const WARM = account(bizOf(0), 9000, 1);
  const rounds = Array.from({ length: ROUNDS }, (_, r) => ({ one: account(bizOf(1 + 2 * r), 10000 + 100 * r, 1), ten: account(bizOf(2 + 2 * r), 10050 + 100 * r, 10) }));
  mp.articleDelayMs = 200;
  const mpfg = await track(feedgate({ MP_BASE_URL: mp.url, MP_CALLS_PER_MINUTE: '600', MP_FETCH_CONCURRENCY: '4', PROXY_ALLOW_HOSTS: mp.host }));
  for (const biz of [WARM, ...rounds.flatMap((r) => [r.one, r.ten])]) {
    const key = `bench-${biz}`;
    mp.validKeys.set(biz, key);
    await fetch(`${mpfg.info.url}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz, key, uin: 'MTIz', pass_ticket: 'pt' }) });
  }
  const timed = async (path: string) => {
    // The message-list budget spaces calls 100-125 ms apart at 600 a minute: no timed request may wait on it.
    await sleep(150);
    const t0 = performance.now();
    const res = await fetch(mpfg.info.url + path);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
    return performance.now() - t0;
  };
  const pageCalls = () => [...mp.pageHits.values()].reduce((a, b) => a + b, 0);
  // Loads the parser and opens connections, so no round pays for a cold process.
  await timed(`/feeds/mp/${encodeURIComponent(WARM)}?content=1`);
  const ones: number[] = [];
  const tens: number[] = [];
  const kept: number[] = [];
  let fetched = 0;
  let refetched = 0;
  for (const r of rounds) {
    ones.push(await timed(`/feeds/mp/${encodeURIComponent(r.one)}?content=1`));
    const before = pageCalls();
    tens.push(await timed(`/feeds/mp/${encodeURIComponent(r.ten)}?content=1`));
    fetched += pageCalls() - before;
    // Another option set is another cache entry: the feed is rebuilt, its articles come from the archive.
    const again = pageCalls();
    kept.push(await timed(`/feeds/mp/${encodeURIComponent(r.ten)}?content=1&proxy_cover=0`));
    refetched += pageCalls() - again;
  }
  const ratio = roundRatios(tens, ones);
  const ms = (xs: number[]) => `${median(xs).toFixed(0).padStart(5)} ms (per round: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`MP full text, 200 ms per article page upstream, MP_FETCH_CONCURRENCY=4 (cold, one request at a time, ${ROUNDS} rounds, medians):`);
  console.log(`  1-article feed          ${ms(ones)}`);
  console.log(`  10-article feed         ${ms(tens)}; ${fetched} article pages fetched for ${10 * ROUNDS}`);
  console.log(`  ratio                   ${showRatio(ratio)} (goal <= 3x: ${ratio.median <= 3 ? 'met' : 'NOT MET'}; 10 pages at 4 at a time are 3 waves of 200 ms)`);
  console.log(`  rebuilt from the archive ${ms(kept)}, ${refetched} article pages fetched (goal 0: ${refetched === 0 ? 'met' : 'NOT MET'})\n`);
  await mp.close();
}

if (ONLY.has('redis')) {
  // Replicas share through Redis only on a miss: a cached feed is served from each replica's memory.
  ensureTools({ 'redis-server': 'redis-server' });
  const { startRedis } = await import('../test/helpers/redis.js');
  const redis = await startRedis();
  const shared = await track(
    feedgate({ HDHIVE_API_URL: up.info.hdhive!, HDHIVE_API_KEY: up.info.apiKey!, ACCESS_TOKEN: TOKEN, PROXY_SECRET: SECRET, PROXY_ALLOW_HOSTS: up.info.cdnHost!, CACHE_TTL: '1h', REDIS_URL: redis.url }),
  );
  await fetch(shared.info.url + FEED);
  const runs: Record<string, WrkResult[]> = {};
  const targets: Record<string, string> = { 'bare Koa+router': `${bareKoa.info.url}/feed`, 'feedgate, memory': fg.info.url + FEED, 'feedgate, Redis': shared.info.url + FEED };
  for (let r = 0; r < ROUNDS; r++) for (const [name, url] of Object.entries(targets)) (runs[name] ??= []).push(await wrk(url, { connections: CONNECTIONS, seconds: SECONDS }));
  console.log('Cached feed with REDIS_URL against per-process memory (the same 20-item feed):');
  const med: Record<string, number> = {};
  for (const [name, rs] of Object.entries(runs)) {
    med[name] = median(rs.map((x) => x.rps));
    console.log(`  ${name.padEnd(22)} ${fmt({ rps: med[name]!, p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0) })}`);
  }
  console.log(`  Redis vs memory        ${(med['feedgate, Redis']! / med['feedgate, memory']!).toFixed(2)}x\n`);
  await redis.stop();
}

if (ONLY.has('store')) {
  // Durable state on PostgreSQL against SQLite, the same feedgate otherwise. A cold build writes first-seen
  // stamps and a snapshot, so it shows what a database round trip costs; a cached hit never touches one.
  const { postgresBin, startPostgres } = await import('../test/helpers/postgres.js');
  if (!postgresBin()) throw new Error('the store benchmark needs PostgreSQL: apt-get install postgresql');
  const pg = await startPostgres();
  const { startFakeHdhive, sampleTv101172 } = await import('../test/fakes/hdhive.js');
  const hd = await startFakeHdhive();
  // Answers in about 1 ms: the build, not the upstream, is measured.
  hd.delayMs = 1;
  const TITLES = 40 * ROUNDS;
  for (let i = 0; i < 2 * TITLES + 10; i++) hd.resources.set(`tv/${700000 + i}`, sampleTv101172());
  const base = { HDHIVE_API_URL: hd.url, HDHIVE_API_KEY: hd.apiKey, ACCESS_TOKEN: TOKEN, PROXY_SECRET: SECRET, CACHE_TTL: '1h' };
  const engines = {
    SQLite: await track(feedgate(base)),
    PostgreSQL: await track(feedgate({ ...base, DATABASE_URL: await pg.database('bench') })),
  };
  let next = 700000;
  const cold = async (url: string) => {
    const t0 = performance.now();
    const res = await fetch(`${url}/feeds/hdhive/tv/${next++}?token=${TOKEN}`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`cold feed: HTTP ${res.status}`);
    return performance.now() - t0;
  };
  for (const e of Object.values(engines)) for (let i = 0; i < 5; i++) await cold(e.info.url!); // warm up
  const builds: Record<string, number[]> = { SQLite: [], PostgreSQL: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, e] of Object.entries(engines)) {
      const t: number[] = [];
      for (let i = 0; i < 40; i++) t.push(await cold(e.info.url!));
      builds[name]!.push(median(t));
    }
  }
  const hits: Record<string, WrkResult[]> = { SQLite: [], PostgreSQL: [] };
  for (const e of Object.values(engines)) await fetch(`${e.info.url}/feeds/hdhive/tv/101172?token=${TOKEN}`);
  for (let r = 0; r < ROUNDS; r++) for (const [name, e] of Object.entries(engines)) hits[name]!.push(await wrk(`${e.info.url}/feeds/hdhive/tv/101172?token=${TOKEN}`, { connections: CONNECTIONS, seconds: SECONDS }));
  const ratio = roundRatios(builds.PostgreSQL!, builds.SQLite!);
  console.log(`Durable state on PostgreSQL against SQLite (HDHive fake answering in ~1 ms, ${ROUNDS} rounds):`);
  for (const name of ['SQLite', 'PostgreSQL']) {
    console.log(`  cold feed build, ${name.padEnd(10)} ${median(builds[name]!).toFixed(2).padStart(6)} ms median of 40 one at a time (per round: ${builds[name]!.map((x) => x.toFixed(2)).join(', ')})`);
  }
  console.log(`  ratio                       ${showRatio(ratio)} (goal <= 1.3x: ${ratio.median <= 1.3 ? 'met' : 'NOT MET'})`);
  for (const name of ['SQLite', 'PostgreSQL']) {
    const rs = hits[name]!;
    console.log(`  cached hit, ${name.padEnd(10)}      ${fmt({ rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0) })}`);
  }
  const hitRatio = roundRatios(hits.PostgreSQL!.map((x) => x.rps), hits.SQLite!.map((x) => x.rps));
  console.log(`  cached hits, PostgreSQL/SQLite ${showRatio(hitRatio)} (the memory tier: no database call either way)\n`);

  // MP full text rebuilt from the archive (another option set, so another cache entry): every article
  // body is read from the database, none fetched.
  const { startFakeMp } = await import('../test/fakes/mp.js');
  const mp = await startFakeMp();
  const now = Math.floor(Date.now() / 1000);
  const mpEngines = {
    SQLite: await track(feedgate({ MP_BASE_URL: mp.url, MP_CALLS_PER_MINUTE: '600', PROXY_ALLOW_HOSTS: mp.host })),
    PostgreSQL: await track(feedgate({ MP_BASE_URL: mp.url, MP_CALLS_PER_MINUTE: '600', PROXY_ALLOW_HOSTS: mp.host, DATABASE_URL: await pg.database('benchmp') })),
  };
  const rebuilt: Record<string, number[]> = { SQLite: [], PostgreSQL: [] };
  let n = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, e] of Object.entries(mpEngines)) {
      const biz = Buffer.from(String(3259990000 + ++n)).toString('base64');
      mp.others.set(biz, Array.from({ length: 10 }, (_, i) => ({ id: 20000 + 100 * n + i, datetime: now - i * 3600, type: 49, articles: [{ mid: 20000 + 100 * n + i, idx: 1, title: `A${i}`, digest: 'd', author: 'a', cover: '', kind: 'article' as const }] })));
      mp.validKeys.set(biz, `k${n}`);
      await fetch(`${e.info.url}/api/mp/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ biz, key: `k${n}`, uin: 'MTIz', pass_ticket: 'pt' }) });
      const path = `/feeds/mp/${encodeURIComponent(biz)}?content=1`;
      await (await fetch(e.info.url + path)).arrayBuffer();
      await sleep(150); // the message-list budget, so no timed request waits on it
      const t0 = performance.now();
      const res = await fetch(`${e.info.url}${path}&proxy_cover=0`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`MP rebuild: HTTP ${res.status}`);
      rebuilt[name]!.push(performance.now() - t0);
    }
  }
  for (const name of ['SQLite', 'PostgreSQL']) console.log(`  MP 10-article rebuild from the archive, ${name.padEnd(10)} ${median(rebuilt[name]!).toFixed(1)} ms (per round: ${rebuilt[name]!.map((x) => x.toFixed(1)).join(', ')})`);
  console.log('');
  for (const e of [...Object.values(engines), ...Object.values(mpEngines)]) e.child.kill('SIGTERM');
  await mp.close();
  await hd.close();
  await pg.stop();
}

if (ONLY.has('websub')) {
  // One change fanned out to 1 000 WebSub subscribers on loopback: how long until every one has it, and
  // what the fan-out costs in memory (deliveries are bounded in flight).
  const SUBSCRIBERS = 1000;
  const { createServer } = await import('node:http');
  const { startFakeHdhive, sampleTv101172 } = await import('../test/fakes/hdhive.js');
  const hd = await startFakeHdhive();
  let verified = 0;
  let delivered = 0;
  const receiver = createServer((req, res) => {
    if (req.method === 'GET') {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      verified++;
      res.end(q.get('hub.challenge') ?? '');
      return;
    }
    req.resume();
    req.on('end', () => {
      delivered++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const rx = `127.0.0.1:${(receiver.address() as { port: number }).port}`;
  const wfg = await track(feedgate({ HDHIVE_API_URL: hd.url, HDHIVE_API_KEY: hd.apiKey, CACHE_TTL: '1s', WEBSUB_CALLBACK_ALLOW: rx }));
  const topic = `${wfg.info.url}/feeds/hdhive/tv/101172.atom`;
  await fetch(topic);
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const body = new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.topic': topic, 'hub.callback': `http://${rx}/s/${i}`, 'hub.secret': `secret-${i}` }).toString();
    const res = await fetch(`${wfg.info.url}/websub`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    if (res.status !== 202) throw new Error(`subscribe: HTTP ${res.status}`);
  }
  for (let i = 0; i < 400 && verified < SUBSCRIBERS; i++) await sleep(50);
  await sleep(500);
  const idle = rssMb(wfg.child.pid!);
  const fanOut = async (title: string) => {
    hd.resources.set('tv/101172', sampleTv101172().map((r, i) => (i === 0 ? { ...r, title } : r)));
    await sleep(1100);
    const before = delivered;
    const t0 = performance.now();
    await fetch(topic);
    while (delivered - before < SUBSCRIBERS && performance.now() - t0 < 60_000) await sleep(10);
    return { ms: performance.now() - t0, got: delivered - before };
  };
  const runs: Array<{ ms: number; got: number; peak: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const { peak, result } = await peakRss(wfg.child.pid!, () => fanOut(`change ${r}`));
    runs.push({ ...result, peak });
  }
  console.log(`WebSub: one change fanned out to ${SUBSCRIBERS} subscribers on loopback (signed, ${ROUNDS} rounds; ${verified} verifications):`);
  for (const [r, x] of runs.entries()) console.log(`  round ${r + 1}: ${x.got}/${SUBSCRIBERS} delivered in ${(x.ms / 1000).toFixed(2)} s, peak RSS ${x.peak.toFixed(0)} MB (idle ${idle.toFixed(0)} MB)`);
  const worst = Math.max(...runs.map((x) => x.ms));
  console.log(`  goal: all within 10 s: ${runs.every((x) => x.got === SUBSCRIBERS) && worst <= 10_000 ? 'met' : 'NOT MET'}\n`);
  wfg.child.kill('SIGTERM');
  receiver.close();
  await hd.close();
}

/**
 * The refresh cases' rig: a fake HDHive with `feeds` titles in its own process on the other core, and
 * feedgate on the embedded engine and SQLite with every feed read lately and on the schedule, spread
 * over one interval from `T0` as a settled schedule is (so the run shows a restart taking it up too),
 * unless `placeAt` (ms after `T0`, by feed) says otherwise. Readers poll 200 of the feeds.
 */
async function refreshRig(feeds: number, intervalS: number, leadMs: number, placeAt: (i: number) => number = (i) => Math.floor((i / feeds) * intervalS * 1000)) {
  const { openSqlite } = await import('../src/store/sqlite.js');
  const { CORE_MIGRATIONS } = await import('../src/store/migrations.js');
  const rup = await track(startProc(tsChild(1, 'refresh-upstream.ts'), { BENCH_FEEDS: String(feeds) }));
  const dataDir = tempDir();
  const db = openSqlite(dataDir);
  await db.migrate(CORE_MIGRATIONS);
  const startAt = Date.now();
  const T0 = startAt + leadMs;
  const url = (t: number) => `/feeds/hdhive/tv/${200_000 + t}.rss`;
  for (let t = 0; t < feeds; t += 500) {
    await db.tx(async (q) => {
      for (let i = t; i < Math.min(feeds, t + 500); i++) {
        await q.run('INSERT INTO opml_feeds (url, title, source, last_requested) VALUES (?, ?, ?, ?)', [url(i), '', 'hdhive', startAt]);
        await q.run('INSERT INTO refresh_feeds (url, source, interval_ms, next_at) VALUES (?, ?, ?, ?)', [url(i), 'hdhive', intervalS * 1000, T0 + placeAt(i)]);
      }
    });
  }
  await db.close();
  const rfg = await track(feedgate({ HDHIVE_API_URL: rup.info.hdhive!, HDHIVE_API_KEY: rup.info.apiKey!, DATA_DIR: dataDir, CACHE_TTL: '10m', REFRESH_HDHIVE: `${intervalS}s` }));
  const pid = rfg.child.pid!;
  const metric = async (re: RegExp) => {
    const text = await (await fetch(`${rfg.info.url}/metrics`)).text();
    return [...text.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
  };
  const polled = Array.from({ length: 200 }, (_, i) => url(i * Math.floor(feeds / 200)));
  const script = join(tempDir(), 'polls.lua');
  writeFileSync(
    script,
    `paths = {${polled.map((p) => `"${p}"`).join(',')}}\ncounter = 0\nrequest = function()\n  counter = counter + 1\n  return wrk.format("GET", paths[(counter % #paths) + 1])\nend\ndelay = function()\n  return 5\nend\n`,
  );
  return {
    rup,
    rfg,
    pid,
    startAt,
    T0,
    metric,
    until: (t: number) => sleep(Math.max(0, t - Date.now())),
    cpuOver: async (ms: number) => {
      const c0 = cpuSeconds(pid);
      const t = performance.now();
      await sleep(ms);
      return (100 * (cpuSeconds(pid) - c0)) / ((performance.now() - t) / 1000);
    },
    refreshed: () => metric(/^feedgate_refresh_total\{source="hdhive",outcome="(?:changed|unchanged|failed)"\} (\d+)/gm),
    failed: () => metric(/^feedgate_refresh_total\{source="hdhive",outcome="failed"\} (\d+)/gm),
    late: async () => {
      const count = await metric(/^feedgate_refresh_lateness_seconds_count\{source="hdhive"\} (\d+)/gm);
      const within = (le: string) => metric(new RegExp(`^feedgate_refresh_lateness_seconds_bucket\\{le="${le}",source="hdhive"\\} (\\d+)`, 'gm'));
      return { count, in1: await within('1'), in5: await within('5') };
    },
    /** A reader's first poll of each polled feed. */
    readPolled: async () => {
      for (const p of polled) await (await fetch(rfg.info.url + p)).arrayBuffer();
    },
    // Each window starts after two seconds of the same polls, not measured. After a pause in polling, the
    // first poll of each feed builds its response again (the copy changed, or the last poll asked for
    // another encoding): 200 of those in the first moments of a window were its slowest 1% by themselves
    // (p99 13-14 ms against 4-5 ms with the warm-up, in a smaller run of this case), which is a reader
    // coming back, not polls during refreshes. Builds for copies refreshed during a window still count.
    polls: async () => {
      await wrk(rfg.info.url + url(0), { connections: 16, seconds: 2, script });
      return wrk(rfg.info.url + url(0), { connections: 16, seconds: 15, script });
    },
  };
}

/** Readers' poll windows, and the worse p99 with refreshes going on against the worse without. */
function pollReport(windows: Array<[string, WrkResult]>): { ratio: number; errors: number } {
  console.log(`  readers' polls (200 feeds, 16 connections, 5 ms apart each):`);
  for (const [name, r] of windows) console.log(`    ${name.padEnd(24)} ${fmt(r)}`);
  const p99 = (prefix: string) => Math.max(...windows.filter(([n]) => n.startsWith(prefix)).map(([, r]) => r.p99));
  return { ratio: p99('refreshing') / p99('no refresh'), errors: windows.reduce((a, [, r]) => a + r.errors, 0) };
}

if (ONLY.has('refresh')) {
  // BENCH_FEEDS subscribed feeds refreshed every BENCH_REFRESH seconds: the schedule's figures (lateness,
  // CPU with nothing due, RSS over idle) in minutes rather than hours. That interval is 15 times shorter
  // than HDHive's default (30 min) for the same feeds, so refreshes come 15 times as often as 10 000
  // feeds ever bring (83 a second); readers' polls during them are printed as a stress figure. The goal
  // on polls is judged in the next case, at the default interval.
  const FEEDS = Number(process.env.BENCH_FEEDS ?? 10_000);
  const INTERVAL_S = Number(process.env.BENCH_REFRESH ?? 120);
  const yaml = readFileSync(join(ROOT, 'config', 'default.yaml'), 'utf8');
  const defaultS = duration.parse(/^REFRESH_HDHIVE:\s*(\S+)/m.exec(yaml)![1]) / 1000;
  const r = await refreshRig(FEEDS, INTERVAL_S, 95_000);
  const { T0, until } = r;
  // V8 settles for about 30 s after a start (see the memory case): the quiet figures are taken after it.
  await until(r.startAt + 30_000);
  const cpuIdle = await r.cpuOver(15_000);
  const idle = rssMb(r.pid);
  await r.readPolled();
  // Two windows each side, compared by the same statistic (the worse of two): with nothing refreshing,
  // one window's p99 moved between 2.4 and 4.4 ms from run to run (0.8 to 4.5 ms between 10 s windows of
  // a scratch run), so the worse of two refresh windows against a single quiet one mostly measured that
  // spread.
  const quiet1 = await r.polls();
  const quiet2 = await r.polls();
  // Idle again, with readers having polled: the baseline the refreshes' memory is measured against.
  await until(T0 - 1000);
  const idleAfterPolls = rssMb(r.pid);
  let peak = rssMb(r.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(r.pid))), 250);
  const I = INTERVAL_S * 1000;
  // Round one: every feed's first refresh, nothing in the database yet (as after a first start); no polls.
  while ((await r.refreshed()) < FEEDS && Date.now() < T0 + I + 60_000) await sleep(500);
  const round1 = { end: Date.now(), done: await r.refreshed(), peak };
  const late1 = await r.late();
  // Round two, the steady state: the first refresh counted as a change (nothing was known), so the
  // second comes one interval (±10%) later and finds nothing new; the third, 1.5 intervals after that.
  const calls0 = (JSON.parse(await (await fetch(r.rup.info.stats!)).text()) as { total: number }).total;
  await until(T0 + I * 1.3);
  const r2 = await r.refreshed();
  const t2 = performance.now();
  const during1 = await r.polls();
  const rate2 = ((await r.refreshed()) - r2) / ((performance.now() - t2) / 1000);
  await until(T0 + I * 1.6);
  const during2 = await r.polls();
  while ((await r.refreshed()) < 2 * FEEDS && Date.now() < T0 + I * 2.2 + 30_000) await sleep(500);
  const done2 = (await r.refreshed()) - round1.done;
  const calls2 = (JSON.parse(await (await fetch(r.rup.info.stats!)).text()) as { total: number }).total - calls0;
  // Between rounds two and three (about 0.15 intervals): nothing due.
  const gapMs = T0 + I * 2.24 - Date.now() - 1000;
  const cpuBetween = gapMs > 5000 ? await r.cpuOver(gapMs) : NaN;
  const late2 = await r.late();
  const failed = await r.failed();
  const stats = JSON.parse(await (await fetch(r.rup.info.stats!)).text()) as { total: number; perSecond: Record<string, number> };
  const busiest = Math.max(...Object.values(stats.perSecond));
  clearInterval(sampler);
  const settled = rssMb(r.pid);
  const heapUsed = (await r.metric(/^nodejs_heap_size_used_bytes (\d+)/gm)) / 2 ** 20;
  const inMemory = (await r.metric(/^feedgate_feed_cache_bytes (\d+)/gm)) / 2 ** 20;
  const pct = (a: number, b: number) => ((100 * a) / b).toFixed(2);
  console.log(`Background refresh: ${FEEDS} subscribed HDHive feeds every ${INTERVAL_S} s (then 1.5x: nothing changes) on the embedded engine and SQLite:`);
  console.log(`  round 1 (first refreshes, ${((round1.end - T0) / 1000).toFixed(0)} s): ${round1.done}/${FEEDS}; round 2: ${done2}/${FEEDS} with ${calls2} upstream calls; ${failed} failed; busiest second ${busiest} calls`);
  console.log(`  lateness, round 1: ${pct(late1.in1, late1.count)}% within 1 s, ${pct(late1.in5, late1.count)}% within 5 s; both rounds: ${pct(late2.in5, late2.count)}% within 5 s (goal p99 < 5 s: ${late2.in5 / late2.count >= 0.99 ? 'met' : 'NOT MET'})`);
  const cpuWorst = Math.max(cpuIdle, Number.isNaN(cpuBetween) ? 0 : cpuBetween);
  console.log(`  CPU with nothing due: ${cpuIdle.toFixed(2)}% of a core before the first round, ${Number.isNaN(cpuBetween) ? 'n/a' : cpuBetween.toFixed(2)}% between rounds (goal < 1%: ${cpuWorst < 1 ? 'met' : 'NOT MET'})`);
  console.log(`  RSS: idle ${idle.toFixed(0)} MB with the schedule loaded, ${idleAfterPolls.toFixed(0)} MB after the first polls; peak in round 1 (no polls) ${round1.peak.toFixed(0)} MB: growth ${(round1.peak - idleAfterPolls).toFixed(0)} MB (goal < 50 MB: ${round1.peak - idleAfterPolls < 50 ? 'met' : 'NOT MET'}); with polls in round 2, peak ${peak.toFixed(0)} MB, at the end ${settled.toFixed(0)} MB; V8 heap used ${heapUsed.toFixed(0)} MB, feed cache ${inMemory.toFixed(1)} MB (JSON)`);
  const stress = pollReport([['no refresh going on (1)', quiet1], ['no refresh going on (2)', quiet2], ['refreshing, round 2 (1)', during1], ['refreshing, round 2 (2)', during2]]);
  console.log(`  poll p99 during round 2 / without (the worse of two windows each): ${stress.ratio.toFixed(2)}x, at ${rate2.toFixed(0)} refreshes a second (a stress figure: ${(defaultS / INTERVAL_S).toFixed(0)}x the default interval's rate; no goal)${stress.errors ? `, ${stress.errors} errors!` : ''}\n`);
  r.rfg.child.kill('SIGTERM');
  r.rup.child.kill('SIGTERM');

  // The same feeds at HDHive's default interval (REFRESH_HDHIVE, 30 min) bring 5.6 refreshes a second
  // at most (intervals only grow from there while feeds do not change). Their refreshes come at that
  // rate in stretches of 19 s, with 19 s without between them, so windows with and without refreshes
  // alternate and each pair is measured within 40 s: with nothing refreshing, one 15 s window's p99
  // moved between 1.1 and 2.2 ms from run to run (p50 0.28 to 0.5 ms), which two windows on each side
  // minutes apart mostly measured. Even so one pair's ratio went from 0.4x to 3.2x within a run (a
  // quiet window's p99 from 0.8 to 4.0 ms), so the goal is judged on the median of six pairs. Each
  // refresh is a feed's first (archive rows and a full copy written), the dearest kind.
  const PERIOD = 19_000;
  const perSecond = FEEDS / defaultS;
  const d = await refreshRig(FEEDS, defaultS, 45_000, (i) => {
    const on = (i / perSecond) * 1000;
    return Math.floor(on / PERIOD) * 2 * PERIOD + Math.floor(on % PERIOD);
  });
  await d.until(d.startAt + 30_000);
  await d.readPolled();
  const pairs: Array<{ during: WrkResult; quiet: WrkResult; rate: number; leaked: number }> = [];
  for (let k = 0; k < 6; k++) {
    await d.until(d.T0 + 2 * k * PERIOD + 1000);
    const r0 = await d.refreshed();
    const t = performance.now();
    const during = await d.polls();
    const rate = ((await d.refreshed()) - r0) / ((performance.now() - t) / 1000);
    await d.until(d.T0 + (2 * k + 1) * PERIOD + 1000);
    const r1 = await d.refreshed();
    const quiet = await d.polls();
    pairs.push({ during, quiet, rate, leaked: (await d.refreshed()) - r1 });
  }
  const dFailed = await d.failed();
  const dLate = await d.late();
  console.log(`Readers' polls during background refresh: ${FEEDS} subscribed HDHive feeds at the default interval (${defaultS / 60} min), embedded engine and SQLite:`);
  console.log(`  ${pairs.map((x) => x.rate.toFixed(1)).join(', ')} refreshes a second in the refreshing windows, ${pairs.map((x) => x.leaked).join(', ')} in the others; ${dFailed} failed; lateness ${pct(dLate.in1, dLate.count)}% within 1 s`);
  console.log(`  readers' polls (200 feeds, 16 connections, 5 ms apart each), in turn with and without refreshes:`);
  for (const [k, x] of pairs.entries()) {
    console.log(`    refreshing (${k + 1})           ${fmt(x.during)}`);
    console.log(`    none (${k + 1})                 ${fmt(x.quiet)}   p99 ratio ${(x.during.p99 / x.quiet.p99).toFixed(2)}x`);
  }
  const ratio = median(pairs.map((x) => x.during.p99 / x.quiet.p99));
  const pollErrors = pairs.reduce((a, x) => a + x.during.errors + x.quiet.errors, 0);
  console.log(`  poll p99 during refreshes / without (median of the pairs' ratios): ${ratio.toFixed(2)}x (goal: unchanged, within 1.5x: ${ratio <= 1.5 && pollErrors === 0 && pairs.every((x) => x.rate > 0) ? 'met' : 'NOT MET'})\n`);
  d.rfg.child.kill('SIGTERM');
  d.rup.child.kill('SIGTERM');
}

if (ONLY.has('archive')) {
  const { archiveBench } = await import('./archive.js');
  await archiveBench({ track, feedgate, token: TOKEN, rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, fmt: (r) => fmt(r as WrkResult) });
}

if (ONLY.has('memory')) {
  const { peak } = await peakRss(fg.pid, () => wrk(fg.info.url + FEED, { connections: CONNECTIONS, seconds: SECONDS }));
  // A fresh process, left alone. V8 keeps the young generation that loading grew until its memory
  // reducer runs: 8 s after the last full collection, later when it sees allocation going on, which
  // put it anywhere between 10 and 20 s after start in repeated runs. An idle server sits at the
  // settled figure for as long as it is idle, so the goal is judged at 30 s; 15 s is printed beside it.
  const fresh = await track(feedgate(FG_ENV));
  const atStart = rssMb(fresh.pid);
  await sleep(15_000);
  const at15 = rssMb(fresh.pid);
  await sleep(15_000);
  const idle = rssMb(fresh.pid);
  await fresh.stop();
  console.log('feedgate memory (RSS):');
  console.log(`  right after start       ${atStart.toFixed(0)} MB`);
  console.log(`  15 s after start        ${at15.toFixed(0)} MB`);
  console.log(`  idle, 30 s after start  ${idle.toFixed(0)} MB (goal <= 80 MB: ${idle <= 80 ? 'met' : 'NOT MET'})`);
  console.log(`  peak under feed load    ${peak.toFixed(0)} MB`);
  if (!Number.isNaN(streamsPeak)) console.log(`  peak with 20 streams    ${streamsPeak.toFixed(0)} MB (goal < 150 MB: ${streamsPeak < 150 ? 'met' : 'NOT MET'})`);
}

for (const p of procs) await p.stop();
process.exit(0);
