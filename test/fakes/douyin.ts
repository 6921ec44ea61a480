import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { rc4 } from '../../src/feeds/douyin/sign.js';
import { listenLoopback, useFake } from '../helpers/listen.js';
import { sampleJpeg, sampleMp4 } from '../helpers/media.js';
import { startFakeCdn, type FakeCdn } from './cdn.js';

/**
 * A fake www.douyin.com web API (notes/douyin.md): it answers with an empty 200 body, as Douyin does,
 * unless the request carries the Referer, the user agent, a cookie, and a well-formed a_bogus or
 * X-Bogus over the exact query string it received (the signature's hash bytes are checked). Post lists
 * with video, image, live-photo, pinned, deleted and H.265-only posts; detail and profile answers; share
 * links that redirect; captcha pages, 403 and 429 on demand; and a CDN that wants the Referer and
 * rotates its URLs.
 */

export const SEC_UID = 'MS4wLjABAAAAtestUserSecUid0123456789abcdefghijklmnop';
export const PRIVATE_UID = 'MS4wLjABAAAAprivateUser000000000000000000000000000';
export const EMPTY_UID = 'MS4wLjABAAAAnoPostsUser0000000000000000000000000000';
export const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0';
export const COOKIE = 'sessionid=abc123; sid_tt=abc123; uid_tt=u1; msToken=ZmFrZW1zdG9rZW4xMjM0NTY3ODkw==; ttwid=1%7Cxyz';
export const IDS = { video: '7454000000000000001', note: '7453000000000000002', pinned: '7100000000000000003', deleted: '7452000000000000004', prohibited: '7451000000000000005', h265only: '7450000000000000006', older: '7300000000000000007' };

/**
 * unauthorized: HTTP 401 with a JSON body; bad-shape: status_code 0 but aweme_list is not a list;
 * no-list: status_code 0 without aweme_list and a profile without a user (a refused cookie, f2 says).
 */
export type DouyinMode = 'ok' | 'empty' | 'captcha' | 'forbidden' | 'ratelimit' | 'guest-refused' | 'unauthorized' | 'bad-shape' | 'no-list';


export interface FakeDouyin {
  url: string;
  host: string;
  cdn: FakeCdn;
  mode: DouyinMode;
  calls: Map<string, number>;
  /** Raw request targets as received, in order. */
  raw: string[];
  lastCookie?: string;
  /** Why the last refused request was refused. */
  refusals: string[];
  /** When set, every post's create_time is this instead (out-of-range times). */
  times?: unknown;
  /** How ttwid registration answers: ok, HTTP 500, or ok after `ttwidDelayMs`. */
  ttwid: 'ok' | 'fail';
  ttwidDelayMs: number;
  /** The CDN URL token currently valid; rotate() makes every earlier URL answer 403. */
  token: number;
  rotate(): void;
  video: Buffer;
  jpeg: Buffer;
  reset(): void;
  close(): Promise<void>;
}

// --- What the fake checks in a signature --------------------------------------------------------

const AB_OUT = 'Dkdpgh2ZmsQB80/MfvV36XI1R45-WUAlEixNLwoqYTOPuzKFjJnry79HbGcaStCe';
const XB_OUT = 'Dkdpgh4ZKsQB80/Mfvw36XI1R25-WUAlEi7NLboqYTOPuzmFjJnryx9HVGcaStCe';

function decode(s: string, alphabet: string): number[] {
  const out: number[] = [];
  const body = s.replace(/=+$/, '');
  for (let i = 0; i < body.length; i += 4) {
    const chunk = body.slice(i, i + 4);
    let n = 0;
    for (let k = 0; k < 4; k++) n = (n << 6) | (k < chunk.length ? alphabet.indexOf(chunk[k]!) : 0);
    const bytes = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    out.push(...bytes.slice(0, chunk.length - 1));
  }
  return out;
}

/** Whether `sig` is an a_bogus whose embedded query-hash bytes belong to exactly `query`. */
export function aBogusCovers(query: string, sig: string): boolean {
  if (!/^[A-Za-z0-9/+-]{150,200}=*$/.test(sig) || sig.length % 4) return false;
  const values = decode(sig, AB_OUT);
  const plain = rc4([0x79], values.slice(12));
  const p = createHash('sm3').update(createHash('sm3').update(`${query}cus`).digest()).digest();
  // Fields 38 and 39 (pHash[21], pHash[22]) sit at places 7 and 18 of the field order.
  return plain[0] === 44 && plain[7] === p[21] && plain[18] === p[22];
}

