import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../../domain/canonical-json.js';
import type { DecisionView, ReviewerVote } from '../../domain/decision.js';
import { agentIdOfSource } from '../../domain/decision.js';
import { decidedDetailOf } from '../../domain/intake.js';
import type { RequestRecord } from '../../ports/index.js';
import {
  TaskNotWaitingError,
  type OpenReviewInput,
  type OpenReviewResult,
  type MessageSlot,
  type OutcomeWrite,
  type RecordVoteResult,
  type RefusalWrite,
  type RequestState,
  type ReviewEventType,
  type ReviewRecord,
  type ReviewSnapshot,
  type ReviewStore,
  type VoteWrite,
} from '../../ports/review-store.js';
import type { MessageRef, ReviewChannel, ReviewView, TaskCallbacks } from '../../ports/review.js';
import { PHASE_RANK } from '../../workflow/contract.js';


/** An event item as the memory store keeps it: the type, the sort-key discriminator and what it says. */
export interface MemoryEventItem {
  actionId: string;
  type: 'review_requested' | 'reminded' | 'escalated' | 'vote' | 'vote_refused' | 'outcome';
  sk: string;
  at: string;
  data: Record<string, unknown>;
}

interface RequestExtras {
  reviewId: string | null;
  reviewers: ReviewerVote[];
  voteCount: number;
  outcomePublishedAt: string | null;
}

interface StoredReview extends Omit<ReviewRecord, 'expiresAt'> {
  deadlineAt: string;
  escalationExpiresAt: string | undefined;
}

/**
 * `ReviewStore` in memory with the DynamoDB store's semantics (one review id per request, stale
 * phases ignored, one vote per reviewer, versioned tally, close only while pending). It shares the
 * request records of a `MemoryDecisionStore` (pass its `records`).
 */
export class MemoryReviewStore implements ReviewStore {
  readonly events: MemoryEventItem[] = [];
  private readonly extras = new Map<string, RequestExtras>();
  private readonly reviews = new Map<string, StoredReview>();

  constructor(readonly records: Map<string, RequestRecord> = new Map()) {}

  private extrasOf(actionId: string): RequestExtras {
    let extras = this.extras.get(actionId);
    if (extras === undefined) {
      extras = { reviewId: null, reviewers: [], voteCount: 0, outcomePublishedAt: null };
      this.extras.set(actionId, extras);
    }
    return extras;
  }

  private requestState(actionId: string): RequestState | undefined {
    const record = this.records.get(actionId);
    if (record === undefined) return undefined;
    const extras = this.extrasOf(actionId);
    return structuredClone({ record, ...extras, execution: null });
  }

  private review(reviewId: string): ReviewRecord | undefined {
    const stored = this.reviews.get(reviewId);
    if (stored === undefined) return undefined;
    const { deadlineAt, escalationExpiresAt, ...rest } = structuredClone(stored);
    return { ...rest, expiresAt: escalationExpiresAt ?? deadlineAt };
  }

  private votes(actionId: string): ReviewerVote[] {
    return this.events
      .filter((e) => e.actionId === actionId && e.type === 'vote')
      .map((e) => structuredClone(e.data.vote as ReviewerVote))
      .sort((a, b) => (a.at === b.at ? a.id.localeCompare(b.id) : a.at.localeCompare(b.at)));
  }

  private putNew(item: MemoryEventItem): boolean {
    if (this.events.some((e) => e.actionId === item.actionId && e.sk === item.sk)) return false;
    this.events.push(structuredClone(item));
    return true;
  }

  async openReview(input: OpenReviewInput): Promise<OpenReviewResult> {
    if (!this.records.has(input.actionId)) throw new Error(`no request with actionId "${input.actionId}" is recorded`);
    const extras = this.extrasOf(input.actionId);
    extras.reviewId ??= input.candidateReviewId;
    const reviewId = extras.reviewId;
    const existing = this.reviews.get(reviewId);
    let status: OpenReviewResult['status'] = 'opened';
    if (existing !== undefined && PHASE_RANK[existing.phase] > PHASE_RANK[input.phase]) {
      status = 'stale';
    } else {
      this.reviews.set(reviewId, {
        reviewId,
        actionId: input.actionId,
        phase: input.phase,
        taskToken: input.taskToken,
        taskTokenSha256: sha256Hex(input.taskToken),
        openedAt: existing?.openedAt ?? input.at,
        deadlineAt: existing?.deadlineAt ?? input.deadlineAt,
        escalationExpiresAt: existing?.escalationExpiresAt ?? input.escalation?.expiresAt,
        escalatedTo: input.escalation?.group ?? existing?.escalatedTo ?? null,
        ...(input.agentId === undefined ? {} : { agentId: input.agentId }),
        messages: existing?.messages ?? {},
        notes: existing?.notes ?? {},
      });
    }
    return { status, snapshot: await this.snapshot(reviewId) };
  }

  private async snapshot(reviewId: string): Promise<ReviewSnapshot> {
    const review = this.review(reviewId);
    if (review === undefined) throw new Error(`no review ${reviewId}`);
    const request = this.requestState(review.actionId);
    if (request === undefined) throw new Error(`review ${reviewId} points at a missing request`);
    return { request, review, votes: this.votes(review.actionId) };
  }

