import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { listenLoopback } from '../helpers/listen.js';
import { encrypt, sampleJpeg, sampleMp4 } from '../helpers/media.js';
import { startFakeCdn, type FakeCdn } from './cdn.js';

/**
 * Fake WeChat Channels upstreams on loopback ports, built from notes/channels-mp.md §2.3 and seeds
 * 000 / 003: the downloader's local API (GET, `{code, msg, data: {errCode, errMsg, data, payload}}`,
 * always HTTP 200) and E云 (POST, `{code: "1000"|"1001", message, data}`). Both serve the same account
 * whose video sits encrypted on a fake CDN behind a token that `rotate()` changes, as real CDN links
 * expire.
 */

export const ACCOUNT = 'v2_060000231003b20faec8c4e48e1dc3ddcd03ec3cb077bb11b3c6c9a42ee3cea8073a64e6e2bd@finder';
export const VIDEO_ID = '14819096805414996657';
export const VIDEO_NONCE = '9100000000000000002';
export const DECODE_KEY = '7886446226772543123';
/** Contains + / = so that a marker that is not percent-encoded breaks. */
export const PAGE2_MARKER = 'CAE+SBg/gAEAAYAA==';

/**
 * empty: `{"code":0,"data":{}}` (seen when the page is half loaded); rate429: HTTP 429 with Retry-After 1;
 * drip: headers at once, then one byte of JSON every 100 ms, for ever.
 */
/** vanished: the account answers like an unknown one (no posts, no contact). */
export type ChannelsMode = 'ok' | 'closed' | 'errcode' | 'garbage' | 'timeout' | 'ecloud-fail' | 'empty' | 'rate429' | 'drip' | 'vanished';

export interface FakeChannels {
  wxcdUrl: string;
  ecloudUrl: string;
  ecloudAuth: string;
  ecloudWid: string;
  mode: ChannelsMode;
  token: string;
  rotate(): void;
  calls: Map<string, number>;
  /** Delay before every downloader answer, in ms. */
  delayMs: number;
  /** Requests whose connection the client closed before the answer was complete. */
  abandoned: number;
  /** When set, every object's createtime is this instead (out-of-range times). */
  times?: unknown;
  /** When set, the downloader answers with this HTTP status and a JSON body without its envelope. */
  httpStatus?: number;
  close(): Promise<void>;
}

