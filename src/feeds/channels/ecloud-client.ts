import { HttpError } from '../../http/errors.js';
import { ecloudCall, ecloudNotConfigured } from '../../upstream/ecloud.js';
import { UpstreamError } from '../../upstream/errors.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { arr, obj, str } from '../../upstream/shape.js';
import { finderName, readAccount, readObject, type ChannelsAccount, type ChannelsObject, type ChannelsPage, type ChannelsProvider } from './provider.js';

const NAME = 'ecloud';

export interface EcloudOptions {
  auth: string;
  wid: string;
  /** Pages of the user's home to search when resolving one object at play time. */
  resolvePages: number;
}

/**
 * The E云 iPad-protocol API (seed 003): POST JSON with `Authorization: <ECLOUD_AUTH>` and the instance
 * id `wId`; `{code: "1000" ok | "1001" fail, message|msg, data}`. The seed leaves the finder response
 * shapes open, so the mapping reads the WeChat object shape wherever it appears (data.object,
 * data.objectList, data.list, …) and takes paging from pageCode / lastBuffer.
 */
export class EcloudProvider implements ChannelsProvider {
  readonly name = NAME;

  constructor(
    private readonly http: UpstreamClient,
    private readonly opts: EcloudOptions,
  ) {}

  private async call(path: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    if (!this.opts.auth || !this.opts.wid) throw ecloudNotConfigured(this.http);
    return ecloudCall(this.http, this.opts.auth, path, JSON.stringify({ wId: this.opts.wid, ...body }), signal);
  }

  private static objectsOf(data: Record<string, unknown>): unknown[] {
    for (const k of ['object', 'objectList', 'objects', 'list', 'feeds']) if (Array.isArray(data[k])) return data[k] as unknown[];
    return arr(obj(data.data).object);
  }

  async feedList(username: string, marker?: string, signal?: AbortSignal): Promise<ChannelsPage> {
    const data = await this.call('/finderUserHome', { userName: finderName(username), pageCode: marker ?? '' }, signal);
    const objects = EcloudProvider.objectsOf(data)
      .map(readObject)
      .filter((o): o is ChannelsObject => !!o);
    const account = readAccount(data.contact) ?? readAccount(data.finderContact) ?? objects[0]?.author;
    // Neither posts nor a profile: most likely no such account, but not said in so many words, so a feed
    // that had posts keeps its last good copy (an UpstreamError may be covered by it).
    if (!account && objects.length === 0) throw new UpstreamError(NAME, 'status', 404, 'NOT_FOUND', `E云 lists no Channels account ${finderName(username)} (no posts, no profile); check the account id`);
    const next = str(data.pageCode) ?? str(data.lastBuffer);
    const flag = data.continueFlag ?? data.hasMore;
    const more = flag === undefined ? !!next : flag === 1 || flag === '1' || flag === true;
    return { account, objects, next: more && next ? next : undefined };
  }

  async profile(oid: string, nid: string, username?: string, signal?: AbortSignal): Promise<ChannelsObject> {
    if (!username) throw new HttpError(404, 'NOT_FOUND', 'E云 has no single-object call: the play link must name its account');
    let marker: string | undefined;
    for (let page = 0; page < this.opts.resolvePages; page++) {
      const p = await this.feedList(username, marker, signal);
      const found = p.objects.find((o) => o.id === oid && (!nid || !o.nonce || o.nonce === nid));
      if (found) return found;
      if (!p.next) break;
      marker = p.next;
    }
    throw new HttpError(404, 'NOT_FOUND', `Channels object ${oid} is not among the newest posts of ${finderName(username)}`);
  }

  async search(keyword: string, signal?: AbortSignal): Promise<ChannelsAccount[]> {
    const data = await this.call('/newSearchFinder', { content: keyword, type: 1 }, signal);
    const list = ['infoList', 'list', 'contacts', 'accounts'].map((k) => data[k]).find(Array.isArray) as unknown[] | undefined;
    return (list ?? [])
      .map((i) => readAccount(obj(i).contact) ?? readAccount(i))
      .filter((a): a is ChannelsAccount => !!a);
  }
}
