/**
 * Shared parts of the benchmarks: tools (wrk, nginx, curl), child processes pinned to cores, wrk runs
 * parsed into req/s and latency percentiles, RSS from /proc.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Installs what is missing with apt-get (Debian), once. */
export function ensureTools(tools: Record<string, string>): void {
  const missing = Object.entries(tools).filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0);
  if (missing.length === 0) return;
  const pkgs = missing.map(([, pkg]) => pkg);
  console.log(`installing ${pkgs.join(' ')} with apt-get`);
  execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${pkgs.join(' ')}`], { stdio: 'inherit' });
}

/** Whether taskset can pin here (it cannot in some containers). */
const canPin = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const pinned = (core: number, cmd: string, args: string[]): [string, string[]] => (canPin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);
export const pinningNote = canPin ? 'servers pinned to core 0, load generators to core 1' : 'taskset unavailable: nothing pinned';

export interface Proc {
  pid: number;
  info: Record<string, string>;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** A started child; stop() sends SIGTERM and waits for the exit. */
function handle(child: ChildProcess, info: Record<string, string>): Proc {
  return {
    pid: child.pid!,
    info,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Starts a child and waits for its ready line: `BENCH {json}` on stderr (or `listening on URL` on stdout).
 */
export async function startProc(cmd: [string, string[]], env: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(cmd[0], cmd[1], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const info = await new Promise<Record<string, string>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(l);
      if (m) resolve({ url: m[1]! });
    });
    createInterface({ input: child.stderr! }).on('line', (l) => {
      if (l.startsWith('BENCH ')) resolve(JSON.parse(l.slice(6)));
      else process.stderr.write(`  [${cmd[1].at(-1)}] ${l}\n`);
    });
    child.once('exit', (code) => reject(new Error(`${cmd.flat().join(' ')} exited with ${code}`)));
  });
  return handle(child, info);
}

/** A program with no ready line (nginx): started, then polled until `url` answers at all. */
export async function startPolled(cmd: [string, string[]], url: string): Promise<Proc> {
  const child = spawn(cmd[0], cmd[1], { stdio: 'inherit' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then(() => true, () => false)) break;
    if (child.exitCode !== null) throw new Error(`${cmd.flat().join(' ')} exited with ${child.exitCode}`);
    await sleep(50);
  }
  return handle(child, { url });
}

/** A TypeScript child under tsx. */
export const tsChild = (core: number, script: string): [string, string[]] => pinned(core, process.execPath, ['--import', 'tsx', join(ROOT, 'bench', script)]);

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  /** Non-2xx/3xx answers; must be 0 for the figure to count. */
  errors: number;
}

const ms = (v: string, unit: string) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);

/** One wrk run (C, pinned to core 1): -t1, `connections`, `seconds`, extra headers. */
export async function wrk(url: string, opts: { connections?: number; seconds?: number; headers?: Record<string, string>; script?: string } = {}): Promise<WrkResult> {
  const args = ['-t1', `-c${opts.connections ?? 32}`, `-d${opts.seconds ?? 5}s`, '--latency'];
  if (opts.script) args.push('-s', opts.script);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  const [cmd, full] = pinned(1, 'wrk', [...args, url]);
  // Asynchronously: this process must stay free to read its children's pipes meanwhile.
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}`))));
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const lat = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    return m ? ms(m[1]!, m[2]!) : NaN;
  };
  const errors = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0) + Number(/Socket errors:.*?timeout (\d+)/.exec(out)?.[1] ?? 0);
  return { rps, p50: lat('50'), p99: lat('99'), errors };
}

/** Downloads with curl (C) to /dev/null; returns bytes/s. */
export function curlRate(url: string, headers: Record<string, string> = {}): Promise<{ bytes: number; seconds: number }> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{size_download} %{time_total} %{http_code}'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const [cmd, full] = pinned(1, 'curl', [...args, url]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    // 'close', not 'exit': the exit can come before the last of stdout has been read.
    child.once('close', () => {
      const [size, time, code] = out.trim().split(' ');
      if (code !== '200') return reject(new Error(`${url}: HTTP ${code}`));
      resolve({ bytes: Number(size), seconds: Number(time) });
    });
  });
}

/** Minor page faults a process has taken so far (/proc/<pid>/stat, field 10). */
export const minorFaults = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);

/** CPU time (user + system) a process has used so far, in seconds (/proc/<pid>/stat, fields 14 and 15, in USER_HZ = 100). */
export const cpuSeconds = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Samples a process's RSS every 25 ms while `work` runs; returns the peak. */
export async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssMb(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 25);
  try {
    const result = await work();
    return { peak: Math.max(peak, rssMb(pid)), result };
  } finally {
    clearInterval(timer);
  }
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * feedgate's figure over the baseline's, round by round (both measured back to back), and their median: a
 * machine whose speed drifts moves both figures of a round together.
 */
export function roundRatios(ours: number[], base: number[]): { each: number[]; median: number } {
  const each = ours.map((x, i) => x / base[i]!);
  return { each, median: median(each) };
}
export const showRatio = (r: { each: number[]; median: number }) => `${r.median.toFixed(2)}x (per round: ${r.each.map((x) => x.toFixed(2)).join(', ')})`;

/** A port nothing listens on now (the OS's choice, so not one a random pick could collide with). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const tempDir = () => mkdtempSync(join(tmpdir(), 'feedgate-bench-'));

/**
 * The production build, as `npm start` runs it, pinned to core 0, logging at info straight into a file
 * (as a journal would take it): a pipe to this process would make its logging wait on our event loop.
 */
export async function feedgate(env: Record<string, string>): Promise<Proc> {
  const dir = tempDir();
  const logFile = join(dir, 'feedgate.log');
  const fd = openSync(logFile, 'w');
  // BENCH_NODE_FLAGS: extra node flags for feedgate only (--cpu-prof, --trace-gc) when looking into a figure.
  const flags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const [cmd, args] = pinned(0, process.execPath, [...flags, join(ROOT, 'dist', 'server.js')]);
  const child = spawn(cmd, args, { stdio: ['ignore', fd, 'inherit'], env: { ...process.env, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dir, LOG_LEVEL: 'info', ...env } });
  closeSync(fd);
  let url: string | undefined;
  for (let i = 0; i < 200 && !url; i++) {
    url = /listening on (http:\/\/[\d.:]+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
    if (child.exitCode !== null) throw new Error(`feedgate exited with ${child.exitCode}: ${readFileSync(logFile, 'utf8')}`);
    if (!url) await sleep(50);
  }
  if (!url) throw new Error('feedgate did not start');
  return handle(child, { url, log: logFile });
}
