import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Absolute, so the server can run from another working directory.
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Runs src/server.ts as `npm start` would run the build: a real process with only environment settings. */
export function boot(env: Record<string, string>, cwd = ROOT, cmd: [string, string[]] = [process.execPath, ['--import', TSX, join(ROOT, 'src/server.ts')]]): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(cmd[0], cmd[1], {
    cwd,
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

export const exitOf = (child: ChildProcess) => new Promise<number | null>((r) => (child.exitCode !== null || child.signalCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code))));

/** Runs `npm run cli -- …` as a real process, in an empty working directory, with only `env`. */
export function runCli(args: string[], env: Record<string, string> = {}, cwd: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), ...args], { cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}
