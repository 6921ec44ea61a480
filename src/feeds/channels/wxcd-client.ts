import { HttpError } from '../../http/errors.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { UpstreamError, httpStatusError } from '../../upstream/errors.js';
import { arr, obj, str } from '../../upstream/shape.js';
import { finderName, readAccount, readObject, type ChannelsAccount, type ChannelsObject, type ChannelsPage, type ChannelsProvider } from './provider.js';

const NAME = 'wxcd';
const PAGE_CLOSED = /initiali[sz]e the client socket|初始化客户端\s*socket/i;

/**
 * The WeChat Channels downloader's local API (seed 000; notes/channels-mp.md §2). Always HTTP 200;
 * `{code, msg, data: {errCode, errMsg, data, payload}}`. It works only while a Channels page is open
 * inside desktop WeChat, and says so with "initialize the client socket connection first".
 */
export class WxcdProvider implements ChannelsProvider {
  readonly name = NAME;

  constructor(private readonly http: UpstreamClient) {}

  private async call(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    // The downloader always answers 200; anything else is something in front of it, or another program.
    const res = await this.http.json({ path, query, signal }, (status) =>
      status === 200
        ? undefined
        : httpStatusError(NAME, 'the Channels downloader', status, {
            refused: 'check WXCD_API_URL: it should point at the downloader itself, not at a proxy or page that asks for a login',
            other: 'check that the downloader is running and that WXCD_API_URL points at it',
          }),
    );
    const env = obj(res.data);
    const code = env.code;
    const msg = str(env.msg) ?? '';
    if (code !== 0 && code !== '0') {
      if (PAGE_CLOSED.test(msg)) {
        throw new UpstreamError(NAME, 'unavailable', 503, 'CHANNELS_PAGE_CLOSED', 'the Channels page is not open in WeChat: open (or refresh) a Channels page in desktop WeChat so the downloader can reach it, then retry', { 'Retry-After': '30' });
      }
      if (/timed? ?out|超时/i.test(msg)) throw new UpstreamError(NAME, 'timeout', 504, 'UPSTREAM_TIMEOUT', `the Channels downloader timed out (${msg})`);
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `the Channels downloader answered code ${String(code)}: ${msg || 'no message'}`);
    }
    const data = obj(env.data);
    const errCode = data.errCode;
    if (errCode !== undefined && errCode !== 0 && errCode !== '0') {
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `WeChat answered errCode ${String(errCode)}: ${str(data.errMsg) ?? 'no message'}`);
    }
    const inner = obj(data.data);
    const ret = obj(inner.BaseResponse).Ret;
    if (ret !== undefined && ret !== 0 && ret !== '0') {
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `WeChat answered Ret ${String(ret)}: ${str(obj(obj(inner.BaseResponse).ErrMsg).String) || 'no message'}`);
    }
    return inner;
  }

  async feedList(username: string, marker?: string, signal?: AbortSignal): Promise<ChannelsPage> {
    const inner = await this.call('/api/channels/contact/feed/list', { username: finderName(username), next_marker: marker ?? '' }, signal);
    // `{"code":0,"data":{}}` happens (a half-loaded page): that is no answer, not an empty account.
    if (!Array.isArray(inner.object) && !inner.contact) {
      throw new UpstreamError(NAME, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'the Channels downloader answered without a feed list; refresh the Channels page in desktop WeChat if this persists');
    }
    const objects = arr(inner.object).map(readObject).filter((o): o is ChannelsObject => !!o);
    const account = readAccount(inner.contact) ?? objects[0]?.author;
    // Neither posts nor a profile: most likely no such account, but not said in so many words, so a feed
    // that had posts keeps its last good copy (an UpstreamError may be covered by it).
    if (!account && objects.length === 0) throw new UpstreamError(NAME, 'status', 404, 'NOT_FOUND', `the Channels downloader lists no Channels account ${finderName(username)} (no posts, no profile); check the account id`);
    const more = inner.continueFlag === 1 || inner.continueFlag === '1';
    const next = str(inner.lastBuffer);
    return { account, objects, next: more && next ? next : undefined };
  }

  async profile(oid: string, nid: string, _username?: string, signal?: AbortSignal): Promise<ChannelsObject> {
    const inner = await this.call('/api/channels/feed/profile', { oid, nid }, signal);
    const object = readObject(inner.object);
    if (!object) throw new HttpError(404, 'NOT_FOUND', `Channels object ${oid} was not found`);
    return object;
  }

  async search(keyword: string, signal?: AbortSignal): Promise<ChannelsAccount[]> {
    const inner = await this.call('/api/channels/contact/search', { keyword }, signal);
    return arr(inner.infoList)
      .map((i) => readAccount(obj(i).contact))
      .filter((a): a is ChannelsAccount => !!a);
  }
}
