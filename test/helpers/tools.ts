import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

export interface Tool {
  ok: boolean;
  /** For test names: what to install where the tool is missing. */
  hint: string;
}

/**
 * Whether a system tool a suite needs is here. Where it is not, its tests are skipped and the install
 * command is printed; under CI=true a missing tool is a failure, so CI always runs those tests.
 */
function tool(name: string, cmd: string, args: string[], install: string): Tool {
  const hint = `needs ${name}: ${install}`;
  // Generous: on a loaded machine the first start of a tool from a cold disk can take seconds.
  if (spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 }).status === 0) return { ok: true, hint };
  if (process.env.CI === 'true') throw new Error(`CI=true and ${name} is missing (${install})`);
  console.warn(`skipping the tests that need ${name}; install it with: ${install}`);
  return { ok: false, hint };
}

const memo = new Map<string, Tool>();
const once = (name: string, make: () => Tool) => memo.get(name) ?? memo.set(name, make()).get(name)!;

/** Debian's python3-feedparser, run by /usr/bin/python3 (FEEDCHECK_PYTHON overrides). */
export const feedparserTool = () =>
  once('feedparser', () => tool('python3-feedparser', process.env.FEEDCHECK_PYTHON ?? '/usr/bin/python3', ['-c', 'import feedparser'], 'apt-get install python3-feedparser'));

export const ffprobeTool = () => once('ffprobe', () => tool('ffprobe', 'ffprobe', ['-version'], 'apt-get install ffmpeg'));

/** A test that reads feeds through feedparser: skipped (with the install hint printed) where it is missing. */
export const itFeedparser = it.skipIf(!feedparserTool().ok);

/** Debian's redis-server, started by the tests on a free loopback port. */
export const redisTool = () => once('redis-server', () => tool('redis-server', 'redis-server', ['--version'], 'apt-get install redis-server'));

/** Debian's Chromium, driven headless by playwright-core. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumTool = () => once('chromium', () => tool('chromium', CHROMIUM, ['--version'], 'apt-get install chromium'));

/** Debian's nginx (nginx-light is enough), run by the tests in front of an echo server. */
export const nginxTool = () => once('nginx', () => tool('nginx', 'nginx', ['-v'], 'apt-get install nginx-light'));

/** Debian's docker-compose (1.29): `docker-compose config` reads and checks the compose file, no daemon needed. */
export const composeTool = () => once('docker-compose', () => tool('docker-compose', 'docker-compose', ['version'], 'apt-get install docker-compose'));

/** Debian's PostgreSQL server (initdb and postgres), started by the tests in a temp dir on a free port. */
export const postgresTool = () =>
  once('postgresql', () => {
    const hint = 'needs postgresql: apt-get install postgresql';
    // Lazy import keeps this file free of the helper's dependencies for suites that do not need it.
    const bin = process.env.PG_BIN ?? ['17', '16', '15', '14', '13'].map((v) => `/usr/lib/postgresql/${v}/bin`).find((d) => spawnSync(`${d}/initdb`, ['--version'], { stdio: 'ignore' }).status === 0);
    if (bin) return { ok: true, hint };
    if (process.env.CI === 'true') throw new Error('CI=true and postgresql is missing (apt-get install postgresql)');
    console.warn('skipping the tests that need postgresql; install it with: apt-get install postgresql');
    return { ok: false, hint };
  });
