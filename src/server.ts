import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { ConfigError } from './config.js';
import { loadConfig, type Config } from './feeds/sources.js';
import { createLogger } from './logger.js';
import { openStore } from './store/index.js';
import type { Sql } from './store/sql.js';

let config: Config;
try {
  // .env in the working directory, below real environment variables (loadEnvFile never overrides them).
  if (existsSync('.env')) {
    try {
      process.loadEnvFile('.env');
    } catch (err) {
      throw new ConfigError([`.env: ${(err as Error).message}`]);
    }
  }
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`feedgate: ${err.message}`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(config.LOG_LEVEL);
let db: Sql | undefined;
let app: Awaited<ReturnType<typeof createApp>>;
try {
  db = await openStore(config, logger);
  app = await createApp({ config, logger, db });
} catch (err) {
  await db?.close().catch(() => {});
  if (err instanceof ConfigError) {
    console.error(`feedgate: ${err.message}`);
    process.exit(1);
  }
  // The database refused or went away while the schema was brought up to date: one line, not a stack.
  console.error(`feedgate: cannot start: ${(err as Error).message}${config.DATABASE_URL ? ' (DATABASE_URL)' : ` (DATA_DIR ${config.DATA_DIR})`}`);
  process.exit(1);
}
const server = createServer(app.listener).listen(config.PORT, config.HOST, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port, dataDir: config.DATA_DIR }, `feedgate listening on http://${address.includes(':') ? `[${address}]` : address}:${port}`);
  if (!isLoopback(config.HOST) && !config.ACCESS_TOKEN) {
    logger.warn({ host: config.HOST }, `HOST ${config.HOST} accepts connections from other machines and ACCESS_TOKEN is not set: every feed and the media proxy are open to the network. Set ACCESS_TOKEN, or HOST=127.0.0.1 behind a reverse proxy.`);
  }
});

server.on('error', (err) => {
  logger.fatal({ err }, 'cannot listen');
  process.exit(1);
});

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down: no new connections, finishing requests in flight');
  // Requests get half the time to finish on their own; then upstream calls and media streams still
  // running are aborted, which ends their requests (a stale copy or an error) well before the limit.
  const abort = setTimeout(() => {
    logger.warn('aborting upstream calls still in flight');
    void app.close();
  }, config.SHUTDOWN_TIMEOUT / 2);
  const force = setTimeout(() => {
    logger.warn('connections still open after SHUTDOWN_TIMEOUT; closing them');
    server.closeAllConnections();
  }, config.SHUTDOWN_TIMEOUT);
  abort.unref();
  force.unref();
  // Keep-alive connections turn idle as their last response ends; close them as they do.
  const reaper = setInterval(() => server.closeIdleConnections(), 100);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  clearInterval(reaper);
  clearTimeout(abort);
  clearTimeout(force);
  await app.close();
  await db!.close();
  logger.info('stopped');
  logger.flush?.();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