  async getReview(reviewId: string): Promise<ReviewSnapshot | undefined> {
    return this.reviews.has(reviewId) ? this.snapshot(reviewId) : undefined;
  }

  async findReview(reviewId: string): Promise<ReviewRecord | undefined> {
    return this.review(reviewId);
  }

  async getByAction(actionId: string) {
    const request = this.requestState(actionId);
    if (request === undefined) return undefined;
    return { request, review: request.reviewId === null ? undefined : this.review(request.reviewId), votes: this.votes(actionId) };
  }

  async saveMessage(reviewId: string, slot: MessageSlot, message: MessageRef): Promise<MessageRef> {
    const review = this.reviews.get(reviewId);
    if (review === undefined) throw new Error(`no review ${reviewId}`);
    review.messages[slot] ??= { ...message };
    return { ...review.messages[slot] };
  }

  async markNoted(reviewId: string, note: 'reminder' | 'escalation', at: string): Promise<void> {
    const review = this.reviews.get(reviewId);
    if (review === undefined) throw new Error(`no review ${reviewId}`);
    review.notes[note] ??= at;
  }

  async recordReviewEvent(snapshot: ReviewSnapshot, type: ReviewEventType, at: string, details: Record<string, unknown>): Promise<boolean> {
    return this.putNew({
      actionId: snapshot.review.actionId,
      type,
      sk: `EVENT#${type}`,
      at,
      data: { ...details, reviewId: snapshot.review.reviewId, phase: snapshot.review.phase, taskTokenSha256: snapshot.review.taskTokenSha256 },
    });
  }

  async recordVote(write: VoteWrite): Promise<RecordVoteResult> {
    const actionId = write.snapshot.request.record.key;
    const record = this.records.get(actionId);
    if (record === undefined) throw new Error(`no request ${actionId}`);
    const extras = this.extrasOf(actionId);
    if (record.outcome !== 'pending') return { status: 'closed' };
    if (this.events.some((e) => e.actionId === actionId && e.sk === `EVENT#vote#${write.vote.id}`)) return { status: 'already_voted' };
    if (extras.voteCount !== write.snapshot.request.voteCount) return { status: 'retry' };
    this.putNew({ actionId, type: 'vote', sk: `EVENT#vote#${write.vote.id}`, at: write.vote.at, data: { vote: write.vote, slackUserId: write.slackUserId, ...(write.teamsAadObjectId === undefined ? {} : { teamsAadObjectId: write.teamsAadObjectId }), closesRequest: write.closing?.outcome ?? null } });
    extras.voteCount += 1;
    if (write.closing !== null) this.close(record, extras, write.closing);
    return { status: 'recorded' };
  }

  async recordRefusal(write: RefusalWrite): Promise<void> {
    this.putNew({
      actionId: write.request.key,
      type: 'vote_refused',
      sk: `EVENT#vote_refused#${write.reviewerId}#${write.at}#${randomUUID()}`,
      at: write.at,
      data: { reviewerId: write.reviewerId, slackUserId: write.slackUserId, ...(write.teamsAadObjectId === undefined ? {} : { teamsAadObjectId: write.teamsAadObjectId }), vote: write.vote, comment: write.comment, rule: write.rule, message: write.message },
    });
  }

  private close(record: RequestRecord, extras: RequestExtras, closing: { outcome: 'approved' | 'rejected' | 'expired'; reason: string; reviewers: ReviewerVote[]; decidedAt: string }) {
    record.outcome = closing.outcome;
    record.reason = closing.reason;
    record.decidedAt = closing.decidedAt;
    extras.reviewers = structuredClone(closing.reviewers);
  }

  async closeRequest(actionId: string, closing: { outcome: 'approved' | 'rejected' | 'expired'; reason: string; reviewers: ReviewerVote[]; decidedAt: string }): Promise<boolean> {
    const record = this.records.get(actionId);
    if (record === undefined || record.outcome !== 'pending') return false;
    this.close(record, this.extrasOf(actionId), closing);
    return true;
  }

  async recordOutcome(write: OutcomeWrite): Promise<boolean> {
    return this.putNew({
      actionId: write.request.key,
      type: 'outcome',
      sk: 'EVENT#outcome',
      at: write.at,
      data: { reviewId: write.reviewId, workflowOutcome: write.workflowOutcome, outcome: write.outcome, reason: write.reason, reviewers: write.reviewers, decidedAt: write.decidedAt },
    });
  }

  async markOutcomePublished(actionId: string, at: string): Promise<void> {
    this.extrasOf(actionId).outcomePublishedAt ??= at;
  }

  /** The decision API's answer, reviewers included (the votes so far while pending). */
  async getDecision(actionId: string): Promise<DecisionView | undefined> {
    return (await this.getDecisionWithAgent(actionId))?.decision;
  }

