import type { Sql } from './sql.js';

/**
 * Where a source or one of its accounts stands. `ok` is good news; every other state names what broke,
 * so an alert can say what to do.
 */
export const HEALTH_STATES = ['ok', 'credentials_expiring', 'credentials_expired', 'blocked', 'rate_limited', 'unreachable', 'changed_shape'] as const;
export type HealthState = (typeof HEALTH_STATES)[number];

export interface HealthReport {
  state: HealthState;
  /** What the upstream or the check said. */
  message: string;
  /** The setting to look at, when there is one. */
  setting: string;
}

export interface HealthRow extends HealthReport {
  source: string;
  account: string;
  since: number;
  alertedAt?: number;
}

export interface HealthEvent {
  id: number;
  source: string;
  account: string;
  /** `unknown` for the first report of a source or account. */
  from: HealthState | 'unknown';
  to: HealthState;
  message: string;
  setting: string;
  at: number;
}

interface Row {
  source: string;
  account: string;
  state: HealthState;
  since: number;
  message: string;
  setting: string;
  alerted_at: number | null;
}

const toRow = (r: Row): HealthRow => ({ source: r.source, account: r.account, state: r.state, since: r.since, message: r.message, setting: r.setting, alertedAt: r.alerted_at ?? undefined });

/** Health states and their changes, durable and shared by replicas: each change is recorded (and alerted) once. */
export interface SourceHealthStore {
  /**
   * Records what a load or a check found. Returns the change when this call made one (another replica
   * racing to the same change gets undefined); a first report of `ok` is no change worth telling.
   */
  report(source: string, account: string, r: HealthReport, at?: number): Promise<HealthEvent | undefined>;
  all(): Promise<HealthRow[]>;
  /** Changes, newest first. */
  events(limit: number): Promise<HealthEvent[]>;
  /** Not-ok states whose last alert is older than `before` (or never sent). */
  unalerted(before: number): Promise<HealthRow[]>;
  /**
   * Claims the alert for a state: true for the one caller that may send it. `before` null claims the
   * alert of a change (none sent since it); a time claims a reminder (the last alert older than that).
   */
  claimAlert(source: string, account: string, state: HealthState, before: number | null, at: number): Promise<boolean>;
}

export function sourceHealthStore(db: Sql): SourceHealthStore {
  const get = async (source: string, account: string) => {
    const r = await db.get<Row>('SELECT * FROM source_health WHERE source = ? AND account = ?', [source, account]);
    return r && toRow(r);
  };
  const event = async (source: string, account: string, from: HealthEvent['from'], r: HealthReport, at: number): Promise<HealthEvent> => {
    const row = await db.get<{ id: number }>('INSERT INTO source_health_events (source, account, from_state, to_state, message, setting, at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id', [
      source,
      account,
      from,
      r.state,
      r.message.slice(0, 500),
      r.setting,
      at,
    ]);
    return { id: Number(row!.id), source, account, from, to: r.state, message: r.message.slice(0, 500), setting: r.setting, at };
  };
  return {
    async report(source, account, r, at = Date.now()) {
      const cur = await get(source, account);
      if (!cur) {
        const made = await db.get('INSERT INTO source_health (source, account, state, since, message, setting) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, account) DO NOTHING RETURNING source', [
          source,
          account,
          r.state,
          at,
          r.message.slice(0, 500),
          r.setting,
        ]);
        if (!made) return undefined; // another replica reported first
        return r.state === 'ok' ? undefined : event(source, account, 'unknown', r, at);
      }
      if (cur.state === r.state) return undefined;
      // Only the caller that moves the row from the state it read makes the change.
      const moved = await db.run('UPDATE source_health SET state = ?, since = ?, message = ?, setting = ?, alerted_at = NULL WHERE source = ? AND account = ? AND state = ?', [
        r.state,
        at,
        r.message.slice(0, 500),
        r.setting,
        source,
        account,
        cur.state,
      ]);
      return moved === 1 ? event(source, account, cur.state, r, at) : undefined;
    },
    all: async () => (await db.all<Row>('SELECT * FROM source_health ORDER BY source, account')).map(toRow),
    events: async (limit) =>
      (
        await db.all<{ id: number; source: string; account: string; from_state: HealthEvent['from']; to_state: HealthState; message: string; setting: string; at: number }>(
          'SELECT * FROM source_health_events ORDER BY at DESC, id DESC LIMIT ?',
          [limit],
        )
      ).map((e) => ({ id: Number(e.id), source: e.source, account: e.account, from: e.from_state, to: e.to_state, message: e.message, setting: e.setting, at: e.at })),
    unalerted: async (before) =>
      (await db.all<Row>("SELECT * FROM source_health WHERE state <> 'ok' AND (alerted_at IS NULL OR alerted_at < ?) ORDER BY since", [before])).map(toRow),
    claimAlert: async (source, account, state, before, at) =>
      before === null
        ? (await db.run('UPDATE source_health SET alerted_at = ? WHERE source = ? AND account = ? AND state = ? AND alerted_at IS NULL', [at, source, account, state])) === 1
        : (await db.run('UPDATE source_health SET alerted_at = ? WHERE source = ? AND account = ? AND state = ? AND alerted_at < ?', [at, source, account, state, before])) === 1,
  };
}
