import type { Outcome, ReviewerVote } from '../domain/decision.js';
import type { Closing, RefusalRule } from '../domain/review.js';
import type { ReviewPhase } from '../workflow/contract.js';
import type { ExecutionSummary } from '../domain/execution.js';
import type { RequestRecord } from './index.js';
import type { MessageRef } from './review.js';

/** Which message a review keeps: the review and the escalation's, in Slack and in Teams. */
export const MESSAGE_SLOTS = ['initial', 'escalation', 'teamsInitial', 'teamsEscalation'] as const;
export type MessageSlot = (typeof MESSAGE_SLOTS)[number];

/** One review of one request: the opaque id the buttons carry, and what only the backend may see. */
export interface ReviewRecord {
  reviewId: string;
  actionId: string;
  /** The latest workflow phase that opened (or re-opened) the review. */
  phase: ReviewPhase;
  /** The task token of the phase the workflow waits in now. Secret: never logged, posted or published. */
  taskToken: string;
  /** SHA-256 (hex) of `taskToken`, the reference that event items and logs may carry. */
  taskTokenSha256: string;
  openedAt: string;
  /** Votes at or after this time do not count: the deadline, or the end of the escalation window. */
  expiresAt: string;
  escalatedTo: string | null;
  /** The requesting agent (reviews opened before it was stored have none): a vote can read its quarantine beside the request. */
  agentId?: string;
  messages: Partial<Record<MessageSlot, MessageRef>>;
  /** When the thread notes were posted, so a retried phase does not post them twice. */
  notes: { reminder?: string; escalation?: string };
}

/** The request item, as the review service reads it. */
export interface RequestState {
  record: RequestRecord;
  reviewId: string | null;
  /** The votes that closed the request (empty while pending). */
  reviewers: ReviewerVote[];
  /** Number of accepted votes: the version every vote's conditional write checks. */
  voteCount: number;
  /** When `Action Decided` went out for the final outcome. */
  outcomePublishedAt: string | null;
  /** The agent's report of the act, once a consistent one was recorded (issue 12). */
  execution: ExecutionSummary | null;
  /**
   * The request's event count as read with it, where the store keeps one: the next event's write
   * starts from it instead of reading it again (a stale one fails that write's condition, which reads
   * again and retries). @default absent: the write reads it
   */
  eventSeq?: number;
}

export interface ReviewSnapshot {
  request: RequestState;
  review: ReviewRecord;
  /** Accepted votes, one per reviewer, oldest first. */
  votes: ReviewerVote[];
}

export interface OpenReviewInput {
  actionId: string;
  /** The id to use if the request has none yet; once one is stored, every phase and retry reuses it. */
  candidateReviewId: string;
  /** The requesting agent, kept on the review item. */
  agentId?: string;
  phase: ReviewPhase;
  taskToken: string;
  at: string;
  /** Kept from the first phase that sets it. */
  deadlineAt: string;
  /** Escalation phase only: the group now asked, and the end of its window (kept from the first try). */
  escalation?: { group: string; expiresAt: string };
}

export type OpenReviewResult =
  | { status: 'opened'; snapshot: ReviewSnapshot }
  /** A retry of an earlier phase arrived after a later one: nothing was changed. */
  | { status: 'stale'; snapshot: ReviewSnapshot };

export interface VoteWrite {
  snapshot: ReviewSnapshot;
  vote: ReviewerVote;
  slackUserId: string;
  /** The Entra ID object id, for a tap in Teams. */
  teamsAadObjectId?: string;
  /** Set when this vote closes the request: written with the vote, in one transaction. */
  closing: Closing | null;
}

export type RecordVoteResult =
  | { status: 'recorded' }
  | { status: 'already_voted' }
  /** The request was no longer pending. */
  | { status: 'closed' }
  /**
   * Another vote landed since the snapshot was read: read again and judge again. `staleSequence`: only
   * another event of the request (a review event, a refusal) came in between, not a vote, so there is no
   * contention to back off from: read again at once.
   */
  | { status: 'retry'; staleSequence?: boolean };

export interface RefusalWrite {
  request: RequestRecord;
  reviewId: string;
  reviewerId: string;
  slackUserId: string | null;
  /** The Entra ID object id, for a tap in Teams. */
  teamsAadObjectId?: string;
  vote: 'approve' | 'deny';
  comment?: string;
  rule: RefusalRule;
  message: string;
  at: string;
}

export type ReviewEventType = 'review_requested' | 'reminded' | 'escalated';

export interface OutcomeWrite {
  request: RequestRecord;
  reviewId: string | null;
  /** What the workflow reported (`approved`, `rejected`, `expired`, `failed`). */
  workflowOutcome: string;
  outcome: Outcome;
  reason: string;
  reviewers: ReviewerVote[];
  decidedAt: string;
  at: string;
  /** `RequestState.eventSeq` of the request as read, if the store gave one. */
  eventSeq?: number;
}

/** Reviews, votes and refusals, on the decision table next to the request they are about. */
export interface ReviewStore {
  /**
   * Gives the request its review id (once), stores the phase's task token, and returns the state.
   * Throws `ReviewStoreError` when no such request was recorded.
   */
  openReview(input: OpenReviewInput): Promise<OpenReviewResult>;
  /** `actionId`, when the caller knows it, lets the store read the review, request and votes at once. */
  getReview(reviewId: string, actionId?: string): Promise<ReviewSnapshot | undefined>;
  /** The review item alone (the one read a button's review id needs before its request is known). */
  findReview(reviewId: string): Promise<ReviewRecord | undefined>;
  /**
   * The request, and its review once one was opened. `reviewId`, when the caller knows which review it
   * expects (record-outcome, from the vote's result), lets the store read the review beside the request;
   * it is only a hint: the request's own reviewId decides which review is returned.
   */
  getByAction(actionId: string, reviewId?: string): Promise<{ request: RequestState; review: ReviewRecord | undefined; votes: ReviewerVote[] } | undefined>;
  /** Keeps the first message posted for a slot; returns the one kept. */
  saveMessage(reviewId: string, slot: MessageSlot, message: MessageRef): Promise<MessageRef>;
  markNoted(reviewId: string, note: 'reminder' | 'escalation', at: string): Promise<void>;
  /** Records a review event item once per request and type; false when it was already there. */
  recordReviewEvent(snapshot: ReviewSnapshot, type: ReviewEventType, at: string, details: Record<string, unknown>): Promise<boolean>;
  /** The vote as a conditional event item, plus the request item's version (and close) in one transaction. */
  recordVote(write: VoteWrite): Promise<RecordVoteResult>;
  recordRefusal(write: RefusalWrite): Promise<void>;
  /** Closes the request if it is still pending; true when this call closed it. */
  closeRequest(actionId: string, closing: { outcome: 'approved' | 'rejected' | 'expired'; reason: string; reviewers: ReviewerVote[]; decidedAt: string }): Promise<boolean>;
  /** The `outcome` event item, once per request; false when it was already there. */
  recordOutcome(write: OutcomeWrite): Promise<boolean>;
  markOutcomePublished(actionId: string, at: string): Promise<void>;
}

export class ReviewStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ReviewStoreError';
  }
}

/**
 * The workflow no longer waits on this task token: it timed out, moved on to another phase, or
 * closed. The review is closed or expired as far as this callback is concerned.
 */
export class TaskNotWaitingError extends Error {
  constructor(
    readonly code: 'TaskTimedOut' | 'InvalidToken' | 'TaskDoesNotExist',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TaskNotWaitingError';
  }
}
