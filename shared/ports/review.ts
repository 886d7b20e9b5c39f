import type { ActionRequest } from '../domain/contract.js';
import type { ApprovalRequirement, FinalOutcome, ReviewerVote } from '../domain/decision.js';
import type { ExecutionSummary } from '../domain/execution.js';

/** Where a review message lives in Slack. */
export interface MessageRef {
  channel: string;
  ts: string;
}

/** Everything a reviewer is shown about one request. Agent-written fields are untrusted text. */
export interface ReviewView {
  /** Opaque id carried by the buttons (never the task token). */
  reviewId: string;
  actionId: string;
  request: ActionRequest;
  payloadSha256: string;
  policyIds: string[];
  approval: ApprovalRequirement;
  /** Distinct approving reviewers so far. */
  approvals: ReviewerVote[];
  /** ISO time the request expires (the deadline, or the end of the escalation window once escalated). */
  expiresAt: string;
  /** The group asked at the deadline, once escalated. */
  escalatedTo?: string;
  /** Set while open when the groups voting now cannot reach the quorum (`quorumShortfall`). */
  quorumWarning?: string;
  /**
   * Once approved: until when the approval may be executed (once), the agent's report of the act, and
   * whether the window passed unused.
   */
  execution?: { validUntil: string | null; summary: ExecutionSummary | null; expiredUnused: boolean };
  status:
    | { state: 'open' }
    | { state: 'closed'; outcome: Exclude<FinalOutcome, 'allowed' | 'denied' | 'invalid'>; reason: string; reviewers: ReviewerVote[]; decidedAt: string };
}

/** The review conversation: Slack in AWS and against the local Slack emulator. */
export interface ReviewChannel {
  /** Posts the review message to a group's channel. Retries on rate limits (429 + Retry-After). */
  postReview(channelId: string, view: ReviewView): Promise<MessageRef>;
  /** Replaces the message's blocks (quorum progress, outcome, who decided and when). */
  updateReview(message: MessageRef, view: ReviewView): Promise<void>;
  /**
   * A reply in the message's thread, mentioning the reviewers still able to vote. `deadline` (ISO),
   * when given, follows the text as "Deadline: <time>", shown in each reader's own time zone.
   */
  postThreadNote(message: MessageRef, text: string, mentionSlackUserIds: string[], deadline?: string): Promise<void>;
  /** A plain-text message to a channel (an execution violation alert): escaped, so it can never mention or link. */
  postAlert(channelId: string, text: string): Promise<void>;
  /** An ephemeral notice to one user in a channel (refusals, confirmations). */
  notify(channelId: string, slackUserId: string, text: string): Promise<void>;
  /** Opens the deny modal, which requires a reason; its submission carries `reviewId` in private_metadata. */
  openDenyModal(triggerId: string, view: ReviewView): Promise<void>;
}

/** Resumes a waiting workflow. Task tokens stay inside the backend. */
export interface TaskCallbacks {
  succeed(taskToken: string, output: unknown): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}
