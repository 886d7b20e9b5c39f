import { randomBytes } from 'node:crypto';
import type { Directory } from '../domain/directory.js';
import type { AgentGuard } from '../ports/agent-guard.js';
import type { ReviewStore } from '../ports/review-store.js';
import type { ReviewBoard, ReviewChannel, TaskCallbacks } from '../ports/review.js';

/** What the review service needs; the handlers wire the AWS and Slack adapters, tests the memory ones. */
export interface ReviewDeps {
  store: ReviewStore;
  channel: ReviewChannel;
  /** Microsoft Teams, beside Slack, for groups with a `teamsChannel`. @default - no Teams (its cards are not posted) */
  teams?: ReviewBoard;
  callbacks: TaskCallbacks;
  directory: Directory;
  now: () => Date;
  /** Flood control's state per agent: quarantine, and counting rejections for automatic quarantine. @default - none (no automatic quarantine) */
  guard?: AgentGuard;
  /** A fresh opaque review id; only the first one per request is kept. @default `newReviewId` */
  newReviewId?: () => string;
  /**
   * How long a quarantine keeps starting to close its agent's open reviews (ms, real time, counted from the
   * start of the closing). Every path that quarantines answers someone waiting (Slack gives 3 s); reviews
   * left open refuse approvals and close on the next quarantine of the agent or at their deadline.
   * @default `QUARANTINE_CLOSING_BUDGET_MS`
   */
  quarantineClosingBudgetMs?: number;
  /** A monotonic clock in ms for that budget. @default `performance.now` */
  monotonicMs?: () => number;
}

/** See `ReviewDeps.quarantineClosingBudgetMs`: leaves Slack's 3 s room for the closes under way and the owners' line. */
export const QUARANTINE_CLOSING_BUDGET_MS = 1_500;

export class ReviewServiceError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReviewServiceError';
  }
}

/** 128 random bits, URL-safe: an id the buttons may carry that says nothing and cannot be guessed. */
export function newReviewId(): string {
  return `rv-${randomBytes(16).toString('base64url')}`;
}
