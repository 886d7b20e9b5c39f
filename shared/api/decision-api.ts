import { ACTION_ID_PATTERN } from '../domain/action-id.js';
import type { AgentGuard, DecisionStore } from '../ports/index.js';
import type { AgentCallers } from './agent-callers.js';

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const ROUTE = /^\/actions\/([^/]+)\/?$/;
const AGENT_ROUTE = /^\/agents\/([a-z0-9][a-z0-9._-]{0,63})\/?$/;

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

/**
 * Who is asking, for the decision API's one rule: an agent's IAM identity reads only that agent's requests
 * and state; any other identity the stack's owner granted the API (an operator, a CI role, an executor)
 * reads all. Without it (the unit tests of the routes) every caller reads all.
 */
export interface DecisionApiCaller {
  /** `authorizer.iam.userArn` of the Function URL's AWS_IAM auth; undefined when the URL has no IAM auth. */
  callerArn: string | undefined;
  agents: AgentCallers;
}

type Readers = { all: true } | { all: false; agentIds: readonly string[] };

/** `GET /actions/{actionId}`: the decision as `Action Decided` carries it, `pending` while a review is open. */
export async function answerDecisionRequest(method: string, path: string, store: Pick<DecisionStore, 'getDecisionWithAgent'>, agents?: Pick<AgentGuard, 'status'>, caller?: DecisionApiCaller): Promise<ApiResponse> {
  let readers: Readers = { all: true };
  if (caller !== undefined) {
    if (caller.callerArn === undefined || caller.callerArn === '') return error(403, 'CallerNotIdentified', 'the caller has no IAM identity; sign the request with SigV4 (service "lambda")');
    const agentIds = caller.agents.agentsOf(caller.callerArn);
    if (agentIds.length > 0) readers = { all: false, agentIds };
  }
  const agent = AGENT_ROUTE.exec(path);
  if (agent !== null && agents !== undefined) {
    // `GET /agents/{agentId}`: its quarantine (who, why, since), open reviews and flood-control state.
    if (method !== 'GET') return error(405, 'MethodNotAllowed', `${method} is not allowed on ${path}; use GET`, { allow: 'GET' });
    const agentId = agent[1] ?? '';
    if (!readers.all && !readers.agentIds.includes(agentId)) {
      return error(403, 'NotThisAgent', `the caller is the IAM identity of agent ${readers.agentIds.map((id) => `"${id}"`).join(', ')}, and an agent reads only its own state`);
    }
    return json(200, await agents.status(agentId));
  }
  const match = ROUTE.exec(path);
  if (match === null) return error(404, 'NotFound', `no route for ${path}; the decision API serves GET /actions/{actionId}${agents === undefined ? '' : ' and GET /agents/{agentId}'}`);
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
  // Another agent's request is answered as one never received (and read no further): an agent learns
  // nothing of others' ids.
  const found = await store.getDecisionWithAgent(actionId, readers.all ? undefined : (agentId) => readers.agentIds.includes(agentId));
  if (found === undefined) {
    return error(404, 'ActionNotFound', `no request with actionId "${actionId}" has been received${readers.all ? '' : ' from this agent'}`);
  }
  return json(200, found.decision);
}
