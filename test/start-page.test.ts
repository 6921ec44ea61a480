import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, useFakeChannels } from './fakes/channels.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { CHROMIUM, chromiumTool } from './helpers/tools.js';
import { child, childrenNamed, parseXml } from './helpers/xml.js';

const ch = useFakeChannels();
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const haveChromium = chromiumTool().ok;
let browser: Browser;
let app: RunningApp | undefined;

beforeAll(async () => {
  if (!haveChromium) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const start = () => startApp({ WXCD_API_URL: ch.fake.wxcdUrl, PROXY_ALLOW_HOSTS: ch.cdn.host, ACCESS_TOKEN: 'tok-123' });

describe.skipIf(!haveChromium)('start page in Chromium', () => {
  it('asks for the token once, lists the sources, searches an account, builds a feed URL with a preview, and the feed works', async () => {
    app = await start();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${app.url}/`);
    // Without the token: only the prompt, nothing about the sources.
    expect(await page.locator('#token-form').count()).toBe(1);
    expect(await page.content()).not.toContain('WeChat Channels');
    await page.fill('#token-form input[name=token]', 'tok-123');
    await page.click('#token-form button');
    const channels = page.locator('#source-channels');
    await channels.waitFor();
    // Stored in this browser, then taken out of the address bar.
    await page.waitForFunction("!location.search.includes('token=')");
    expect(await page.locator('section.card h2').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('WeChat Channels'), expect.stringContaining('HDHive')]));

    // Search through /api/channels/search and pick the account. Enter in the field searches too,
    // instead of building a URL from the search words.
    await channels.locator('input[name=username]').fill('示例');
    await channels.locator('input[name=username]').press('Enter');
    await channels.locator('.picks button').first().waitFor();
    expect(await channels.locator('.out').getAttribute('class')).toBe('out');
    await channels.locator('button.helper').click();
    await channels.locator('.picks button').first().click();
    expect(await channels.locator('input[name=username]').inputValue()).toBe(ACCOUNT);
    await channels.locator('select[name=format]').selectOption('atom');
    await channels.locator('button[type=submit]').click();
    const code = channels.locator('.out code');
    await code.waitFor();
    const built = await code.textContent();
    expect(built).toBe(`${app.url}/feeds/channels/${encodeURIComponent(ACCOUNT)}.atom?token=tok-123`);
    await channels.locator('.preview li').first().waitFor();
    await page.waitForFunction("!document.querySelector('#source-channels .preview').textContent.includes('Loading')");
    const preview = await channels.locator('.preview li').allTextContents();
    expect(preview.length).toBeGreaterThan(0);
    expect(preview[0]).toContain('第一行是标题');
    await page.screenshot({ path: `${ARTIFACTS}start-desktop.png`, fullPage: true });

    // The built URL is a working feed.
    const res = await fetch(built!);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title type="text">示例频道 (WeChat Channels)</title>');

    // The token is remembered in this browser only: a bare / comes back with the sources.
    await page.goto(`${app.url}/`);
    await page.locator('#source-channels').waitFor();
    expect(page.url()).not.toContain('tok-123');
    expect(errors, errors.join('\n')).toEqual([]);

    // The built feed is in the OPML export, without the token unless asked, and re-imports as OPML.
    const opml = await (await fetch(`${app.url}/opml?token=tok-123`)).text();
    const doc = parseXml(opml);
    expect(doc.name).toBe('opml');
    expect(doc.attrs.version).toBe('2.0');
    const folders = childrenNamed(child(doc, 'body')!, 'outline');
    const feeds = folders.flatMap((f) => childrenNamed(f, 'outline'));
    const mine = feeds.find((o) => o.attrs.xmlUrl === `${app!.url}/feeds/channels/${encodeURIComponent(ACCOUNT)}.atom`);
    expect(mine).toBeDefined();
    expect(mine!.attrs.type).toBe('atom');
    expect(mine!.attrs.text).toBe('示例频道 (WeChat Channels)');
    expect(opml).not.toContain('tok-123');
    const withToken = await (await fetch(`${app.url}/opml?token=tok-123&with_token=1`)).text();
    expect(withToken).toContain('token=tok-123');
    expect((await fetch(`${app.url}/opml`)).status).toBe(401);
    await page.close();
  }, 60_000);

  it('a wrong token is said so; on a phone in dark mode the page fits the screen', async () => {
    app = await start();
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', isMobile: true });
    await page.goto(`${app.url}/?token=wrong`);
    expect(await page.locator('.bad').textContent()).toContain('not right');
    await page.fill('#token-form input[name=token]', 'tok-123');
    await page.click('#token-form button');
    await page.locator('#source-hdhive').waitFor();
    // Nothing wider than the screen.
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(bg).toBe('rgb(13, 17, 23)');
    // A source that lacks settings says which.
    expect(await page.locator('#source-hdhive').textContent()).toContain('HDHIVE_API_KEY');
    await page.screenshot({ path: `${ARTIFACTS}start-phone-dark.png`, fullPage: true });
    await page.close();
  }, 60_000);
});

describe.skipIf(!haveChromium)('start page where people use it', () => {
  /** A page on a plain-HTTP origin that is not loopback (a phone on http://192.168.x.x:8080 is not a secure context). */
  async function insecurePage(opts: { javaScriptEnabled?: boolean; locale?: string } = {}) {
    const b = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--host-resolver-rules=MAP feedgate.lan 127.0.0.1'] });
    const context = await b.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: opts.locale ?? 'zh-CN', javaScriptEnabled: opts.javaScriptEnabled ?? true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    return { b, page, errors, origin: `http://feedgate.lan:${new URL(app!.url).port}` };
  }

  it('on plain HTTP at phone width, in Chinese: copy falls back to selecting the URL and says so; subscribe links for the readers', async () => {
    app = await startApp({ WXCD_API_URL: ch.fake.wxcdUrl, PROXY_ALLOW_HOSTS: ch.cdn.host, ACCESS_TOKEN: 'tok-123', PUBLIC_URL: '', READER_SUBSCRIBE_URL: 'https://miniflux.example.org/bookmarklet?uri={url}' });
    const { b, page, errors, origin } = await insecurePage();
    try {
      await page.goto(`${origin}/?token=tok-123`);
      expect(await page.evaluate('window.isSecureContext')).toBe(false);
      expect(await page.evaluate('typeof navigator.clipboard')).toBe('undefined');
      const channels = page.locator('#source-channels');
      expect(await channels.locator('h2').textContent()).toContain('视频号');
      expect(await channels.locator('input[name=username]').getAttribute('placeholder')).toMatch(/^例如 /);
      await channels.locator('input[name=username]').fill(ACCOUNT);
      await channels.locator('button[type=submit]').click();
      const code = channels.locator('.out code');
      await code.waitFor();
      expect(await code.textContent()).toBe(`${origin}/feeds/channels/${encodeURIComponent(ACCOUNT)}.rss?token=tok-123`);
      await channels.locator('button.copy').click();
      const note = channels.locator('.copied');
      await page.waitForFunction("document.querySelector('#source-channels .copied').textContent !== ''");
      const said = await note.textContent();
      // Either the old copy command worked, or the URL is selected and the page says to copy it.
      expect(['已复制', '已选中：请按 Ctrl+C 复制（手机上长按后选“复制”）']).toContain(said);
      if (said !== '已复制') expect(await page.evaluate('getSelection().toString()')).toBe(await code.textContent());
      const links = await channels.locator('.subscribe a').evaluateAll((as) => as.map((a) => [a.textContent, (a as unknown as { href: string }).href]));
      const feed = encodeURIComponent(`${origin}/feeds/channels/${encodeURIComponent(ACCOUNT)}.rss?token=tok-123`);
      expect(links).toEqual([
        ['Inoreader', `https://www.inoreader.com/?add_feed=${feed}`],
        ['Feedly', `https://feedly.com/i/subscription/feed/${feed}`],
        ['NewsBlur', `https://www.newsblur.com/?url=${feed}`],
        ['你的阅读器', `https://miniflux.example.org/bookmarklet?uri=${feed}`],
        ['feed: 链接', `feed:${origin}/feeds/channels/${encodeURIComponent(ACCOUNT)}.rss?token=tok-123`],
      ]);
      // A preview that fails is explained in the page's language, the server's words after it.
      const hd = page.locator('#source-hdhive form').first();
      await hd.locator('input[name=tmdbId]').fill('550');
      await hd.locator('button[type=submit]').click();
      await hd.locator('.preview .bad').waitFor();
      expect(await hd.locator('.preview .bad').textContent()).toMatch(/^这个来源需要的某个设置为空。 SOURCE_NOT_CONFIGURED: .*HDHIVE_API_KEY/);
      expect(await page.locator('#source-hdhive .bad li').first().textContent()).toContain('API 密钥');
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${ARTIFACTS}start-phone-zh-insecure.png`, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await b.close();
    }
  }, 60_000);

  it('without JavaScript the form builds the URL on the server, token included; yes/no fields and the HDHive shares form; the language switch', async () => {
    app = await startApp({ WXCD_API_URL: ch.fake.wxcdUrl, PROXY_ALLOW_HOSTS: ch.cdn.host, ACCESS_TOKEN: 'tok-123' });
    const { b, page, origin } = await insecurePage({ javaScriptEnabled: false, locale: 'en-US' });
    try {
      await page.goto(`${origin}/?token=tok-123`);
      const mp = page.locator('#source-mp');
      expect(await mp.locator('select[name=content] option').allTextContents()).toEqual(['No (default)', 'Yes']);
      await mp.locator('input[name=biz]').fill('MzA3MDM3NjE5NQ==');
      await mp.locator('select[name=content]').selectOption('1');
      await mp.locator('select[name=format]').selectOption('atom');
      await Promise.all([page.waitForLoadState('load'), mp.locator('button[type=submit]').click()]);
      await page.waitForURL(/build=mp-0/);
      const code = await page.locator('#source-mp .out code').textContent();
      expect(code).toBe(`${origin}/feeds/mp/${encodeURIComponent('MzA3MDM3NjE5NQ==')}.atom?content=1&token=tok-123`);
      expect(await page.locator('#source-mp .subscribe a').count()).toBe(4);
      // A required field left empty is said, not built.
      const hd = page.locator('#source-hdhive');
      expect(await hd.locator('h3').allTextContents()).toEqual(['Resources of a title', 'My shares (needs HDHIVE_ACCESS_TOKEN)']);
      await Promise.all([page.waitForLoadState('load'), hd.locator('form').nth(1).locator('button[type=submit]').click()]);
      expect(await page.locator('#source-hdhive form').nth(1).locator('.out code').textContent()).toBe(`${origin}/feeds/hdhive/shares.rss?token=tok-123`);
      await page.screenshot({ path: `${ARTIFACTS}start-phone-en-nojs.png`, fullPage: true });
      // The switch: Chinese from here on, remembered.
      await Promise.all([page.waitForLoadState('load'), page.locator('nav.langs a[hreflang=zh-CN]').click()]);
      expect(await page.locator('#source-hdhive h2').textContent()).toContain('影巢');
      await page.goto(`${origin}/?token=tok-123`);
      expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
      expect(await page.locator('#source-douyin .warn').textContent()).toContain('DOUYIN_COOKIE');
    } finally {
      await b.close();
    }
  }, 60_000);
});

describe('start page without a browser', () => {
  it('a required field left empty without JavaScript is named, not built', async () => {
    app = await startApp({ ACCESS_TOKEN: 'tok' });
    const html = await (await fetch(`${app.url}/?token=tok&lang=en&build=hdhive-0&type=movie&tmdbId=&format=rss`)).text();
    expect(html).toContain('Fill in: TMDB id');
    expect(html).not.toContain('class="out shown"');
  });

  it('renders the sources server-side without a token configured, and refuses script from elsewhere', async () => {
    app = await startApp({ WXCD_API_URL: ch.fake.wxcdUrl });
    const res = await fetch(`${app.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    for (const name of ['channels', 'mp', 'moments', 'douyin', 'hdhive']) expect(html).toContain(`id="source-${name}"`);
    expect(html).toContain('data-path="/feeds/channels/:username"');
    expect(html).not.toContain('id="token-form"');
  });
});
