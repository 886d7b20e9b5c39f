import * as z from 'zod';
import type { ApiResponse } from '../api/decision-api.js';
import { loneSurrogateAt, NOT_UNICODE_TEXT } from '../domain/canonical-json.js';
import { ADAPTIVE_CARD_CONTENT_TYPE, APPROVE_VERB, BLOCK_AGENT_VERB, DENY_REASON_REQUIRED, DENY_VERB, QUARANTINE_REASON_REQUIRED, reviewCard, type CardNotice } from '../teams/card.js';
import { BotFrameworkTokenVerifier } from '../teams/verify-token.js';
import { castVote, MAX_COMMENT_CHARS } from './cast-vote.js';
import { authority, MAX_QUARANTINE_REASON_CHARS, quarantineAgent } from './quarantine-agent.js';
import type { ReviewDeps } from './review-deps.js';
import { reviewViewOf } from './review-view.js';
import { approvalCountedText, castVoteSummary, errorResponse, jsonResponse, type InteractionAnswer } from './slack-interaction.js';

/** The parts of a Function URL request the Teams messaging endpoint reads. */
export interface TeamsHttpRequest {
  method: string;
  headers: Record<string, string | undefined>;
  body: string | undefined;
  isBase64Encoded: boolean;
}

/** Who the bot is, and the one tenant it serves (single-tenant registration). */
export interface TeamsBotIdentity {
  appId: string;
  tenantId: string;
}

export type TeamsInteractionDeps = ReviewDeps & { verifier: BotFrameworkTokenVerifier; bot: TeamsBotIdentity };

/** The channel id Teams activities carry, and the one the signing key must be endorsed for. */
export const TEAMS_CHANNEL_ID = 'msteams';
export const ADAPTIVE_CARD_ACTION = 'adaptiveCard/action';

const ActivitySchema = z.object({
  type: z.string(),
  name: z.string().optional(),
  channelId: z.string(),
  serviceUrl: z.string().min(1),
  from: z.object({ id: z.string(), aadObjectId: z.string().optional(), name: z.string().optional() }),
  conversation: z.object({ id: z.string() }).optional(),
  channelData: z.object({ tenant: z.object({ id: z.string() }).optional() }).optional(),
  value: z.unknown().optional(),
});

const ActionValueSchema = z.object({
  action: z.object({
    type: z.literal('Action.Execute', 'must be "Action.Execute"'),
    verb: z.enum([APPROVE_VERB, DENY_VERB, BLOCK_AGENT_VERB], `must be "${APPROVE_VERB}", "${DENY_VERB}" or "${BLOCK_AGENT_VERB}"`),
    data: z.object({
      reviewId: z.string('must be the review id the card carries').min(1, 'must not be empty').max(255, 'must be at most 255 characters'),
      reason: z.string('must be text').max(MAX_COMMENT_CHARS, `must be at most ${MAX_COMMENT_CHARS} characters`).refine((text) => loneSurrogateAt(text) < 0, NOT_UNICODE_TEXT).optional(),
      quarantineReason: z.string('must be text').max(MAX_QUARANTINE_REASON_CHARS, `must be at most ${MAX_QUARANTINE_REASON_CHARS} characters`).refine((text) => loneSurrogateAt(text) < 0, NOT_UNICODE_TEXT).optional(),
    }, 'must be the data of a review card\'s action'),
  }, 'must be the Action.Execute of a review card'),
}, 'must be an Action.Execute invoke value');

