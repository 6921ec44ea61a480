import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisState } from '../src/cache/shared.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { CallBudget } from '../src/upstream/budget.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startApp, tempDir, type RunningApp } from './helpers/app.js';
import { startRedis, type RedisProc } from './helpers/redis.js';
import { redisTool } from './helpers/tools.js';

const hd = useFakeHdhive();
const haveRedis = redisTool().ok;
let redis: RedisProc;
const apps: RunningApp[] = [];

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function until(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}
const redisUp = async (a: RunningApp) => /^feedgate_redis_up 1$/m.test(await (await fetch(`${a.url}/metrics`)).text());

async function replicas(n: number, extra: Record<string, unknown> = {}, logFile?: string) {
  for (let i = 0; i < n; i++) apps.push(await startApp(hd.config({ REDIS_URL: redis.url, ...extra }), { logFile }));
  for (const a of apps) await until(() => redisUp(a));
  return apps;
}

describe.skipIf(!haveRedis)('replicas sharing Redis', () => {
  it('N concurrent cold requests split between two instances make exactly one upstream call', async () => {
    const [a, b] = await replicas(2);
    hd.fake.delayMs = 300;
    const path = '/feeds/hdhive/tv/101172';
    const res = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${(i % 2 ? a : b)!.url}${path}.json`)));
    expect(res.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = await Promise.all(res.map((r) => r.json() as Promise<{ items: unknown[] }>));
    expect(new Set(bodies.map((x) => JSON.stringify(x.items))).size).toBe(1);
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
    // A later request on either replica is a hit: no call.
    expect((await fetch(`${b!.url}${path}`)).headers.get('x-cache')).toMatch(/HIT|MISS/);
    expect(hd.fake.calls.get('/api/open/resources/tv/101172')).toBe(1);
  });

  it('a failure is remembered for every replica: the second does not call again', async () => {
    const [a, b] = await replicas(2);
    hd.fake.mode = 'rate_limited';
    const first = await fetch(`${a!.url}/feeds/hdhive/movie/550`);
    expect(first.status).toBe(429);
    const calls = hd.fake.totalCalls();
    const second = await fetch(`${b!.url}/feeds/hdhive/movie/550`);
    expect(second.status).toBe(429);
    expect((await second.json()) as unknown).toMatchObject({ error: { code: 'UPSTREAM_RATE_LIMITED' } });
    expect(hd.fake.totalCalls()).toBe(calls);
  });

  it('Redis going away degrades to per-process memory with a warning and a metric, never to errors; it is picked up again', async () => {
    const log = join(tempDir(), 'feedgate.log');
    const [a, b] = await replicas(2, { LOG_LEVEL: 'warn' }, log);
    await redis.stop();
    await until(async () => !(await redisUp(a!)) && !(await redisUp(b!)));
    const down = await Promise.all([1, 2, 3, 4].map((i) => fetch(`${(i % 2 ? a : b)!.url}/feeds/hdhive/movie/60${i}`)));
    expect(down.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(await (await fetch(`${a!.url}/metrics`)).text()).toMatch(/^feedgate_redis_up 0$/m);
    await new Promise((r) => setTimeout(r, 250));
    expect(readFileSync(log, 'utf8')).toContain('Redis is unreachable');

    await redis.start();
    await until(async () => (await redisUp(a!)) && (await redisUp(b!)), 10_000);
    hd.fake.delayMs = 300;
    hd.fake.calls.clear();
    const again = await Promise.all(Array.from({ length: 10 }, (_, i) => fetch(`${(i % 2 ? a : b)!.url}/feeds/hdhive/movie/700`)));
    expect(again.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(hd.fake.calls.get('/api/open/resources/movie/700')).toBe(1);
    await new Promise((r) => setTimeout(r, 250));
    expect(readFileSync(log, 'utf8')).toContain('Redis is back');
  });

  it('call budgets are one pace across replicas', async () => {
    const metrics = createMetrics();
    const logger = createLogger('silent');
    const s1 = new RedisState(redis.url, logger, metrics);
    const s2 = new RedisState(redis.url, logger, createMetrics());
    await until(() => s1.up && s2.up);
    const name = `t${Date.now()}`;
    const b1 = new CallBudget({ name, perMinute: 600, setting: 'X', shared: s1, random: () => 0 });
    const b2 = new CallBudget({ name, perMinute: 600, setting: 'X', shared: s2, random: () => 0 });
    const t0 = performance.now();
    await Promise.all([b1.take(), b2.take(), b1.take(), b2.take()]);
    // Four calls at 100 ms spacing across both: the last one waits about 300 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    await b1.hold(Date.now() + 5000);
    expect(await b2.heldUntil()).toBeGreaterThan(Date.now());
    await s1.close();
    await s2.close();
  });
});
