/** Tencent's own CDN hosts serve https; anything else (a mirror, a test server) keeps its scheme. */
const TENCENT_CDN = /(^|\.)(qpic\.cn|qlogo\.cn|qq\.com|wechat\.com|weixin\.com|gtimg\.com)$/i;

/**
 * Moments media URL rules (notes/moments.md §2.2): https on Tencent hosts; an image's thumbnail size
 * suffix (/150, /200, /480) becomes /0 (the original); the element's `token` attribute replaces any
 * token/idx in the URL, with idx=1, after the other parameters for images and first for videos.
 * Without the token the CDN answers 400. Undefined for what is not an http(s) URL.
 */
export function momentsMediaUrl(raw: string, token: string | undefined, kind: 'image' | 'video'): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.protocol === 'http:' && TENCENT_CDN.test(u.hostname)) u.protocol = 'https:';
  if (kind === 'image') u.pathname = u.pathname.replace(/\/(150|200|480)$/, '/0');
  if (token) {
    const rest = [...u.searchParams].filter(([k]) => k !== 'token' && k !== 'idx');
    const auth: Array<[string, string]> = [
      ['token', token],
      ['idx', '1'],
    ];
    u.search = new URLSearchParams(kind === 'image' ? [...rest, ...auth] : [...auth, ...rest]).toString();
  }
  return u.href;
}
