import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDecodeKey } from '../src/proxy/decode-key.js';
import { keystream } from '../src/proxy/isaac64.js';
import { KeystreamCache, KeystreamCursor } from '../src/proxy/keystream-cache.js';
import { startFakeCdn, type FakeCdn } from './fakes/cdn.js';
import { startApp, type RunningApp } from './helpers/app.js';
import { encrypt, sampleJpeg, sampleMp4 } from './helpers/media.js';
import { ffprobeTool } from './helpers/tools.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ISAAC-64 keystream: known answers from notes/channels-mp.md §1.4 and notes/moments.md §2.8', () => {
  const vectors: Array<[string, string, string]> = [
    ['2136143522', 'c4e868e2506a2f83f53c58bc98faf229b6177aba472a450c2ff02176826a73b5', '0af625264fde03f597248211fcabd7cb2cbe6032702cbc5314b3f1339f9180b5'],
    ['0', '9d39247e33776d412af7398005aaa5c744db0150246235479c15f73e62a76ae2', 'e1662af3b7e59867c919ad19055fc8cecea2b154d37e1459b2f96d1da14cef1f'],
    ['18446744073709551615', '7c38fd3a2e7cd8ad64081892c82430f3a8eca8122a6f4607f6943b85ac39b6f0', '5afbffd76305e81467f97c6370fa07916e9b197611bf5c357a854eb92a6354a1'],
    ['1', 'e19ed5d2ca98af2da7a18d07cab39b52a0ab0232d180af1472b36dcf1af5e46f', '39d98f5b25cc52f0996f7ef9e1022156cb029901be6a11ebbdd7469c6ffd5839'],
    ['4294967295', '2dcadb4a3bca7ffee2d5f6ea7e1766d2e7e93b2e7e0066529bd5b386e0484209', '08f05e237b65b6091e4baabc7f6cb4508568372ee968c5075ed52df98a6515a4'],
    ['9007199254740993', '8d41a8453b2fbc42494b749b96a725792f6c61e8da428f1b02f60efa0c0e8c55', '520917d54d3d8d27ec1fcd34479f0942376bbd4979039bf9315b22c9987149f1'],
    ['2105122989', '89cd4cd8f38b2190b5756244f6d7c75f9ea92584164b69b400b924e93acf563c', 'b890262f78d3de2cf94c4b4ebcb37d769c6e0af9a9d8b0c358215efd18e3e722'],
    ['2136343393', '23766a3699fb876a75d5a232994844ab4000d68b7ccc551740606596bf535525', '49b96d6fc75ba5215fbb773ce98f6b20f6441a7ac40abc9582b1e42c5f3cd9d8'],
    ['7886446226772543123', '361a12334807c40b72afb0a3c078e3557f2254c78915acfc38c4547fe02c5749', 'a96629404ffa37287ab31f0337ff7fb23b011f46f7a52c549381bb9c28522a49'],
    ['7886446226772543000', '01cde63e41ae54f0f70016b1da3b41da54a4f47993885650f105635fb86ada36', '7143549aaf9c5cef2684feae7610b64d3bbffc0bd0540e626d5db8bf5b4d4875'],
  ];
  it.each(vectors)('key %s', (key, first32, digest) => {
    const ks = keystream(parseDecodeKey(key)!, 0, 131072);
    expect(ks.subarray(0, 32).toString('hex')).toBe(first32);
    expect(sha256(ks)).toBe(digest);
  });

  it('range offsets and the middle of the stream', () => {
    const k = 2136143522n;
    expect(keystream(k, 1, 16).toString('hex')).toBe('e868e2506a2f83f53c58bc98faf229b6');
    expect(keystream(k, 65533, 16).toString('hex')).toBe('a6855fa3a69bcd9c989b78599b634922');
    expect(keystream(k, 131064, 8).toString('hex')).toBe('96cbd5e013e7ea26');
    expect(keystream(0n, 2040, 16).toString('hex')).toBe('48cbff086ddf285a7f9b6af1ebf78baf');
    expect(keystream(7886446226772543123n, 2040, 16).toString('hex')).toBe('974edce963b3df2caba1b8d7d12e5a98');
  });

  it('known plaintext: an MP4 header and a JPEG header', () => {
    const mp4 = Buffer.from('000000206674797069736f6d00000200', 'hex');
    const xored = Buffer.from(mp4.map((b, i) => b ^ keystream(2136343393n, 0, 16)[i]!));
    expect(xored.toString('hex')).toBe('23766a16ff8ffe1a1ca6cd5f994846ab');
    const jpeg = Buffer.from('ffd8ffe000104a4649460001', 'hex');
    const ks = keystream(2105122989n, 0, 12);
    expect(Buffer.from(jpeg.map((b, i) => b ^ ks[i]!)).toString('hex')).toBe('7615b338f39b6bd6fc336245');
  });

  it('a cursor past the cached prefix continues the same stream', () => {
    const cache = new KeystreamCache(4);
    const whole = keystream(42n, 0, 300_000);
    for (const [start, sizes] of [
      [0, [7, 131065, 100, 50_000]],
      [131069, [5, 3, 1000]],
      [200_001, [9, 17, 64]],
    ] as Array<[number, number[]]>) {
      const cur = new KeystreamCursor(42n, start, cache);
      let pos = start;
      for (const n of sizes) {
        expect(cur.take(n).equals(whole.subarray(pos, pos + n)), `${start}+${pos - start}`).toBe(true);
        pos += n;
      }
    }
  });
});

