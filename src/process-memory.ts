import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Two things about memory that only a process-wide step can do, once, after start:
 *
 * 1. Loading grows V8's young generation, and V8 gives that memory back only once its memory reducer
 *    runs, 8-20 s after a full collection: loading runs one only when its heap happens to grow enough,
 *    and without one an idle server kept ~12 MB it no longer used.
 *    (gc() comes from a context made while --expose-gc is on; vm.measureMemory would do it too, but
 *    prints an experimental-feature warning at every start.)
 *
 * 2. glibc returns the top of its heap to the system as soon as 128 KiB there is free (M_TRIM_THRESHOLD).
 *    A relay reads every chunk into a new 64 KiB buffer, and V8 frees those in batches of up to 64 MB
 *    (its external-memory limit between collections), so glibc gave each batch back and the next reads
 *    faulted the same pages in again: 12 000 page faults per 64 MiB /play stream. glibc raises the trim
 *    threshold to twice the size of a block it had mapped with mmap once that block is freed (mallopt(3),
 *    "dynamic mmap threshold", blocks up to 32 MiB), so a buffer just under 32 MiB, never touched (it
 *    costs no memory), is freed at a second collection: from then on glibc keeps up to ~64 MiB of freed
 *    heap, one batch. After the first collection, not before it, so what loading freed is still given
 *    back. GLIBC_TUNABLES=glibc.malloc.trim_threshold would do the same from process start, keeping
 *    loading's garbage too (idle RSS +10-20 MB), and only where the environment is ours to set.
 *    Elsewhere (musl, macOS) this is one unused allocation.
 */
export function settleMemoryAfterStart(delayMs: number): void {
  // Held by the closure below until the second collection.
  let spare: Buffer | undefined = Buffer.allocUnsafeSlow(SPARE_BYTES);
  setTimeout(() => {
    const gc = fullGc();
    gc?.();
    setTimeout(() => {
      spare = undefined;
      gc?.();
    }, delayMs).unref();
  }, delayMs).unref();
}

/** Under glibc's 32 MiB cap on the dynamic threshold, with room for the chunk header. */
const SPARE_BYTES = 32 * 1024 * 1024 - 64 * 1024;

function fullGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    setFlagsFromString('--no-expose-gc');
    return gc;
  } catch {
    // Only memory is at stake.
    return undefined;
  }
}
