import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { keystream } from '../../src/proxy/isaac64.js';
import { listenLoopback, useFake } from '../helpers/listen.js';
import { encrypt, sampleJpeg, sampleMp4 } from '../helpers/media.js';
import { startFakeCdn, type FakeCdn } from './cdn.js';

/**
 * Fakes for the Moments upstreams (notes/moments.md): WeFlow's /api/v1/sns/* (Bearer token, 401
 * without; rawXml in the PC flavour; WeFlow's own proxy URLs with Number-rounded keys, which must not
 * be used) and E云's /getCircle, /getFriendCircle, /getSnsObject (the {code, message, data} envelope;
 * ids as bare JSON numbers above 2^53; list XML without media tokens). A fake CDN serves the media
 * encrypted as WeChat does (images whole, videos over their first 128 KiB), with keys above 2^53, and
 * refuses requests without token and idx=1, with another user agent, or once tokens have expired.
 */

const FIX = fileURLToPath(new URL('../fixtures/moments/', import.meta.url));
const xmlFixture = (name: string) => readFileSync(`${FIX}${name}.xml`, 'utf8');

export const KEYS = { photo1: 7886446226772543123n, photo2: 1234567890123456789n, photo3: 14014123456789012345n, live: 18000000000000000001n, video: 9223372036854775809n, cover: 123456789n };
export const IDS = { photos: '14901234567890123456', text: '14901234000000000001', video: '14901233000000000002', link: '14901232000000000003', finder: '14901231000000000004', jsonOnly: '14901230000000000005' };

export interface FakePost {
  id: string;
  username: string;
  nickname: string;
  createTime: number;
  fixture: 'photos' | 'text' | 'video' | 'link' | 'finder' | 'none';
  type: number;
  text?: string;
}

export interface FakeMoments {
  weflowUrl: string;
  ecloudUrl: string;
  token: string;
  ecloudAuth: string;
  ecloudWid: string;
  cdn: FakeCdn;
  posts: FakePost[];
  /** Plaintext of every media file, by CDN path. */
  plain: Map<string, Buffer>;
  calls: Map<string, number>;
  ecloudBodies: string[];
  expired: boolean;
  ecloudFail?: { code: string; message: string };
  /** When set, every /getSnsObject is answered with this failure (the list calls still work). */
  detailFail?: { code: string; message: string };
  now: number;
  xml(p: FakePost, flavour: 'server' | 'pc' | 'list'): string;
  reset(): void;
  close(): Promise<void>;
}

/** A JPEG with WeChat's trailer: magic + MD5 of the JPEG. */
function withTrailer(jpeg: Buffer): Buffer {
  return Buffer.concat([jpeg, Buffer.from('75f0d33c00000000', 'hex'), createHash('md5').update(jpeg).digest()]);
}

const xorWhole = (plain: Buffer, key: bigint) => {
  const ks = keystream(key, 0, plain.length);
  const out = Buffer.from(plain);
  for (let i = 0; i < out.length; i++) out[i]! ^= ks[i]!;
  return out;
};