/** What was wrong with an action value, field by field (at most three), for the tapper and the log. */
function describeActionValue(error: z.ZodError): string {
  const issues = error.issues.slice(0, 3).map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'value'}: ${issue.message}`);
  return `the action is not an approve, deny or block of a review: ${issues.join('; ')}`;
}

/** The answer to an `adaptiveCard/action` invoke: a card, shown in place of the one tapped, to the tapper only. */
function cardResponse(card: unknown): ApiResponse {
  return jsonResponse(200, { statusCode: 200, type: ADAPTIVE_CARD_CONTENT_TYPE, value: card });
}

/** An `adaptiveCard/action` error answer (Teams shows the message under the card). */
function invokeError(statusCode: 400 | 404 | 500, code: string, message: string): ApiResponse {
  return jsonResponse(200, { statusCode, type: 'application/vnd.microsoft.error', value: { code, message } });
}

/**
 * The Teams messaging endpoint. In order, before anything of the request is believed: the Bot
 * Framework JWT (signature, issuer, audience = the bot's app id, expiry), then the body, then the
 * token's `serviceUrl` claim against the activity's, then the tenant against the bot's own. Anything
 * failing gets 401 (token) or 403 (another tenant) and records nothing. An `adaptiveCard/action`
 * invoke with verb approve or deny is a vote under the same rules as Slack's, answered with the
 * refreshed card for the tapper: a refusal (recorded) or a confirmation first on it.
 */
export async function answerTeamsRequest(request: TeamsHttpRequest, deps: TeamsInteractionDeps): Promise<InteractionAnswer> {
  if (request.method !== 'POST') {
    return { response: errorResponse(405, 'MethodNotAllowed', `${request.method} is not allowed; the Bot Framework POSTs activities`), log: { status: 'bad_method', method: request.method } };
  }
  const token = await deps.verifier.verify(request.headers.authorization ?? request.headers.Authorization, deps.bot.appId, TEAMS_CHANNEL_ID);
  if (!token.ok) return { response: errorResponse(401, 'Unauthorized', token.reason), log: { status: 'bad_token', reason: token.reason } };

  const rawBody = request.isBase64Encoded ? Buffer.from(request.body ?? '', 'base64').toString('utf8') : (request.body ?? '');
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { response: errorResponse(400, 'BadRequest', 'the body is not JSON'), log: { status: 'bad_payload', reason: 'not JSON' } };
  }
  const parsed = ActivitySchema.safeParse(json);
  if (!parsed.success) return { response: errorResponse(400, 'BadRequest', 'the body is not a Bot Framework activity'), log: { status: 'bad_payload', reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } };
  const activity = parsed.data;
  const service = BotFrameworkTokenVerifier.verifyServiceUrl(token, activity.serviceUrl);
  if (!service.ok) return { response: errorResponse(401, 'Unauthorized', service.reason), log: { status: 'bad_token', reason: service.reason } };
  const tenant = activity.channelData?.tenant?.id;
  if (activity.channelId !== TEAMS_CHANNEL_ID || tenant !== deps.bot.tenantId) {
    return {
      response: errorResponse(403, 'UnknownTenant', `this bot serves Teams tenant ${deps.bot.tenantId}; the activity came from channel "${activity.channelId}", tenant "${tenant ?? 'none'}"`),
      log: { status: 'refused_tenant', tenant: tenant ?? null, channelId: activity.channelId, serviceUrl: activity.serviceUrl },
    };
  }

  if (activity.type !== 'invoke') return { response: { statusCode: 200, headers: {}, body: '' }, log: { status: 'ignored', kind: activity.type } };
  if (activity.name !== ADAPTIVE_CARD_ACTION) {
    return { response: errorResponse(501, 'NotImplemented', `invoke "${activity.name ?? ''}" is not served`), log: { status: 'ignored', kind: `invoke:${activity.name ?? ''}` } };
  }
  const value = ActionValueSchema.safeParse(activity.value);
  if (!value.success) {
    // A Teams client enforces the card's maxLength, but the invoke's data is the client's to send.
    const reason = describeActionValue(value.error);
    return { response: invokeError(400, 'BadRequest', reason), log: { status: 'bad_payload', reason } };
  }
  const aadObjectId = activity.from.aadObjectId;
  if (aadObjectId === undefined) return { response: invokeError(400, 'BadRequest', 'the activity names no Entra ID user (from.aadObjectId)'), log: { status: 'bad_payload', reason: 'no from.aadObjectId' } };

  const { verb, data } = value.data.action;
  if (verb === BLOCK_AGENT_VERB) return answerBlockAgent(data.reviewId, aadObjectId, data.quarantineReason ?? '', deps, { interaction: ADAPTIVE_CARD_ACTION, verb, aadObjectId, serviceUrl: activity.serviceUrl });
  const reviewer = { kind: 'teams', aadObjectId } as const;
  const reason = data.reason?.trim();
  const result = await castVote(
    verb === APPROVE_VERB
      ? { reviewId: data.reviewId, reviewer, vote: 'approve' }
      : { reviewId: data.reviewId, reviewer, vote: 'deny', ...(reason === undefined || reason === '' ? {} : { comment: reason }) },
    deps,
  );
  const log: Record<string, unknown> = { ...castVoteSummary(result), interaction: ADAPTIVE_CARD_ACTION, verb, aadObjectId, serviceUrl: activity.serviceUrl };
  if (result.status === 'not_found' || result.status === 'modal_opened') {
    return { response: invokeError(404, 'ReviewNotFound', `no review with id "${data.reviewId}" exists`), log };
  }
  const notice: CardNotice = result.status === 'refused'
    ? { tone: 'attention', text: result.rule === 'reason_required' ? DENY_REASON_REQUIRED : result.message }
    : { tone: 'good', text: result.vote.vote === 'approve' ? approvalCountedText(result.approvals, result.quorum, result.closed !== null) : 'Your denial was recorded: the request is rejected.' };
  const current = await deps.store.getReview(data.reviewId);
  if (current === undefined) return { response: invokeError(404, 'ReviewNotFound', `no review with id "${data.reviewId}" exists`), log };
  return { response: cardResponse(reviewCard(reviewViewOf(current.request, current.review, current.votes, deps.directory, deps.now()), notice)), log };
}

/**
 * "Block this agent" from the card: the same authority as in Slack (the quarantine group, or the
 * request's escalation group), the agent read from the review's request (never from the payload), then
 * the quarantine. The tapper gets the refreshed card with a refusal or a confirmation first on it.
 */
async function answerBlockAgent(reviewId: string, aadObjectId: string, reason: string, deps: TeamsInteractionDeps, base: Record<string, unknown>): Promise<InteractionAnswer> {
  const log: Record<string, unknown> = { ...base, action: 'block_agent' };
  const snapshot = await deps.store.getReview(reviewId);
  const request = snapshot?.request.record.request ?? null;
  if (snapshot === undefined || request === null) return { response: invokeError(404, 'ReviewNotFound', `no review with id "${reviewId}" exists`), log: { ...log, status: 'not_found' } };
  const agentId = request.agent.id;
  const member = deps.directory.memberByAadObjectId(aadObjectId);
  const answer = async (notice: CardNotice, status: string, extra: Record<string, unknown> = {}): Promise<InteractionAnswer> => {
    const current = (await deps.store.getReview(reviewId)) ?? snapshot;
    return { response: cardResponse(reviewCard(reviewViewOf(current.request, current.review, current.votes, deps.directory, deps.now()), notice)), log: { ...log, agentId, status, ...extra } };
  };
  const refuse = (message: string) => answer({ tone: 'attention', text: message }, 'refused', { message });
  if (deps.guard === undefined) return refuse('quarantine is not available here: this function has no agent guard');
  if (member === undefined) return refuse(`Teams user ${aadObjectId} is not in the approver directory, so cannot quarantine agents`);
  const actor = { kind: 'member', member, via: 'teams', fromActionId: snapshot.review.actionId } as const;
  const allowed = await authority(actor, { ...deps, guard: deps.guard });
  if (typeof allowed !== 'string') return refuse(allowed.refused);
  if (reason.trim() === '') return refuse(QUARANTINE_REASON_REQUIRED);
  const result = await quarantineAgent(agentId, actor, reason, { ...deps, guard: deps.guard });
  switch (result.status) {
    case 'refused':
      return refuse(result.message);
    case 'already_quarantined':
      return answer({ tone: 'attention', text: `${agentId} is already quarantined by ${result.quarantine.by}: ${result.quarantine.reason}` }, result.status, { by: member.id, closed: result.closedActionIds, leftOpen: result.leftOpenActionIds, warnings: result.warnings });
    case 'quarantined':
      return answer(
        { tone: 'good', text: `${agentId} is quarantined: its requests are denied until the quarantine is lifted; ${result.closedActionIds.length} open review${result.closedActionIds.length === 1 ? ' was' : 's were'} closed as rejected.${result.leftOpenActionIds.length === 0 ? '' : ` ${result.leftOpenActionIds.length} more stay open for now (approvals of them are refused; quarantining again closes them).`}` },
        result.status,
        { by: member.id, closed: result.closedActionIds, leftOpen: result.leftOpenActionIds, warnings: result.warnings },
      );
  }
}
