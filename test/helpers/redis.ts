import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A free loopback port (closed again before use: a tiny race, fine for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server: no persistence, loopback only. */
export interface RedisProc {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startRedis(port?: number): Promise<RedisProc> {
  const p = port ?? (await freePort());
  let child: ChildProcess | undefined;
  const proc: RedisProc = {
    url: `redis://127.0.0.1:${p}/0`,
    port: p,
    async start() {
      child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        const ok = await new Promise<boolean>((resolve) => {
          const sock = connect(p, '127.0.0.1');
          sock.once('connect', () => {
            sock.write('PING\r\n');
            sock.once('data', (d) => {
              sock.destroy();
              resolve(d.toString().startsWith('+PONG'));
            });
          });
          sock.once('error', () => resolve(false));
        });
        if (ok) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('redis-server did not start');
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const c = child;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
  };
  await proc.start();
  return proc;
}
