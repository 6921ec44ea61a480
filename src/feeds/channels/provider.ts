import { arr, num, obj, str, unixSeconds } from '../../upstream/shape.js';

/**
 * What both Channels upstreams (the downloader's local API and E云) are mapped to, and the interface
 * the feed and the play route use. Ids are decimal strings: they exceed 2^53.
 */

export interface ChannelsSpec {
  fileFormat: string;
  width?: number;
  height?: number;
  durationMs?: number;
}

export interface ChannelsMedia {
  /** Full download URL (url + urlToken). */
  url: string;
  decodeKey?: string;
  coverUrl?: string;
  thumbUrl?: string;
  fileSize?: number;
  /** Seconds. */
  duration?: number;
  width?: number;
  height?: number;
  spec: ChannelsSpec[];
}

export interface ChannelsAccount {
  username: string;
  nickname: string;
  headUrl?: string;
  signature?: string;
}

export interface ChannelsObject {
  id: string;
  /** Numeric nonce (first segment of objectNonceId). */
  nonce: string;
  createtime?: number;
  description: string;
  /** 2 picture album, 4 video, 9 live. */
  mediaType: number;
  author?: ChannelsAccount;
  media: ChannelsMedia[];
}

export interface ChannelsPage {
  account?: ChannelsAccount;
  objects: ChannelsObject[];
  /** Marker for the next page, when there is one. */
  next?: string;
}

export interface ChannelsProvider {
  readonly name: string;
  feedList(username: string, marker?: string, signal?: AbortSignal): Promise<ChannelsPage>;
  /** One object with fresh media URLs and token; `username` helps providers without a profile call. */
  profile(oid: string, nid: string, username?: string, signal?: AbortSignal): Promise<ChannelsObject>;
  search(keyword: string, signal?: AbortSignal): Promise<ChannelsAccount[]>;
}

/** `username` with the @finder suffix the upstream expects. */
export const finderName = (u: string) => (u.endsWith('@finder') ? u : `${u}@finder`);


export function readAccount(raw: unknown): ChannelsAccount | undefined {
  const c = obj(raw);
  const username = str(c.username) ?? str(c.userName);
  if (!username) return undefined;
  return { username, nickname: str(c.nickname) ?? str(c.nickName) ?? username, headUrl: (str(c.headUrl) ?? str(c.headImgUrl)) || undefined, signature: str(c.signature) || undefined };
}

function readMedia(raw: unknown): ChannelsMedia | undefined {
  const m = obj(raw);
  const url = str(m.url);
  if (!url) return undefined;
  return {
    url: url + (str(m.urlToken) ?? ''),
    decodeKey: str(m.decodeKey) || undefined,
    coverUrl: str(m.coverUrl) || str(m.thumbUrl) || undefined,
    thumbUrl: str(m.thumbUrl) || undefined,
    fileSize: num(m.fileSize),
    duration: num(m.videoPlayLen),
    width: num(m.width),
    height: num(m.height),
    spec: arr(m.spec)
      .map((s) => obj(s))
      .filter((s) => str(s.fileFormat))
      .map((s) => ({ fileFormat: str(s.fileFormat)!, width: num(s.width), height: num(s.height), durationMs: num(s.durationMs) })),
  };
}

/** A raw WeChat finder object (list item or profile object); undefined when it has no id. */
export function readObject(raw: unknown): ChannelsObject | undefined {
  const o = obj(raw);
  const id = str(o.id) ?? str(o.objectId);
  if (!id || !/^\d{1,20}$/.test(id)) return undefined;
  const desc = obj(o.objectDesc);
  const description = str(desc.description) ?? str(obj(desc.flowCardDesc).description) ?? str(obj(desc.finderNewlifeDesc).richTextTitle) ?? '';
  const media = arr(desc.media)
    .map(readMedia)
    .filter((m): m is ChannelsMedia => !!m);
  return {
    id,
    nonce: (str(o.objectNonceId) ?? '').split('_')[0] ?? '',
    createtime: unixSeconds(o.createtime ?? o.createTime),
    description,
    mediaType: num(desc.mediaType) ?? num(obj(arr(desc.media)[0]).mediaType) ?? 4,
    author: readAccount(o.contact),
    media,
  };
}

