import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outboundProxy } from '../src/upstream/proxy.js';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { useFakeHdhive } from './fakes/hdhive.js';
import { startConnectProxy, startSocks5Proxy, type FakeProxy } from './fakes/proxies.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { sampleJpeg } from './helpers/media.js';

const hd = useFakeHdhive();
let http: FakeProxy;
let socks: FakeProxy;
let cdn: FakeCdn;
let app: RunningApp | undefined;

beforeAll(async () => {
  http = await startConnectProxy();
  socks = await startSocks5Proxy();
  cdn = await startFakeCdn();
  cdn.files.set('/img.jpg', { body: await sampleJpeg(40, 30), type: 'image/jpeg' });
});
afterAll(async () => {
  await Promise.all([http.close(), socks.close(), cdn.close()]);
});
afterEach(async () => {
  await app?.close();
  app = undefined;
  http.targets.length = 0;
  socks.targets.length = 0;
});

const hdHost = () => new URL(hd.fake.url).host;

describe('outbound proxy for upstream APIs', () => {
  it('UPSTREAM_PROXY=http://… tunnels every API call through the proxy', async () => {
    app = await startApp({ ...hd.config(), UPSTREAM_PROXY: http.url });
    const res = await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    expect(res.status).toBe(200);
    expect(http.targets).toContain(hdHost());
  });

  it('UPSTREAM_PROXY=socks5://… works the same', async () => {
    app = await startApp({ ...hd.config(), UPSTREAM_PROXY: socks.url });
    const res = await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(socks.targets).toContain(hdHost());
  });

  it('HTTP_PROXY from the environment is honoured, and NO_PROXY exempts hosts', async () => {
    const env = { HTTP_PROXY: http.url };
    expect(outboundProxy('', env)?.via).toBe('HTTPS_PROXY/HTTP_PROXY');
    expect(outboundProxy('', {})).toBeUndefined();
    process.env.HTTP_PROXY = http.url;
    try {
      app = await startApp(hd.config());
      expect((await fetch(`${app.url}/feeds/hdhive/tv/101172`)).status).toBe(200);
      expect(http.targets.length).toBeGreaterThan(0);
      await app.close();
      http.targets.length = 0;
      process.env.NO_PROXY = '127.0.0.1';
      app = await startApp(hd.config());
      expect((await fetch(`${app.url}/feeds/hdhive/tv/101172`)).status).toBe(200);
      expect(http.targets).toEqual([]);
    } finally {
      delete process.env.HTTP_PROXY;
      delete process.env.NO_PROXY;
    }
  });

  it('an unreachable proxy is a 502 that says the call went through UPSTREAM_PROXY', async () => {
    app = await startApp({ ...hd.config(), UPSTREAM_PROXY: 'http://127.0.0.1:9' });
    const res = await fetch(`${app.url}/feeds/hdhive/tv/101172`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.message).toContain('UPSTREAM_PROXY');
  });

  it('a bad UPSTREAM_PROXY stops the start with a sentence', async () => {
    await expect(startApp({ UPSTREAM_PROXY: 'ftp://x' })).rejects.toThrow(/UPSTREAM_PROXY: expected an http:\/\/, https:\/\/ or socks5:\/\/ proxy URL/);
  });
});

describe('media through the proxy (PROXY_MEDIA_VIA_UPSTREAM_PROXY)', () => {
  it('images are fetched through the proxy, and a target resolving to a private address is refused before it leaves', async () => {
    app = await startApp({ UPSTREAM_PROXY: http.url, PROXY_MEDIA_VIA_UPSTREAM_PROXY: true, PROXY_ALLOW_HOSTS: cdn.host });
    const ok = await fetch(app.url + app.app.links.image(`${cdn.url}/img.jpg`, 'wechat'));
    expect(ok.status).toBe(200);
    expect(http.targets).toContain(cdn.host);
    http.targets.length = 0;
    const port = new URL(cdn.url).port;
    for (const url of [`http://localhost:${port}/img.jpg`, `http://10.1.2.3/img.jpg`, `http://[::1]:${port}/img.jpg`]) {
      const res = await fetch(app.url + app.app.links.image(url, 'wechat'));
      expect(res.status, url).toBe(403);
    }
    expect(http.targets).toEqual([]);
  });
});
