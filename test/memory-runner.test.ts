import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryRunner } from '../src/jobs/memory.js';
import type { RefreshJob } from '../src/jobs/runner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MemoryRunner (the embedded job engine)', () => {
  it('runs every job once, none before it is due, earliest first, never more at once than asked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ url: fc.constantFrom('/a', '/b', '/c', '/d'), delay: fc.integer({ min: -20, max: 60 }) }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        async (specs, concurrency) => {
          const runner = new MemoryRunner();
          const t0 = Date.now();
          const ran: Array<RefreshJob & { at: number }> = [];
          let inFlight = 0;
          let most = 0;
          await runner.start(async (job) => {
            inFlight++;
            most = Math.max(most, inFlight);
            ran.push({ ...job, at: Date.now() });
            await sleep(1);
            inFlight--;
          }, concurrency);
          const jobs = specs.map((s) => ({ url: s.url, runAt: t0 + s.delay }));
          for (const j of jobs) await runner.schedule(j);
          const distinct = new Set(jobs.map((j) => `${j.url}\n${j.runAt}`));
          for (let i = 0; i < 1000 && ran.length < distinct.size; i++) await sleep(5);
          await runner.close();
          expect(ran.length).toBe(distinct.size);
          expect(new Set(ran.map((j) => `${j.url}\n${j.runAt}`)).size).toBe(distinct.size);
          for (const j of ran) expect(j.at).toBeGreaterThanOrEqual(j.runAt);
          expect(most).toBeLessThanOrEqual(concurrency);
          expect(await runner.depth()).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);

  it('the same job scheduled again while it runs is the same job', async () => {
    const runner = new MemoryRunner();
    let runs = 0;
    let release!: () => void;
    await runner.start(async () => {
      runs++;
      await new Promise<void>((r) => (release = r));
    }, 2);
    const job = { url: '/a', runAt: Date.now() - 1 };
    await runner.schedule(job);
    await runner.schedule({ ...job });
    await sleep(20);
    release();
    await sleep(20);
    expect(runs).toBe(1);
    await runner.close();
  });

  it('jobs waiting when it starts (a restart) go out earliest first', async () => {
    const runner = new MemoryRunner();
    const now = Date.now();
    const times = [now - 5, now - 50, now - 1, now - 30, now - 10];
    for (const [i, runAt] of times.entries()) await runner.schedule({ url: `/f${i}`, runAt });
    const ran: number[] = [];
    await runner.start(async (job) => void ran.push(job.runAt), 1);
    for (let i = 0; i < 100 && ran.length < times.length; i++) await sleep(5);
    await runner.close();
    expect(ran).toEqual([...times].sort((a, b) => a - b));
  });

  it('ten thousand scheduled jobs cost one timer: scheduling is fast, and a job added earlier than all still runs first', async () => {
    const runner = new MemoryRunner();
    const ran: string[] = [];
    await runner.start(async (job) => void ran.push(job.url), 1);
    const now = Date.now();
    const t = performance.now();
    for (let i = 0; i < 10_000; i++) await runner.schedule({ url: `/f${i}`, runAt: now + 60_000 + i });
    expect(performance.now() - t).toBeLessThan(2000);
    expect(await runner.depth()).toBe(10_000);
    await runner.schedule({ url: '/soon', runAt: now + 20 });
    for (let i = 0; i < 100 && ran.length === 0; i++) await sleep(5);
    expect(ran).toEqual(['/soon']);
    await runner.close();
  });
});
