import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { runInBackground } from '../src/background.js';
import { openSqlite, type SqliteSql } from '../src/store/sqlite.js';
import { CORE_MIGRATIONS } from '../src/store/migrations.js';
import { snapshotStore } from '../src/store/snapshots.js';
import { tempDir } from './helpers/app.js';

/**
 * Background work gives way to readers (issue 24: polls during refreshes). On SQLite every statement
 * runs synchronously; without a turn of the event loop between them, a chain of awaited statements
 * holds every request that arrives until its end.
 */

const opened: SqliteSql[] = [];
afterAll(async () => {
  for (const db of opened) await db.close();
});

async function database(): Promise<SqliteSql> {
  const db = openSqlite(tempDir());
  opened.push(db);
  await db.migrate(CORE_MIGRATIONS);
  return db;
}

/** Runs `statements` awaited statements; resolves with how many had run when a request to a local server was answered. */
async function answeredAfter(db: SqliteSql, statements: number, around: (fn: () => Promise<void>) => Promise<void>): Promise<number> {
  let done = 0;
  let answeredAt = -1;
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const s = snapshotStore(db);
    await s.put('k', 'x'.repeat(2000), 1);
    let request: Promise<void> | undefined;
    await around(async () => {
      // Sent as the work starts: connecting, writing and answering all need turns of the event loop.
      request = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`).then(async (r) => {
        await r.text();
        answeredAt = done;
      });
      for (let i = 0; i < statements; i++) {
        await s.get('k');
        await s.touch('k', i + 1, i + 2);
        done++;
      }
    });
    await request;
    return answeredAt;
  } finally {
    server.close();
  }
}

describe('background work on SQLite', () => {
  it("takes readers' requests between its statements; work a reader waits for does not wait a turn per statement", async () => {
    const db = await database();
    // A reader's own chain runs straight through: the request is only taken after it.
    expect(await answeredAfter(db, 300, (fn) => fn())).toBe(300);
    // Background: answered while the chain is still going.
    const inBackground = await answeredAfter(db, 300, (fn) => runInBackground(fn));
    expect(inBackground).toBeGreaterThanOrEqual(0);
    expect(inBackground).toBeLessThan(300);
    // What background work starts (a promise chain, a timer) is background too. A transaction's
    // statements give way as well (a first refresh's archive writes are its longest stretch), but no
    // statement of other work slips in between them: it waits at the transaction's gate.
    const order: string[] = [];
    let outside: Promise<unknown> | undefined;
    await runInBackground(async () => {
      await new Promise((r) => setTimeout(r, 1));
      await db.tx(async (q) => {
        setImmediate(() => {
          order.push('turn');
          // Another statement, issued while the transaction is open: it runs after the commit.
          outside = db.get<{ n: number }>("SELECT COUNT(*) AS n FROM feed_snapshots WHERE key IN ('t1', 't2')").then((r) => order.push(`reader saw ${r!.n}`));
        });
        await q.run('INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?)', ['t1', '1', 1]);
        await q.run('INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?)', ['t2', '2', 1]);
        order.push('tx');
      });
      await outside;
      order.push('after');
    });
    expect(order).toEqual(['turn', 'tx', 'reader saw 2', 'after']);
    // A reader's transaction runs straight through.
    const plain: string[] = [];
    await db.tx(async (q) => {
      setImmediate(() => plain.push('turn'));
      await q.run('INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?)', ['t3', '3', 1]);
      await q.run('INSERT INTO feed_snapshots (key, data, stored_at) VALUES (?, ?, ?)', ['t4', '4', 1]);
      plain.push('tx');
    });
    await new Promise((r) => setImmediate(r));
    expect(plain).toEqual(['tx', 'turn']);
  });
});
