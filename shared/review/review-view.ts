import { permitsExecution, validUntilOf, type ReviewerVote } from '../domain/decision.js';
import type { Directory } from '../domain/directory.js';
import { lookalikeWarning, stringsOf } from '../domain/lookalikes.js';
import { quorumShortfall, type ReviewState } from '../domain/review.js';
import type { RequestState, ReviewRecord } from '../ports/review-store.js';
import type { ReviewView } from '../ports/review.js';
import { ReviewServiceError } from './review-deps.js';

type ClosedOutcome = Extract<ReviewView['status'], { state: 'closed' }>['outcome'];
const CLOSED_OUTCOMES: readonly string[] = ['approved', 'rejected', 'expired'] satisfies ClosedOutcome[];

function approvalOf(request: RequestState) {
  const { record } = request;
  if (record.request === null || record.approval === null || record.payloadSha256 === null) {
    throw new ReviewServiceError(`request ${record.key} is not one that needs approval (outcome ${record.outcome}), so it has no review`);
  }
  return { request: record.request, approval: record.approval, payloadSha256: record.payloadSha256 };
}

/** The rules' view of a review: what `judgeVote` decides on. */
export function reviewStateOf(request: RequestState, review: ReviewRecord, votes: ReviewerVote[]): ReviewState {
  const { request: action, approval } = approvalOf(request);
  return {
    actionId: request.record.key,
    agentId: action.agent.id,
    onBehalfOf: action.agent.onBehalfOf ?? null,
    approval,
    escalatedTo: review.escalatedTo,
    expiresAt: review.expiresAt,
    outcome: request.record.outcome,
    reason: request.record.reason,
    votes,
  };
}

/**
 * What a reviewer is shown: the request from the stored request item, the tally, the outcome once
 * closed, and (given the directory) a warning while open when the quorum cannot be reached.
 */
export function reviewViewOf(request: RequestState, review: ReviewRecord, votes: ReviewerVote[], directory?: Directory, now: Date = new Date()): ReviewView {
  const { request: action, approval, payloadSha256 } = approvalOf(request);
  const { record } = request;
  const validUntil = validUntilOf(record.outcome, record.decidedAt, record.validForSeconds);
  const closed = CLOSED_OUTCOMES.includes(record.outcome);
  const warning = closed || directory === undefined ? undefined : quorumShortfall(reviewStateOf(request, review, votes), directory);
  const lookalikes = lookalikeWarning([
    ['Resource', action.resource.id],
    ['On behalf of', action.agent.onBehalfOf ?? ''],
    ['Parameters', stringsOf(action.parameters)],
    ['Resource attributes', stringsOf(action.resource.attributes ?? {})],
    ['Justification', action.justification],
  ]);
  return {
    reviewId: review.reviewId,
    actionId: record.key,
    request: action,
    payloadSha256,
    policyIds: record.policyIds,
    approval,
    approvals: votes.filter((v) => v.vote === 'approve'),
    expiresAt: review.expiresAt,
    ...(review.escalatedTo === null ? {} : { escalatedTo: review.escalatedTo }),
    ...(warning === undefined ? {} : { quorumWarning: warning }),
    ...(lookalikes === undefined ? {} : { lookalikeWarning: lookalikes }),
    ...(permitsExecution(record.outcome)
      ? { execution: { validUntil, summary: request.execution, expiredUnused: request.execution === null && validUntil !== null && now.getTime() > Date.parse(validUntil) } }
      : {}),
    status: closed
      ? { state: 'closed', outcome: record.outcome as ClosedOutcome, reason: record.reason, reviewers: request.reviewers, decidedAt: record.decidedAt ?? '' }
      : { state: 'open' },
  };
}
