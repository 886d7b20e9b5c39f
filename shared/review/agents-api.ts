import * as z from 'zod';
import type { ApiResponse } from '../api/decision-api.js';
import { loneSurrogateAt, NOT_UNICODE_TEXT } from '../domain/canonical-json.js';
import { memberByPrincipal } from '../domain/review.js';
import { liftQuarantine, MAX_QUARANTINE_REASON_CHARS, quarantineAgent, type QuarantineDeps } from './quarantine-agent.js';
import { errorResponse, jsonResponse } from './slack-interaction.js';
import type { VoteRequest } from './votes-api.js';

/** `/agents/{agentId}/quarantine` and `/agents/{agentId}/lift`: the kill switch on the review API. */
export const AGENTS_ROUTE = /^\/agents\/([^/]+)\/(quarantine|lift)\/?$/;
const AGENT_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const ReasonBodySchema = z.strictObject({
  reason: z.string().trim().min(1, 'must say why').max(MAX_QUARANTINE_REASON_CHARS, `must be at most ${MAX_QUARANTINE_REASON_CHARS} characters`).refine((text) => loneSurrogateAt(text) < 0, NOT_UNICODE_TEXT),
});

/**
 * `POST /agents/{agentId}/quarantine` or `/lift` with `{"reason": "..."}`, signed by a reviewer (SigV4):
 * the same rules as the "Block this agent" button. 200 with the agent's status once it is on record.
 */
export async function answerAgentRequest(request: VoteRequest, deps: QuarantineDeps): Promise<{ response: ApiResponse; log: Record<string, unknown> }> {
  const done = (response: ApiResponse, log: Record<string, unknown> = {}) => ({ response, log: { statusCode: response.statusCode, ...log } });
  const match = AGENTS_ROUTE.exec(request.path);
  if (match === null) return done(errorResponse(404, 'NotFound', `no route for ${request.path}; the review API serves POST /agents/{agentId}/quarantine and /agents/{agentId}/lift`));
  const agentId = match[1] ?? '';
  const verb = match[2] as 'quarantine' | 'lift';
  if (request.method !== 'POST') return done(errorResponse(405, 'MethodNotAllowed', `${request.method} is not allowed on ${request.path}; use POST`));
  if (!AGENT_ID.test(agentId)) return done(errorResponse(400, 'BadRequest', 'agentId: must be 1-64 characters of a-z, 0-9, ".", "_" or "-"'));
  if (request.callerArn === undefined || request.callerArn === '') {
    return done(errorResponse(403, 'CallerNotIdentified', 'the caller has no IAM identity; sign the request with SigV4 (service "lambda")'), { agentId });
  }
  const member = memberByPrincipal(request.callerArn, deps.directory);
  if (member === undefined) return done(errorResponse(403, 'NotAReviewer', `${request.callerArn} is no member of the directory`), { agentId });

  let json: unknown;
  try {
    json = JSON.parse(request.body ?? '');
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return done(errorResponse(400, 'BadRequest', `body: must be JSON such as {"reason": "why"}`), { agentId });
  }
  const parsed = ReasonBodySchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => (i.code === 'unrecognized_keys' ? `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : `${i.path.join('.') || 'body'}: ${i.message}`));
    return done(errorResponse(400, 'BadRequest', issues.join('; ')), { agentId });
  }
  const log = { agentId, verb, by: member.id };
  if (verb === 'quarantine') {
    const result = await quarantineAgent(agentId, { kind: 'member', member, via: 'api' }, parsed.data.reason, deps);
    if (result.status === 'refused') return done(errorResponse(403, 'QuarantineRefused', result.message), log);
    const status = await deps.guard.status(agentId);
    // A quarantine, or a repeat of one, closes what it can within its budget; `leftOpenActionIds` are the rest (POST again).
    return done(jsonResponse(200, { ...status, result: result.status, closedActionIds: result.closedActionIds, leftOpenActionIds: result.leftOpenActionIds }), { ...log, result: result.status, warnings: result.warnings });
  }
  const result = await liftQuarantine(agentId, member, parsed.data.reason, deps);
  if (result.status === 'refused') return done(errorResponse(403, 'LiftRefused', result.message), log);
  if (result.status === 'not_quarantined') return done(errorResponse(409, 'NotQuarantined', `agent "${agentId}" is not quarantined`), log);
  return done(jsonResponse(200, { ...(await deps.guard.status(agentId)), result: 'lifted' }), { ...log, result: 'lifted' });
}