export async function startFakeMoments(): Promise<FakeMoments> {
  const cdn = await startFakeCdn();
  const now = Math.floor(Date.now() / 1000);
  const f: FakeMoments = {
    weflowUrl: '',
    ecloudUrl: '',
    token: 'weflow-token-1',
    ecloudAuth: 'ecloud-auth-1',
    ecloudWid: 'wid-7',
    cdn,
    posts: [],
    plain: new Map(),
    calls: new Map(),
    ecloudBodies: [],
    expired: false,
    now,
    xml: () => '',
    reset: () => {},
    close: async () => {},
  };
  const count = (k: string) => f.calls.set(k, (f.calls.get(k) ?? 0) + 1);

  // Media: the plaintext, and what the CDN stores.
  const jpegs = [await sampleJpeg(320, 240), await sampleJpeg(240, 320), await sampleJpeg(200, 200), await sampleJpeg(150, 150), await sampleJpeg(96, 64)];
  const mp4 = sampleMp4();
  const tokens: Record<string, string> = {};
  const file = (path: string, plain: Buffer, stored: Buffer, type: string, token: string) => {
    f.plain.set(path, plain);
    tokens[path] = token;
    cdn.files.set(path, {
      body: stored,
      type,
      rule: 'moments-ua',
      validate: (u) => !f.expired && u.searchParams.get('idx') === '1' && u.searchParams.get('token') === tokens[path],
    });
  };
  const photo1 = withTrailer(jpegs[0]!);
  file('/mmsns/AbC1/0', jpegs[0]!, xorWhole(photo1, KEYS.photo1), 'image/jpeg', 'WSEN1');
  file('/mmsns/AbC2/0', jpegs[1]!, xorWhole(jpegs[1]!, KEYS.photo2), 'image/jpeg', 'WSEN3');
  file('/mmsns/AbC3/0', jpegs[2]!, xorWhole(jpegs[2]!, KEYS.photo3), 'image/jpeg', 'WSEN5');
  file('/mmsns/Cov1/0', jpegs[3]!, xorWhole(jpegs[3]!, KEYS.cover), 'image/jpeg', 'LT');
  file('/103/20303/snsvideodownload', mp4, encrypt(mp4, KEYS.live), 'video/mp4', 'LPT1');
  file('/102/20202/snsvideodownload', mp4, encrypt(mp4, KEYS.video), 'video/mp4', 'VT');
  // Video thumbnails are plaintext.
  file('/150/20250/snsvideodownload', jpegs[4]!, jpegs[4]!, 'image/jpeg', 'VTT');

  f.xml = (p, flavour) => {
    if (p.fixture === 'none') return '';
    let xml = xmlFixture(p.fixture)
      .replaceAll('{{CDN}}', cdn.url)
      .replaceAll('{{VIDEO_BYTES}}', String(mp4.length))
      .replaceAll('{{LIVE_BYTES}}', String(mp4.length))
      .replace(/\{\{T(\d)\}\}/g, () => String(p.createTime));
    // E云's list XML: the media links without their tokens ("cannot be viewed directly").
    if (flavour === 'list') xml = xml.replace(/ token="[^"]*"/g, '');
    if (flavour === 'server') xml = xml.replace(/<LocalExtraInfo>[\s\S]*<\/LocalExtraInfo>/, '').replace(/<\/?SnsDataItem>/g, '');
    if (flavour === 'pc' && !xml.includes('<SnsDataItem>')) xml = `<SnsDataItem>${xml}<LocalExtraInfo><nickname>${p.nickname}</nickname></LocalExtraInfo></SnsDataItem>`;
    return xml;
  };

  f.reset = () => {
    f.posts = [
      { id: IDS.photos, username: 'wxid_alice01', nickname: 'Alice', createTime: now - 600, fixture: 'photos', type: 1 },
      { id: IDS.text, username: 'wxid_bob02', nickname: 'Bob', createTime: now - 1200, fixture: 'text', type: 2 },
      { id: IDS.video, username: 'wxid_carol3', nickname: 'Carol', createTime: now - 1800, fixture: 'video', type: 15 },
      { id: IDS.link, username: 'wxid_dave04', nickname: 'Dave', createTime: now - 2400, fixture: 'link', type: 3 },
      { id: IDS.finder, username: 'wxid_alice01', nickname: 'Alice', createTime: now - 3000, fixture: 'finder', type: 28 },
      // No rawXml at all: the JSON is all there is.
      { id: IDS.jsonOnly, username: 'wxid_bob02', nickname: 'Bob', createTime: now - 3600, fixture: 'none', type: 2, text: '只有 JSON 的一条' },
    ];
    f.calls.clear();
    f.ecloudBodies = [];
    f.expired = false;
    f.ecloudFail = undefined;
    f.detailFail = undefined;
    cdn.hits.clear();
  };
  f.reset();

  const json = (res: ServerResponse, status: number, body: unknown | string) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  };

  // WeFlow --------------------------------------------------------------------------------------
  const weflowPost = (p: FakePost) => {
    const rounded = (k: bigint) => Number(k); // what WeFlow's proxy does to keys
    const xml = f.xml(p, 'pc');
    const media =
      p.fixture === 'photos'
        ? [
            { url: `http://127.0.0.1:5031/api/v1/sns/media/proxy?url=x&key=${rounded(KEYS.photo1)}`, token: 'WSEN1', key: rounded(KEYS.photo1) },
            { url: `http://127.0.0.1:5031/api/v1/sns/media/proxy?url=y&key=${rounded(KEYS.photo2)}`, token: 'WSEN3', key: rounded(KEYS.photo2) },
          ]
        : [];
    return {
      id: p.id,
      tid: `-${p.id.slice(0, 18)}`,
      username: p.username,
      nickname: p.nickname,
      avatarUrl: 'https://wx.qlogo.cn/mmhead/ver_1/abc/132',
      createTime: p.createTime,
      contentDesc: p.text ?? '',
      type: p.type,
      media,
      likes: p.fixture === 'photos' ? ['Bob', 'Carol'] : [],
      comments: p.fixture === 'video' ? [{ id: '30', nickname: 'Dave', content: 'JSON 里的评论', refCommentId: '' }] : [],
      ...(xml ? { rawXml: xml } : {}),
    };
  };

  const weflow = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://weflow');
    count(`weflow ${url.pathname}`);
    if (url.pathname === '/health') return json(res, 200, { status: 'ok' });
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('access_token');
    if (token !== f.token) return json(res, 401, { error: 'Unauthorized: Invalid or missing access_token' });
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.setHeader('Allow', 'GET');
      return json(res, 405, { error: 'Method Not Allowed. Allowed: GET' });
    }
    if (url.pathname === '/api/v1/sns/usernames') return json(res, 200, { success: true, usernames: [...new Set(f.posts.map((p) => p.username))] });
    if (url.pathname !== '/api/v1/sns/timeline') return json(res, 404, { error: 'Not found' });
    const q = url.searchParams;
    const limit = Math.min(200, Math.max(1, Number(q.get('limit') ?? 20)));
    const offset = Number(q.get('offset') ?? 0);
    const users = (q.get('usernames') ?? '').split(',').filter(Boolean);
    const keyword = q.get('keyword') ?? '';
    const end = q.get('end') ? Number(q.get('end')) : Infinity;
    const start = q.get('start') ? Number(q.get('start')) : 0;
    const list = f.posts
      .filter((p) => (!users.length || users.includes(p.username)) && p.createTime <= end && p.createTime >= start)
      .filter((p) => !keyword || (p.text ?? f.xml(p, 'server')).includes(keyword))
      .sort((a, b) => b.createTime - a.createTime)
      .slice(offset, offset + limit)
      .map(weflowPost);
    json(res, 200, { success: true, count: list.length, timeline: list });
  };

  // E云 -----------------------------------------------------------------------------------------
  const PAGE = 2;
  const bare = (s: string) => s.replace(/"(id|maxId)":"(\d+)"/g, '"$1":$2');
  const ecloudItem = (p: FakePost, flavour: 'list' | 'server') => ({
    id: p.id,
    userName: p.username,
    nickName: p.nickname,
    createTime: p.createTime,
    objectDesc: { xml: f.xml(p, flavour) || `<TimelineObject><id>${p.id}</id><username>${p.username}</username><createTime>${p.createTime}</createTime><contentDesc>${p.text ?? ''}</contentDesc><ContentObject><contentStyle>2</contentStyle></ContentObject></TimelineObject>`, len: 1 },
    likeCount: p.fixture === 'photos' ? 1 : 0,
    snsLikes: p.fixture === 'photos' ? [{ userName: 'wxid_bob02', nickName: 'Bob', type: 1, createTime: p.createTime }] : [],
    commentCount: p.fixture === 'photos' ? 2 : 0,
    snsComments:
      p.fixture === 'photos'
        ? [
            { userName: 'wxid_bob02', nickName: 'Bob', type: 2, createTime: p.createTime, commentId: 20, replyCommentId: 0, deleteFlag: 0, isNotRichText: 1, content: '好看' },
            { userName: 'wxid_alice01', nickName: 'Alice', type: 2, createTime: p.createTime, commentId: 21, replyCommentId: 20, deleteFlag: 0, isNotRichText: 1, content: '谢谢' },
          ]
        : [],
  });

  const ecloud = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const path = new URL(req.url ?? '/', 'http://ecloud').pathname;
    count(`ecloud ${path}`);
    f.ecloudBodies.push(raw);
    if (req.headers.authorization !== f.ecloudAuth) return json(res, 200, { message: '失败', code: '1001', data: null });
    if (f.ecloudFail) return json(res, 200, { ...f.ecloudFail, data: null });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.replace(/"(maxId|id)":(\d+)/g, '"$1":"$2"')) as Record<string, unknown>;
    } catch {
      return json(res, 200, { message: '参数错误', code: '1001', data: null });
    }
    if (body.wId !== f.ecloudWid) return json(res, 200, { message: '实例不存在', code: '1001', data: null });
    if (path === '/getSnsObject') {
      if (f.detailFail) return json(res, 200, { ...f.detailFail, data: null });
      const p = f.posts.find((x) => x.id === body.id && x.username === body.wcId);
      if (!p) return json(res, 200, { message: '朋友圈不存在', code: '1001', data: null });
      return json(res, 200, bare(JSON.stringify({ message: '成功', code: '1000', data: ecloudItem(p, 'server') })));
    }
    if (path !== '/getCircle' && path !== '/getFriendCircle') return json(res, 404, { message: 'not found', code: '1001', data: null });
    const maxId = String(body.maxId ?? '0');
    const list = f.posts
      .filter((p) => path === '/getCircle' || p.username === body.wcId)
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1))
      .filter((p) => maxId === '0' || BigInt(p.id) < BigInt(maxId))
      .slice(0, PAGE);
    const data = { sns: list.map((p) => ecloudItem(p, 'list')), firstPageMd5: maxId === '0' ? '087ed4f0b41e46e3' : null };
    json(res, 200, bare(JSON.stringify({ message: '成功', code: '1000', data })));
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '/';
      if (url.startsWith('/ecloud/')) {
        req.url = url.slice('/ecloud'.length);
        return ecloud(req, res, Buffer.concat(chunks).toString('utf8'));
      }
      weflow(req, res);
    });
  });
  const listening = await listenLoopback(server);
  f.weflowUrl = listening.url;
  f.ecloudUrl = `${listening.url}/ecloud`;
  f.close = async () => {
    await listening.close();
    await cdn.close();
  };
  return f;
}

export function useFakeMoments(): { readonly m: FakeMoments } {
  const h = useFake(startFakeMoments);
  return {
    get m() {
      return h.fake;
    },
  };
}
