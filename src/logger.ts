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

export type RequestLine = (reqId: string, method: string, url: string, status: number, ms: number) => void;

/**
 * The per-request info line, byte for byte as `logger.info({ reqId, method, url, status, ms }, 'request')`
 * writes it (but a lone surrogate is escaped, as pino does from Node 25 on, not written raw and lost), into
 * the same destination (so lines stay in order), without pino's generic path: on a
 * cached feed that path was a sixth of the server's time. Undefined when info is off. Only for a logger
 * made by createLogger with no bindings (no base, mixin or hooks), which is what the app is given.
 */
export function requestLine(logger: Logger): RequestLine | undefined {
  if (!logger.isLevelEnabled('info')) return undefined;
  const own = logger as unknown as Record<symbol, unknown>;
  const stream = own[pino.symbols.streamSym] as { write?(line: string): void } | undefined;
  // Bindings, a mixin or a time format of its own would change the line: then pino writes it.
  if (typeof stream?.write !== 'function' || own[pino.symbols.chindingsSym] !== '' || own[pino.symbols.mixinSym] || own[pino.symbols.timeSym] !== pino.stdTimeFunctions.epochTime) return undefined;
  const head = `{"level":${logger.levels.values.info},"time":`;
  return (reqId, method, url, status, ms) => {
    stream.write!(`${head}${Date.now()},"reqId":${str(reqId)},"method":${str(method)},"url":${str(url)},"status":${status},"ms":${Number.isFinite(ms) ? ms : null},"msg":"request"}\n`);
  };
}

/** A JSON string as pino writes one: JSON.stringify's, which short plain strings need not pay for. */
const PLAIN = /^[^\u0000-\u001f"\\\ud800-\udfff]*$/;
const str = (s: string): string => (s.length < 64 && PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));

