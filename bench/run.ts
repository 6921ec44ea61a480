/**
 * npm run bench: each benchmark prints its figure next to a baseline measured in the same run, as a ratio.
 * The servers run in a child process so the load generator does not share their event loop.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, get as httpGet } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { MediaLinks } from '../src/proxy/links.js';
import { UrlSigner } from '../src/proxy/sign.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

async function startChild(script: string, env: Record<string, string> = {}): Promise<{ info: Record<string, string | number>; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url))], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  // Logs go to /dev/null (their cost still counts); the stderr line starting with "BENCH " carries its URLs.
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (l) => l.startsWith('BENCH ') && resolve(l.slice(6)));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { info: JSON.parse(line), stop: () => child.kill('SIGTERM') };
}

/** Downloads `url` to the end, `times` times in a row; returns MB/s. */
async function throughput(url: string, times: number): Promise<number> {
  let bytes = 0;
  const start = performance.now();
  for (let i = 0; i < times; i++) bytes += await drain(url);
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

/** A GET whose body is counted and dropped; node:http rather than fetch, so the client costs little CPU. */
function drain(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent: keepAlive }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`));
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
}
const keepAlive = new Agent({ keepAlive: true });

/** Resident set size of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * The production build (`node dist/server.js`, as `npm start` runs it) on an ephemeral port, so memory
 * figures are the service's own and not a TypeScript loader's.
 */
async function startServer(env: Record<string, string>): Promise<{ url: string; pid: number; stop: () => void }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'feedgate-bench-'));
  const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/server.js', import.meta.url))], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
  });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(l);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

async function mediaBench(): Promise<void> {
  const cdn = await startChild('./cdn-server.ts');
  const secret = 'bench-secret';
  const server = await startServer({ PROXY_ALLOW_HOSTS: String(cdn.info.host), PROXY_SECRET: secret, PROXY_CLIENT_CONCURRENCY: '1000' });
  const links = new MediaLinks(new UrlSigner(Buffer.from(secret)));
  const media = {
    info: {
      play: server.url + links.video(`${cdn.info.url}/video.mp4`, 'channels', { key: String(cdn.info.key) }),
      image: server.url + links.image(`${cdn.info.url}/cover.jpg`, 'wechat'),
      bare: String(cdn.info.bare),
      pid: server.pid,
      imageBytes: 0,
    },
  };
  // The bare server answers with exactly the bytes and validator /proxy serves.
  const warm = await fetch(media.info.image);
  const imageBody = Buffer.from(await warm.arrayBuffer());
  media.info.imageBytes = imageBody.length;
  await fetch(media.info.bare, { method: 'PUT', body: imageBody, headers: { etag: warm.headers.get('etag') ?? '""' } });
  try {
    const MB = Number(cdn.info.bytes) / 1024 / 1024;
    const pid = Number(media.info.pid);
    const idle = rssMb(pid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 25);
    const t0 = performance.now();
    const sizes = await Promise.all(Array.from({ length: 20 }, () => drain(String(media.info.play))));
    clearInterval(sampler);
    const secs = (performance.now() - t0) / 1000;
    const total = sizes.reduce((a, b) => a + b, 0) / 1e6;
    console.log(`/play memory (20 concurrent ${MB} MB streams, ${total.toFixed(0)} MB in ${secs.toFixed(1)} s):`);
    console.log(`  RSS before       ${idle.toFixed(0)} MB`);
    console.log(`  peak RSS         ${peak.toFixed(0)} MB (goal < 150 MB) ${peak < 150 ? 'OK' : 'ABOVE GOAL'}`);

    const direct = `${cdn.info.url}/video.mp4`;
    const relay = await startChild('./relay-server.ts', { CDN_URL: String(cdn.info.url) });
    let directRate = 0;
    let relayRate = 0;
    let playRate = 0;
    try {
      for (const url of [direct, String(relay.info.url), String(media.info.play)]) await drain(url);
      for (let round = 0; round < ROUNDS; round++) {
        directRate += (await throughput(direct, 3)) / ROUNDS;
        relayRate += (await throughput(String(relay.info.url), 3)) / ROUNDS;
        playRate += (await throughput(String(media.info.play), 3)) / ROUNDS;
      }
    } finally {
      relay.stop();
    }
    const ratio = playRate / directRate;
    console.log(`/play (decrypting a ${MB} MB video, one stream at a time):`);
    console.log(`  direct from CDN  ${directRate.toFixed(0)} MB/s`);
    console.log(`  bare relay hop   ${relayRate.toFixed(0)} MB/s (undici -> node:http, no decryption; context only)`);
    console.log(`  through /play    ${playRate.toFixed(0)} MB/s`);
    console.log(`  ratio            ${ratio.toFixed(2)} (goal >= 0.80) ${ratio >= 0.8 ? 'OK' : 'BELOW GOAL'}; vs the bare relay ${(playRate / relayRate).toFixed(2)}`);

    let bare = 0;
    let ours = 0;
    for (let round = 0; round < ROUNDS; round++) {
      bare += (await rps(String(media.info.bare))) / ROUNDS;
      ours += (await rps(String(media.info.image))) / ROUNDS;
    }
    const imgRatio = ours / bare;
    console.log(`/proxy image cache hits (${media.info.imageBytes} bytes, ${CONNECTIONS} connections, ${ROUNDS} x ${DURATION}s each):`);
    console.log(`  bare node:http  ${bare.toFixed(0)} req/s`);
    console.log(`  feedgate        ${ours.toFixed(0)} req/s`);
    console.log(`  ratio           ${imgRatio.toFixed(2)} (goal >= 0.50) ${imgRatio >= 0.5 ? 'OK' : 'BELOW GOAL'}`);
  } finally {
    server.stop();
    cdn.stop();
  }
}

async function rps(url: string): Promise<number> {
  // A short warm-up so JIT and connection setup do not count.
  await autocannon({ url, connections: CONNECTIONS, duration: 1 });
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r.requests.average;
}

async function feedBench(): Promise<void> {
  const { info, stop } = await startChild('./feed-servers.ts');
  try {
    // Alternate the two, twice, so drift in machine load hits both sides alike.
    let bare = 0;
    let ours = 0;
    for (let round = 0; round < ROUNDS; round++) {
      bare += (await rps(String(info.bare))) / ROUNDS;
      ours += (await rps(String(info.feedgate))) / ROUNDS;
    }
    const ratio = ours / bare;
    console.log(`feed (cached 20-item RSS, ${info.bytes} bytes, ${CONNECTIONS} connections, ${ROUNDS} x ${DURATION}s each):`);
    console.log(`  bare node:http  ${bare.toFixed(0)} req/s`);
    console.log(`  feedgate        ${ours.toFixed(0)} req/s`);
    console.log(`  ratio           ${ratio.toFixed(2)} (goal >= 0.60) ${ratio >= 0.6 ? 'OK' : 'BELOW GOAL'}`);
  } finally {
    stop();
  }
}

const only = process.argv[2];
const benches: Record<string, () => Promise<void>> = { feed: feedBench, media: mediaBench };
for (const [name, run] of Object.entries(benches)) {
  if (!only || only === name) await run();
}
