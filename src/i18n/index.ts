import { en, type MessageKey } from './en.js';
import { zhCN } from './zh-CN.js';

export type { MessageKey };

/** The languages feedgate writes in: Simplified Chinese and English. */
export const LANGS = ['zh-CN', 'en'] as const;
export type Lang = (typeof LANGS)[number];

const catalogues: Record<Lang, Record<MessageKey, string>> = { 'zh-CN': zhCN, en };

export type Params = Record<string, string | number>;

/**
 * The text for `key` in `lang`, its {named} parameters filled in (a missing one stays as written). `extra`
 * holds the messages a source brings in its folder, merged into the language's catalogue; a key neither
 * has is written as itself (a missing message never breaks a page).
 */
export function t(lang: Lang, key: MessageKey, params: Params = {}, extra?: Readonly<Record<string, string>>): string {
  const message = extra?.[key] ?? catalogues[lang][key] ?? key;
  // Most messages have no placeholder: item builders call this per field of every item.
  return message.includes('{') ? message.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole)) : message;
}

/** Every key of a language's catalogue, for tests and tools. */
export const catalogue = (lang: Lang): Readonly<Record<MessageKey, string>> => catalogues[lang];

export function isLang(v: unknown): v is Lang {
  return typeof v === 'string' && (LANGS as readonly string[]).includes(v);
}

/**
 * The language an Accept-Language header prefers among ours: any Chinese (zh, zh-CN, zh-TW, zh-Hans…)
 * reads Simplified Chinese, any English reads English, by the header's q values; `fallback` otherwise.
 */
export function negotiate(header: string | undefined, fallback: Lang): Lang {
  let best: { lang: Lang; q: number } | undefined;
  for (const part of (header ?? '').split(',')) {
    const [tag = '', ...rest] = part.trim().split(';');
    const q = Number(/^\s*q=([\d.]+)/.exec(rest.join(';'))?.[1] ?? 1);
    const lower = tag.toLowerCase();
    const lang: Lang | undefined = lower === 'zh' || lower.startsWith('zh-') ? 'zh-CN' : lower === 'en' || lower.startsWith('en-') ? 'en' : undefined;
    if (lang && Number.isFinite(q) && q > 0 && (!best || q > best.q)) best = { lang, q };
  }
  return best?.lang ?? fallback;
}

/** Texts in one language, with dates written in one time zone: what a source or a page writes with. */
export interface Texts {
  readonly lang: Lang;
  readonly timeZone: string;
  t(key: MessageKey, params?: Params): string;
  /** YYYY-MM-DD in the time zone. */
  date(ms: number): string;
  /** YYYY-MM-DD HH:mm and the zone's offset (GMT+8), in the time zone. */
  dateTime(ms: number): string;
}

/** Whether `zone` is an IANA time zone this Node knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export function texts(lang: Lang, timeZone: string, extra?: Readonly<Record<string, string>>): Texts {
  const day = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  const minute = new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'shortOffset' });
  return {
    lang,
    timeZone,
    t: (key, params) => t(lang, key, params, extra),
    date: (ms) => day.format(ms),
    dateTime: (ms) => minute.format(ms),
  };
}