  async getDecisionWithAgent(actionId: string, readableBy?: (agentId: string) => boolean): Promise<{ decision: DecisionView; agentId: string } | undefined> {
    const record = this.records.get(actionId);
    if (record === undefined) return undefined;
    const agentId = agentIdOfSource(record.source);
    if (readableBy !== undefined && !readableBy(agentId)) return undefined;
    const decided = { ...decidedDetailOf(record), execution: null };
    // While a review is open: the votes counted so far, as the DynamoDB store answers.
    if (decided.outcome === 'pending') return { decision: { ...decided, reviewers: structuredClone(this.votes(actionId)) }, agentId };
    return { decision: { ...decided, reviewers: structuredClone(this.extrasOf(actionId).reviewers) }, agentId };
  }

  /** Test helper: the stored task token of a review. */
  tokenOf(reviewId: string): string | undefined {
    return this.reviews.get(reviewId)?.taskToken;
  }
}

export type ReviewChannelCall =
  | { method: 'postReview'; channelId: string; view: ReviewView; ref: MessageRef }
  | { method: 'updateReview'; message: MessageRef; view: ReviewView }
  | { method: 'postThreadNote'; message: MessageRef; text: string; mentionSlackUserIds: string[]; deadline?: string }
  | { method: 'notify'; channelId: string; slackUserId: string; text: string }
  | { method: 'postAlert'; channelId: string; text: string }
  | { method: 'openDenyModal'; triggerId: string; view: ReviewView }
  | { method: 'openQuarantineModal'; triggerId: string; view: ReviewView };

/** Records every call; `failNext` makes the next call of a method throw (a Slack outage). */
export class MemoryReviewChannel implements ReviewChannel {
  readonly calls: ReviewChannelCall[] = [];
  private readonly failures = new Map<ReviewChannelCall['method'], Error>();
  private seq = 0;

  failNext(method: ReviewChannelCall['method'], error = new Error(`slack: ${method} failed`)): void {
    this.failures.set(method, error);
  }

  private check(method: ReviewChannelCall['method']): void {
    const error = this.failures.get(method);
    if (error !== undefined) {
      this.failures.delete(method);
      throw error;
    }
  }

  callsOf<M extends ReviewChannelCall['method']>(method: M): Extract<ReviewChannelCall, { method: M }>[] {
    return this.calls.filter((c): c is Extract<ReviewChannelCall, { method: M }> => c.method === method);
  }

  async postReview(channelId: string, view: ReviewView): Promise<MessageRef> {
    this.check('postReview');
    const ref = { channel: channelId, ts: `1700000000.${String(++this.seq).padStart(6, '0')}` };
    this.calls.push({ method: 'postReview', channelId, view: structuredClone(view), ref });
    return ref;
  }

  async updateReview(message: MessageRef, view: ReviewView): Promise<void> {
    this.check('updateReview');
    this.calls.push({ method: 'updateReview', message, view: structuredClone(view) });
  }

  async postThreadNote(message: MessageRef, text: string, mentionSlackUserIds: string[], deadline?: string): Promise<void> {
    this.check('postThreadNote');
    this.calls.push({ method: 'postThreadNote', message, text, mentionSlackUserIds: [...mentionSlackUserIds], ...(deadline === undefined ? {} : { deadline }) });
  }

  async postAlert(channelId: string, text: string): Promise<void> {
    this.check('postAlert');
    this.calls.push({ method: 'postAlert', channelId, text });
  }

  async notify(channelId: string, slackUserId: string, text: string): Promise<void> {
    this.check('notify');
    this.calls.push({ method: 'notify', channelId, slackUserId, text });
  }

  async openQuarantineModal(triggerId: string, view: ReviewView): Promise<void> {
    this.check('openQuarantineModal');
    this.calls.push({ method: 'openQuarantineModal', triggerId, view: structuredClone(view) });
  }

  async openDenyModal(triggerId: string, view: ReviewView): Promise<void> {
    this.check('openDenyModal');
    this.calls.push({ method: 'openDenyModal', triggerId, view: structuredClone(view) });
  }
}

/**
 * Task callbacks the way Step Functions answers them: a token is good until it is used or
 * replaced (`expire`); after that, `TaskNotWaitingError`.
 */
export class MemoryTaskCallbacks implements TaskCallbacks {
  readonly succeeded: Array<{ taskToken: string; output: unknown }> = [];
  readonly failed: Array<{ taskToken: string; error: string; cause: string }> = [];
  private readonly closed = new Set<string>();

  expire(taskToken: string): void {
    this.closed.add(taskToken);
  }

  private take(taskToken: string): void {
    if (this.closed.has(taskToken)) throw new TaskNotWaitingError('TaskTimedOut', 'Task Timed Out: the task token is closed');
    this.closed.add(taskToken);
  }

  async succeed(taskToken: string, output: unknown): Promise<void> {
    this.take(taskToken);
    this.succeeded.push({ taskToken, output: structuredClone(output) });
  }

  async fail(taskToken: string, error: string, cause: string): Promise<void> {
    this.take(taskToken);
    this.failed.push({ taskToken, error, cause });
  }

  get calls(): number {
    return this.succeeded.length + this.failed.length;
  }
}
