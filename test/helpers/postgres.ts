import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './redis.js';

/** Debian's server binaries (postgresql-NN): PG_BIN overrides. */
export function postgresBin(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(root, versions[0], 'bin');
}

/** The server refuses to run as root: as root, it runs as the postgres user Debian's package creates. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export interface PostgresProc {
  /** postgres://feedgate@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** A fresh, empty database on this server, and its URL. */
  database(name?: string): Promise<string>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

let dbCount = 0;

/**
 * A throwaway PostgreSQL: initdb into a temp dir, one free loopback port, trust auth for `feedgate`,
 * durability off (tests only). Stopped and removed by stop().
 */
export async function startPostgres(): Promise<PostgresProc> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'feedgate-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [c, a] = asServerUser(join(bin, 'initdb'), ['-D', data, '-U', 'feedgate', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const init = spawnSync(c, a, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const url = `postgres://feedgate@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | undefined;
  const ready = async () => {
    for (let i = 0; i < 200; i++) {
      const client = new pg.Client({ connectionString: url });
      try {
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return;
      } catch {
        await client.end().catch(() => {});
        if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`postgres exited with ${child.exitCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('postgres did not start');
  };
  const proc: PostgresProc = {
    url,
    port,
    async database(name = `t${process.pid}_${++dbCount}`) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return url.replace(/\/postgres$/, `/${name}`);
    },
    async start() {
      const [cmd, args] = asServerUser(join(bin, 'postgres'), [
        '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
        '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
      ]);
      child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let said = '';
      child.stderr!.on('data', (d: Buffer) => (said = (said + d.toString()).slice(-2000)));
      child.once('exit', (code) => code && code !== 0 && !said.includes('terminated') && process.env.PG_DEBUG && console.error(said));
      await ready();
    },
    async kill() {
      if (!child || child.exitCode !== null) return;
      const c = child;
      // The whole server at once, backends too: a backend outlives a killed postmaster for a moment and
      // would still answer a pooled connection (its command line does not name the data directory).
      const tree = descendants(c.pid!);
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        for (const pid of tree) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      });
      // A zombie (state Z) holds no socket; where nothing reaps orphans (a container's PID 1) it stays for good.
      const alive = (pid: number) => {
        try {
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 100 && (tree.some(alive) || spawnSync('pgrep', ['-f', `-D ${data}`]).status === 0); i++) await new Promise((r) => setTimeout(r, 50));
      spawnSync('pkill', ['-9', '-f', data]);
      rmSync(join(data, 'postmaster.pid'), { force: true });
      rmSync(join(dir, `.s.PGSQL.${port}`), { force: true });
      rmSync(join(dir, `.s.PGSQL.${port}.lock`), { force: true });
    },
    async stop() {
      await proc.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await proc.start();
  return proc;
}

/** `pid` and every process under it (postmaster, its backends and helpers), from ps. */
function descendants(pid: number): number[] {
  const rows = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout ?? '';
  const children = new Map<number, number[]>();
  for (const line of rows.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p && pp !== undefined) children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}
