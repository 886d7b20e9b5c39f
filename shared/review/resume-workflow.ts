import type { ReviewerVote } from '../domain/decision.js';
import { TaskNotWaitingError } from '../ports/review-store.js';
import type { TaskCallbacks } from '../ports/review.js';
import { REJECTED_ERROR, type ApprovedResult } from '../workflow/contract.js';

export type CallbackResult = 'delivered' | 'not_waiting';

/** The cause of a `Rejected` task failure: JSON the RecordRejected state hands to record-outcome. */
export interface RejectedCause {
  reason: string;
  reviewers: ReviewerVote[];
  decidedAt: string;
  /** The review the vote was cast in: record-outcome reads it beside the request instead of after it. */
  reviewId?: string;
}

/**
 * Hands a closed request's outcome to the workflow waiting on `taskToken`: success with the
 * ApprovedResult, or the `Rejected` failure. A workflow that no longer waits on the token (timed
 * out, moved to another phase) answers `not_waiting`; the phase that holds the current token, or
 * record-outcome, sees the closed request instead.
 */
export async function resumeWorkflow(
  callbacks: TaskCallbacks,
  taskToken: string,
  closed: { outcome: string; reason: string; reviewers: ReviewerVote[]; decidedAt: string },
  /** The review the outcome was reached in (not a secret: the buttons carry it); passed on to record-outcome. */
  reviewId?: string,
): Promise<CallbackResult> {
  const review = reviewId === undefined ? {} : { reviewId };
  try {
    if (closed.outcome === 'approved') {
      const result: ApprovedResult = { outcome: 'approved', reason: closed.reason, reviewers: closed.reviewers, decidedAt: closed.decidedAt, ...review };
      await callbacks.succeed(taskToken, result);
    } else {
      const cause: RejectedCause = { reason: closed.reason, reviewers: closed.reviewers, decidedAt: closed.decidedAt, ...review };
      await callbacks.fail(taskToken, REJECTED_ERROR, JSON.stringify(cause));
    }
    return 'delivered';
  } catch (error) {
    if (error instanceof TaskNotWaitingError) return 'not_waiting';
    throw error;
  }
}
