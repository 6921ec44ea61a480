/**
 * One lane for CPU-bound work that holds the event loop for milliseconds (parsing an article page: a few
 * ms for a small one, tens for a real 200 KB page). Tasks run one at a time, each in a macrotask of its
 * own, so whatever I/O became ready meanwhile is handled between two of them. That matters for full text:
 * page answers that arrive while a page is parsed must free their fetch slots and start the next fetches
 * first. With four answers arriving together and their parses run back to back, the next wave of fetches
 * started one or more parses late, every wave.
 */
export class CpuLane {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  /**
   * `graceMs`: how long a task that finds the lane idle waits for I/O first. Answers sent together (a
   * wave of page fetches) reach us within a millisecond or two of each other, and the first one must not
   * start a parse before the others have freed their slots. Tasks queued behind another only yield once:
   * the poll phase between two tasks takes in what arrived during the first.
   */
  constructor(private readonly graceMs = 2) {}

  run<T>(task: () => T | Promise<T>): Promise<T> {
    const wait = this.queued++ === 0 ? (r: () => void) => setTimeout(r, this.graceMs) : (r: () => void) => setImmediate(r);
    const result = this.tail.then(() => new Promise<void>(wait)).then(task);
    // A failed task is its caller's to handle; the lane goes on.
    this.tail = result.catch(() => undefined).finally(() => this.queued--);
    return result;
  }
}