export async function startFakeChannels(cdn: FakeCdn, video: { encrypted: Buffer; plain: Buffer }): Promise<FakeChannels> {
  let generation = 1;
  const fake: FakeChannels = {
    wxcdUrl: '',
    ecloudUrl: '',
    ecloudAuth: 'ecloud-auth-value',
    ecloudWid: 'wid-0001',
    mode: 'ok',
    token: 'TOKEN1',
    rotate() {
      generation++;
      fake.token = `TOKEN${generation}`;
    },
    calls: new Map(),
    abandoned: 0,
    delayMs: 0,
    close: async () => {},
  };

  // The CDN: the encrypted original, a spec variant, and a plain (unencrypted) video; album pictures.
  const tokenOk = (u: URL) => u.searchParams.get('token') === fake.token && u.searchParams.get('encfilekey') !== null;
  cdn.files.set('/251/20302/stodownload', {
    body: video.encrypted,
    type: 'application/octet-stream',
    // "Original" requests carry only encfilekey, token, basedata, sign; spec variants the whole URL plus the flag.
    validate: (u) => tokenOk(u) && (u.searchParams.get('X-snsvideoflag') === 'xWT111' || !u.searchParams.has('hy')),
  });
  cdn.files.set('/251/20302/plain', { body: video.plain, type: 'video/mp4', validate: tokenOk });

  const contact = { username: ACCOUNT, nickname: '示例频道', headUrl: `${cdn.url}/head/132`, signature: '每天一个小视频', coverImgUrl: '' };
  const objects = () => [
    {
      id: VIDEO_ID,
      objectNonceId: `${VIDEO_NONCE}_0_0_2_33_0000000000000000_00000000-0000-0000-0000-000000000000`,
      createtime: 1735689600,
      likeCount: 128,
      commentCount: 12,
      contact,
      objectDesc: {
        description: '第一行是标题 #美食 #旅行\n第二行 <b>不是</b> HTML & 更多',
        mediaType: 4,
        media: [
          {
            url: `${cdn.url}/251/20302/stodownload?encfilekey=ENC1&hy=SZ&idx=1&m=&uzid=2`,
            urlToken: `&token=${fake.token}&basedata=BD&sign=SG&web=1&extg=10f0000&svrnonce=1735689600`,
            decodeKey: DECODE_KEY,
            mediaType: 4,
            videoPlayLen: 42,
            width: 1080,
            height: 1920,
            fileSize: video.encrypted.length,
            coverUrl: `${cdn.url}/251/20304/cover?encfilekey=C1&token=${fake.token}&idx=1`,
            thumbUrl: `${cdn.url}/251/20350/thumb?encfilekey=T1&token=${fake.token}`,
            spec: [
              { fileFormat: 'xWT111', width: 720, height: 1280, durationMs: 42033 },
              { fileFormat: 'xWT112', width: 576, height: 1024, durationMs: 42033 },
            ],
          },
        ],
      },
    },
    {
      id: '14600000000000000002',
      objectNonceId: '9100000000000000003_0_146_0_0',
      createtime: 1735600000,
      contact,
      objectDesc: {
        description: '',
        mediaType: 2,
        media: [
          { url: `${cdn.url}/pics/1.jpg?token=${fake.token}`, urlToken: '', mediaType: 2, coverUrl: `${cdn.url}/pics/1.jpg?token=${fake.token}` },
          { url: `${cdn.url}/pics/2.jpg?token=${fake.token}`, urlToken: '', mediaType: 2 },
        ],
      },
    },
    {
      id: '14600000000000000003',
      objectNonceId: '9100000000000000004_0_146_0_0',
      createtime: 1735500000,
      contact,
      objectDesc: { description: '今晚八点直播', mediaType: 9, media: [{ url: `${cdn.url}/live/cover.jpg`, urlToken: '', coverUrl: `${cdn.url}/live/cover.jpg` }] },
      liveInfo: { streamUrl: 'rtmp://example/live' },
    },
    {
      id: '14600000000000000004',
      objectNonceId: '9100000000000000005_0_146_0_0',
      createtime: 1735400000,
      contact,
      objectDesc: {
        description: '没有加密的旧视频',
        mediaType: 4,
        media: [{ url: `${cdn.url}/251/20302/plain?encfilekey=P1`, urlToken: `&token=${fake.token}&basedata=BD&sign=SG`, mediaType: 4, fileSize: video.plain.length, spec: [] }],
      },
    },
  ];
  const page = (marker: string) => {
    const all = objects().map((o) => (fake.times === undefined ? o : { ...o, createtime: fake.times }));
    return marker === PAGE2_MARKER ? { object: all.slice(2), continueFlag: 0, lastBuffer: '' } : { object: all.slice(0, 2), continueFlag: 1, lastBuffer: PAGE2_MARKER };
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const count = (key: string) => fake.calls.set(key, (fake.calls.get(key) ?? 0) + 1);

  // --- the downloader's API ---
  const wxcdOk = (inner: unknown, payload: unknown = {}) => ({ code: 0, msg: '成功', data: { errCode: 0, errMsg: 'ok', data: { BaseResponse: { Ret: 0, ErrMsg: { String: '' } }, ...(inner as object) }, payload } });
  const wxcd = createServer((req: IncomingMessage, res: ServerResponse) => {
    count(`wxcd ${new URL(req.url ?? '/', 'http://wxcd').pathname}`);
    if (fake.delayMs > 0) setTimeout(() => answerWxcd(req, res), fake.delayMs);
    else answerWxcd(req, res);
  });
  const answerWxcd = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://wxcd');
    if (fake.httpStatus) return send(res, fake.httpStatus, { error: 'unauthorized' });
    if (fake.mode === 'closed') return send(res, 200, { code: 400, msg: 'please initialize the client socket connection first' });
    if (fake.mode === 'timeout') return send(res, 200, { code: 400, msg: 'request timed out' });
    if (fake.mode === 'garbage') return send(res, 200, '{"code":0,"data":{');
    if (fake.mode === 'errcode') return send(res, 200, { code: 0, msg: '成功', data: { errCode: 1011, errMsg: 'feed not found', payload: {} } });
    if (fake.mode === 'empty') return send(res, 200, { code: 0, data: {} });
    if (fake.mode === 'rate429') {
      res.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '1' });
      return res.end('too many requests');
    }
    if (fake.mode === 'drip') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => {
        clearInterval(timer);
        if (!res.writableFinished) fake.abandoned++;
      });
      return res.write('{"code":0,');
    }
    if (url.pathname === '/api/channels/contact/feed/list') {
      const username = url.searchParams.get('username') ?? '';
      if (!username.endsWith('@finder')) return send(res, 200, { code: 400, msg: 'bad username' });
      if (username === ACCOUNT && fake.mode !== 'vanished') return send(res, 200, wxcdOk({ ...page(url.searchParams.get('next_marker') ?? ''), contact, feedsCount: 4 }, { username }));
      if (username === 'v2_empty@finder') return send(res, 200, wxcdOk({ object: [], contact: { ...contact, username, nickname: '空账号' }, continueFlag: 0, lastBuffer: '' }));
      return send(res, 200, wxcdOk({ object: [], continueFlag: 0, lastBuffer: '' }));
    }
    if (url.pathname === '/api/channels/feed/profile') {
      const oid = (url.searchParams.get('oid') ?? '').split('_')[0];
      const object = objects().find((o) => o.id === oid);
      if (!object) return send(res, 200, { code: 0, msg: '成功', data: { errCode: 1011, errMsg: 'object not found', payload: {} } });
      return send(res, 200, wxcdOk({ object, commentCount: 12, commentInfo: [] }, { objectid: oid, objectNonceId: url.searchParams.get('nid') }));
    }
    if (url.pathname === '/api/channels/contact/search') {
      const keyword = url.searchParams.get('keyword') ?? '';
      const infoList = keyword.includes('示例') ? [{ contact, highlightNickname: '<em class="highlight">示例</em>频道', friendFollowCount: 0 }] : [];
      return send(res, 200, wxcdOk({ infoList, continueFlag: 0, lastBuff: '' }, { query: keyword }));
    }
    send(res, 200, { code: 404, msg: 'not found' });
  };

  // --- E云 ---
  const ecloud = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://ecloud');
      count(`ecloud ${url.pathname}`);
      if (req.method !== 'POST') return send(res, 405, { code: '1001', message: 'method not allowed', data: null });
      if (req.headers.authorization !== fake.ecloudAuth) return send(res, 200, { code: '1001', message: '登录信息失效，请重新登录', data: null });
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(res, 200, { code: '1001', message: '参数错误', data: null });
      }
      if (body.wId !== fake.ecloudWid) return send(res, 200, { code: '1001', message: '实例不存在', data: null });
      if (fake.mode === 'ecloud-fail') return send(res, 200, { code: '1001', message: '请求过于频繁', data: null });
      if (url.pathname === '/finderUserHome') {
        if (body.userName !== ACCOUNT) return send(res, 200, { code: '1000', message: '成功', data: { object: [], pageCode: '' } });
        const p = page(String(body.pageCode ?? ''));
        return send(res, 200, { code: '1000', message: '成功', data: { contact, object: p.object, pageCode: p.lastBuffer, continueFlag: p.continueFlag } });
      }
      if (url.pathname === '/newSearchFinder') {
        return send(res, 200, { code: '1000', message: '成功', data: { infoList: String(body.content).includes('示例') ? [{ contact }] : [] } });
      }
      send(res, 404, { code: '1001', message: 'not found', data: null });
    });
  });

  const servers = [await listenLoopback(wxcd), await listenLoopback(ecloud)];
  fake.wxcdUrl = servers[0]!.url;
  fake.ecloudUrl = servers[1]!.url;
  fake.close = async () => {
    for (const s of servers) await s.close();
  };
  return fake;
}

