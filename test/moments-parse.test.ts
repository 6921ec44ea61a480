import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectDescXml } from '../src/feeds/moments/ecloud-client.js';
import { mediaToKeep } from '../src/feeds/moments/feed.js';
import { parsePostXml } from '../src/feeds/moments/post.js';
import { decryptImage } from '../src/proxy/decrypt-image.js';
import { keystream } from '../src/proxy/isaac64.js';
import { KeystreamCache } from '../src/proxy/keystream-cache.js';
import { momentsMediaUrl } from '../src/feeds/moments/media-url.js';
import { sampleJpeg } from './helpers/media.js';

const CDN = 'http://szmmsns.qpic.cn';
const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/moments/${name}.xml`, import.meta.url), 'utf8')
    .replaceAll('{{CDN}}', CDN)
    .replaceAll('{{VIDEO_BYTES}}', '5321776')
    .replaceAll('{{LIVE_BYTES}}', '9884')
    .replace(/\{\{T\d\}\}/g, '1782900000');

describe('TimelineObject XML', () => {
  it('photos (PC flavour): every picture with its own key and token, full size, the live photo with its own <enc key>, likes, comments, location', async () => {
    const p = (await parsePostXml(fixture('photos')))!;
    expect(p).toMatchObject({ id: '14901234567890123456', username: 'wxid_alice01', nickname: 'Alice', createTime: 1782900000, text: '周末爬山 ⛰️', kind: 'photos' });
    expect(p.media.map((m) => [m.kind, m.url, m.key])).toEqual([
      ['image', 'https://szmmsns.qpic.cn/mmsns/AbC1/0?token=WSEN1&idx=1', '7886446226772543123'],
      // A /150 main URL is asked for at full size.
      ['image', 'https://szmmsns.qpic.cn/mmsns/AbC2/0?token=WSEN3&idx=1', '1234567890123456789'],
      ['image', 'https://szmmsns.qpic.cn/mmsns/AbC3/0?token=WSEN5&idx=1', '14014123456789012345'],
    ]);
    // Thumbs: their own token; a plaintext thumb (enc_idx=0, no key) gets no key.
    expect(p.media[0]!.thumb).toBe('https://szmmsns.qpic.cn/mmsns/AbC1/0?token=WSEN2&idx=1');
    expect(p.media[1]!.thumbKey).toBeUndefined();
    expect(p.media[0]).toMatchObject({ width: 1440, height: 1080, bytes: 325112 });
    expect(p.media[2]!.live).toEqual({
      url: 'https://szmmsns.qpic.cn/103/20303/snsvideodownload?token=LPT1&idx=1&encfilekey=LP1&bizid=1023',
      key: '18000000000000000001',
      thumb: 'https://szmmsns.qpic.cn/150/20251/snsvideodownload?encfilekey=LP1T',
      bytes: 9884,
      duration: 2.378,
    });
    expect(p.likes).toEqual(['Bob', 'Carol']);
    // Replies name whom they answer; deleted comments are left out.
    expect(p.comments).toEqual([
      { nickname: 'Bob', content: '好看 <3' },
      { nickname: 'Alice', content: '谢谢', replyTo: 'Bob' },
    ]);
    expect(p.location).toBe('北高峰, 杭州市, 中国');
  });

  it('video: the key is the <enc key>, not url@key="0"; the thumbnail is plaintext', async () => {
    const p = (await parsePostXml(fixture('video')))!;
    expect(p.kind).toBe('video');
    expect(p.media).toEqual([
      {
        kind: 'video',
        url: 'https://szmmsns.qpic.cn/102/20202/snsvideodownload?token=VT&idx=1&encfilekey=X&bizid=1023',
        key: '9223372036854775809',
        thumb: 'https://szmmsns.qpic.cn/150/20250/snsvideodownload?encfilekey=Y&token=VTT&idx=1',
        width: 320,
        height: 240,
        bytes: 5321776,
        duration: 4,
      },
    ]);
  });

  it('link card, Channels share and text-only posts are classified by what they carry', async () => {
    const link = (await parsePostXml(fixture('link')))!;
    expect(link.kind).toBe('link');
    expect(link.link).toMatchObject({ title: '一篇好文', description: '摘要一行', url: 'https://mp.weixin.qq.com/s/xyz', source: '某公众号' });
    expect(link.link!.cover).toMatchObject({ url: 'https://szmmsns.qpic.cn/mmsns/Cov1/0?token=LT&idx=1', key: '123456789' });
    expect(link.media).toEqual([]);
    const finder = (await parsePostXml(fixture('finder')))!;
    expect(finder.kind).toBe('finder');
    expect(finder.finder).toMatchObject({ objectId: '14819096805414996657', nonceId: '8732196345812730919_0_0_2_2_0', nickname: '示例频道', desc: '第一行是标题 #美食', duration: 31 });
    expect(finder.finder!.cover).toBe('https://finder.video.qq.com/251/20304/stodownload?encfilekey=C1');
    expect(finder.location).toBe('上海市, 中国');
    const text = (await parsePostXml(fixture('text')))!;
    expect(text).toMatchObject({ kind: 'text', text: '今天不想上班\n明天也不想 <b>真的</b> & 不想', media: [], likes: [], comments: [] });
    expect(text.location).toBeUndefined();
  });

  it('what a post keeps: every picture, each live clip and video with its own key, video posters, link covers', async () => {
    const photos = mediaToKeep((await parsePostXml(fixture('photos')))!);
    expect(photos.map((k) => [k.kind, k.key])).toEqual([
      ['image', '7886446226772543123'],
      ['image', '1234567890123456789'],
      ['image', '14014123456789012345'],
      ['video', '18000000000000000001'],
    ]);
    const video = mediaToKeep((await parsePostXml(fixture('video')))!);
    expect(video.map((k) => [k.kind, k.key])).toEqual([
      ['video', '9223372036854775809'],
      ['image', undefined],
    ]);
  });

  it('tolerates missing elements and garbage, never throws', async () => {
    expect(await parsePostXml('<TimelineObject><id>42</id></TimelineObject>')).toMatchObject({ id: '42', kind: 'text', text: '', media: [] });
    expect(await parsePostXml('<SnsDataItem><LocalExtraInfo/></SnsDataItem>')).toBeUndefined();
    expect(await parsePostXml('<TimelineObject><id>not-a-number</id></TimelineObject>')).toBeUndefined();
    expect(await parsePostXml('<TimelineObject><id>7</id><ContentObject><mediaList><media><url>javascript:alert(1)</url></media><media><url token="t">ftp://x/y</url></media></mediaList></ContentObject></TimelineObject>')).toMatchObject({ id: '7', media: [] });
    const whole = fixture('photos');
    await fc.assert(
      fc.asyncProperty(fc.nat(whole.length), fc.nat(200), fc.string({ maxLength: 30 }), async (at, cut, junk) => {
        const mangled = whole.slice(0, at) + junk + whole.slice(Math.min(whole.length, at + cut));
        const p = await parsePostXml(mangled);
        if (p) {
          expect(p.id).toMatch(/^\d{1,20}$/);
          for (const m of p.media) expect(m.url).toMatch(/^https?:\/\//);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('E云 objectDesc: {xml} objects, and protobuf-text strings with octal UTF-8 escapes', () => {
    expect(objectDescXml({ xml: '<TimelineObject/>', len: 17 })).toBe('<TimelineObject/>');
    const text = 'iLen: 60\nbuffer: "<TimelineObject><contentDesc>\\346\\265\\213\\350\\257\\225 \\"q\\"</contentDesc></TimelineObject>"';
    expect(objectDescXml(text)).toBe('<TimelineObject><contentDesc>测试 "q"</contentDesc></TimelineObject>');
    expect(objectDescXml(42)).toBeUndefined();
    expect(objectDescXml('no buffer here')).toBeUndefined();
  });
});

describe('Moments media URL rules (notes/moments.md §2.2)', () => {
  it.each([
    ['http://szmmsns.qpic.cn/mmsns/a/150', 'T', 'image', 'https://szmmsns.qpic.cn/mmsns/a/0?token=T&idx=1'],
    ['http://mmsns.qpic.cn/mmsns/a/480?tp=wxpc&token=OLD&idx=3', 'NEW', 'image', 'https://mmsns.qpic.cn/mmsns/a/0?tp=wxpc&token=NEW&idx=1'],
    ['http://shzjwxsns.video.qq.com/102/20202/snsvideodownload?encfilekey=X&bizid=1023', 'V', 'video', 'https://shzjwxsns.video.qq.com/102/20202/snsvideodownload?token=V&idx=1&encfilekey=X&bizid=1023'],
    ['http://vweixinthumb.tc.qq.com/150/20250/snsvideodownload?encfilekey=Y', undefined, 'video', 'https://vweixinthumb.tc.qq.com/150/20250/snsvideodownload?encfilekey=Y'],
    // Not a Tencent host: its scheme stays.
    ['http://127.0.0.1:9000/mmsns/a/200', 'T', 'image', 'http://127.0.0.1:9000/mmsns/a/0?token=T&idx=1'],
  ] as const)('%s', (raw, token, kind, expected) => {
    expect(momentsMediaUrl(raw, token, kind)).toBe(expected);
  });
  it('refuses what is not http(s)', () => {
    expect(momentsMediaUrl('javascript:alert(1)', 't', 'image')).toBeUndefined();
    expect(momentsMediaUrl('', 't', 'image')).toBeUndefined();
  });
});

describe('Moments decryption known answers (notes/moments.md §2.8)', () => {
  const hex = (key: bigint, from: number, to: number) => keystream(key, 0, to).subarray(from, to).toString('hex');
  it.each([
    [0n, '9d39247e33776d412af7398005aaa5c744db0150246235479c15f73e62a76ae2', '48cbff086ddf285a7f9b6af1ebf78baf'],
    [2105122989n, '89cd4cd8f38b2190b5756244f6d7c75f9ea92584164b69b400b924e93acf563c', 'a1f2d5e4f943482900b4cc589cce41bc'],
    [7886446226772543123n, '361a12334807c40b72afb0a3c078e3557f2254c78915acfc38c4547fe02c5749', '974edce963b3df2caba1b8d7d12e5a98'],
    [7886446226772543000n, '01cde63e41ae54f0f70016b1da3b41da54a4f47993885650f105635fb86ada36', '3776c74e0b15ffc58da938a6883127e7'],
    [18446744073709551615n, '7c38fd3a2e7cd8ad64081892c82430f3a8eca8122a6f4607f6943b85ac39b6f0', '8a6d76ba7179bfdd5e47a600222f7310'],
  ])('key %s', (key, first32, at2040) => {
    expect(hex(key, 0, 32)).toBe(first32);
    expect(hex(key, 2040, 2056)).toBe(at2040);
  });
  it('sha256 of the 128 KiB prefix, and the JPEG known plaintext', () => {
    expect(createHash('sha256').update(keystream(7886446226772543123n, 0, 131072)).digest('hex')).toBe('a96629404ffa37287ab31f0337ff7fb23b011f46f7a52c549381bb9c28522a49');
    const ks = keystream(2105122989n, 0, 12);
    const header = Buffer.from('ffd8ffe000104a4649460001', 'hex');
    for (let i = 0; i < 12; i++) header[i]! ^= ks[i]!;
    expect(header.toString('hex')).toBe('7615b338f39b6bd6fc336245');
  });

  it('decryptImage: the right key gives the image (trailer checked and removed), a wrong one a 502', async () => {
    const ks = new KeystreamCache(4);
    const jpeg = await sampleJpeg(64, 48);
    const trailer = Buffer.concat([Buffer.from('75f0d33c00000000', 'hex'), createHash('md5').update(jpeg).digest()]);
    const xor = (b: Buffer, key: bigint) => {
      const k = keystream(key, 0, b.length);
      return Buffer.from(b.map((v, i) => v ^ k[i]!));
    };
    const key = 14014123456789012345n;
    expect(decryptImage(xor(Buffer.concat([jpeg, trailer]), key), key, ks).equals(jpeg)).toBe(true);
    expect(decryptImage(xor(jpeg, key), key, ks).equals(jpeg)).toBe(true);
    // Not encrypted after all: the raw image is kept.
    expect(decryptImage(jpeg, key, ks).equals(jpeg)).toBe(true);
    expect(() => decryptImage(xor(jpeg, key), key + 1n, ks)).toThrow(/could not be decrypted/);
    const bad = Buffer.concat([jpeg, trailer]);
    bad[bad.length - 1]! ^= 1;
    expect(() => decryptImage(xor(bad, key), key, ks)).toThrow(/trailer/);
  });
});
