/**
 * glibc returns the top of its heap to the system once 128 KiB there is free (M_TRIM_THRESHOLD). A relay
 * reads every chunk into a new 64 KiB buffer, and V8 frees those buffers in batches of tens of MB at each
 * collection, so glibc gave them all back, and the next reads faulted the same pages in again: 12 000
 * page faults per 64 MiB /play stream, about a third of its CPU. A 64 MiB threshold (one batch) keeps
 * them; 8 MiB and 32 MiB still faulted thousands of times per stream (bench/ measures it). It can only be
 * set before the process starts, so the Docker image, the systemd unit and `npm start` set it;
 * elsewhere (musl, macOS) the variable means nothing.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=67108864';

/** The hint to log at start when a glibc Linux process runs without a trim threshold of its own. */
export function mallocHint(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  if (platform !== 'linux' || /(^|:)glibc\.malloc\.trim_threshold=/.test(env.GLIBC_TUNABLES ?? '')) return undefined;
  return `GLIBC_TUNABLES=${MALLOC_TUNABLES} is not set: video streams through /play cost up to twice the CPU (glibc gives relay buffers back to the system after every collection). npm start, the Docker image and deploy/feedgate.service set it; set it in the environment when starting node dist/server.js by hand.`;
}
