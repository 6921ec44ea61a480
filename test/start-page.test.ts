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
    await Promise.all([page.waitForURL(/\?token=tok-123/), page.click('#token-form button')]);
    const channels = page.locator('#source-channels');
    await channels.waitFor();
    expect(await page.locator('section.card h2').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('WeChat Channels'), expect.stringContaining('HDHive')]));

    // Search through /api/channels/search and pick the account.
    await channels.locator('input[name=username]').fill('示例');
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
    await page.waitForURL(/\?token=tok-123/);
    await page.locator('#source-channels').waitFor();
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
    await Promise.all([page.waitForURL(/\?token=tok-123/), page.click('#token-form button')]);
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

describe('start page without a browser', () => {
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
