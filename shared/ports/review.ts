import type { ActionRequest } from '../domain/contract.js';
import type { ApprovalRequirement, FinalOutcome, ReviewerVote } from '../domain/decision.js';
import type { ExecutionSummary } from '../domain/execution.js';

/** Where a review message lives: a Slack channel and ts, or a Teams thread (conversation id) and activity id. */
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
  /** Set when what the agent wrote has words that look like others (`lookalikeWarning`): agent text, shown as plain text. */
  lookalikeWarning?: string;
  /**
   * Once approved: until when the approval may be executed (once), the agent's report of the act, and
   * whether the window passed unused.
   */
  execution?: { validUntil: string | null; summary: ExecutionSummary | null; expiredUnused: boolean };
  status:
    | { state: 'open' }
    | { state: 'closed'; outcome: Exclude<FinalOutcome, 'allowed' | 'denied' | 'invalid'>; reason: string; reviewers: ReviewerVote[]; decidedAt: string };
}

/** What every review channel does (Slack, Teams): post the review, update it, reply in its thread. */
export interface ReviewBoard {
  /** Posts the review message to a group's channel. Retries on rate limits (429 + Retry-After). */
  postReview(channelId: string, view: ReviewView): Promise<MessageRef>;
  /** Replaces the message's content (quorum progress, outcome, who decided and when). */
  updateReview(message: MessageRef, view: ReviewView): Promise<void>;
  /**
   * A reply in the message's thread, mentioning the reviewers still able to vote (by their user id in
   * this channel: Slack user ids, Entra ID object ids). `deadline` (ISO), when given, follows the text.
   */
  postThreadNote(message: MessageRef, text: string, mentionSlackUserIds: string[], deadline?: string): Promise<void>;
  /** A plain-text message to a channel (an execution violation alert): never markup, so it can never mention or link. */
  postAlert(channelId: string, text: string): Promise<void>;
}

/** The Slack review conversation (in AWS and against the local Slack emulator): a board, plus ephemerals and the deny modal. */
export interface ReviewChannel extends ReviewBoard {
  /** An ephemeral notice to one user in a channel (refusals, confirmations). */
  notify(channelId: string, slackUserId: string, text: string): Promise<void>;
  /** Opens the deny modal, which requires a reason; its submission carries `reviewId` in private_metadata. */
  openDenyModal(triggerId: string, view: ReviewView): Promise<void>;
  /** Opens the "Block this agent" modal, which requires a reason; its submission carries `reviewId` in private_metadata. */
  openQuarantineModal(triggerId: string, view: ReviewView): Promise<void>;
}

/** Resumes a waiting workflow. Task tokens stay inside the backend. */
export interface TaskCallbacks {
  succeed(taskToken: string, output: unknown): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}
