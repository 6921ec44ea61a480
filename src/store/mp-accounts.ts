import type { Sql } from './sql.js';

/** What the downloader pushes to /api/mp/refresh. */
export interface MpCredentialPush {
  biz: string;
  uin: string;
  key: string;
  pass_ticket: string;
  appmsg_token?: string;
  nickname?: string;
  avatar_url?: string;
}

/** The secrets getmsg needs. Only the MP client reads them. */
export interface MpCredentials {
  biz: string;
  uin: string;
  key: string;
  passTicket: string;
}

/** An account as everything else sees it: no secret in here. */
export interface MpAccount {
  biz: string;
  nickname: string;
  avatarUrl: string;
  createdAt: number;
  /** When the current credentials arrived. */
  updatedAt: number;
  rejectedAt?: number;
  limitedAt?: number;
  limitedUntil?: number;
  lastSuccess?: number;
  lastError: string;
}

export type MpState = 'effective' | 'expired' | 'limited';

/**
 * Where an account stands at `now`, and since when: limited (WeChat said ret=-6) wins until its back-off
 * ends, then expired (WeChat said ret=-3, or the credentials are older than `ttlMs`), else effective.
 */
export function mpState(a: MpAccount, now: number, ttlMs: number): { state: MpState; since: number } {
  if (a.limitedUntil !== undefined && a.limitedUntil > now) return { state: 'limited', since: a.limitedAt ?? now };
  if (a.rejectedAt !== undefined) return { state: 'expired', since: a.rejectedAt };
  if (now - a.updatedAt >= ttlMs) return { state: 'expired', since: a.updatedAt + ttlMs };
  return { state: 'effective', since: a.updatedAt };
}

interface Row {
  biz: string;
  nickname: string;
  avatar_url: string;
  created_at: number;
  updated_at: number;
  rejected_at: number | null;
  limited_at: number | null;
  limited_until: number | null;
  last_success: number | null;
  last_error: string;
}

const PUBLIC_COLUMNS = 'biz, nickname, avatar_url, created_at, updated_at, rejected_at, limited_at, limited_until, last_success, last_error';

function toAccount(r: Row): MpAccount {
  return {
    biz: r.biz,
    nickname: r.nickname,
    avatarUrl: r.avatar_url,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    rejectedAt: r.rejected_at ?? undefined,
    limitedAt: r.limited_at ?? undefined,
    limitedUntil: r.limited_until ?? undefined,
    lastSuccess: r.last_success ?? undefined,
    lastError: r.last_error,
  };
}

export interface MpAccountStore {
  /** Stores or replaces an account's credentials (a rejection of the old ones is forgotten). */
  push(p: MpCredentialPush, now?: number): Promise<MpAccount>;
  get(biz: string): Promise<MpAccount | undefined>;
  credentials(biz: string): Promise<MpCredentials | undefined>;
  /** Every account, newest credentials first. */
  all(): Promise<MpAccount[]>;
  delete(biz: string): Promise<boolean>;
  rejected(biz: string, at: number): Promise<void>;
  limited(biz: string, at: number, until: number): Promise<void>;
  succeeded(biz: string, at: number): Promise<void>;
  failed(biz: string, message: string): Promise<void>;
}

export function mpAccountStore(db: Sql): MpAccountStore {
  const get = async (biz: string) => {
    const r = await db.get<Row>(`SELECT ${PUBLIC_COLUMNS} FROM mp_accounts WHERE biz = ?`, [biz]);
    return r && toAccount(r);
  };
  return {
    async push(p, now = Date.now()) {
      await db.run(
        `INSERT INTO mp_accounts (biz, nickname, avatar_url, uin, key, pass_ticket, appmsg_token, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (biz) DO UPDATE SET
           nickname = CASE WHEN excluded.nickname <> '' THEN excluded.nickname ELSE mp_accounts.nickname END,
           avatar_url = CASE WHEN excluded.avatar_url <> '' THEN excluded.avatar_url ELSE mp_accounts.avatar_url END,
           uin = excluded.uin, key = excluded.key, pass_ticket = excluded.pass_ticket, appmsg_token = excluded.appmsg_token,
           updated_at = excluded.updated_at, rejected_at = NULL, last_error = ''`,
        [p.biz, p.nickname ?? '', p.avatar_url ?? '', p.uin, p.key, p.pass_ticket, p.appmsg_token ?? '', now, now],
      );
      return (await get(p.biz))!;
    },
    get,
    async credentials(biz) {
      const r = await db.get<{ biz: string; uin: string; key: string; pass_ticket: string }>('SELECT biz, uin, key, pass_ticket FROM mp_accounts WHERE biz = ?', [biz]);
      return r && { biz: r.biz, uin: r.uin, key: r.key, passTicket: r.pass_ticket };
    },
    all: async () => (await db.all<Row>(`SELECT ${PUBLIC_COLUMNS} FROM mp_accounts ORDER BY updated_at DESC, biz`)).map(toAccount),
    delete: async (biz) => (await db.run('DELETE FROM mp_accounts WHERE biz = ?', [biz])) > 0,
    rejected: async (biz, at) =>
      void (await db.run('UPDATE mp_accounts SET rejected_at = COALESCE(rejected_at, ?), last_error = ? WHERE biz = ?', [at, 'WeChat rejected the credentials (ret=-3)', biz])),
    limited: async (biz, at, until) =>
      void (await db.run('UPDATE mp_accounts SET limited_at = ?, limited_until = ?, last_error = ? WHERE biz = ?', [at, until, 'WeChat is limiting this account (ret=-6)', biz])),
    succeeded: async (biz, at) => void (await db.run("UPDATE mp_accounts SET last_success = ?, last_error = '', limited_at = NULL, limited_until = NULL WHERE biz = ?", [at, biz])),
    failed: async (biz, message) => void (await db.run('UPDATE mp_accounts SET last_error = ? WHERE biz = ?', [message.slice(0, 500), biz])),
  };
}
