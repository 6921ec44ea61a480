/**
 * npm run bench: each benchmark prints its figure next to a baseline measured in the same run, as a ratio.
 * The servers run in a child process so the load generator does not share their event loop.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

async function startChild(script: string): Promise<{ info: Record<string, string | number>; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url))], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Logs go to /dev/null (their cost still counts); the stderr line starting with "BENCH " carries its URLs.
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (l) => l.startsWith('BENCH ') && resolve(l.slice(6)));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { info: JSON.parse(line), stop: () => child.kill('SIGTERM') };
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
const benches: Record<string, () => Promise<void>> = { feed: feedBench };
for (const [name, run] of Object.entries(benches)) {
  if (!only || only === name) await run();
}
