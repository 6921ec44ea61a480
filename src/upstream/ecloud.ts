import type { UpstreamClient } from './client.js';
import { UpstreamError, httpStatusError } from './errors.js';
import { obj, str } from './shape.js';

/**
 * One E云 call (seed 003), for every source that uses E云: POST JSON with `Authorization: <ECLOUD_AUTH>`,
 * answered `{code: "1000" | "1001", message (or msg), data}`. Returns `data`; anything else is an
 * UpstreamError of the calling client that names the setting to check. POST is not retried by the
 * client: these calls are reads, but E云 may count them.
 */
export async function ecloudCall(http: UpstreamClient, auth: string, path: string, body: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
  const res = await http.json({ method: 'POST', path, body, headers: { 'content-type': 'application/json', authorization: auth }, signal }, (status) =>
    status < 400 ? undefined : httpStatusError(http.name, 'E云', status, { refused: 'check ECLOUD_AUTH and ECLOUD_WID', other: 'check ECLOUD_API_URL and that E云 is running' }),
  );
  const env = obj(res.data);
  const code = str(env.code);
  if (code !== '1000') {
    const message = str(env.message) ?? str(env.msg) ?? 'no message';
    throw new UpstreamError(http.name, 'status', 502, 'UPSTREAM_ERROR', `E云 answered code ${code ?? '(none)'}: ${message.slice(0, 200)} (an expired login shows up here: check ECLOUD_WID)`);
  }
  return obj(env.data);
}

/** E云 needs both; said before any call. */
export function ecloudNotConfigured(http: UpstreamClient): UpstreamError {
  return new UpstreamError(http.name, 'auth', 502, 'ECLOUD_NOT_CONFIGURED', 'E云 needs ECLOUD_AUTH and ECLOUD_WID (the instance id changes at every re-login)');
}
