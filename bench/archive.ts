/**
 * The archive (issue 25) on SQLite and PostgreSQL: BENCH_ARCHIVE_ITEMS kept items (1 000 000) of mixed
 * Chinese and English over a thousand feeds, one of them (a real HDHive feed route) with
 * BENCH_ARCHIVE_FEED items (100 000). Written straight into each database before feedgate starts (a
 * fill through the HTTP API would take hours and measure nothing of interest), with the same words and
 * index feedgate writes (search-text.ts). Measured against feedgate's production build over HTTP:
 * cached hits of that feed against a feed with 200 kept items (same run, alternating), cold RFC 5005
 * archive pages, search latency (p95 of a query mix), and RSS while exporting the big feed.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { normalizeSearchText, searchTokens } from '../src/store/search-text.js';
import { median, peakRss, rssMb, roundRatios, showRatio, tempDir, wrk, type Proc, type WrkResult } from './lib.js';

export interface ArchiveBenchDeps {
  track: (p: Promise<Proc>) => Promise<Proc>;
  feedgate: (env: Record<string, string>) => Promise<Proc>;
  token: string;
  rounds: number;
  seconds: number;
  connections: number;
  fmt: (r: { rps: number; p50: number; p99: number; errors: number }) => string;
}

const TOTAL = Number(process.env.BENCH_ARCHIVE_ITEMS ?? 1_000_000);
const BIG = Number(process.env.BENCH_ARCHIVE_FEED ?? 100_000);
const SMALL = 200;
const OTHER_FEEDS = 1000;
const BIG_FEED = { feed: 'hdhive:tv:101172', url: '/feeds/hdhive/tv/101172', source: 'hdhive' };
const SMALL_FEED = { feed: 'hdhive:tv:101173', url: '/feeds/hdhive/tv/101173', source: 'hdhive' };

/** Deterministic: the same corpus every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(25);
/** Words used as people write: a few very often, most rarely (index = N·r³). */
const zipf = <T>(list: readonly T[]) => list[Math.floor(list.length * rnd() ** 3)]!;
const HAN = Array.from({ length: 3000 }, (_, i) => String.fromCodePoint(0x4e00 + Math.floor((i * 20_000) / 3000)));
const ZH = Array.from({ length: 4000 }, () => Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => zipf(HAN)).join(''));
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const EN = Array.from({ length: 6000 }, () => Array.from({ length: 3 + Math.floor(rnd() * 7) }, () => LETTERS[Math.floor(rnd() * 26)]).join(''));
const sentence = (n: number) => Array.from({ length: n }, () => (rnd() < 0.6 ? zipf(ZH) : zipf(EN))).join(rnd() < 0.5 ? ' ' : '，');

interface Row {
  feed: string;
  source: string;
  guid: string;
  seq: number;
  sortAt: number;
  data: string;
  hash: string;
  searchText: string;
  tokens: string[];
}

/** The items, in the order feedgate would have kept them (ids), feeds interleaved. */
function* corpus(): Generator<Row> {
  const seqs = new Map<string, number>();
  const T0 = Date.UTC(2020, 0, 1);
  const otherCount = TOTAL - BIG - SMALL;
  for (let i = 0; i < TOTAL; i++) {
    // Spread: the big feed's items among the others', as they would arrive over years.
    const step = (n: number) => Math.floor(((i + 1) * n) / TOTAL) > Math.floor((i * n) / TOTAL);
    // The small feed first where both fall on one item: the big one loses a few hundred of its items.
    const which = step(SMALL) ? SMALL_FEED : step(BIG) ? BIG_FEED : undefined;
    const feed = which ?? { feed: `bench:${i % OTHER_FEEDS}`, url: `/feeds/bench/${i % OTHER_FEEDS}`, source: ['douyin', 'mp', 'channels', 'moments'][i % 4]! };
    if (!which && otherCount <= 0) continue;
    const seq = (seqs.get(feed.feed) ?? 0) + 1;
    seqs.set(feed.feed, seq);
    const title = sentence(3 + Math.floor(rnd() * 5));
    const summary = sentence(8 + Math.floor(rnd() * 12));
    const sortAt = T0 + Math.floor((i / TOTAL) * 5 * 365 * 86_400_000);
    const item = { guid: `${feed.feed}-${seq}`, title, summary, contentHtml: `<p>${summary}</p>`, published: sortAt, link: `https://example.com/${i}` };
    const data = JSON.stringify(item);
    const searchText = normalizeSearchText(`${title}\n${summary}\n${summary}`);
    yield { feed: feed.feed, source: feed.source, guid: item.guid, seq, sortAt, data, hash: createHash('sha1').update(data).digest('base64url'), searchText, tokens: searchTokens(searchText) };
  }
}

