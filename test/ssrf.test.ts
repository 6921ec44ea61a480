import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCES, platformsOf } from '../src/feeds/sources.js';
import { UrlSigner } from '../src/proxy/sign.js';
import { checkTarget, guardedLookup, isPublicAddress } from '../src/proxy/ssrf.js';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { sampleJpeg } from './helpers/media.js';

const platforms = platformsOf(SOURCES);
const platformOfHost = (host: string) => platforms.ofHost(host);

let cdn: FakeCdn;
beforeAll(async () => {
  cdn = await startFakeCdn();
  cdn.files.set('/ok.jpg', { body: await sampleJpeg(32, 32), type: 'image/jpeg' });
});
afterAll(async () => {
  await cdn.close();
});

describe('address classification', () => {
  it.each([
    ['127.0.0.1', false], ['10.1.2.3', false], ['172.16.5.4', false], ['192.168.0.1', false], ['169.254.169.254', false],
    ['100.64.0.1', false], ['0.0.0.0', false], ['0.1.2.3', false], ['224.0.0.1', false], ['255.255.255.255', false],
    ['198.18.0.1', false], ['::1', false], ['::', false], ['fc00::1', false], ['fd12:3456::1', false], ['fe80::1', false],
    ['::ffff:127.0.0.1', false], ['::ffff:10.0.0.1', false], ['64:ff9b::7f00:1', false], ['2002:7f00:1::1', false], ['ff02::1', false],
    ['8.8.8.8', true], ['203.208.60.1', true], ['2606:4700::1111', true], ['::ffff:8.8.8.8', true],
  ])('%s public=%s', (addr, expected) => {
    expect(isPublicAddress(addr)).toBe(expected);
  });
});

describe('platform hosts', () => {
  it('match on a dot boundary, most specific first', () => {
    expect(platformOfHost('mmbiz.qpic.cn')).toBe('wechat');
    expect(platformOfHost('shmmsns.qpic.cn')).toBe('moments');
    expect(platformOfHost('p3-pc-sign.douyinpic.com')).toBe('douyin');
    expect(platformOfHost('finder.video.qq.com')).toBe('channels');
    expect(platformOfHost('evilqpic.cn')).toBeUndefined();
    expect(platformOfHost('mmbiz.qpic.cn.evil.com')).toBeUndefined();
  });
});

