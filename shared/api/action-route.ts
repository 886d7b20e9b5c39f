import { ACTION_ID_PATTERN } from '../domain/contract.js';
import type { ApiResponse } from './decision-api.js';

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const;

function refusal(statusCode: number, error: string, message: string, extraHeaders: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...extraHeaders }, body: JSON.stringify({ error, message }) };
}

/**
 * The common front of the POST APIs on one request (`/actions/{actionId}/<what>`): the route, the method, and
 * a well-formed actionId, or the answer that says which of them was wrong.
 */
export function matchActionRoute(
  request: { method: string; path: string },
  route: { pattern: RegExp; method: string; serves: string },
): { ok: true; actionId: string } | { ok: false; response: ApiResponse } {
  const match = route.pattern.exec(request.path);
  if (match === null) return { ok: false, response: refusal(404, 'NotFound', `no route for ${request.path}; ${route.serves}`) };
  if (request.method !== route.method) {
    return { ok: false, response: refusal(405, 'MethodNotAllowed', `${request.method} is not allowed on ${request.path}; use ${route.method}`, { allow: route.method }) };
  }
  let actionId: string;
  try {
    actionId = decodeURIComponent(match[1] ?? '');
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
    return { ok: false, response: refusal(400, 'BadRequest', 'actionId: is not valid percent-encoding') };
  }
  if (!ACTION_ID_PATTERN.test(actionId)) {
    return { ok: false, response: refusal(400, 'BadRequest', 'actionId: must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"') };
  }
  return { ok: true, actionId };
}
