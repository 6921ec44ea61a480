import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImportError, exportLines, importLines } from './feeds/archive-export.js';
import { markdownTar } from './feeds/archive-markdown.js';
import { originGet } from './upstream/loopback.js';
import { archiveStore, type ArchivedItem } from './store/archive.js';
import { FeedArchive, keptFeed, sourceBodies } from './feeds/archive.js';
import { MediaLinks } from './proxy/links.js';
import { UrlSigner, proxySecretOf } from './proxy/sign.js';
import { texts } from './i18n/index.js';
import { openStore } from './store/index.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from './config.js';
import { SOURCES, loadConfig } from './feeds/sources.js';
import { S3Blobs } from './store/s3-blobs.js';
import { copyBlobs, copyTables, dataDirProxySecret, type CopyProgress } from './store/copy.js';
import { CORE_MIGRATIONS } from './store/migrations.js';
import { PostgresSql } from './store/postgres.js';
import { settingStore } from './store/settings.js';
import { openSqlite } from './store/sqlite.js';

/**
 * feedgate's command line: `npm run cli -- <command> [options]`. Each command is one function here;
 * later ones join the table below.
 */
const USAGE = `usage: npm run cli -- <command> [options]

commands:
  migrate-data --to postgres://user:password@host:5432/db [--from DATA_DIR]
      Copies a SQLite DATA_DIR (MP credentials and articles, Moments posts, first-seen dates, the OPML
      list, feed snapshots, the media archive's index and queue, the media link secret) into PostgreSQL.
      Run it again after an interruption: it copies what is missing, never a row twice. With
      ARCHIVE_S3_URL set, the archived media in DATA_DIR/archive are uploaded to that bucket too.

  export FILE [--feed /feeds/…|feed-id] [--format jsonl|markdown] [--media] [--server URL]
      Writes the archive (every kept item of every feed, or of one) to FILE:
      JSON Lines, lossless (the default, what import reads), or a tar of Markdown files, one per item
      with front matter; --media bundles the images, fetched through the running feedgate at --server
      (default http://HOST:PORT); links point at PUBLIC_URL, else at --server.
      Reads DATABASE_URL or DATA_DIR as the server does. FILE - writes to standard output.

  import FILE
      Loads an export into this instance's archive, which must keep nothing yet (a new DATA_DIR or
      database, SQLite or PostgreSQL whichever the export came from).
`;

function bar(p: CopyProgress): string {
  const width = 30;
  const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
  return `${p.table.padEnd(18)} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${p.done}/${p.total}`;
}

function progressPrinter(): (p: CopyProgress) => void {
  const tty = process.stderr.isTTY;
  return (p) => {
    // On a terminal one line per table, redrawn; in a log only the start and the end of each.
    if (tty) process.stderr.write(`\r${bar(p)}${p.done === p.total ? '\n' : ''}`);
    else if (p.done === 0 || p.done === p.total) process.stderr.write(`${bar(p)}\n`);
  };
}

