import * as z from 'zod';
import type { ApiResponse } from '../api/decision-api.js';
import { matchActionRoute } from '../api/action-route.js';
import { loneSurrogateAt, NOT_UNICODE_TEXT } from '../domain/canonical-json.js';
import type { RefusalRule } from '../domain/review.js';
import type { DecisionStore } from '../ports/index.js';
import { castVote, MAX_COMMENT_CHARS } from './cast-vote.js';
import { ReviewServiceError, type ReviewDeps } from './review-deps.js';
import { errorResponse, jsonResponse } from './slack-interaction.js';

export interface VoteRequest {
  method: string;
  path: string;
  /** The body as text (already base64-decoded). */
  body: string | undefined;
  /** The SigV4 caller (`requestContext.authorizer.iam.userArn` of an AWS_IAM Function URL). */
  callerArn: string | undefined;
}

export type VotesApiDeps = ReviewDeps & { decisions: Pick<DecisionStore, 'getDecision'> };

const ROUTE = /^\/actions\/([^/]+)\/votes\/?$/;

const VoteBodySchema = z.strictObject({
  vote: z.enum(['approve', 'deny'], 'must be "approve" or "deny"'),
  comment: z.string().max(MAX_COMMENT_CHARS, `must be at most ${MAX_COMMENT_CHARS} characters`).refine((text) => loneSurrogateAt(text) < 0, NOT_UNICODE_TEXT).optional(),
});

/** Refusals that say the request is over answer 409; a missing reason 400; who may not vote 403. */
function statusOf(rule: RefusalRule): number {
  if (rule === 'request_closed' || rule === 'request_expired') return 409;
  if (rule === 'reason_required') return 400;
  return 403;
}

/**
 * `POST /actions/{actionId}/votes` with `{"vote": "approve" | "deny", "comment"?: "..."}` (a deny
 * needs a comment): the same rules as a click in Slack, for the reviewer the IAM caller maps to.
 * 200 with the decision (the decision API's shape) once the vote is on record.
 */
export async function answerVoteRequest(request: VoteRequest, deps: VotesApiDeps): Promise<{ response: ApiResponse; log: Record<string, unknown> }> {
  const done = (response: ApiResponse, log: Record<string, unknown> = {}) => ({ response, log: { statusCode: response.statusCode, ...log } });
  const route = matchActionRoute(request, { pattern: ROUTE, method: 'POST', serves: 'the votes API serves POST /actions/{actionId}/votes' });
  if (!route.ok) return done(route.response);
  const { actionId } = route;
  if (request.callerArn === undefined || request.callerArn === '') {
    return done(errorResponse(403, 'CallerNotIdentified', 'the caller has no IAM identity; sign the request with SigV4 (service "lambda")'), { actionId });
  }

  let json: unknown;
  try {
    json = JSON.parse(request.body ?? '');
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    return done(errorResponse(400, 'BadRequest', 'body: must be JSON such as {"vote": "approve"} or {"vote": "deny", "comment": "why"}'), { actionId });
  }
  const parsed = VoteBodySchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => (i.code === 'unrecognized_keys' ? `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : `${i.path.join('.') || 'body'}: ${i.message}`));
    return done(errorResponse(400, 'BadRequest', issues.join('; ')), { actionId });
  }
  const { vote } = parsed.data;
  const comment = parsed.data.comment?.trim();
  if (vote === 'deny' && (comment === undefined || comment === '')) {
    return done(errorResponse(400, 'BadRequest', 'comment: a deny needs a comment that says why'), { actionId });
  }

  const found = await deps.store.getByAction(actionId);
  if (found === undefined) return done(errorResponse(404, 'ActionNotFound', `no request with actionId "${actionId}" has been received`), { actionId });
  if (found.review === undefined) {
    const outcome = found.request.record.outcome;
    return done(outcome === 'pending'
      ? errorResponse(409, 'ReviewNotOpen', `the review of "${actionId}" is not open yet; try again in a few seconds`)
      : errorResponse(409, 'RequestClosed', `request "${actionId}" is ${outcome}; it is not awaiting a review`), { actionId });
  }

  const result = await castVote({
    reviewId: found.review.reviewId,
    reviewer: { kind: 'iam', principalArn: request.callerArn },
    vote,
    ...(comment === undefined || comment === '' ? {} : { comment }),
  }, deps);
  const log = { actionId, caller: request.callerArn, vote, status: result.status };
  switch (result.status) {
    case 'not_found':
      return done(errorResponse(404, 'ActionNotFound', result.message), log);
    case 'modal_opened':
      throw new ReviewServiceError('the votes API never opens a modal');
    case 'refused':
      return done(jsonResponse(statusOf(result.rule), { error: 'VoteRefused', rule: result.rule, message: result.message }), { ...log, reviewer: result.reviewerId, rule: result.rule });
    case 'recorded': {
      const decision = await deps.decisions.getDecision(actionId);
      return done(jsonResponse(200, decision), { ...log, reviewer: result.vote.id, closed: result.closed?.outcome ?? null, callback: result.callback, warnings: result.warnings, ...(result.autoQuarantine === undefined ? {} : { autoQuarantine: result.autoQuarantine === 'failed' ? 'failed' : result.autoQuarantine.status }) });
    }
  }
}
