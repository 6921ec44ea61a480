import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useFakeHdhive } from './fakes/hdhive.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { startApp, tempDir } from './helpers/app.js';
import { startPostgres, type PostgresProc } from './helpers/postgres.js';
import { boot, runCli } from './helpers/process.js';
import { postgresTool } from './helpers/tools.js';

/** Moving up (issue 23): `npm run cli -- migrate-data` copies a SQLite DATA_DIR into PostgreSQL. */

const ok = postgresTool().ok;
const hd = useFakeHdhive();
const mpHolder = useFakeMp();
let server: PostgresProc;
beforeAll(async () => {
  if (ok) server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env, tempDir());

/** "table rows copied" lines of the closing table, as numbers. */
const counts = (out: string) => Object.fromEntries([...out.matchAll(/^(\w+)\s+(\d+)\s+(\d+)$/gm)].map((m) => [m[1]!, { rows: Number(m[2]), copied: Number(m[3]) }]));

describe.skipIf(!ok)(`migrate-data${ok ? '' : ` (${postgresTool().hint})`}`, () => {
  it('copies a DATA_DIR into PostgreSQL: MP credentials, first-seen dates, OPML, the media link secret; again copies nothing; an interrupted copy is completed', async () => {
    const dataDir = tempDir();
    const config = { ...hd.config(), MP_BASE_URL: mpHolder.mp.url, PROXY_ALLOW_HOSTS: mpHolder.mp.host, MP_CALLS_PER_MINUTE: 600, DATA_DIR: dataDir };
    const one = await startApp(config);
    await pushCredentials(one.url, mpHolder.mp);
    expect((await fetch(`${one.url}/feeds/mp/${encodeURIComponent(BIZ)}.json`)).status).toBe(200);
    await fetch(`${one.url}/api/opml/feeds`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: '/feeds/hdhive/tv/101172.rss', title: '吞噬星空' }) });
    const hdFeed = (await (await fetch(`${one.url}/feeds/hdhive/shares.json`)).json()) as { items: Array<{ id: string; date_published?: string }> };
    // A link a reader already holds, signed with the secret this box made for itself.
    const signed = one.app.links.image(`https://${mpHolder.mp.host}/mmbiz_jpg/x/0`, 'wechat');
    await one.close(false);

    const url = await server.database();
    const first = await cli(['migrate-data', '--to', url, '--from', dataDir]);
    expect(first.code, first.out).toBe(0);
    const c1 = counts(first.out);
    expect(c1.mp_accounts).toEqual({ rows: 1, copied: 1 });
    expect(c1.mp_articles!.copied).toBeGreaterThan(0);
    expect(c1.opml_feeds!.copied).toBeGreaterThanOrEqual(1);
    expect(c1.first_seen!.rows).toBeGreaterThan(0);
    expect(first.out).toMatch(/media link secret: copied/);
    expect(first.out).toMatch(/first_seen\s+\[#+\] \d+\/\d+/);
    expect(first.out).not.toMatch(/password|secret@/);

    // Again: nothing to do.
    const again = await cli(['migrate-data', '--to', url, '--from', dataDir]);
    expect(again.code, again.out).toBe(0);
    for (const [table, c] of Object.entries(counts(again.out))) expect(c.copied, table).toBe(0);

    // Interrupted half-way (rows missing in the target): the next run copies exactly those.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const removed = (await client.query("DELETE FROM first_seen WHERE guid IN (SELECT guid FROM first_seen ORDER BY guid LIMIT 3)")).rowCount;
    await client.end();
    const resumed = await cli(['migrate-data', '--to', url, '--from', dataDir]);
    expect(counts(resumed.out).first_seen).toEqual({ rows: c1.first_seen!.rows, copied: removed });

    // A replica on PostgreSQL, with a DATA_DIR of its own: everything is there, and the old link verifies.
    const two = await startApp({ ...config, DATA_DIR: tempDir(), DATABASE_URL: url });
    try {
      expect((await fetch(`${two.url}/feeds/mp/${encodeURIComponent(BIZ)}.json`)).status).toBe(200);
      expect(await (await fetch(`${two.url}/opml`)).text()).toContain('/feeds/hdhive/tv/101172.rss');
      const again = (await (await fetch(`${two.url}/feeds/hdhive/shares.json`)).json()) as typeof hdFeed;
      expect(again.items.map((i) => [i.id, i.date_published])).toEqual(hdFeed.items.map((i) => [i.id, i.date_published]));
      const res = await fetch(`${two.url}${signed}`);
      expect(res.status).not.toBe(403);
    } finally {
      await two.close();
    }
  }, 60_000);

  it('bad input: no --to, a DATA_DIR without a database, an unreachable server, an unknown command: one clear line each', async () => {
    const noTo = await cli(['migrate-data', '--from', tempDir()]);
    expect(noTo.code).toBe(2);
    expect(noTo.out).toMatch(/--to: give the PostgreSQL URL/);
    const empty = await cli(['migrate-data', '--to', server.url, '--from', tempDir()]);
    expect(empty.code).toBe(2);
    expect(empty.out).toMatch(/holds no feedgate\.db/);
    const dataDir = tempDir();
    const a = await startApp({ DATA_DIR: dataDir });
    await a.close(false);
    const down = await cli(['migrate-data', '--to', 'postgres://feedgate@127.0.0.1:1/x', '--from', dataDir]);
    expect(down.code).toBe(2);
    expect(down.out).toMatch(/DATABASE_URL: cannot connect to PostgreSQL/);
    expect(down.out).not.toMatch(/\n\s+at /);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.out).toMatch(/usage: npm run cli -- <command>/);
  });
});

describe('a server pointed at PostgreSQL it cannot use', () => {
  it('an unreachable DATABASE_URL stops the start with one line naming it, no stack', async () => {
    const err = await boot({ DATA_DIR: tempDir(), DATABASE_URL: 'postgres://feedgate@127.0.0.1:1/feedgate' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/exited with 1/);
    expect(err?.message).toMatch(/feedgate: invalid configuration:\n\s+DATABASE_URL: cannot connect to PostgreSQL/);
    expect(err?.message).not.toMatch(/\n\s+at /);
  });
});
