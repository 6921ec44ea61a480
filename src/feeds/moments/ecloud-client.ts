import { ecloudCall, ecloudNotConfigured } from '../../upstream/ecloud.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { parsePostXml, type MomentsPost } from './post.js';
import { arr, obj, str, unixSeconds } from '../../upstream/shape.js';
import type { MomentsProvider, TimelineQuery } from './provider.js';

const NAME = 'ecloud';
const U64 = /^\d{1,20}$/;

/**
 * objectDesc as E云 sends it: `{xml, len}`, or a protobuf-text string (`buffer: "<TimelineObject>…"`)
 * with UTF-8 bytes as C octal escapes (notes/moments.md §4). Returns the XML text.
 */
export function objectDescXml(v: unknown): string | undefined {
  if (typeof v === 'object' && v) return str(obj(v).xml) ?? str(obj(v).buffer);
  if (typeof v !== 'string') return undefined;
  if (v.trimStart().startsWith('<')) return v;
  const m = /buffer:\s*"((?:\\.|[^"\\])*)"/s.exec(v);
  if (!m) return undefined;
  const bytes: number[] = [];
  const s = m[1]!;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const oct = /^[0-7]{1,3}/.exec(s.slice(i + 1));
    if (oct) {
      bytes.push(parseInt(oct[0], 8) & 0xff);
      i += oct[0].length;
      continue;
    }
    const e = s[++i] ?? '';
    bytes.push(...Buffer.from(e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A JSON body with ids as bare numbers built from their decimal strings: never through a JS number. */
function body(fields: Record<string, string>, numbers: Record<string, string>): string {
  const parts = Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  for (const [k, v] of Object.entries(numbers)) {
    if (!U64.test(v)) throw new Error(`not a u64: ${k}`);
    parts.push(`${JSON.stringify(k)}:${v}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * E云 (seed 003): `/getCircle` (everyone) and `/getFriendCircle` (one friend), paged by firstPageMd5 and
 * maxId (the last id of the previous page); `/getSnsObject` for a post's media, since list XML links
 * "cannot be viewed directly". Posts feedgate already keeps are not asked for again.
 */
export class EcloudMomentsProvider implements MomentsProvider {
  readonly name = NAME;

  constructor(
    private readonly http: UpstreamClient,
    private readonly opts: { auth: string; wid: string; onDetailFailed?: (id: string, err: unknown) => void },
  ) {}

  private call(path: string, json: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return ecloudCall(this.http, this.opts.auth, path, json, signal);
  }

  private async toPost(item: Record<string, unknown>, q: TimelineQuery, signal?: AbortSignal): Promise<MomentsPost | undefined> {
    const id = str(item.id);
    if (!id || !U64.test(id)) return undefined;
    const extras = {
      id,
      username: str(item.userName),
      nickname: str(item.nickName),
      createTime: unixSeconds(item.createTime),
      likes: arr(item.snsLikes).map((l) => str(obj(l).nickName) ?? str(obj(l).userName) ?? '').filter(Boolean),
      comments: (() => {
        const list = arr(item.snsComments).map(obj).filter((c) => Number(c.deleteFlag ?? 0) === 0);
        const names = new Map(list.map((c) => [str(c.commentId), str(c.nickName) ?? '']));
        return list.map((c) => {
          const replyTo = names.get(str(c.replyCommentId));
          return { nickname: str(c.nickName) ?? str(c.userName) ?? '', content: str(c.content) ?? '', ...(replyTo ? { replyTo } : {}) };
        });
      })(),
    };
    let xml = objectDescXml(item.objectDesc);
    let post = xml ? await parsePostXml(xml, extras) : undefined;
    // List XML media links cannot be fetched: take the post's details, once. One post's failing detail
    // call costs that post its media for now, never the feed.
    if (post && (post.media.length || post.link?.cover) && !(await q.known(id)) && extras.username) {
      let detail: Record<string, unknown>;
      try {
        detail = await this.call('/getSnsObject', body({ wId: this.opts.wid, wcId: extras.username }, { id }), signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        this.opts.onDetailFailed?.(id, err);
        return { ...post, partial: true };
      }
      xml = objectDescXml(detail.objectDesc) ?? xml;
      if (xml) post = (await parsePostXml(xml, extras)) ?? post;
    }
    return post;
  }

  async timeline(q: TimelineQuery, signal?: AbortSignal): Promise<MomentsPost[]> {
    if (!this.opts.auth || !this.opts.wid) throw ecloudNotConfigured(this.http);
    const targets = q.usernames.length ? q.usernames : [undefined];
    const out = new Map<string, MomentsPost>();
    for (const wcId of targets) {
      let md5 = '';
      let maxId = '0';
      for (let page = 0; page < q.pages; page++) {
        const fields: Record<string, string> = { wId: this.opts.wid, firstPageMd5: md5 };
        if (wcId) fields.wcId = wcId;
        const data = await this.call(wcId ? '/getFriendCircle' : '/getCircle', body(fields, { maxId }), signal);
        const items = arr(data.sns).map(obj);
        if (items.length === 0) break;
        for (const item of items) {
          const post = await this.toPost(item, q, signal);
          if (post && !out.has(post.id)) out.set(post.id, post);
        }
        md5 = str(data.firstPageMd5) || md5;
        const last = str(items.at(-1)!.id);
        if (!last || !U64.test(last) || last === maxId) break;
        maxId = last;
      }
    }
    const kw = q.keyword?.toLowerCase();
    return [...out.values()].filter((p) => !kw || p.text.toLowerCase().includes(kw)).sort((a, b) => b.createTime - a.createTime);
  }
}
