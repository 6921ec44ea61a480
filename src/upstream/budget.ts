import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamError } from './errors.js';

/** Calls are refused rather than queued when the next free slot is further away than this. */
const MAX_WAIT_MS = 120_000;

/**
 * A process-wide pace for calls an upstream punishes in bulk (WeChat's getmsg): at most `perMinute`,
 * spaced evenly with up to 25% jitter so polls never line up into a recognisable rhythm. A call waits
 * for its slot; one that would wait past MAX_WAIT_MS fails at once with 429 and Retry-After, and the
 * feed serves what it has.
 */
export class CallBudget {
  private next = 0;

  constructor(
    private readonly opts: { name: string; perMinute: number; setting: string; now?: () => number; random?: () => number },
  ) {}

  async take(signal?: AbortSignal): Promise<void> {
    const now = (this.opts.now ?? Date.now)();
    const at = Math.max(now, this.next);
    const wait = at - now;
    if (wait > MAX_WAIT_MS) {
      const seconds = Math.ceil(wait / 1000);
      throw new UpstreamError(
        this.opts.name,
        'rate_limited',
        429,
        'CALL_BUDGET_EXHAUSTED',
        `feedgate's own limit of ${this.opts.perMinute} ${this.opts.name} calls per minute (${this.opts.setting}) is taken for the next ${seconds} s`,
        { 'Retry-After': String(seconds) },
      );
    }
    const interval = 60_000 / this.opts.perMinute;
    this.next = at + interval * (1 + 0.25 * (this.opts.random ?? Math.random)());
    if (wait > 0) await sleep(wait, undefined, { signal });
  }
}
