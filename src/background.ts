import { AsyncLocalStorage } from 'node:async_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Work nobody is waiting for (a background refresh) gives way to readers. better-sqlite3 runs each
 * statement synchronously and an awaited statement resolves as a microtask, so a refresh's whole chain,
 * from its upstream answer to its last write, used to run in one go: about ten statements, the item
 * building and the archive's comparisons, which a poll arriving meanwhile waited behind. In background
 * work each statement first waits one turn of the event loop, where readers' requests that came in are
 * taken; inside a transaction too (its gate keeps other statements out meanwhile).
 */
const storage = new AsyncLocalStorage<true>();

/** Runs `fn` (and what it starts) as background work. */
export function runInBackground<T>(fn: () => Promise<T>): Promise<T> {
  return storage.run(true, fn);
}

/** In background work, a promise for the next turn of the event loop; undefined elsewhere (nothing to wait for). */
export function giveWay(): Promise<void> | undefined {
  return storage.getStore() ? nextTurn() : undefined;
}
