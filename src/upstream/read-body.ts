import type { Readable } from 'node:stream';

/**
 * Reads a response body into one Buffer, at most `max` bytes: a larger declared Content-Length or a
 * body that grows past `max` is cut off (the stream destroyed) and undefined returned, so the caller
 * can raise its own "too large" error.
 */
export async function readCapped(body: Readable, contentLength: string | string[] | undefined, max: number): Promise<Buffer | undefined> {
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  if (Number.isFinite(declared) && declared > max) {
    body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