describe('the connect-time lookup', () => {
  const lookup = (host: string, extra: string[] = []) =>
    new Promise<{ err: Error | null; address: unknown }>((resolve) =>
      guardedLookup({ extraHosts: new Set(extra), platforms })(host, {}, (err, address) => resolve({ err, address })),
    );
  it('refuses a hostname that resolves to loopback, unless it is in PROXY_ALLOW_HOSTS', async () => {
    const refused = await lookup('localhost');
    expect(refused.err?.message).toMatch(/resolves to .*private or reserved/);
    const allowed = await lookup('localhost', ['localhost:8080']);
    expect(allowed.err).toBeNull();
    expect(String(allowed.address)).toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe('hostile URLs', () => {
  let app: RunningApp;
  afterAll(async () => {
    await app?.close();
  });

  const hostile = (port: number) => [
    'http://127.0.0.1/',
    `http://127.0.0.1:${port}/ok.jpg`,
    'http://2130706433/',
    'http://0177.0.0.1/',
    'http://0x7f000001/',
    'http://0x7f.1/',
    'http://127.1/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[2002:7f00:1::1]/',
    'http://0.0.0.0/',
    'http://0/',
    'http://localhost/',
    `http://localhost:${port}/ok.jpg`,
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/',
    'http://192.168.1.1/',
    'http://172.16.0.1/',
    'http://100.64.0.1/',
    'http://[fc00::1]/',
    'http://[fe80::1]/',
    'http://224.0.0.1/',
    'file:///etc/passwd',
    'ftp://mmbiz.qpic.cn/x',
    'gopher://127.0.0.1:70/',
    'javascript:alert(1)',
    'data:image/png;base64,AAAA',
    'http://mmbiz.qpic.cn@127.0.0.1/',
    `http://mmbiz.qpic.cn:80@127.0.0.1:${port}/ok.jpg`,
    'http://user:pass@mmbiz.qpic.cn/x.jpg',
    'http://mmbiz.qpic.cn.evil.example/x.jpg',
    'http://evil.example/mmbiz.qpic.cn/x.jpg',
    `http://127.0.0.1:${port}/redirect?to=${encodeURIComponent('http://169.254.169.254/')}`,
    '//mmbiz.qpic.cn/x.jpg',
    'mmbiz.qpic.cn/x.jpg',
  ];

  it('are refused on /proxy and /play without reaching anything', async () => {
    app = await startApp();
    const port = Number(cdn.host.split(':')[1]);
    const list = hostile(port);
    expect(list.length).toBeGreaterThanOrEqual(20);
    for (const route of ['/proxy', '/play']) {
      for (const target of list) {
        const res = await fetch(`${app.url}${route}?url=${encodeURIComponent(target)}`);
        expect([400, 403], `${route} ${target}`).toContain(res.status);
        const body = (await res.json()) as { error: { code: string } };
        expect(['BAD_URL', 'TARGET_REFUSED'], target).toContain(body.error.code);
      }
    }
    expect(cdn.total()).toBe(0);
  });

  it('checkTarget refuses them too when called directly', () => {
    for (const target of hostile(1)) expect(() => checkTarget(target, { extraHosts: new Set(), platforms }), target).toThrow();
  });

  it('redirects are re-checked at every hop; more than 5 hops fail', async () => {
    await app.close();
    app = await startApp({ PROXY_ALLOW_HOSTS: cdn.host });
    const signed = (target: string) => app.url + app.app.links.image(target, 'wechat');
    // To an allowed host: followed.
    let res = await fetch(signed(`${cdn.url}/redirect?to=${encodeURIComponent(`${cdn.url}/ok.jpg`)}`));
    expect(res.status).toBe(200);
    // To loopback by another name, to link-local, to a non-platform host: refused.
    for (const to of ['http://localhost:1/', 'http://169.254.169.254/', 'http://127.0.0.2/', `http://[::1]:${cdn.host.split(':')[1]}/ok.jpg`, 'file:///etc/passwd']) {
      res = await fetch(signed(`${cdn.url}/redirect?to=${encodeURIComponent(to)}`));
      expect([400, 403], to).toContain(res.status);
    }
    res = await fetch(signed(`${cdn.url}/redirect?hops=6&to=${encodeURIComponent(`${cdn.url}/ok.jpg`)}`));
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_REDIRECTS');
    res = await fetch(signed(`${cdn.url}/redirect?hops=4&to=${encodeURIComponent(`${cdn.url}/ok.jpg`)}`));
    expect(res.status).toBe(200);
  });
});

describe('signed URLs and access', () => {
  let app: RunningApp;
  afterAll(async () => {
    await app?.close();
  });

  it('sign and verify: any change to a signed parameter breaks the signature', () => {
    const signer = new UrlSigner(Buffer.from('k'));
    const url = new URL(`http://x${signer.sign('/play', { url: 'https://finder.video.qq.com/a?b=1&c=2', key: '9007199254740993', p: 'channels' })}`);
    expect(signer.verify('/play', url.searchParams)).toBe(true);
    const tamper = (fn: (q: URLSearchParams) => void, path = '/play') => {
      const q = new URLSearchParams(url.searchParams);
      fn(q);
      return signer.verify(path, q);
    };
    expect(tamper(() => {}, '/proxy')).toBe(false);
    expect(tamper((q) => q.set('key', '9007199254740992'))).toBe(false);
    expect(tamper((q) => q.set('url', 'https://finder.video.qq.com/a?b=1&c=3'))).toBe(false);
    expect(tamper((q) => q.delete('p'))).toBe(false);
    expect(tamper((q) => q.set('mode', 'full'))).toBe(false);
    expect(tamper((q) => q.append('key', '1'))).toBe(false);
    expect(tamper((q) => q.set('sig', 'AAAAAAAAAAAAAAAAAAAAAA'))).toBe(false);
    expect(tamper((q) => q.set('sig', ''))).toBe(false);
    // The reader's own token is not part of the signature.
    expect(tamper((q) => q.set('token', 'anything'))).toBe(true);
    expect(new UrlSigner(Buffer.from('other')).verify('/play', url.searchParams)).toBe(false);
  });

  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  /** The link with its signature's last character replaced by each of the 64 base64url characters. */
  const spellings = (link: string) => {
    const m = /([?&]sig=)([A-Za-z0-9_-]{21})([A-Za-z0-9_-])/.exec(link)!;
    return [...ALPHABET].map((c) => ({ link: link.replace(m[0], `${m[1]}${m[2]}${c}`), same: c === m[3] }));
  };

  it('exactly one spelling of a signature verifies (the MAC is compared as text, not as decoded bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 32 }), fc.webPath(), fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 12 }), { maxKeys: 4 }), (key, path, params) => {
        const signer = new UrlSigner(Buffer.from(key));
        const p = `/${path.replace(/^\/+/, '')}`;
        const link = signer.sign(p, params);
        const ok = spellings(link).filter(({ link: l }) => signer.verify(p, new URL(`http://x${l}`).searchParams));
        expect(ok.map((s) => s.same)).toEqual([true]);
      }),
      { numRuns: 200, seed: 6 },
    );
  });

  it('over HTTP, on every kind of signed route, 63 of 64 spellings are refused as BAD_SIGNATURE', async () => {
    const a = await startApp({ PROXY_ALLOW_HOSTS: cdn.host, ACCESS_TOKEN: 'tok', DOUYIN_BASE_URL: 'http://127.0.0.1:9' });
    try {
      const links = [
        a.app.links.image(`${cdn.url}/ok.jpg`, 'wechat'),
        a.app.links.video(`${cdn.url}/v.mp4`, 'moments', { key: '123' }),
        a.app.links.route('/play/douyin/7454000000000000001'),
        a.app.links.route('/moments/post/13000000000000000001'),
      ];
      for (const link of links) {
        let accepted = 0;
        for (const s of spellings(link)) {
          const res = await fetch(a.url + s.link);
          const code = res.headers.get('content-type')?.includes('json') ? ((await res.json()) as { error?: { code: string } }).error?.code : (await res.arrayBuffer(), undefined);
          if (code !== 'BAD_SIGNATURE') accepted++;
          if (!s.same) expect(code, s.link).toBe('BAD_SIGNATURE');
        }
        expect(accepted, link).toBe(1);
      }
    } finally {
      await a.close();
    }
  });

  it('over HTTP: tampering is 403; a valid signature needs no token; unsigned needs the token', async () => {
    app = await startApp({ PROXY_ALLOW_HOSTS: cdn.host, ACCESS_TOKEN: 'tok' });
    const link = app.app.links.image(`${cdn.url}/ok.jpg`, 'wechat');
    expect((await fetch(app.url + link)).status).toBe(200);
    const tampered = link.replace('ok.jpg', 'ok2.jpg');
    let res = await fetch(app.url + tampered);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_SIGNATURE');
    // A bad signature is not rescued by a good token.
    expect((await fetch(`${app.url + tampered}&token=tok`)).status).toBe(403);
    const unsigned = `${app.url}/proxy?url=${encodeURIComponent(`${cdn.url}/ok.jpg`)}`;
    expect((await fetch(unsigned)).status).toBe(401);
    expect((await fetch(`${unsigned}&token=tok`)).status).toBe(200);
  });

  it('without ACCESS_TOKEN, unsigned requests reach platform hosts only, not PROXY_ALLOW_HOSTS', async () => {
    await app.close();
    app = await startApp({ PROXY_ALLOW_HOSTS: cdn.host });
    const unsigned = `${app.url}/proxy?url=${encodeURIComponent(`${cdn.url}/ok.jpg`)}`;
    expect((await fetch(unsigned)).status).toBe(403);
    expect((await fetch(app.url + app.app.links.image(`${cdn.url}/ok.jpg`, 'wechat'))).status).toBe(200);
  });

  it('the generated secret is kept in DATA_DIR: links stay valid across restarts', async () => {
    const dataDir = app.dataDir;
    const link = app.app.links.image(`${cdn.url}/ok.jpg`, 'wechat');
    await app.close(false);
    app = await startApp({ PROXY_ALLOW_HOSTS: cdn.host, DATA_DIR: dataDir });
    expect(app.app.links.image(`${cdn.url}/ok.jpg`, 'wechat')).toBe(link);
    expect((await fetch(app.url + link)).status).toBe(200);
  });
});
