import { momentsMediaUrl } from './media-url.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { UpstreamError } from '../../upstream/errors.js';
import { parsePostXml, type MomentsMedia, type MomentsPost } from './post.js';
import { arr, obj, str, unixSeconds } from '../../upstream/shape.js';
import type { MomentsProvider, TimelineQuery } from './provider.js';

const NAME = 'weflow';
const U64 = /^\d{1,20}$/;

/** WeFlow answers 401 to every call when its token is missing or wrong; said before the body is read. */
const refusal = (status: number) =>
  status === 401 || status === 403
    ? new UpstreamError(NAME, 'auth', 502, 'UPSTREAM_AUTH', `WeFlow refused the token (HTTP ${status}); set WEFLOW_TOKEN to the access token configured in WeFlow's API settings`)
    : undefined;

/** A post from WeFlow's JSON alone, for the rare one without rawXml. */
function fromJson(p: Record<string, unknown>): MomentsPost | undefined {
  const id = str(p.id);
  if (!id || !U64.test(id)) return undefined;
  const type = Number(p.type);
  const media = arr(p.media)
    .map((m): MomentsMedia | undefined => {
      const o = obj(m);
      const raw = str(o.rawUrl) ?? str(o.url) ?? '';
      const video = type === 15 || /snsvideodownload|\.mp4/.test(raw);
      const url = momentsMediaUrl(raw, str(o.token), video ? 'video' : 'image');
      const key = str(o.key);
      return url ? { kind: video ? 'video' : 'image', url, ...(key && key !== '0' && U64.test(key) ? { key } : {}) } : undefined;
    })
    .filter((m): m is MomentsMedia => !!m);
  const linkUrl = str(p.linkUrl);
  const isLink = !!linkUrl && /^https?:\/\//.test(linkUrl);
  return {
    id,
    username: str(p.username) ?? '',
    nickname: str(p.nickname) ?? str(p.username) ?? '',
    createTime: unixSeconds(p.createTime) ?? 0,
    text: str(p.contentDesc)?.trim() ?? '',
    kind: isLink ? 'link' : media.some((m) => m.kind === 'video') ? 'video' : media.length ? 'photos' : 'text',
    media: isLink ? [] : media,
    ...(isLink ? { link: { title: str(p.linkTitle) ?? '', description: '', url: linkUrl, cover: media[0] } } : {}),
    likes: [],
    comments: [],
  };
}

/**
 * WeFlow's local HTTP API (seed 001, notes/moments.md §1): `Authorization: Bearer <WEFLOW_TOKEN>`,
 * `GET /api/v1/sns/timeline`. Each post's rawXml is the source of truth (keys, tokens, sizes); the
 * JSON fills in names, likes and comments. WeFlow's own media proxy is never used (it rounds keys above
 * 2^53 and its URLs carry no token). Pages follow the `end` time cursor, dropping ids already seen.
 */
export class WeflowProvider implements MomentsProvider {
  readonly name = NAME;

  constructor(
    private readonly http: UpstreamClient,
    private readonly opts: { token: string; pageSize: number },
  ) {}

  private async page(q: TimelineQuery, end: number | undefined, signal?: AbortSignal): Promise<Record<string, unknown>[]> {
    const res = await this.http.json({
      path: '/api/v1/sns/timeline',
      query: { limit: this.opts.pageSize, usernames: q.usernames.join(',') || undefined, keyword: q.keyword || undefined, end, media: 0 },
      headers: this.auth,
      signal,
    }, refusal);
    const body = obj(res.data);
    if (res.status >= 400 || body.success === false) {
      const why = str(body.error) ?? str(body.message) ?? `HTTP ${res.status}`;
      throw new UpstreamError(NAME, 'status', 502, 'UPSTREAM_ERROR', `WeFlow answered: ${why.slice(0, 200)}`);
    }
    if (!Array.isArray(body.timeline)) throw new UpstreamError(NAME, 'bad_response', 502, 'UPSTREAM_BAD_RESPONSE', 'WeFlow answered without a timeline');
    return body.timeline.map(obj);
  }

  private get auth() {
    return { authorization: `Bearer ${this.opts.token}` };
  }

  async usernames(signal?: AbortSignal): Promise<string[]> {
    const res = await this.http.json({ path: '/api/v1/sns/usernames', headers: this.auth, signal }, refusal);
    return arr(obj(res.data).usernames)
      .map(str)
      .filter((u): u is string => !!u);
  }

  async timeline(q: TimelineQuery, signal?: AbortSignal): Promise<MomentsPost[]> {
    const out: MomentsPost[] = [];
    const seen = new Set<string>();
    let end: number | undefined;
    for (let page = 0; page < q.pages; page++) {
      const raw = await this.page(q, end, signal);
      let fresh = 0;
      for (const p of raw) {
        const xml = str(p.rawXml);
        const extras = {
          id: str(p.id),
          username: str(p.username),
          nickname: str(p.nickname),
          createTime: unixSeconds(p.createTime),
          likes: arr(p.likes).map(str).filter((s): s is string => !!s),
          comments: arr(p.comments).map((c) => {
            const o = obj(c);
            const replyTo = str(o.refNickname);
            return { nickname: str(o.nickname) ?? '', content: str(o.content) ?? '', ...(replyTo ? { replyTo } : {}) };
          }),
        };
        const post = (xml && (await parsePostXml(xml, extras))) || fromJson(p);
        if (!post || seen.has(post.id)) continue;
        // The JSON's names are resolved against contacts; the XML has only what the post carried.
        if (extras.nickname) post.nickname = extras.nickname;
        seen.add(post.id);
        out.push(post);
        fresh++;
      }
      // A short page is the last; a page of nothing new (many posts in one second) would loop.
      if (raw.length < this.opts.pageSize || fresh === 0) break;
      // The next page ends at the last post's second: posts sharing it are dropped as seen, not skipped.
      end = Math.min(...raw.map((p) => Number(p.createTime)).filter((t) => t > 0));
    }
    return out.sort((a, b) => b.createTime - a.createTime);
  }
}
