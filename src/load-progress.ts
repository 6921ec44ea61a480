import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What a feed load in flight tells the cache while it runs, without every call in between passing it
 * along: that it waits for a call budget (and until when), and that what it returns is incomplete (full
 * texts still coming). The cache starts each load inside `runWithProgress`; a budget or a source reads
 * `loadProgress()` wherever it is in that load.
 */
export interface LoadProgress {
  /** When the first reader wants an answer (epoch ms): a source may hand back what it has by then. */
  readonly answerBy?: number;
  /** The load waits for a call budget's slot at `at` (epoch ms), `setting` being what paces it. */
  queued(at: number, setting: string): void;
  /** What the load returns lacks parts that are still being fetched: keep it briefly, build it again soon. */
  incomplete(): void;
}

const storage = new AsyncLocalStorage<LoadProgress>();

export function runWithProgress<T>(progress: LoadProgress, fn: () => Promise<T>): Promise<T> {
  return storage.run(progress, fn);
}

/** The progress of the load this code runs in, if it runs in one. */
export function loadProgress(): LoadProgress | undefined {
  return storage.getStore();
}