/**
 * The fake Channels upstreams for a test file, with their fake CDN (the encrypted video and the
 * pictures the objects point at), reset before each test. Call at the top level of a test file.
 */
export function useFakeChannels() {
  const ctx = {} as { cdn: FakeCdn; fake: FakeChannels; plain: Buffer };
  beforeAll(async () => {
    ctx.plain = sampleMp4();
    ctx.cdn = await startFakeCdn();
    const jpeg = await sampleJpeg(80, 60);
    for (const p of ['/head/132', '/pics/1.jpg', '/pics/2.jpg', '/live/cover.jpg', '/251/20304/cover', '/251/20350/thumb']) ctx.cdn.files.set(p, { body: jpeg, type: 'image/jpeg' });
    ctx.fake = await startFakeChannels(ctx.cdn, { encrypted: encrypt(ctx.plain, BigInt(DECODE_KEY)), plain: ctx.plain });
  });
  afterAll(async () => {
    await ctx.fake?.close();
    await ctx.cdn?.close();
  });
  beforeEach(() => {
    ctx.fake.mode = 'ok';
    ctx.fake.delayMs = 0;
    ctx.fake.abandoned = 0;
    ctx.fake.times = undefined;
    ctx.fake.httpStatus = undefined;
    ctx.fake.calls.clear();
  });
  return ctx;
}
