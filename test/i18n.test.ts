import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config.js';
import { loadConfig } from '../src/feeds/sources.js';
import { LANGS, catalogue, negotiate, texts } from '../src/i18n/index.js';
import { ACCOUNT, useFakeChannels } from './fakes/channels.js';
import { COOKIE, useFakeDouyin } from './fakes/douyin.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { BIZ, pushCredentials, useFakeMp } from './fakes/mp.js';
import { useStartApp } from './helpers/app.js';

/** Text in the users' languages (issue 22): one catalogue per language, FEED_LANGUAGE for feeds, dates in TZ. */

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('the catalogues', () => {
  it('have the same keys in every language, none empty, with the same parameters', () => {
    const en = catalogue('en');
    for (const lang of LANGS) {
      const c = catalogue(lang);
      expect(Object.keys(c).sort(), lang).toEqual(Object.keys(en).sort());
      for (const [key, text] of Object.entries(c)) {
        expect(text.trim(), `${lang} ${key}`).not.toBe('');
        expect(placeholders(text), `${lang} ${key}`).toEqual(placeholders(en[key as keyof typeof en]));
      }
    }
  });

  it('Chinese is written in Chinese: every zh-CN text that has words has Han characters', () => {
    for (const [key, text] of Object.entries(catalogue('zh-CN'))) {
      // Names (settings, products, ids) stay as they are; two English words in a row are a sentence left untranslated.
      if (/\b[A-Za-z]{3,} [a-z]{3,}\b/.test(text.replace(/\{\w+\}/g, ''))) throw new Error(`${key} looks untranslated: ${text}`);
      if (/[A-Za-z]/.test(en(key)) && !/[\u4e00-\u9fff]/.test(text)) throw new Error(`${key} has no Chinese: ${text}`);
    }
    function en(key: string) {
      return catalogue('en')[key as keyof ReturnType<typeof catalogue>];
    }
  });

  it('Accept-Language picks by q, any Chinese reads Simplified Chinese, anything else falls back', () => {
    expect(negotiate('zh-CN,zh;q=0.9,en;q=0.8', 'en')).toBe('zh-CN');
    expect(negotiate('en-US,en;q=0.9,zh-CN;q=0.8', 'zh-CN')).toBe('en');
    expect(negotiate('zh-TW', 'en')).toBe('zh-CN');
    expect(negotiate('fr-FR,de;q=0.5', 'zh-CN')).toBe('zh-CN');
    expect(negotiate('en;q=0, zh;q=0.1', 'en')).toBe('zh-CN');
    expect(negotiate(undefined, 'en')).toBe('en');
  });

  it('dates are written in the time zone asked for', () => {
    const ms = Date.UTC(2026, 0, 1, 20, 5);
    expect(texts('zh-CN', 'Asia/Shanghai').date(ms)).toBe('2026-01-02');
    expect(texts('en', 'Europe/Berlin').date(ms)).toBe('2026-01-01');
    expect(texts('en', 'Asia/Shanghai').dateTime(ms)).toBe('2026-01-02 04:05 GMT+8');
    expect(texts("en", "UTC").dateTime(ms)).toMatch(/^2026-01-01 20:05 (GMT|UTC)(\+0)?$/);
  });
});

describe('settings', () => {
  it('feeds are written in Simplified Chinese and Beijing time unless FEED_LANGUAGE and TZ say otherwise', () => {
    const c = loadConfig({});
    expect([c.FEED_LANGUAGE, c.TZ]).toEqual(['zh-CN', 'Asia/Shanghai']);
    expect(loadConfig({ FEED_LANGUAGE: 'en', TZ: 'Europe/Berlin' })).toMatchObject({ FEED_LANGUAGE: 'en', TZ: 'Europe/Berlin' });
    for (const [key, value] of [['FEED_LANGUAGE', 'fr'], ['TZ', 'Mars/Olympus'], ['TZ', ':/etc/localtime']]) {
      expect(() => loadConfig({ [key!]: value! }), `${key}=${value}`).toThrow(ConfigError);
      try {
        loadConfig({ [key!]: value! });
      } catch (err) {
        expect((err as Error).message).toContain(key);
      }
    }
  });
});

const channels = useFakeChannels();
const douyin = useFakeDouyin();
const hd = useFakeHdhive();
const mpFake = useFakeMp();
const start = useStartApp();

describe('feeds in Chinese', () => {
  it('titles feedgate makes up, labels and notices come from the zh-CN catalogue, dates in TZ', async () => {
    const { fake, cdn } = channels;
    const app = await start({ WXCD_API_URL: fake.wxcdUrl, PROXY_ALLOW_HOSTS: cdn.host, FEED_LANGUAGE: 'zh-CN' });
    const ch = (await (await fetch(`${app.url}/feeds/channels/${encodeURIComponent(ACCOUNT)}.json`)).json()) as { title: string };
    expect(ch.title).toBe('示例频道（视频号）');

    const hdApp = await start(hd.config({ FEED_LANGUAGE: 'zh-CN', TZ: 'Asia/Shanghai' }));
    const h = (await (await fetch(`${hdApp.url}/feeds/hdhive/tv/101172.json`)).json()) as { title: string; items: Array<{ content_html: string }> };
    expect(h.title).toMatch(/^影巢：/);
    expect(h.items[0]!.content_html).toContain('分享时间');
    // 2026-03-12 17:40:15 Beijing time, written as Beijing time.
    expect(h.items.map((i) => i.content_html).join('')).toContain('2026-03-12 17:40 GMT+8');
  });

  it('Douyin untitled posts are dated in TZ; the MP notice is in Chinese with its time in TZ', async () => {
    const { d } = douyin;
    const dy = await start({ DOUYIN_BASE_URL: d.url, DOUYIN_COOKIE: COOKIE, DOUYIN_CALLS_PER_MINUTE: 600, PROXY_ALLOW_HOSTS: `${d.host},${d.cdn.host}`, FEED_LANGUAGE: 'zh-CN' });
    const f = (await (await fetch(`${dy.url}/feeds/douyin/MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop.json`)).json()) as { title: string };
    expect(f.title).toBe('测试博主（抖音）');

    const m = mpFake.mp;
    m.mode = 'limited';
    const mp = await start({ MP_BASE_URL: m.url, PROXY_ALLOW_HOSTS: m.host, MP_CALLS_PER_MINUTE: 600, FEED_LANGUAGE: 'zh-CN', TZ: 'Europe/Berlin' });
    await pushCredentials(mp.url, m);
    const feed = (await (await fetch(`${mp.url}/feeds/mp/${encodeURIComponent(BIZ)}.json`)).json()) as { items: Array<{ title: string; content_html: string }> };
    expect(feed.items[0]!.title).toBe('feedgate：微信正在限制 n 的请求');
    expect(feed.items[0]!.content_html).toMatch(/微信在 \d{4}-\d{2}-\d{2} \d{2}:\d{2} GMT\+[12] 返回 ret=-6/);
  });
});
