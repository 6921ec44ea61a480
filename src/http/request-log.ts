const SECRET_PARAMS = /([?&](?:token|access_token|key|sig|sign|signature|encfilekey|pass_ticket|appmsg_token|uin|x-expires|auth_key)=)[^&#]*/gi;

/**
 * Strips credentials from a URL before it is logged, including those inside an encoded URL parameter
 * (a CDN link's token in /proxy?url=…).
 */
export function redactUrl(url: string): string {
  if (!url.includes('=')) return url;
  if (url.length > 2048) return redact(url);
  // Readers ask for the same URLs all day: each is redacted once.
  let out = redacted.get(url);
  if (out === undefined) {
    if (redacted.size >= 1000) redacted.clear();
    redacted.set(url, (out = redact(url)));
  }
  return out;
}

const redacted = new Map<string, string>();

function redact(url: string): string {
  return url
    .replace(/([?&]url=)([^&#]*)/gi, (_m, name: string, value: string) => {
      let inner: string;
      try {
        inner = decodeURIComponent(value.replace(/\+/g, ' '));
      } catch {
        return `${name}[unreadable]`;
      }
      return name + encodeURIComponent(inner.replace(SECRET_PARAMS, '$1[redacted]'));
    })
    .replace(SECRET_PARAMS, '$1[redacted]');
}