/** Whether `sig` is an X-Bogus whose embedded query-hash bytes belong to exactly `query`. */
export function xBogusCovers(query: string, sig: string): boolean {
  if (!/^DFSzswVY[A-Za-z0-9/-]{20}$/.test(sig)) return false;
  const payload = decode(sig, XB_OUT);
  const block = rc4([255], payload.slice(2));
  const q = createHash('md5').update(createHash('md5').update(query).digest()).digest();
  return payload[0] === 2 && payload[1] === 255 && block[0] === 64 && block[4] === q[14] && block[5] === q[15];
}

// --- Data -------------------------------------------------------------------------------------

function posts(f: FakeDouyin): Record<string, unknown>[] {
  const cdn = f.cdn.url;
  const author = { uid: '1234567890123456', sec_uid: SEC_UID, nickname: '测试博主', avatar_thumb: { uri: 'a', url_list: [`${cdn}/img/avatar.jpeg?x-expires=1&x-signature=s`] } };
  const stats = (d: number) => ({ digg_count: d, comment_count: 88, share_count: 12, collect_count: 64, play_count: 0 });
  const ok = { is_delete: false, is_prohibited: false, private_status: 0, part_see: 0 };
  const videoOf = (vid: string, h264: boolean) => ({
    play_addr: { uri: vid, width: 1080, height: 1920, data_size: 999, url_list: [`${cdn}/vod/${vid}.mp4?token=${f.token}&codec=265`] },
    cover: { uri: 'c', url_list: [`${cdn}/img/cover-${vid}.jpeg?x-expires=${f.token}&x-signature=abc%3D`] },
    origin_cover: { uri: 'c', url_list: [`${cdn}/img/cover-${vid}.jpeg?x-expires=${f.token}&x-signature=def%3D`] },
    duration: 4000,
    width: 320,
    height: 240,
    bit_rate: [
      { gear_name: 'normal_1080_0', quality_type: 1, bit_rate: 2234567, is_h265: 1, FPS: 30, format: 'mp4', play_addr: { uri: vid, width: 1080, height: 1920, data_size: 777, url_list: [`${cdn}/vod/${vid}-265.mp4?token=${f.token}`] } },
      ...(h264
        ? [
            {
              gear_name: 'adapt_720_1',
              quality_type: 24,
              bit_rate: 1103000,
              is_h265: 0,
              FPS: 30,
              format: 'mp4',
              play_addr: { uri: vid, width: 320, height: 240, data_size: f.video.length, url_list: [`${cdn}/vod/${vid}.mp4?token=${f.token}`, `${f.url}/aweme/v1/play/?video_id=${vid}&line=0&is_play_url=1`] },
            },
          ]
        : []),
    ],
  });
  const now = Math.floor(Date.now() / 1000);
  const list = [
    // Pinned and old: leads the list, but must not look new.
    { aweme_id: IDS.pinned, desc: '置顶的老视频', create_time: now - 400 * 86400, aweme_type: 0, is_top: 1, author, video: videoOf('vpin', true), statistics: stats(5), status: ok, text_extra: [] },
    { aweme_id: IDS.video, desc: '周末去爬山 #徒步 #风景\n第二行', create_time: now - 3600, aweme_type: 0, is_top: 0, author, video: videoOf('v1', true), statistics: stats(15200), status: ok, text_extra: [{ type: 1, hashtag_name: '徒步' }, { type: 1, hashtag_name: '风景' }] },
    {
      aweme_id: IDS.note,
      desc: '今日份晚霞 九宫格',
      create_time: now - 7200,
      aweme_type: 68,
      author,
      video: { play_addr: { uri: 'music', url_list: [`${cdn}/music.mp3`] }, cover: { url_list: [`${cdn}/img/n1.jpeg?x-expires=1`] }, duration: 0, bit_rate: [] },
      images: [
        { uri: 'i1', width: 1080, height: 1440, url_list: [`${cdn}/img/n1.jpeg?x-expires=${f.token}&x-signature=Aa1%3D`], download_url_list: [`${cdn}/img/n1-wm.jpeg`] },
        { uri: 'i2', width: 1080, height: 1440, url_list: [`${cdn}/img/n2.jpeg?x-expires=${f.token}&x-signature=Dd4%3D`], video: { play_addr: { uri: 'lp2', url_list: [`${cdn}/vod/lp2.mp4?token=${f.token}`] } } },
      ],
      statistics: stats(301),
      status: ok,
      text_extra: [],
    },
    { aweme_id: IDS.deleted, desc: '已删除', create_time: now - 9000, aweme_type: 0, author, video: videoOf('vdel', true), statistics: stats(1), status: { ...ok, is_delete: true } },
    { aweme_id: IDS.prohibited, desc: '违规', create_time: now - 9500, aweme_type: 0, author, video: videoOf('vpro', true), statistics: stats(1), status: { ...ok, is_prohibited: true } },
    { aweme_id: IDS.h265only, desc: '只有 H.265', create_time: now - 10000, aweme_type: 0, author, video: { ...videoOf('v265', false), is_h265: 1 }, statistics: stats(2), status: ok },
    // Page 2.
    { aweme_id: IDS.older, desc: '第二页的视频', create_time: now - 30 * 86400, aweme_type: 0, author, video: videoOf('vold', true), statistics: stats(3), status: ok, text_extra: [] },
  ];
  return f.times === undefined ? list : list.map((a) => ({ ...a, create_time: f.times }));
}

