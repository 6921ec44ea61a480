/**
 * Channels page links carry object and nonce ids as URL-safe base64 (no padding) of the 8-byte
 * big-endian uint64 (notes/channels-mp.md §2.2): 14819096805414996657 <-> "zagCB5LjCrE".
 */
export function idToBase64(id: string): string {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(id)));
  return buf.toString('base64url');
}

export function base64ToId(b64: string): string {
  const buf = Buffer.from(b64, 'base64url');
  if (buf.length !== 8) throw new Error(`not an 8-byte id: ${b64}`);
  return buf.readBigUInt64BE().toString();
}

export const U64 = /^\d{1,20}$/;

export function feedPageUrl(id: string, nonce: string): string {
  return `https://channels.weixin.qq.com/web/pages/feed?oid=${idToBase64(id)}&nid=${idToBase64(nonce)}`;
}
