import type { Sql } from './sql.js';

export interface WebSubSubscription {
  callback: string;
  topic: string;
  /** Which feed loads refresh this topic (the feed route's path and the source's own parameters). */
  topicKey: string;
  /** hub.secret, for X-Hub-Signature; empty: unsigned. */
  secret: string;
  expiresAt: number;
  lastDigest: string;
}

interface Row {
  callback: string;
  topic: string;
  topic_key: string;
  secret: string;
  expires_at: number;
  last_digest: string;
}

const toSub = (r: Row): WebSubSubscription => ({ callback: r.callback, topic: r.topic, topicKey: r.topic_key, secret: r.secret, expiresAt: r.expires_at, lastDigest: r.last_digest });

/** Subscriptions to feedgate's own feeds, durable and shared by replicas (any of them delivers). */
export interface WebSubStore {
  /** A verified subscription, new or renewed (a renewal keeps what was last delivered). */
  subscribe(s: Omit<WebSubSubscription, 'lastDigest'>, now?: number): Promise<void>;
  unsubscribe(callback: string, topic: string): Promise<boolean>;
  /** Live subscriptions refreshed by loads of `topicKey`. */
  live(topicKey: string, now: number): Promise<WebSubSubscription[]>;
  /** Marks `digest` as delivered to a subscription, unless another replica already marked it: true for the one that should deliver. */
  claim(callback: string, topic: string, from: string, digest: string): Promise<boolean>;
  /** Drops subscriptions whose lease ended before `now`; returns how many. */
  expire(now: number): Promise<number>;
  count(now: number): Promise<number>;
}

export function webSubStore(db: Sql): WebSubStore {
  return {
    async subscribe(s, now = Date.now()) {
      await db.run(
        'INSERT INTO websub_subscriptions (callback, topic, topic_key, secret, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (callback, topic) DO UPDATE SET topic_key = excluded.topic_key, secret = excluded.secret, expires_at = excluded.expires_at',
        [s.callback, s.topic, s.topicKey, s.secret, s.expiresAt, now],
      );
    },
    unsubscribe: async (callback, topic) => (await db.run('DELETE FROM websub_subscriptions WHERE callback = ? AND topic = ?', [callback, topic])) > 0,
    live: async (topicKey, now) => (await db.all<Row>('SELECT * FROM websub_subscriptions WHERE topic_key = ? AND expires_at > ? ORDER BY created_at, callback', [topicKey, now])).map(toSub),
    claim: async (callback, topic, from, digest) =>
      (await db.run('UPDATE websub_subscriptions SET last_digest = ? WHERE callback = ? AND topic = ? AND last_digest = ?', [digest, callback, topic, from])) === 1,
    expire: (now) => db.run('DELETE FROM websub_subscriptions WHERE expires_at <= ?', [now]),
    count: async (now) => (await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM websub_subscriptions WHERE expires_at > ?', [now]))!.n,
  };
}
