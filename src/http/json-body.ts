import type { Context } from 'koa';
import { HttpError, badRequest } from './errors.js';

/**
 * A small JSON request body as an object: 415 when it is not JSON, 413 past `maxBytes`, 400 when it
 * does not parse or is not an object. Read here rather than with a body-parser package: the few
 * POST routes take a handful of fields.
 */
export async function readJsonBody(ctx: Context, maxBytes = 64 * 1024): Promise<Record<string, unknown>> {
  const type = ctx.get('content-type');
  if (type && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type) && !/^text\/plain\b/i.test(type)) {
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as JSON (Content-Type: application/json)');
  }
  const text = (await readTextBody(ctx, maxBytes)).trim();
  if (!text) throw badRequest('the body is empty; send a JSON object');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('the body is not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw badRequest('the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** A small request body as text (UTF-8): 413 past `maxBytes`, whatever Content-Length claims. */
export async function readTextBody(ctx: Context, maxBytes: number): Promise<string> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > maxBytes) throw new HttpError(413, 'BODY_TOO_LARGE', `the body is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, 'BODY_TOO_LARGE', `the body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