async function migrateData(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' }, from: { type: 'string' } }, strict: true });
  const config = loadConfig(process.env, values.from ? { DATA_DIR: values.from } : {});
  const to = values.to ?? config.DATABASE_URL;
  if (!to || !/^postgres(ql)?:\/\//.test(to)) throw new ConfigError(['--to: give the PostgreSQL URL to copy into, e.g. --to postgres://feedgate:secret@127.0.0.1:5432/feedgate']);
  const dataDir = resolve(config.DATA_DIR);
  if (!existsSync(join(dataDir, 'feedgate.db'))) throw new ConfigError([`--from: ${dataDir} holds no feedgate.db; give the DATA_DIR to copy with --from (or DATA_DIR)`]);
  const source = openSqlite(dataDir);
  const target = new PostgresSql({ url: to, poolMax: 2, statementTimeoutMs: 600_000 });
  try {
    // The source is brought up to this version's schema first, so both sides have the same tables.
    await source.migrate(CORE_MIGRATIONS);
    await target.migrate(CORE_MIGRATIONS);
    const show = progressPrinter();
    const counts = await copyTables(source, target, show);
    const secret = dataDirProxySecret(dataDir);
    // The links readers already hold were signed with this secret: it must be the one the replicas share.
    let secretNote = 'no DATA_DIR/proxy-secret (PROXY_SECRET was set, or none was made)';
    if (secret) {
      const kept = await settingStore(target).keep('proxy_secret', secret);
      secretNote = kept === secret ? 'copied (links signed by this box keep working)' : 'the database already had another one: links signed by this box will not verify unless PROXY_SECRET is set to the old one';
    }
    let blobs = 'left in DATA_DIR/archive (set ARCHIVE_S3_URL to upload them to a bucket)';
    if (config.ARCHIVE_S3_URL) {
      const store = new S3Blobs(config.ARCHIVE_S3_URL, config.ARCHIVE_S3_ENDPOINT, join(dataDir, 'archive-tmp'));
      const n = await copyBlobs(join(dataDir, 'archive'), store, show);
      store.close();
      blobs = `${n} uploaded to ${store.where}`;
    }
    console.log('\ntable               rows   copied now');
    for (const c of counts) console.log(`${c.table.padEnd(18)} ${String(c.rows).padStart(6)}   ${String(c.copied).padStart(6)}`);
    console.log(`\nmedia link secret: ${secretNote}\narchived media: ${blobs}`);
    console.log(`\ndone. Set DATABASE_URL=${to.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')} on every replica${config.ARCHIVE_S3_URL ? '' : ' (and ARCHIVE_S3_URL to share archived media)'}.`);
  } finally {
    await source.close();
    await target.close();
  }
}

async function openArchive() {
  const config = loadConfig(process.env);
  const db = await openStore(config);
  // The schema the server would bring it to, sources' tables included: never one a server would call newer.
  await db.migrate([...CORE_MIGRATIONS, ...SOURCES.flatMap((m) => m.migrations ?? [])]);
  const store = archiveStore(db);
  // Bodies their sources keep (MP articles) are given back as the server gives them, signed links and all.
  const links = new MediaLinks(new UrlSigner(await proxySecretOf(config, db, () => settingStore(db))));
  const tx = texts(config.FEED_LANGUAGE, config.TZ);
  const archive = new FeedArchive({ store, maxItems: config.ARCHIVE_MAX_ITEMS, days: config.ARCHIVE_DAYS, showMax: 0, t: tx.t, bodies: sourceBodies(SOURCES, { db, links, texts: tx }) });
  return { db, store, kept: (rows: readonly ArchivedItem[]) => archive.items(rows, { marked: false }) };
}

async function exportArchive(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { feed: { type: 'string' }, format: { type: 'string', default: 'jsonl' }, media: { type: 'boolean', default: false }, server: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const file = positionals[0];
  if (!file) throw new ConfigError(['export: give the file to write, e.g. npm run cli -- export feedgate-archive.jsonl']);
  if (values.format !== 'jsonl' && values.format !== 'markdown') throw new ConfigError([`--format must be jsonl (lossless, for import) or markdown (a tar of one file per item), got "${values.format}"`]);
  if (values.media && values.format !== 'markdown') throw new ConfigError(['--media goes with --format markdown']);
  const config = loadConfig(process.env);
  // Images are fetched from the running feedgate, through the /proxy readers use.
  const server = (values.server ?? `http://${/^(0\.0\.0\.0|::)$/.test(config.HOST) ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(server)) throw new ConfigError([`--server must be the running feedgate's origin, e.g. http://127.0.0.1:8080, got "${server}"`]);
  if (values.media) {
    // Every image would fail one by one: say at once that the server is not there.
    const up = await fetch(`${server}/healthz`, { signal: AbortSignal.timeout(5000) }).then((r) => r.status < 500, () => false);
    if (!up) throw new ConfigError([`--media fetches images through the running feedgate, and none answers at ${server}: start it, or give its address with --server`]);
  }
  const { db, store, kept } = await openArchive();
  try {
    let only;
    if (values.feed) {
      only = await keptFeed(store, values.feed);
      if (!only) throw new ConfigError([`--feed: the archive keeps no feed ${values.feed}`]);
    }
    const show = progressPrinter();
    const progress = (p: { done: number; total: number }) => show({ table: 'items', ...p });
    const out = file === '-' ? process.stdout : createWriteStream(file);
    const body =
      values.format === 'jsonl'
        ? Readable.from(exportLines(store, only, progress, kept))
        : markdownTar(store, { base: config.PUBLIC_URL || server, only, progress, kept, media: values.media ? (path) => originGet(server)(path, config.PROXY_MAX_IMAGE_BYTES) : undefined });
    await pipeline(body, out);
    if (file !== '-') console.error(`\nwrote ${file}`);
  } finally {
    await db.close();
  }
}

async function importArchive(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true, strict: true });
  const file = positionals[0];
  if (!file || !existsSync(file)) throw new ConfigError([`import: give an export file to read${file ? ` (${file} does not exist)` : ''}`]);
  const { db, store } = await openArchive();
  try {
    const show = progressPrinter();
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    const n = await importLines(store, lines, (p) => show({ table: 'items', ...p }));
    console.error(`\nimported ${n.items} items of ${n.feeds} feeds`);
  } catch (err) {
    if (err instanceof ImportError) throw new ConfigError([`import: ${err.message}`]);
    throw err;
  } finally {
    await db.close();
  }
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { 'migrate-data': migrateData, export: exportArchive, import: importArchive };

const [command, ...rest] = process.argv.slice(2);
const run = command ? COMMANDS[command] : undefined;
if (!run) {
  process.stderr.write(USAGE);
  process.exit(command && command !== 'help' && command !== '--help' ? 2 : 0);
}
try {
  await run(rest);
} catch (err) {
  if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`feedgate: ${(err as Error).message}`);
    process.exit(2);
  }
  console.error(`feedgate: ${command} failed: ${(err as Error).message}`);
  process.exit(1);
}