function feedRows(): Array<{ feed: string; source: string; url: string; count: number }> {
  const big = { ...BIG_FEED, count: BIG };
  const small = { ...SMALL_FEED, count: SMALL };
  const others = Array.from({ length: OTHER_FEEDS }, (_, k) => ({ feed: `bench:${k}`, source: ['douyin', 'mp', 'channels', 'moments'][k % 4]!, url: `/feeds/bench/${k}`, count: 0 }));
  return [big, small, ...others];
}

async function fillSqlite(dir: string): Promise<Map<string, number>> {
  const { openSqlite } = await import('../src/store/sqlite.js');
  const { CORE_MIGRATIONS } = await import('../src/store/migrations.js');
  const sql = openSqlite(dir);
  await sql.migrate(CORE_MIGRATIONS);
  const db = sql.db;
  const item = db.prepare('INSERT INTO archive_items (feed, source, guid, seq, first_seen, last_seen, listed, gone, sort_at, data, hash, search_text) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)');
  const fts = db.prepare('INSERT INTO archive_fts (rowid, tokens) VALUES (?, ?)');
  const counts = new Map<string, number>();
  let batch: Row[] = [];
  const flush = db.transaction((rows: Row[]) => {
    for (const r of rows) {
      const id = item.run(r.feed, r.source, r.guid, r.seq, r.sortAt, r.sortAt, r.sortAt, r.data, r.hash, r.searchText).lastInsertRowid;
      fts.run(id, r.tokens.join(' '));
      counts.set(r.feed, r.seq);
    }
  });
  let n = 0;
  for (const r of corpus()) {
    batch.push(r);
    if (batch.length === 5000) {
      flush(batch);
      n += batch.length;
      batch = [];
    }
  }
  flush(batch);
  n += batch.length;
  const feed = db.prepare("INSERT INTO archive_feeds (feed, source, url, title, head, next_seq, digest, seen_at, updated_at) VALUES (?, ?, ?, ?, '{}', ?, '', 0, 0)");
  db.transaction(() => {
    for (const f of feedRows()) feed.run(f.feed, f.source, f.url, f.feed, (counts.get(f.feed) ?? 0) + 1);
  })();
  await sql.close();
  return counts;
}

async function fillPostgres(url: string): Promise<Map<string, number>> {
  const { PostgresSql } = await import('../src/store/postgres.js');
  const { CORE_MIGRATIONS } = await import('../src/store/migrations.js');
  const sql = new PostgresSql({ url, poolMax: 2, statementTimeoutMs: 0 });
  await sql.migrate(CORE_MIGRATIONS);
  await sql.close();
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // The GIN index is built once after the fill (as CREATE INDEX on a restored dump would), not row by row.
  await client.query('DROP INDEX archive_items_tokens');
  const counts = new Map<string, number>();
  let batch: Row[] = [];
  const flush = async (rows: Row[]) => {
    const col = <K extends keyof Row>(k: K) => rows.map((r) => r[k]);
    await client.query(
      `INSERT INTO archive_items (feed, source, guid, seq, first_seen, last_seen, listed, gone, sort_at, data, hash, search_text, tokens)
       SELECT f, s, g, q, t, t, 0, 0, t, d, h, st, array_to_tsvector(string_to_array(tk, ' '))
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[]) AS x(f, s, g, q, t, d, h, st, tk)`,
      [col('feed'), col('source'), col('guid'), col('seq'), col('sortAt'), col('data'), col('hash'), col('searchText'), rows.map((r) => r.tokens.join(' '))],
    );
    for (const r of rows) counts.set(r.feed, r.seq);
  };
  let n = 0;
  for (const r of corpus()) {
    batch.push(r);
    if (batch.length === 2000) {
      await flush(batch);
      n += batch.length;
      batch = [];
    }
  }
  await flush(batch);
  n += batch.length;
  for (const f of feedRows()) {
    await client.query("INSERT INTO archive_feeds (feed, source, url, title, head, next_seq, digest, seen_at, updated_at) VALUES ($1, $2, $3, $4, '{}', $5, '', 0, 0)", [f.feed, f.source, f.url, f.feed, (counts.get(f.feed) ?? 0) + 1]);
  }
  await client.query('CREATE INDEX archive_items_tokens ON archive_items USING GIN (tokens)');
  await client.query('VACUUM ANALYZE archive_items');
  await client.end();
  return counts;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
};

