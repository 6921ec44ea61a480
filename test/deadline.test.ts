import { describe, expect, it } from 'vitest';
import { COOKIE, EMPTY_UID, SEC_UID, useFakeDouyin } from './fakes/douyin.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { useStartApp } from './helpers/app.js';

/**
 * A cold feed never holds a reader past FEED_DEADLINE (issue 21, item 13): a call queued behind its
 * budget answers 503 with Retry-After at once and still happens; slow full texts come with the next poll.
 */

const mpFake = useFakeMp();
const douyin = useFakeDouyin();
const hd = useFakeHdhive();
const start = useStartApp();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed(url: string) {
  const t0 = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  return { res, ms: performance.now() - t0, body: JSON.parse(text) };
}

describe('a cold feed queued behind its budget', () => {
  it('MP: 503 with Retry-After at once (not after FEED_DEADLINE), the call still happens, and the next poll is a hit', async () => {
    const m = mpFake.mp;
    // 20 a minute: calls 3 to 3.75 s apart.
    const app = await start({ MP_BASE_URL: m.url, PROXY_ALLOW_HOSTS: m.host, MP_CALLS_PER_MINUTE: 20, FEED_DEADLINE: '2s' });
    await pushCredentials(app.url, m);
    const first = await timed(`${app.url}/feeds/mp/${encodeURIComponent(BIZ)}.json`);
    expect(first.res.status).toBe(200);
    const url = `${app.url}/feeds/mp/${encodeURIComponent(BIZ)}.json?offset=10`;
    const cold = await timed(url);
    expect(cold.res.status).toBe(503);
    expect(cold.body.error.code).toBe('FEED_PENDING');
    expect(cold.body.error.message).toContain('MP_CALLS_PER_MINUTE');
    expect(cold.ms).toBeLessThan(1000);
    const retryAfter = Number(cold.res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(3);
    expect(retryAfter).toBeLessThanOrEqual(7);
    const calls = m.listCalls;
    await sleep(retryAfter * 1000);
    expect(m.listCalls).toBeGreaterThan(calls);
    const next = await timed(url);
    expect(next.res.status).toBe(200);
    expect(next.res.headers.get('x-cache')).toBe('HIT');
    expect(next.body.items.length).toBeGreaterThan(0);
  }, 20_000);

  it('Douyin: the same through DOUYIN_CALLS_PER_MINUTE', async () => {
    const { d } = douyin;
    const app = await start({ DOUYIN_BASE_URL: d.url, DOUYIN_COOKIE: COOKIE, DOUYIN_CALLS_PER_MINUTE: 20, PROXY_ALLOW_HOSTS: `${d.host},${d.cdn.host}`, FEED_DEADLINE: '2s' });
    expect((await timed(`${app.url}/feeds/douyin/${SEC_UID}.json`)).res.status).toBe(200);
    // A user without posts needs two calls (list, profile): the list waits for the next slot.
    const cold = await timed(`${app.url}/feeds/douyin/${EMPTY_UID}.json`);
    expect(cold.res.status).toBe(503);
    expect(cold.body.error.message).toContain('DOUYIN_CALLS_PER_MINUTE');
    expect(cold.ms).toBeLessThan(1000);
    expect(Number(cold.res.headers.get('retry-after'))).toBeGreaterThanOrEqual(3);
  }, 20_000);

  it('HDHive answering slowly: 503 with Retry-After at FEED_DEADLINE, and the load finishes for the next poll', async () => {
    hd.fake.delayMs = 1500;
    const app = await start(hd.config({ FEED_DEADLINE: '500ms' }));
    const url = `${app.url}/feeds/hdhive/movie/550.json`;
    const cold = await timed(url);
    expect(cold.res.status).toBe(503);
    expect(cold.body.error.code).toBe('FEED_PENDING');
    expect(cold.ms).toBeGreaterThanOrEqual(450);
    expect(cold.ms).toBeLessThan(1400);
    expect(Number(cold.res.headers.get('retry-after'))).toBeGreaterThan(0);
    await sleep(1500);
    const next = await timed(url);
    expect(next.res.status).toBe(200);
    expect(next.res.headers.get('x-cache')).toBe('HIT');
    expect(hd.fake.totalCalls()).toBe(1);
  });
});

describe('MP full texts slower than FEED_DEADLINE', () => {
  it('the list is answered in time with the pending texts marked; the next poll has them, without another list call', async () => {
    const m = mpFake.mp;
    m.articleDelayMs = 2000;
    const app = await start({ MP_BASE_URL: m.url, PROXY_ALLOW_HOSTS: m.host, MP_CALLS_PER_MINUTE: 600, MP_FETCH_CONCURRENCY: 16, FEED_DEADLINE: '1s', CACHE_TTL: '2s' });
    await pushCredentials(app.url, m);
    const url = `${app.url}/feeds/mp/${encodeURIComponent(BIZ)}.json?content=1`;
    const first = await timed(url);
    expect(first.res.status).toBe(200);
    expect(first.ms).toBeLessThan(1000);
    const pending = first.body.items.filter((i: any) => i.content_html.includes('The full text is being fetched'));
    expect(pending.length).toBeGreaterThan(0);
    const calls = m.listCalls;
    await sleep(2600);
    const next = await timed(url);
    expect(next.res.status).toBe(200);
    expect(next.body.items.filter((i: any) => i.content_html.includes('The full text is being fetched'))).toEqual([]);
    expect(next.body.items.length).toBe(first.body.items.length);
    expect(m.listCalls).toBe(calls);
    // Each page was fetched once: the build that filled them in waited for none.
    expect([...m.pageHits.values()].every((n) => n === 1)).toBe(true);
  }, 20_000);
});
