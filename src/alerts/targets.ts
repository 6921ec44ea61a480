import { createHmac } from 'node:crypto';
import { request } from 'undici';
import { ConfigError } from '../config.js';

/** One alert, as every target gets it: the facts, and the same said in words (FEED_LANGUAGE). */
export interface Alert {
  source: string;
  account: string;
  from: string;
  to: string;
  message: string;
  setting: string;
  /** ms */
  at: number;
  /** A reminder that a state lasts (ALERT_REPEAT), not a change. */
  reminder: boolean;
  title: string;
  text: string;
}

/** Where the chat platforms' APIs are; tests point them at fake receivers. */
export interface AlertEndpoints {
  telegram: string;
  wecom: string;
  dingtalk: string;
  feishu: string;
  ntfy: string;
}

export const DEFAULT_ENDPOINTS: AlertEndpoints = {
  telegram: 'https://api.telegram.org',
  wecom: 'https://qyapi.weixin.qq.com',
  dingtalk: 'https://oapi.dingtalk.com',
  feishu: 'https://open.feishu.cn',
  ntfy: 'https://ntfy.sh',
};

export interface AlertTarget {
  /** For logs: the scheme and host, never a token. */
  readonly label: string;
  send(alert: Alert, signal?: AbortSignal): Promise<void>;
}

const TIMEOUT_MS = 10_000;

/** POSTs JSON; anything but a 2xx, or a 2xx whose body says it failed (`check`), is an error. */
async function post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal | undefined, check?: (json: unknown) => string | undefined): Promise<void> {
  const res = await request(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'feedgate', ...headers },
    headersTimeout: TIMEOUT_MS,
    bodyTimeout: TIMEOUT_MS,
    signal,
  });
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
  if (check) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error('an answer that is not JSON');
    }
    const problem = check(json);
    if (problem) throw new Error(problem);
  }
}

