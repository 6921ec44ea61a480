import { setTimeout as sleep } from 'node:timers/promises';
import type { SharedState } from '../cache/shared.js';
import { loadProgress } from '../load-progress.js';
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
    private readonly opts: { name: string; perMinute: number; setting: string; now?: () => number; random?: () => number; shared?: SharedState },
  ) {}

  async take(signal?: AbortSignal): Promise<void> {
    const now = (this.opts.now ?? Date.now)();
    const interval = (60_000 / this.opts.perMinute) * (1 + 0.25 * (this.opts.random ?? Math.random)());
    // Replicas share one pace through Redis; without it (or while it is away) each process keeps its own.
    const sharedAt = this.opts.shared?.up ? await this.opts.shared.slot(this.opts.name, interval, now, MAX_WAIT_MS) : undefined;
    const at = sharedAt ?? Math.max(now, this.next);
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
    this.next = Math.max(this.next, at + interval);
    if (wait <= 0) return;
    // The feed waiting on this call can answer its reader now (stale, or 503 with Retry-After) instead of
    // holding it past FEED_DEADLINE; the call still happens when its slot comes.
    loadProgress()?.queued(at, this.opts.setting);
    await sleep(wait, undefined, { signal });
  }

  /** Pauses this budget across replicas until `untilMs` (an upstream asked to slow down). */
  async hold(untilMs: number): Promise<void> {
    await this.opts.shared?.hold(this.opts.name, untilMs);
  }

  /** Until when another replica paused this budget (0 when none did, or without shared state). */
  async heldUntil(): Promise<number> {
    return (this.opts.shared?.up ? await this.opts.shared.heldUntil(this.opts.name) : undefined) ?? 0;
  }
}