export async function startFakeDouyin(): Promise<FakeDouyin> {
  const cdn = await startFakeCdn();
  const f: FakeDouyin = {
    url: '',
    host: '',
    cdn,
    mode: 'ok',
    ttwid: 'ok',
    ttwidDelayMs: 0,
    calls: new Map(),
    raw: [],
    refusals: [],
    token: 1,
    rotate: () => {
      f.token++;
    },
    video: sampleMp4(),
    jpeg: await sampleJpeg(200, 150),
    reset: () => {},
    close: async () => {},
  };
  for (const vid of ['v1', 'vpin', 'vold', 'lp2']) {
    cdn.files.set(`/vod/${vid}.mp4`, { body: f.video, type: 'video/mp4', rule: 'douyin-referer', validate: (u) => u.searchParams.get('token') === String(f.token) });
  }
  for (const img of ['n1', 'n2', 'cover-v1', 'cover-vpin', 'cover-vold', 'cover-v265', 'avatar']) {
    cdn.files.set(`/img/${img}.jpeg`, { body: f.jpeg, type: 'image/jpeg', rule: 'douyin-referer' });
  }
  f.reset = () => {
    f.mode = 'ok';
    f.times = undefined;
    f.ttwid = 'ok';
    f.ttwidDelayMs = 0;
    f.calls.clear();
    f.raw = [];
    f.refusals = [];
    f.lastCookie = undefined;
    f.token = 1;
    cdn.hits.clear();
  };
  const count = (k: string) => f.calls.set(k, (f.calls.get(k) ?? 0) + 1);
  const json = (res: ServerResponse, body: unknown, status = 200) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  const empty = (res: ServerResponse, why: string) => {
    f.refusals.push(why);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': '0' });
    res.end();
  };

  const api = (req: IncomingMessage, res: ServerResponse, target: string) => {
    const path = target.split('?')[0]!;
    const query = target.slice(path.length + 1);
    count(path);
    f.raw.push(target);
    f.lastCookie = req.headers.cookie;
    if (f.mode === 'captcha') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end('<!DOCTYPE html><html><head><title>验证码中间页</title></head><body><div id="captcha_container"></div></body></html>');
    }
    if (f.mode === 'forbidden') {
      res.writeHead(403, { 'content-type': 'text/html' });
      return res.end('<html><body>Forbidden</body></html>');
    }
    if (f.mode === 'ratelimit') {
      res.writeHead(429, { 'content-type': 'text/plain' });
      return res.end('Too Many Requests');
    }
    if (f.mode === 'empty') return empty(res, 'mode');
    if (f.mode === 'unauthorized') return json(res, { status_code: 8, status_msg: '用户未登录' }, 401);
    if (req.headers.referer !== 'https://www.douyin.com/') return empty(res, 'referer');
    if (req.headers['user-agent'] !== UA) return empty(res, 'user agent');
    const cookie = req.headers.cookie ?? '';
    const guest = /(^|; )ttwid=/.test(cookie) && /(^|; )s_v_web_id=verify_/.test(cookie) && /(^|; )msToken=/.test(cookie);
    if (!/(^|; )sessionid=/.test(cookie) && !(guest && f.mode !== 'guest-refused')) return empty(res, 'cookie');
    const m = /^(.*)&(a_bogus|X-Bogus)=([^&]*)$/.exec(query);
    if (!m) return empty(res, 'no signature');
    const covers = m[2] === 'a_bogus' ? aBogusCovers(m[1]!, m[3]!) : xBogusCovers(m[1]!, m[3]!);
    if (!covers) return empty(res, 'signature does not cover the query');
    const params = new URLSearchParams(m[1]!.replace(/\+/g, '%2B'));
    for (const k of ['device_platform', 'aid', 'channel', 'browser_name', 'browser_version', 'msToken']) if (!params.get(k)) return empty(res, `missing ${k}`);
    const secUid = params.get('sec_user_id') ?? '';
    if (path === '/aweme/v1/web/aweme/post/') {
      if (f.mode === 'bad-shape') return json(res, { status_code: 0, has_more: 0, max_cursor: 0, aweme_list: { error: 'changed' } });
      if (f.mode === 'no-list') return json(res, { status_code: 0 });
      // A user Douyin does not know is said so, explicitly.
      if (![SEC_UID, PRIVATE_UID, EMPTY_UID].includes(secUid)) return json(res, { status_code: 8, status_msg: '用户不存在' });
      if (secUid === PRIVATE_UID || secUid === EMPTY_UID) return json(res, { status_code: 0, has_more: 0, max_cursor: 0, min_cursor: 0, aweme_list: [] });
      const all = posts(f);
      const page1 = params.get('max_cursor') === '0';
      return json(res, {
        status_code: 0,
        has_more: page1 ? 1 : 0,
        max_cursor: page1 ? 1731663000000 : 0,
        min_cursor: 1735700000000,
        aweme_list: page1 ? all.slice(0, -1) : all.slice(-1),
        log_pb: { impr_id: '20250101120000AABBCCDDEEFF001122' },
      });
    }
    if (path === '/aweme/v1/web/aweme/detail/') {
      const a = posts(f).find((x) => x.aweme_id === params.get('aweme_id'));
      return json(res, a ? { status_code: 0, aweme_detail: a } : { status_code: 0, aweme_detail: null, filter_detail: { filter_reason: 'status_deleted' } });
    }
    if (path === '/aweme/v1/web/user/profile/other/') {
      if (f.mode === 'no-list') return json(res, { status_code: 0, user: null });
      if (secUid === PRIVATE_UID) return json(res, { status_code: 0, user: { nickname: '私密用户', sec_uid: secUid, secret: 1 } });
      if (secUid === EMPTY_UID) return json(res, { status_code: 0, user: { nickname: '还没发作品', sec_uid: secUid, secret: 0, signature: '一个新号' } });
      if (secUid === SEC_UID) return json(res, { status_code: 0, user: { nickname: '测试博主', sec_uid: secUid } });
      return json(res, { status_code: 8, status_msg: '用户不存在' });
    }
    res.writeHead(404).end();
  };

  const server = createServer((req, res) => {
    const target = req.url ?? '/';
    const path = target.split('?')[0]!;
    if (path.startsWith('/aweme/v1/web/')) return api(req, res, target);
    if (path === '/aweme/v1/play/') {
      count(path);
      f.lastCookie = req.headers.cookie;
      const vid = new URL(target, 'http://x').searchParams.get('video_id');
      res.writeHead(302, { location: `${cdn.url}/vod/${vid}.mp4?token=${f.token}` });
      return res.end();
    }
    // A share link that leaves Douyin for another host (one PROXY_ALLOW_HOSTS allows, the CDN's).
    if (path === '/s/away') {
      res.writeHead(302, { location: `${cdn.url}/share/user/${SEC_UID}?sec_uid=${SEC_UID}` });
      return res.end();
    }
    // Share links: a short link redirects to the share page, which carries sec_uid.
    if (/^\/s\/\w+\/?$/.test(path)) {
      count('share');
      res.writeHead(302, { location: `/share/user/${SEC_UID}?sec_uid=${SEC_UID}&did=0&iid=0&from_ssr=1` });
      return res.end();
    }
    if (path.startsWith('/share/user/')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end('<html><body>share page</body></html>');
    }
    if (path === '/ttwid/union/register/' && req.method === 'POST') {
      count('ttwid');
      if (f.ttwid === 'fail') {
        res.writeHead(500, { 'content-type': 'text/html' });
        return res.end('<html>502 Bad Gateway</html>');
      }
      if (f.ttwidDelayMs > 0) {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'ttwid=1%7CguestTtwid123; Path=/; HttpOnly' });
          res.end('{"status_code":0}');
        }, f.ttwidDelayMs);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'ttwid=1%7CguestTtwid123; Path=/; Domain=bytedance.com; Max-Age=31536000; HttpOnly' });
      return res.end('{"status_code":0}');
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  });
  const listening = await listenLoopback(server);
  f.url = listening.url;
  f.host = listening.host;
  f.close = async () => {
    await listening.close();
    await cdn.close();
  };
  return f;
}

export function useFakeDouyin(): { readonly d: FakeDouyin } {
  const h = useFake(startFakeDouyin);
  return {
    get d() {
      return h.fake;
    },
  };
}