/** user:password in an alert URL, as the Authorization header it stands for. */
const basicAuth = (u: URL): Record<string, string> =>
  u.username ? { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` } : {};

const chatText = (a: Alert) => `${a.title}\n${a.text}`;
const hmac = (key: string, data: string) => createHmac('sha256', key).update(data).digest();

/** Apprise-style URLs, the ones self-hosters already write: json(s)://, ntfy(s)://, tgram://, wecombot://, dingtalk://, feishu://. */
function target(raw: string, secret: string, endpoints: AlertEndpoints): AlertTarget {
  // A bot token has a colon (123456:ABC…), which a URL parser reads as a port: tgram:// is split by hand.
  const tg = /^tgram:\/\/([^/?#]+)((?:\/[^/?#]+)+)\/?$/.exec(raw);
  if (raw.startsWith('tgram://')) {
    if (!tg) throw new Error('tgram:// needs tgram://<bot token>/<chat id>[/<chat id>…]');
    const bot = decodeURIComponent(tg[1]!);
    const chats = tg[2]!.split('/').filter(Boolean).map(decodeURIComponent);
    const ok = (j: unknown) => ((j as { ok?: unknown }).ok === true ? undefined : `Telegram said ${String((j as { description?: unknown }).description ?? 'not ok')}`);
    return {
      label: 'tgram://…',
      async send(a, signal) {
        for (const chat of chats) await post(`${endpoints.telegram}/bot${bot}/sendMessage`, JSON.stringify({ chat_id: chat, text: chatText(a) }), {}, signal, ok);
      },
    };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`"${raw.slice(0, 40)}…" is not a URL`);
  }
  const scheme = u.protocol.slice(0, -1);
  const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const label = `${scheme}://${['json', 'jsons', 'ntfy', 'ntfys'].includes(scheme) ? u.host : '…'}`;
  switch (scheme) {
    case 'json':
    case 'jsons': {
      const url = `${scheme === 'jsons' ? 'https' : 'http'}://${u.host}${u.pathname}${u.search}`;
      const auth = basicAuth(u);
      return {
        label,
        send(a, signal) {
          const body = JSON.stringify({ source: a.source, account: a.account, from: a.from, to: a.to, message: a.message, setting: a.setting, at: new Date(a.at).toISOString(), reminder: a.reminder, title: a.title, text: a.text });
          // The receiver checks this against its copy of ALERT_SECRET: HMAC-SHA256 of the body, hex.
          const signed: Record<string, string> = secret ? { 'x-feedgate-signature': `sha256=${hmac(secret, body).toString('hex')}` } : {};
          return post(url, body, { ...auth, ...signed }, signal);
        },
      };
    }
    case 'ntfy':
    case 'ntfys': {
      // ntfy://topic is ntfy.sh; ntfy://host/topic a server of your own (ntfys:// over https).
      const own = parts.length > 0;
      const base = own ? `${scheme === 'ntfys' ? 'https' : 'http'}://${u.host}` : endpoints.ntfy;
      const topic = own ? parts[0]! : decodeURIComponent(u.hostname);
      const auth = basicAuth(u);
      // JSON publishing: titles in any language (HTTP headers are not).
      return { label, send: (a, signal) => post(`${base}/`, JSON.stringify({ topic, title: a.title, message: a.text, tags: [a.to === 'ok' ? 'white_check_mark' : 'warning'] }), auth, signal) };
    }
    case 'wecombot': {
      const key = decodeURIComponent(u.hostname) || u.searchParams.get('key') || '';
      if (!key) throw new Error('wecombot:// needs wecombot://<bot key>');
      const errcode = (j: unknown) => ((j as { errcode?: unknown }).errcode === 0 ? undefined : `WeCom said ${String((j as { errmsg?: unknown }).errmsg ?? 'errcode ' + String((j as { errcode?: unknown }).errcode))}`);
      return { label, send: (a, signal) => post(`${endpoints.wecom}/cgi-bin/webhook/send?key=${encodeURIComponent(key)}`, JSON.stringify({ msgtype: 'text', text: { content: chatText(a) } }), {}, signal, errcode) };
    }
    case 'dingtalk': {
      // dingtalk://<token>, or dingtalk://<secret>@<token> for a bot that signs ("加签").
      const token = decodeURIComponent(u.hostname);
      const sign = u.username ? decodeURIComponent(u.username) : '';
      if (!token) throw new Error('dingtalk:// needs dingtalk://<access token> or dingtalk://<secret>@<access token>');
      const errcode = (j: unknown) => ((j as { errcode?: unknown }).errcode === 0 ? undefined : `DingTalk said ${String((j as { errmsg?: unknown }).errmsg ?? 'not ok')}`);
      return {
        label,
        send(a, signal) {
          const ts = Date.now();
          const signed = sign ? `&timestamp=${ts}&sign=${encodeURIComponent(hmac(sign, `${ts}\n${sign}`).toString('base64'))}` : '';
          return post(`${endpoints.dingtalk}/robot/send?access_token=${encodeURIComponent(token)}${signed}`, JSON.stringify({ msgtype: 'text', text: { content: chatText(a) } }), {}, signal, errcode);
        },
      };
    }
    case 'feishu': {
      // feishu://<hook token>, or feishu://<secret>@<hook token> for a bot with a signature check.
      const token = decodeURIComponent(u.hostname);
      const sign = u.username ? decodeURIComponent(u.username) : '';
      if (!token) throw new Error('feishu:// needs feishu://<hook token> or feishu://<secret>@<hook token>');
      const code = (j: unknown) => {
        const c = (j as { code?: unknown; StatusCode?: unknown }).code ?? (j as { StatusCode?: unknown }).StatusCode;
        return c === 0 ? undefined : `Feishu said ${String((j as { msg?: unknown }).msg ?? 'code ' + String(c))}`;
      };
      return {
        label,
        send(a, signal) {
          const ts = Math.floor(Date.now() / 1000);
          const signed = sign ? { timestamp: String(ts), sign: hmac(`${ts}\n${sign}`, '').toString('base64') } : {};
          return post(`${endpoints.feishu}/open-apis/bot/v2/hook/${encodeURIComponent(token)}`, JSON.stringify({ ...signed, msg_type: 'text', content: { text: chatText(a) } }), {}, signal, code);
        },
      };
    }
    default:
      throw new Error(`${scheme}:// is not a kind of alert URL feedgate sends to (json, jsons, ntfy, ntfys, tgram, wecombot, dingtalk, feishu)`);
  }
}

/** ALERT_URLS (comma- or space-separated) as targets; a ConfigError naming ALERT_URLS for any it cannot use. */
export function alertTargets(raw: string, secret: string, endpoints: Partial<AlertEndpoints> = {}): AlertTarget[] {
  const all = { ...DEFAULT_ENDPOINTS, ...endpoints };
  const problems: string[] = [];
  const targets: AlertTarget[] = [];
  for (const item of raw.split(/[\s,]+/).filter(Boolean)) {
    try {
      targets.push(target(item, secret, all));
    } catch (err) {
      problems.push(`ALERT_URLS: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return targets;
}
