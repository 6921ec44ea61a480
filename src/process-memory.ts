import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * glibc returns the top of its heap to the system as soon as 128 KiB there is free (M_TRIM_THRESHOLD).
 * A relay reads every chunk into a new 64 KiB buffer, and V8 frees those in batches of up to 64 MB (its
 * external-memory limit between collections), so glibc gave each batch back and the next reads faulted
 * the same pages in again: 12 000 page faults per 64 MiB /play stream. glibc raises the trim threshold to
 * twice the size of a block it had mapped with mmap once that block is freed (mallopt(3), "dynamic mmap
 * threshold", blocks up to 32 MiB), so a buffer just under 32 MiB, never touched (it costs no memory), is
 * made and dropped a second after start: from then on glibc keeps up to ~64 MiB of freed heap, one batch.
 * After start, not at it, so what loading freed is still given back; GLIBC_TUNABLES would do the same
 * from process start, keeping loading's garbage too (idle RSS +10-20 MB), and only where the environment
 * is ours to set. Elsewhere (musl, macOS) this is one unused allocation.
 *
 * The buffer is freed by a young-generation collection (gc() from a context made while --expose-gc is
 * on), never a full one: a full collection right after start, when the heap is small and loading has
 * just allocated fast, sets V8's old-generation limit low (38 MB against 65 MB after loading's own), and
 * a relay then ran two full collections per 64 MiB stream, at half the speed. V8's memory reducer, which
 * gives back the young generation loading grew, is started by loading's own full collection (in every
 * trace; idle RSS settles at 69-76 MB 10-20 s after start).
 */
export function settleMemoryAfterStart(delayMs: number): void {
  setTimeout(() => {
    const gc = exposedGc();
    // Made and dropped at once: young, so the scavenge below frees it.
    Buffer.allocUnsafeSlow(SPARE_BYTES);
    // Node 20's gc() scavenges for any options object; later ones read type.
    gc?.({ type: 'minor' });
  }, delayMs).unref();
}

/** Under glibc's 32 MiB cap on the dynamic threshold, with room for the chunk header. */
const SPARE_BYTES = 32 * 1024 * 1024 - 64 * 1024;

/** V8's gc() extension; `type` picks the young generation or the whole heap. */
type Gc = (options?: { type: 'minor' | 'major' }) => void;

function exposedGc(): Gc | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as Gc;
    setFlagsFromString('--no-expose-gc');
    return gc;
  } catch {
    // Only memory is at stake.
    return undefined;
  }
}
