import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import type { SourceModule } from '../../src/feeds/descriptor.js';
import { loadConfig, type Config } from '../../src/feeds/sources.js';
import { createLogger } from '../../src/logger.js';
import { openStore } from '../../src/store/index.js';
import type { Sql } from '../../src/store/sql.js';

export interface RunningApp {
  url: string;
  config: Config;
  app: App;
  db: Sql;
  dataDir: string;
  /** Stops the server and closes the db; keeps DATA_DIR unless `wipe`. */
  close(wipe?: boolean): Promise<void>;
}

export function tempDir(prefix = 'feedgate-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A real feedgate on an ephemeral loopback port, configured like production but for `overrides`. */
export async function startApp(overrides: Partial<Record<keyof Config, unknown>> = {}, opts: { logFile?: string; sources?: readonly SourceModule[] } = {}): Promise<RunningApp> {
  const dataDir = (overrides.DATA_DIR as string | undefined) ?? tempDir();
  // Feed text in English unless a test asks for another language (the default is zh-CN).
  const config = loadConfig({}, { LOG_LEVEL: 'silent', PORT: 0, UPSTREAM_RETRIES: 0, FEED_LANGUAGE: 'en', ...overrides, DATA_DIR: dataDir }, opts.sources);
  const db = await openStore(config);
  const app = await createApp({ sources: opts.sources, config, logger: createLogger(config.LOG_LEVEL, opts.logFile ?? 1), db });
  const server: Server = await new Promise((resolve) => {
    const s = createServer(app.listener).listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  return {
    url,
    config,
    app,
    db,
    dataDir,
    async close(wipe = true) {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
      await db.close();
      if (wipe) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * startApp for a test file whose tests each start their own feedgate: every one started is closed after
 * its test, whatever the test did (closing twice is harmless).
 */
export function useStartApp(): typeof startApp {
  const open: RunningApp[] = [];
  afterEach(async () => {
    for (const a of open.splice(0)) await a.close();
  });
  return async (overrides, opts) => {
    const a = await startApp(overrides, opts);
    open.push(a);
    return a;
  };
}
