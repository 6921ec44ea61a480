import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHdhive, type FakeHdhive } from './fakes/hdhive.js';
import { tempDir } from './helpers/app.js';
import { ROOT, boot, exitOf } from './helpers/process.js';

let fake: FakeHdhive;
beforeAll(async () => {
  fake = await startFakeHdhive();
});
afterAll(async () => {
  await fake.close();
});

describe('the server process', () => {
  it('starts on the embedded defaults, creates DATA_DIR with the SQLite store, and logs JSON', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const { child, url, output } = await boot({ DATA_DIR: dataDir });
    try {
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
      expect(existsSync(join(dataDir, 'feedgate.db'))).toBe(true);
      // The log line travels on another pipe than the response: it may arrive a moment later.
      const requestLine = () => output().split('\n').find((l) => l.includes('"msg":"request"'));
      for (let i = 0; i < 100 && !requestLine(); i++) await new Promise((r) => setTimeout(r, 20));
      const line = requestLine();
      expect(JSON.parse(line!)).toMatchObject({ level: 30, method: 'GET', url: '/healthz', status: 200 });
    } finally {
      child.kill('SIGTERM');
      expect(await exitOf(child)).toBe(0);
    }
  });

  it('refuses to start on a bad setting, naming it, without a stack trace', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: '99999', CACHE_TTL: 'forever', DATA_DIR: tempDir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    expect(await exitOf(child)).toBe(1);
    expect(err).toContain('PORT');
    expect(err).toContain('CACHE_TTL');
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('a DATA_DIR that cannot be created or written is one configuration error naming it, without a stack trace', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    const dataDir = join(file, 'data');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    expect(await exitOf(child)).toBe(1);
    expect(err).toContain('DATA_DIR');
    expect(err).toContain(dataDir);
    expect(err).toContain('ENOTDIR');
    expect(err).not.toMatch(/\n\s+at /);
    expect(err.trim().split('\n').length).toBeLessThanOrEqual(2);
  });

  it('reads .env from the working directory, below real environment variables', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, '.env'), '# comment\nACCESS_TOKEN=from-dotenv\nHDHIVE_API_KEY="quoted key"\n');
    let { child, url } = await boot({}, dir);
    try {
      expect((await fetch(`${url}/api/sources`)).status).toBe(401);
      const res = await fetch(`${url}/api/sources`, { headers: { authorization: 'Bearer from-dotenv' } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).sources.find((s: any) => s.name === 'hdhive').configured).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exitOf(child);
    }
    ({ child, url } = await boot({ ACCESS_TOKEN: 'from-env' }, dir));
    try {
      expect((await fetch(`${url}/api/sources`, { headers: { authorization: 'Bearer from-dotenv' } })).status).toBe(401);
      expect((await fetch(`${url}/api/sources`, { headers: { authorization: 'Bearer from-env' } })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await exitOf(child);
    }
  });

  it('warns when it listens beyond loopback without ACCESS_TOKEN', async () => {
    const { child, output } = await boot({ HOST: '0.0.0.0', DATA_DIR: tempDir() });
    try {
      for (let i = 0; i < 100 && !output().includes('open to the network'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(output()).toContain('ACCESS_TOKEN is not set: every feed and the media proxy are open to the network');
    } finally {
      child.kill('SIGTERM');
      await exitOf(child);
    }
    const quiet = await boot({ HOST: '127.0.0.1', DATA_DIR: tempDir() });
    await new Promise((r) => setTimeout(r, 200));
    expect(quiet.output()).not.toContain('open to the network');
    quiet.child.kill('SIGTERM');
    await exitOf(quiet.child);
  });

  it('`npm start` stops when npm itself is signalled: no orphan keeps serving', async () => {
    const { child, url } = await boot({ DATA_DIR: tempDir() }, ROOT, ['npm', ['start', '--silent']]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const exited = exitOf(child);
    child.kill('SIGTERM');
    await exited;
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await fetch(`${url}/healthz`).then(() => false, () => true);
      if (!refused) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refused).toBe(true);
  }, 120_000);

  it('on SIGTERM a stuck upstream call is aborted at half of SHUTDOWN_TIMEOUT and the process exits 0', async () => {
    fake.delayMs = 60_000;
    const { child, url } = await boot({ DATA_DIR: tempDir(), HDHIVE_API_URL: fake.url, HDHIVE_API_KEY: fake.apiKey, SHUTDOWN_TIMEOUT: '2s', UPSTREAM_DEADLINE: '60s', UPSTREAM_TIMEOUT: '60s' });
    try {
      const inflight = fetch(`${url}/feeds/hdhive/tv/101172`).then((r) => r.status, () => 0);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      const exited = exitOf(child);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1900);
      expect([502, 503, 0]).toContain(await inflight);
    } finally {
      fake.delayMs = 0;
      child.kill('SIGKILL');
    }
  });

  it('on SIGTERM stops accepting, finishes the request in flight, then exits 0', async () => {
    fake.delayMs = 1000;
    const { child, url } = await boot({ DATA_DIR: tempDir(), HDHIVE_API_URL: fake.url, HDHIVE_API_KEY: fake.apiKey });
    try {
      const inflight = fetch(`${url}/feeds/hdhive/tv/101172`);
      await new Promise((r) => setTimeout(r, 300));
      const exited = exitOf(child);
      child.kill('SIGTERM');
      const res = await inflight;
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<rss');
      expect(await exited).toBe(0);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      fake.delayMs = 0;
      child.kill('SIGKILL');
    }
  });
});
