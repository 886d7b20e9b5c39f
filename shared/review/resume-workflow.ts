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
): Promise<CallbackResult> {
  try {
    if (closed.outcome === 'approved') {
      const result: ApprovedResult = { outcome: 'approved', reason: closed.reason, reviewers: closed.reviewers, decidedAt: closed.decidedAt };
      await callbacks.succeed(taskToken, result);
    } else {
      const cause: RejectedCause = { reason: closed.reason, reviewers: closed.reviewers, decidedAt: closed.decidedAt };
      await callbacks.fail(taskToken, REJECTED_ERROR, JSON.stringify(cause));
    }
    return 'delivered';
  } catch (error) {
    if (error instanceof TaskNotWaitingError) return 'not_waiting';
    throw error;
  }
}
