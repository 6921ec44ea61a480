import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CpuLane } from '../src/cpu-lane.js';

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('CpuLane', () => {
  it('runs tasks one at a time, in the order they came', async () => {
    const lane = new CpuLane();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
      return name;
    };
    const results = await Promise.all([lane.run(task('a', 15)), lane.run(task('b', 1)), lane.run(task('c', 5))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('handles an answer that arrived during one task before it starts the next', async () => {
    let answer!: (body: string) => void;
    const server = createServer();
    const asked = new Promise<void>((r) => {
      server.once('request', (_req, res: ServerResponse) => {
        answer = (body) => res.end(body);
        r();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      let answered = false;
      request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        answered = true;
        res.resume();
      }).end();
      await asked;
      const lane = new CpuLane();
      // The answer lands in the client's socket while this task holds the event loop, as a page's does
      // while another page is parsed.
      const first = lane.run(() => {
        answer('ok');
        busy(30);
      });
      // Queued together with the first, as the parses of pages that answered together are.
      const second = lane.run(() => answered);
      await first;
      expect(await second).toBe(true);
    } finally {
      server.close();
    }
  });

  it('keeps going after a task fails, and the failure reaches only its caller', async () => {
    const lane = new CpuLane();
    const failed = lane.run(() => {
      throw new Error('bad page');
    });
    const next = lane.run(() => 'next');
    await expect(failed).rejects.toThrow('bad page');
    await expect(next).resolves.toBe('next');
  });
});