/** Queries as people type them: common and rare Chinese words, English prefixes, two words, mixed. */
function queries(): string[] {
  const q: string[] = [];
  for (let i = 0; i < 50; i++) q.push(ZH[Math.floor(rnd() * 30)]!);
  for (let i = 0; i < 40; i++) q.push(ZH[1000 + Math.floor(rnd() * 3000)]!);
  for (let i = 0; i < 40; i++) q.push(EN[Math.floor(rnd() * 200)]!.slice(0, 4));
  for (let i = 0; i < 40; i++) q.push(`${zipf(ZH)} ${zipf(EN)}`);
  for (let i = 0; i < 30; i++) q.push(`${zipf(ZH)}${zipf(ZH)}`);
  return q;
}

export async function archiveBench(d: ArchiveBenchDeps): Promise<void> {
  const { postgresBin, startPostgres } = await import('../test/helpers/postgres.js');
  if (!postgresBin()) throw new Error('the archive benchmark needs PostgreSQL: apt-get install postgresql');
  const { startFakeHdhive, sampleTv101172 } = await import('../test/fakes/hdhive.js');
  const hd = await startFakeHdhive();
  hd.resources.set('tv/101173', sampleTv101172());
  const pg = await startPostgres();
  const dir = tempDir();
  const pgUrl = await pg.database('archive');
  console.log(`The archive: ${TOTAL.toLocaleString('en')} kept items over ${OTHER_FEEDS + 2} feeds, one feed with ${BIG.toLocaleString('en')}, mixed Chinese and English:`);
  let t0 = performance.now();
  const counts = await fillSqlite(dir);
  const fillS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await fillPostgres(pgUrl);
  const fillP = (performance.now() - t0) / 1000;
  console.log(`  filled SQLite in ${fillS.toFixed(0)} s, PostgreSQL in ${fillP.toFixed(0)} s; the big feed has ${counts.get(BIG_FEED.feed)} items`);
  // ARCHIVE_MAX_ITEMS above the big feed: the default (10 000 per feed) would trim it at its first load.
  const env = { HDHIVE_API_URL: hd.url, HDHIVE_API_KEY: hd.apiKey, ACCESS_TOKEN: d.token, CACHE_TTL: '1h', REFRESH_HDHIVE: '0', ARCHIVE_MAX_ITEMS: String(2 * BIG) };
  const engines: Array<[string, Proc]> = [
    ['SQLite', await d.track(d.feedgate({ ...env, DATA_DIR: dir }))],
    ['PostgreSQL', await d.track(d.feedgate({ ...env, DATABASE_URL: pgUrl }))],
  ];
  const T = `token=${d.token}`;
  for (const [name, fg] of engines) {
    const u = fg.info.url!;
    const sizes: number[] = [];
    for (const f of [BIG_FEED, SMALL_FEED]) {
      await (await fetch(`${u}${f.url}?${T}`)).arrayBuffer();
      const r = await fetch(`${u}${f.url}?${T}`);
      sizes.push((await r.arrayBuffer()).byteLength);
      if (r.status !== 200 || r.headers.get('x-cache') !== 'HIT') throw new Error(`${name} ${f.url}: HTTP ${r.status}, X-Cache ${r.headers.get('x-cache')}`);
    }
    // Cached hits: the feed with 100 000 kept items against one with 200 (both show 100 kept ones).
    const big: WrkResult[] = [];
    const small: WrkResult[] = [];
    const hit = (f: typeof BIG_FEED) => wrk(`${u}${f.url}?${T}`, { connections: d.connections, seconds: d.seconds });
    await hit(BIG_FEED);
    await hit(SMALL_FEED);
    // Alternating which goes first, so neither always runs on a warmer process.
    for (let r = 0; r < d.rounds; r++) {
      if (r % 2 === 0) {
        big.push(await hit(BIG_FEED));
        small.push(await hit(SMALL_FEED));
      } else {
        small.push(await hit(SMALL_FEED));
        big.push(await hit(BIG_FEED));
      }
    }
    const agg = (rs: WrkResult[]) => ({ rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), errors: rs.reduce((a, x) => a + x.errors, 0) });
    const ratio = roundRatios(big.map((x) => x.rps), small.map((x) => x.rps));
    console.log(`  ${name}:`);
    console.log(`    cached hit, ${BIG.toLocaleString('en')} kept  ${d.fmt(agg(big))}  (${(sizes[0]! / 1024).toFixed(0)} KiB)`);
    console.log(`    cached hit, ${SMALL} kept      ${d.fmt(agg(small))}  (${(sizes[1]! / 1024).toFixed(0)} KiB)`);
    console.log(`    hits, big / small feed    ${showRatio(ratio)} (goal: unchanged, >= 0.9x: ${ratio.median >= 0.9 ? 'met' : 'NOT MET'})`);
    // Cold archive documents: distinct pages, each built once from the database.
    const pages = Math.floor(counts.get(BIG_FEED.feed)! / 50);
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const page = 1 + Math.floor(((i * 7919) % pages));
      const s = performance.now();
      const r = await fetch(`${u}${BIG_FEED.url}.atom?archive_page=${page}&${T}`);
      const body = await r.text();
      times.push(performance.now() - s);
      if (r.status !== 200 || !body.includes('fh:archive')) throw new Error(`${name} archive_page=${page}: HTTP ${r.status}`);
    }
    console.log(`    archive page (50 items, cold, 200 distinct pages of ${pages}): median ${median(times).toFixed(1)} ms, p95 ${pct(times, 0.95).toFixed(1)} ms (goal < 50 ms: ${pct(times, 0.95) < 50 ? 'met' : 'NOT MET'})`);
    // Search: a mix of queries, one at a time, over all the kept items.
    const qs = queries();
    for (const q of qs.slice(0, 20)) await (await fetch(`${u}/api/search?q=${encodeURIComponent(q)}&${T}`)).arrayBuffer();
    const lat: number[] = [];
    let hits = 0;
    for (const q of qs) {
      const s = performance.now();
      const r = await fetch(`${u}/api/search?q=${encodeURIComponent(q)}&limit=50&${T}`);
      const body = (await r.json()) as { items: unknown[] };
      lat.push(performance.now() - s);
      if (r.status !== 200) throw new Error(`${name} search ${q}: HTTP ${r.status}`);
      hits += body.items.length;
    }
    console.log(`    search (${qs.length} queries, ${(hits / qs.length).toFixed(0)} results each on average): median ${median(lat).toFixed(1)} ms, p95 ${pct(lat, 0.95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(0)} ms (goal p95 < 100 ms: ${pct(lat, 0.95) < 100 ? 'met' : 'NOT MET'})`);
    // Export of the big feed: RSS over what it was before, while the whole stream is read.
    for (const format of ['jsonl', 'markdown']) {
      await sleep(1000);
      const before = rssMb(fg.pid);
      const s = performance.now();
      const { peak, result: bytes } = await peakRss(fg.pid, async () => {
        const r = await fetch(`${u}/api/archive/export?feed=${BIG_FEED.url}&format=${format}&${T}`);
        let n = 0;
        let lines = 0;
        for await (const c of r.body!) {
          n += (c as Uint8Array).length;
          if (format === 'jsonl') for (const b of c as Uint8Array) if (b === 10) lines++;
        }
        if (r.status !== 200 || (format === 'jsonl' && lines < 3)) throw new Error(`${name} export: HTTP ${r.status}, ${lines} lines`);
        if (format === 'jsonl') console.log(`    export jsonl: ${lines - 2} items`);
        return n;
      });
      const secs = (performance.now() - s) / 1000;
      console.log(`    export ${format.padEnd(8)} ${(bytes / 1e6).toFixed(0)} MB in ${secs.toFixed(1)} s: RSS ${before.toFixed(0)} -> peak ${peak.toFixed(0)} MB, growth ${(peak - before).toFixed(0)} MB (goal < 50 MB: ${peak - before < 50 ? 'met' : 'NOT MET'})`);
    }
    fg.child.kill('SIGTERM');
  }
  console.log('');
  await hd.close();
  await pg.stop();
}
