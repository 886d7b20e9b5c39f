import { ACTION_ID_PATTERN } from '../domain/action-id.js';
import type { DecisionStore } from '../ports/index.js';

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const ROUTE = /^\/actions\/([^/]+)\/?$/;

function json(statusCode: number, body: unknown, extraHeaders: Record<string, string> = {}): ApiResponse {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...extraHeaders },
    body: JSON.stringify(body),
  };
}

function error(statusCode: number, code: string, message: string, extraHeaders?: Record<string, string>): ApiResponse {
  return json(statusCode, { error: code, message }, extraHeaders);
}

/** `GET /actions/{actionId}`: the decision as `Action Decided` carries it, `pending` while a review is open. */
export async function answerDecisionRequest(method: string, path: string, store: Pick<DecisionStore, 'getDecision'>): Promise<ApiResponse> {
  const match = ROUTE.exec(path);
  if (match === null) return error(404, 'NotFound', `no route for ${path}; the decision API serves GET /actions/{actionId}`);
  if (method !== 'GET') return error(405, 'MethodNotAllowed', `${method} is not allowed on ${path}; use GET`, { allow: 'GET' });
  let actionId: string;
  try {
    actionId = decodeURIComponent(match[1] ?? '');
  } catch {
    return error(400, 'BadRequest', 'actionId: is not valid percent-encoding');
  }
  if (!ACTION_ID_PATTERN.test(actionId)) {
    return error(400, 'BadRequest', 'actionId: must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"');
  }
  const decision = await store.getDecision(actionId);
  if (decision === undefined) return error(404, 'ActionNotFound', `no request with actionId "${actionId}" has been received`);
  return json(200, decision);
}
