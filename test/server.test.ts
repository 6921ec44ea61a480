import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHdhive, type FakeHdhive } from './fakes/hdhive.js';
import { tempDir } from './helpers/app.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Runs src/server.ts as `npm start` would run the build: a real process with only environment settings. */
function boot(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/server.ts')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start:\n${out}`));
    }, 20_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

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
