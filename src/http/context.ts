import type { Logger } from '../logger.js';

declare module 'koa' {
  interface DefaultContext {
    /** Per-request child logger carrying the request id. */
    log: Logger;
    requestId: string;
  }
}

export {};