describe('decodeKey parsing', () => {
  it('accepts decimal u64 (exactly, above 2^53) and 0x hex; absent or empty means no decryption', () => {
    expect(parseDecodeKey('9007199254740993')).toBe(9007199254740993n);
    expect(parseDecodeKey('18446744073709551615')).toBe(18446744073709551615n);
    expect(parseDecodeKey('0x7f')).toBe(127n);
    expect(parseDecodeKey('0')).toBe(0n);
    expect(parseDecodeKey(undefined)).toBeUndefined();
    expect(parseDecodeKey('')).toBeUndefined();
  });
  it.each(['abc', '-1', '18446744073709551616', '1.5', '1e9', '0x', '0x1ffffffffffffffff', ' 12 3'])('rejects %s', (k) => {
    expect(() => parseDecodeKey(k)).toThrow(/key must be/);
  });
});

describe('/play', () => {
  let cdn: FakeCdn;
  let app: RunningApp;
  let plain: Buffer;
  const KEY = 7886446226772543123n;

  beforeAll(async () => {
    plain = sampleMp4();
    cdn = await startFakeCdn();
    const enc = encrypt(plain, KEY);
    cdn.files.set('/v/ranged.mp4', { body: enc, type: 'application/octet-stream' });
    cdn.files.set('/v/noranges.mp4', { body: enc, type: 'video/mp4', ranges: false });
    cdn.files.set('/v/plain.mp4', { body: plain, type: 'video/mp4' });
    cdn.files.set('/v/slow.mp4', { body: Buffer.alloc(8 * 1024 * 1024, 1), type: 'video/mp4', chunkDelayMs: 20 });
    const jpeg = await sampleJpeg(64, 48);
    cdn.files.set('/img/moments.jpg', { body: encrypt(jpeg, 2105122989n, Infinity), type: 'image/jpeg', rule: 'moments-ua', headers: { 'x-enc': '1' } });
    app = await startApp({ PROXY_ALLOW_HOSTS: `${cdn.host},127.0.0.1:9` });
  });
  afterAll(async () => {
    await app.close();
    await cdn.close();
  });

  const playUrl = (path: string, key: bigint | null = KEY, extra: { mode?: 'full' } = {}) =>
    app.url + app.app.links.video(`${cdn.url}${path}`, 'channels', { key: key ?? undefined, ...extra });
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    return { res, body: Buffer.from(await res.arrayBuffer()) };
  };

  it('the fixture is a real MP4 well past the encrypted prefix', () => {
    expect(plain.length).toBeGreaterThan(3 * 131072);
    expect(plain.subarray(4, 8).toString('latin1')).toBe('ftyp');
  });

  it.each(['/v/ranged.mp4', '/v/noranges.mp4'])('decrypts the whole file byte for byte (%s)', async (path) => {
    const { res, body } = await get(playUrl(path));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-length')).toBe(String(plain.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('cross-origin-resource-policy')).toBeNull();
    expect(body.equals(plain)).toBe(true);
  });

  it.each(['/v/ranged.mp4', '/v/noranges.mp4'])('serves many random ranges exactly (%s)', async (path) => {
    const url = playUrl(path);
    const total = plain.length;
    // Deterministic pseudo-random ranges around the interesting offsets.
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const ranges: Array<[string, number, number]> = [
      ['bytes=0-1', 0, 1],
      ['bytes=131070-131073', 131070, 131073],
      ['bytes=131072-', 131072, total - 1],
      ['bytes=-500', total - 500, total - 1],
      [`bytes=100-${total + 1000}`, 100, total - 1],
    ];
    for (let i = 0; i < 25; i++) {
      const a = rnd(total);
      const b = Math.min(total - 1, a + rnd(300_000));
      ranges.push([`bytes=${a}-${b}`, a, b]);
    }
    for (const [range, a, b] of ranges) {
      const { res, body } = await get(url, { Range: range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get('content-range'), range).toBe(`bytes ${a}-${b}/${total}`);
      expect(res.headers.get('content-length'), range).toBe(String(b - a + 1));
      expect(body.equals(plain.subarray(a, b + 1)), range).toBe(true);
    }
  });

  it('answers the Safari bytes=0-1 probe, several ranges as the first, and 416 past the end', async () => {
    const url = playUrl('/v/ranged.mp4');
    let r = await get(url, { Range: 'bytes=0-1' });
    expect(r.res.status).toBe(206);
    expect(r.body.equals(plain.subarray(0, 2))).toBe(true);
    r = await get(url, { Range: 'bytes=10-19, 100-199' });
    expect(r.res.status).toBe(206);
    expect(r.res.headers.get('content-range')).toBe(`bytes 10-19/${plain.length}`);
    expect(r.body.equals(plain.subarray(10, 20))).toBe(true);
    for (const path of ['/v/ranged.mp4', '/v/noranges.mp4']) {
      r = await get(playUrl(path), { Range: `bytes=${plain.length + 10}-` });
      expect(r.res.status, path).toBe(416);
      expect(r.res.headers.get('content-range'), path).toBe(`bytes */${plain.length}`);
    }
  });

  it('HEAD gives the length and type without a body', async () => {
    const res = await fetch(playUrl('/v/ranged.mp4'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(plain.length));
    expect(res.headers.get('content-type')).toBe('video/mp4');
    const ranged = await fetch(playUrl('/v/ranged.mp4'), { method: 'HEAD', headers: { Range: 'bytes=0-1' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 0-1/${plain.length}`);
  });

  it('without a key it passes the bytes through untouched', async () => {
    const { body } = await get(playUrl('/v/plain.mp4', null));
    expect(body.equals(plain)).toBe(true);
  });

  it('mode=full XORs the whole file (Moments media), with the Moments user agent', async () => {
    const url = app.url + app.app.links.video(`${cdn.url}/img/moments.jpg`, 'moments', { key: 2105122989n, mode: 'full' });
    const { res, body } = await get(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(body.subarray(0, 3).toString('hex')).toBe('ffd8ff');
    expect(body.equals(await sampleJpeg(64, 48))).toBe(true);
  });

  it.skipIf(!ffprobeTool().ok)('ffprobe reads a video through /play over HTTP', async () => {
    const url = playUrl('/v/noranges.mp4');
    const out = await new Promise<string>((resolve, reject) =>
      execFile('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,width,height', '-of', 'json', url], (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    const info = JSON.parse(out);
    expect(info.streams.map((s: { codec_name: string }) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(info.streams.find((s: { codec_name: string }) => s.codec_name === 'h264')).toMatchObject({ width: 320, height: 240 });
    expect(Number(info.format.duration)).toBeGreaterThan(3.5);
  });

  it('a client that goes away aborts the upstream download', async () => {
    const before = cdn.aborted;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(playUrl('/v/slow.mp4'), (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', resolve);
      req.setTimeout(10_000, () => reject(new Error('no data')));
      req.end();
    });
    for (let i = 0; i < 50 && cdn.aborted === before; i++) await new Promise((r) => setTimeout(r, 50));
    expect(cdn.aborted).toBe(before + 1);
  });

  it('bad input: missing url, bad keys, bad mode are clear 400s', async () => {
    const cases: Array<[string, string]> = [
      ['/play', 'MISSING_URL'],
      [`/play?url=${encodeURIComponent(`${cdn.url}/v/plain.mp4`)}&key=abc`, 'BAD_KEY'],
      [`/play?url=${encodeURIComponent(`${cdn.url}/v/plain.mp4`)}&key=-1`, 'BAD_KEY'],
      [`/play?url=${encodeURIComponent(`${cdn.url}/v/plain.mp4`)}&key=18446744073709551616`, 'BAD_KEY'],
      [`/play?url=${encodeURIComponent(`${cdn.url}/v/plain.mp4`)}&mode=half`, 'BAD_REQUEST'],
      ['/play?url=not%20a%20url', 'BAD_URL'],
    ];
    for (const [path, code] of cases) {
      const res = await fetch(app.url + path);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
  });

  it('an upstream 404 is a 404; an unreachable one a 502', async () => {
    expect((await fetch(playUrl('/v/missing.mp4'))).status).toBe(404);
    const dead = app.url + app.app.links.video('http://127.0.0.1:9/x.mp4', 'channels', { key: 1n });
    expect((await fetch(dead)).status).toBe(502);
  });
});
