import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Logs are JSON lines on stdout, written synchronously through a small buffer: up to 4 KiB of lines are
 * gathered and written in one call, and whatever is gathered is written every 100 ms and at exit. So
 * memory is bounded (an asynchronous destination queued tens of MB under load and lost the queue on a
 * crash), a slow reader slows logging rather than growing memory, and a kill -9 loses at most the last
 * 100 ms. Times are epoch milliseconds (formatting ISO dates cost more than the rest of a line).
 */
const streams = new Set<ReturnType<typeof pino.destination>>();
/** Writes what is gathered. Not flushSync: that also fsyncs, which blocked the event loop ten times a second. */
function writeAll(): void {
  for (const stream of streams) {
    try {
      stream.flush();
    } catch {
      // The destination is gone: nothing more can be done.
    }
  }
}
/** At exit: write and fsync what is left. */
function flushAll(): void {
  for (const stream of streams) {
    try {
      stream.flushSync();
    } catch {
      // Nothing buffered, or the destination is gone: nothing more can be done.
    }
  }
}

export function createLogger(level: string, dest: number | string = 1): Logger {
  const stream = pino.destination({ dest, sync: true, minLength: 4096 });
  if (streams.size === 0) {
    setInterval(writeAll, 100).unref();
    process.once('exit', flushAll);
  }
  streams.add(stream);
  return pino({ level, base: undefined, serializers: { err: serializeError } }, stream);
}

/**
 * Errors as pino prints them, less any `headers` or request options they carry (an undici error can
 * hold the request's, with Authorization or X-API-Key). Done here rather than with pino's redact
 * paths, which cost every log line, the request lines included.
 */
function serializeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  if (out && typeof out === 'object') {
    for (const k of ['headers', 'options', 'request', 'config']) delete out[k];
  }
  return out;
}
