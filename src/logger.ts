import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Log lines are written synchronously: an asynchronous destination queues lines in memory when stdout
 * is slower than the request rate (it grew by tens of MB under load) and loses the queue on a crash.
 * A slow reader now slows logging, not memory.
 */
export function createLogger(level: string, dest: number | string = 1): Logger {
  return pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets may sit in headers of upstream errors we log; never print them.
      redact: { paths: ['*.headers.authorization', '*.headers["x-api-key"]', 'headers.authorization', 'headers["x-api-key"]'], censor: '[redacted]' },
    },
    pino.destination({ dest, sync: true }),
  );
}
