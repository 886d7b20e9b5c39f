import type { ReviewerVote } from '../domain/decision.js';
import type { ApprovalWorkflowInput } from '../ports/index.js';

/**
 * The approval state machine's contract: its state names (the local runner maps Task states to
 * handlers by name) and the payloads its Lambda tasks receive and its callbacks return.
 */
export const WORKFLOW_STATES = {
  requestReview: 'RequestReview',
  remindReviewers: 'RemindReviewers',
  escalateReview: 'EscalateReview',
  hasEscalation: 'HasEscalation',
  recordApproved: 'RecordApproved',
  recordRejected: 'RecordRejected',
  recordExpired: 'RecordExpired',
  recordFailed: 'RecordFailed',
  hasApprovalWindow: 'HasApprovalWindow',
  waitForApprovalWindow: 'WaitForApprovalWindow',
  closeApprovalWindow: 'CloseApprovalWindow',
  approvalRecorded: 'ApprovalRecorded',
} as const;

/** The error name SendTaskFailure uses for a deny; the state machine catches it. */
export const REJECTED_ERROR = 'Rejected';

/**
 * The error request-review fails with when a vote decided the request while the workflow was
 * between phases: the workflow goes straight to recording, where the decision on record wins.
 * (request-review may not call SendTask*: only the vote paths hold those permissions.)
 */
export const REVIEW_CLOSED_ERROR = 'ReviewClosed';

export class ReviewClosedError extends Error {
  constructor(actionId: string, outcome: string) {
    super(`request ${actionId} was already ${outcome} by a vote when this review phase began; the workflow records that outcome`);
    this.name = REVIEW_CLOSED_ERROR;
  }
}

export type ReviewPhase = 'initial' | 'reminder' | 'escalation';

/** Phases in workflow order: a late retry of an earlier phase must not replace a later phase's token. */
export const PHASE_RANK: Record<ReviewPhase, number> = { initial: 0, reminder: 1, escalation: 2 };

/** Payload of the request-review function (lambda:invoke.waitForTaskToken). */
export interface RequestReviewEvent {
  taskToken: string;
  phase: ReviewPhase;
  request: ApprovalWorkflowInput;
}

/** What SendTaskSuccess returns to the workflow when quorum is reached. */
export interface ApprovedResult {
  outcome: 'approved';
  reason: string;
  reviewers: ReviewerVote[];
  decidedAt: string;
  /** The review the quorum was reached in: record-outcome reads it beside the request instead of after it. */
  reviewId?: string;
}

/**
 * Payload of the record-outcome function. `failed` is any error path: it fails closed, as `rejected`.
 * `window_closed`: an approval's validity window has passed (the workflow waited for it); the review
 * message is refreshed, so it shows "expired unused" when nothing was executed.
 */
export interface RecordOutcomeEvent {
  request: ApprovalWorkflowInput;
  outcome: 'approved' | 'rejected' | 'expired' | 'failed' | 'window_closed';
  /** The ApprovedResult, for `approved`. */
  result?: ApprovedResult;
  /** Step Functions' error object ({Error, Cause}) for `rejected` and `failed`. */
  error?: { Error?: string; Cause?: string };
}
