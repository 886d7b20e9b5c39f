/**
 * `ReviewStore` on the decision table (the spine's single-table layout, extended).
 *
 * Partition `REQ#<actionId>` (the request's own partition):
 * - `REQUEST` (kind `request`, the spine's request item) gains:
 *   `reviewId` (set once, `if_not_exists`, by the first phase that runs: every retry and phase reuses it);
 *   `voteCount` (accepted votes: the version each vote's transaction checks, so two votes never
 *   tally from the same state); and, set once by the close whose condition is `outcome = pending`,
 *   `outcome`, `reason`, `reviewers`, `decidedAt`; then `outcomePublishedAt` once `Action Decided` is out.
 * - Immutable event items (kind `event`, each with the spine's denormalized fields: agent, action,
 *   resource, environment, payloadSha256, so the audit log needs no join), all written with
 *   `attribute_not_exists`:
 *   `EVENT#review_requested`, `EVENT#reminded`, `EVENT#escalated` (reviewId, phase, channel and
 *   message ts, `taskTokenSha256`: a hash, never the token);
 *   `EVENT#vote#<reviewerId>`: an accepted vote; the condition is what makes a double click one vote;
 *   `EVENT#vote_refused#<reviewerId>#<time>#<nonce>`: a refused attempt with its `rule` and `message`
 *   (the nonce keeps two refusals in the same millisecond apart);
 *   `EVENT#outcome`: how the workflow ended and the outcome on record.
 *
 * Partition `REVIEW#<reviewId>`, sort key `REVIEW` (kind `review`): the lookup the buttons' opaque id
 * resolves through: `actionId`, the current phase and `phaseRank`, the CURRENT `taskToken` (each
 * phase gets a new one; stored only here, server side), `taskTokenSha256`, `openedAt`, `deadlineAt`,
 * `escalatedTo`, `escalationExpiresAt`, `initialMessage` / `escalationMessage` (Slack {channel, ts}),
 * `teamsInitialMessage` / `teamsEscalationMessage` (Teams {channel: thread conversation id, ts: activity id}) and
 * `reminderNotedAt` / `escalationNotedAt`. This item holds a secret: the audit writer takes only
 * `kind = event` items from the stream.
 */
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../domain/canonical-json.js';
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { validUntilOf, type ReviewerVote } from '../../domain/decision.js';
import type { ExecutionSummary } from '../../domain/execution.js';
import { PHASE_RANK, type ReviewPhase } from '../../workflow/contract.js';
import type { MessageRef } from '../../ports/review.js';
import {
  MESSAGE_SLOTS,
  ReviewStoreError,
  type MessageSlot,
  type OpenReviewInput,
  type OpenReviewResult,
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
import { appendRequestEvent, currentEventSeq, eventItem, eventSeqUpdate, fromItem, ITEM, marshallOptions, queryAcceptedVotes, VOTE_SK_PREFIX } from './dynamo-decision-store.js';

export const REVIEW_ITEM = {
  pk: (reviewId: string) => `REVIEW#${reviewId}`,
  sk: 'REVIEW',
  votePrefix: VOTE_SK_PREFIX,
  refusalSk: (reviewerId: string, at: string, nonce: string) => ITEM.eventSk('vote_refused', `${reviewerId}#${at}#${nonce}`),
} as const;

export function taskTokenSha256(taskToken: string): string {
  return sha256Hex(taskToken);
}

interface ReviewItem {
  reviewId: string;
  actionId: string;
  phase: ReviewPhase;
  taskToken: string;
  taskTokenSha256: string;
  openedAt: string;
  deadlineAt: string;
  escalatedTo?: string;
  escalationExpiresAt?: string;
  agentId?: string;
  initialMessage?: MessageRef;
  escalationMessage?: MessageRef;
  teamsInitialMessage?: MessageRef;
  teamsEscalationMessage?: MessageRef;
  reminderNotedAt?: string;
  escalationNotedAt?: string;
}

function reviewOf(item: Record<string, AttributeValue>): ReviewRecord {
  const data = unmarshall(item) as ReviewItem;
  return {
    reviewId: data.reviewId,
    actionId: data.actionId,
    phase: data.phase,
    taskToken: data.taskToken,
    taskTokenSha256: data.taskTokenSha256,
    openedAt: data.openedAt,
    expiresAt: data.escalationExpiresAt ?? data.deadlineAt,
    escalatedTo: data.escalatedTo ?? null,
    ...(data.agentId === undefined ? {} : { agentId: data.agentId }),
    messages: Object.fromEntries(MESSAGE_SLOTS.flatMap((slot) => {
      const message = data[`${slot}Message`];
      return message === undefined ? [] : [[slot, message]];
    })),
    notes: {
      ...(data.reminderNotedAt === undefined ? {} : { reminder: data.reminderNotedAt }),
      ...(data.escalationNotedAt === undefined ? {} : { escalation: data.escalationNotedAt }),
    },
  };
}

function requestStateOf(item: Record<string, AttributeValue>): RequestState {
  const data = unmarshall(item) as { reviewId?: string; reviewers?: ReviewerVote[]; voteCount?: number; outcomePublishedAt?: string; execution?: ExecutionSummary; eventSeq?: number };
  return {
    record: fromItem(item),
    reviewId: data.reviewId ?? null,
    reviewers: data.reviewers ?? [],
    voteCount: data.voteCount ?? 0,
    outcomePublishedAt: data.outcomePublishedAt ?? null,
    execution: data.execution ?? null,
    ...(typeof data.eventSeq === 'number' ? { eventSeq: data.eventSeq } : {}),
  };
}

/** `SET #a = :a, ...` over the given fields, with `if_not_exists` for the ones listed. */
function setExpression(fields: Record<string, unknown>, keepExisting: readonly string[] = []) {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const parts = Object.entries(fields).filter(([, value]) => value !== undefined).map(([name, value]) => {
    names[`#${name}`] = name;
    values[`:${name}`] = value;
    return keepExisting.includes(name) ? `#${name} = if_not_exists(#${name}, :${name})` : `#${name} = :${name}`;
  });
  return { expression: `SET ${parts.join(', ')}`, names, values };
}

/** The review item's fields for a phase (`openedAt`, `deadlineAt` and `escalationExpiresAt` kept from the first that set them). */
function reviewSet(input: OpenReviewInput, reviewId: string) {
  const fields = {
    kind: 'review',
    reviewId,
    actionId: input.actionId,
    phase: input.phase,
    phaseRank: PHASE_RANK[input.phase],
    taskToken: input.taskToken,
    taskTokenSha256: taskTokenSha256(input.taskToken),
    updatedAt: input.at,
    openedAt: input.at,
    deadlineAt: input.deadlineAt,
    escalatedTo: input.escalation?.group,
    escalationExpiresAt: input.escalation?.expiresAt,
    agentId: input.agentId,
  };
  return { ...setExpression(fields, ['openedAt', 'deadlineAt', 'escalationExpiresAt']), fields };
}

export class DynamoReviewStore implements ReviewStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async openReview(input: OpenReviewInput): Promise<OpenReviewResult> {
    if (input.phase === 'initial') {
      const first = await this.openFirstReview(input);
      if (first !== undefined) return first;
    }
    let requestItem: Record<string, AttributeValue> | undefined;
    try {
      ({ Attributes: requestItem } = await this.client.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: ITEM.pk(input.actionId), sk: ITEM.requestSk }),
        UpdateExpression: 'SET #reviewId = if_not_exists(#reviewId, :reviewId)',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: { '#reviewId': 'reviewId' },
        ExpressionAttributeValues: marshall({ ':reviewId': input.candidateReviewId }),
        ReturnValues: 'ALL_NEW',
      })));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ReviewStoreError(`no request with actionId "${input.actionId}" is recorded, so no review can be opened for it`, { cause: error });
      }
      throw error;
    }
    if (requestItem === undefined) throw new ReviewStoreError(`opening the review of ${input.actionId} returned no request item`);
    const request = requestStateOf(requestItem);
    const reviewId = request.reviewId ?? input.candidateReviewId;

    const set = reviewSet(input, reviewId);
    let status: OpenReviewResult['status'] = 'opened';
    let reviewItem: Record<string, AttributeValue> | undefined;
    try {
      ({ Attributes: reviewItem } = await this.client.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: REVIEW_ITEM.pk(reviewId), sk: REVIEW_ITEM.sk }),
        UpdateExpression: set.expression,
        // A late retry of an earlier phase must not put back a token the workflow no longer waits on.
        ConditionExpression: 'attribute_not_exists(pk) OR #phaseRank <= :phaseRank',
        ExpressionAttributeNames: set.names,
        ExpressionAttributeValues: marshall(set.values, marshallOptions),
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      })));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      status = 'stale';
      reviewItem = error.Item;
    }
    if (reviewItem === undefined) throw new ReviewStoreError(`opening review ${reviewId} of ${input.actionId} returned no review item`);
    // Read the request again AFTER storing the token: a vote that closed it before this read is seen
    // here (the phase then hands over to recording); one that closes it after this read finds the new
    // token when it reads the review after its own write (castVote). Either way nobody waits in vain.
    const [freshItem, votes] = await Promise.all([this.get(ITEM.pk(input.actionId), ITEM.requestSk), this.votesOf(input.actionId)]);
    return { status, snapshot: { request: freshItem === undefined ? request : requestStateOf(freshItem), review: reviewOf(reviewItem), votes } };
  }

  /**
   * The first phase's first attempt, in one round trip instead of three: one transaction stores the review
   * item under the candidate id and that id on the request, on condition that the request exists, is pending
   * and has no review yet, while the request and its votes are read beside it. The transaction is what the
   * other path's read after storing the token establishes: at the moment the token was stored, the request
   * was open (a close after it finds this token, since the request now names this review). The request's
   * immutable fields come from the read beside it; what the transaction settled (the review id) is set on
   * it, and a close the read saw is kept (the phase then hands over to recording). Undefined when the
   * condition does not hold (a retry, a request closed or not recorded): the caller takes the general path,
   * which tells these apart.
   */
  private async openFirstReview(input: OpenReviewInput): Promise<OpenReviewResult | undefined> {
    const reviewId = input.candidateReviewId;
    const set = reviewSet(input, reviewId);
    const write = this.client.send(new TransactWriteItemsCommand({
      TransactItems: [
        {
          Update: {
            TableName: this.tableName,
            Key: marshall({ pk: REVIEW_ITEM.pk(reviewId), sk: REVIEW_ITEM.sk }),
            UpdateExpression: set.expression,
            // A fresh random id: an item under it would be another review's, never overwritten.
            ConditionExpression: 'attribute_not_exists(pk)',
            ExpressionAttributeNames: set.names,
            ExpressionAttributeValues: marshall(set.values, marshallOptions),
          },
        },
        {
          Update: {
            TableName: this.tableName,
            Key: marshall({ pk: ITEM.pk(input.actionId), sk: ITEM.requestSk }),
            UpdateExpression: 'SET #reviewId = :reviewId',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#reviewId) AND #outcome = :pending',
            ExpressionAttributeNames: { '#reviewId': 'reviewId', '#outcome': 'outcome' },
            ExpressionAttributeValues: marshall({ ':reviewId': reviewId, ':pending': 'pending' }),
          },
        },
      ],
    })).then(() => true, (error: unknown) => {
      if (error instanceof TransactionCanceledException) return false;
      throw error;
    });
    const [written, requestItem, votes] = await Promise.all([write, this.get(ITEM.pk(input.actionId), ITEM.requestSk), this.votesOf(input.actionId)]);
    if (!written || requestItem === undefined) return undefined;
    const request = requestStateOf(requestItem);
    return {
      status: 'opened',
      snapshot: {
        request: { ...request, reviewId },
        review: reviewOf(marshall(set.fields, marshallOptions)),
        votes,
      },
    };
  }

  async getReview(reviewId: string, actionId?: string): Promise<ReviewSnapshot | undefined> {
    if (actionId !== undefined) {
      // The three reads at once: one round trip instead of two (the request is known, so its key is).
      const [reviewItem, requestItem, votes] = await Promise.all([this.get(REVIEW_ITEM.pk(reviewId), REVIEW_ITEM.sk), this.get(ITEM.pk(actionId), ITEM.requestSk), this.votesOf(actionId)]);
      if (reviewItem === undefined) return undefined;
      const review = reviewOf(reviewItem);
      if (review.actionId === actionId && requestItem !== undefined) return { request: requestStateOf(requestItem), review, votes };
    }
    const reviewItem = await this.get(REVIEW_ITEM.pk(reviewId), REVIEW_ITEM.sk);
    if (reviewItem === undefined) return undefined;
    const review = reviewOf(reviewItem);
    const [requestItem, votes] = await Promise.all([this.get(ITEM.pk(review.actionId), ITEM.requestSk), this.votesOf(review.actionId)]);
    if (requestItem === undefined) throw new ReviewStoreError(`review ${reviewId} points at request ${review.actionId}, which is not recorded`);
    return { request: requestStateOf(requestItem), review, votes };
  }

  async findReview(reviewId: string): Promise<ReviewRecord | undefined> {
    const item = await this.get(REVIEW_ITEM.pk(reviewId), REVIEW_ITEM.sk);
    return item === undefined ? undefined : reviewOf(item);
  }

  async getByAction(actionId: string, reviewId?: string) {
    if (reviewId !== undefined) {
      // The three reads at once; the hint is used only when the request names that very review.
      const [requestItem, reviewItem, votes] = await Promise.all([this.get(ITEM.pk(actionId), ITEM.requestSk), this.get(REVIEW_ITEM.pk(reviewId), REVIEW_ITEM.sk), this.votesOf(actionId)]);
      if (requestItem === undefined) return undefined;
      const request = requestStateOf(requestItem);
      if (request.reviewId === reviewId && reviewItem !== undefined) return { request, review: reviewOf(reviewItem), votes };
    }
    const requestItem = await this.get(ITEM.pk(actionId), ITEM.requestSk);
    if (requestItem === undefined) return undefined;
    const request = requestStateOf(requestItem);
    const [reviewItem, votes] = await Promise.all([
      request.reviewId === null ? undefined : this.get(REVIEW_ITEM.pk(request.reviewId), REVIEW_ITEM.sk),
      this.votesOf(actionId),
    ]);
    return { request, review: reviewItem === undefined ? undefined : reviewOf(reviewItem), votes };
  }

  async saveMessage(reviewId: string, slot: MessageSlot, message: MessageRef): Promise<MessageRef> {
    const attribute = `${slot}Message`;
    const { Attributes } = await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: REVIEW_ITEM.pk(reviewId), sk: REVIEW_ITEM.sk }),
      UpdateExpression: 'SET #m = if_not_exists(#m, :m)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#m': attribute },
      ExpressionAttributeValues: marshall({ ':m': { channel: message.channel, ts: message.ts } }),
      ReturnValues: 'ALL_NEW',
    }));
    const kept = Attributes === undefined ? undefined : reviewOf(Attributes).messages[slot];
    return kept ?? message;
  }

  async markNoted(reviewId: string, note: 'reminder' | 'escalation', at: string): Promise<void> {
    await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: REVIEW_ITEM.pk(reviewId), sk: REVIEW_ITEM.sk }),
      UpdateExpression: 'SET #n = if_not_exists(#n, :at)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#n': note === 'reminder' ? 'reminderNotedAt' : 'escalationNotedAt' },
      ExpressionAttributeValues: marshall({ ':at': at }),
    }));
  }

  async recordReviewEvent(snapshot: ReviewSnapshot, type: ReviewEventType, at: string, details: Record<string, unknown>): Promise<boolean> {
    const { review } = snapshot;
    return this.putNew(snapshot.request.record.key, {
      ...details,
      ...eventItem(snapshot.request.record, type, at),
      reviewId: review.reviewId,
      phase: review.phase,
      taskTokenSha256: review.taskTokenSha256,
      expiresAt: review.expiresAt,
      escalatedTo: review.escalatedTo,
    }, snapshot.request.eventSeq);
  }

  async recordVote(write: VoteWrite): Promise<RecordVoteResult> {
    const { snapshot, vote, closing } = write;
    const record = snapshot.request.record;
    const seen = snapshot.request.voteCount;
    // The vote is the request's next event: its requestSeq moves with the tally, in one transaction.
    // The count read with the snapshot saves a read; if another event came since, the condition fails and the vote is judged again.
    const eventSeq = snapshot.request.eventSeq === undefined ? await currentEventSeq(this.client, this.tableName, record.key) : { seq: snapshot.request.eventSeq, stored: true };
    const seqUpdate = eventSeqUpdate(this.tableName, record.key, eventSeq);
    const voteItem = {
      ...eventItem(record, 'vote', vote.at, vote.id),
      requestSeq: eventSeq.seq + 1,
      reviewId: snapshot.review.reviewId,
      phase: snapshot.review.phase,
      reviewerId: vote.id,
      slackUserId: write.slackUserId,
      ...(write.teamsAadObjectId === undefined ? {} : { teamsAadObjectId: write.teamsAadObjectId }),
      vote: vote.vote,
      comment: vote.comment,
      closesRequest: closing?.outcome ?? null,
    };
    const update = setExpression({
      voteCount: seen + 1,
      ...(closing === null ? {} : { outcome: closing.outcome, reason: closing.reason, reviewers: closing.reviewers, decidedAt: closing.decidedAt }),
    });
    const command = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: this.tableName, Item: marshall(voteItem, marshallOptions), ConditionExpression: 'attribute_not_exists(pk)' } },
        {
          Update: {
            TableName: this.tableName,
            Key: marshall({ pk: ITEM.pk(record.key), sk: ITEM.requestSk }),
            UpdateExpression: `${update.expression}, ${seqUpdate.set}`,
            // Only while pending, only from the tally this vote was judged against, and only as the event after the last.
            ConditionExpression: `#outcome = :pending AND ${seen === 0 ? 'attribute_not_exists(#voteCount)' : '#voteCount = :seenVotes'} AND ${seqUpdate.ConditionExpression}`,
            ExpressionAttributeNames: { ...update.names, ...seqUpdate.names, '#outcome': 'outcome', '#voteCount': 'voteCount' },
            ExpressionAttributeValues: marshall({ ...update.values, ...seqUpdate.values, ':pending': 'pending', ...(seen === 0 ? {} : { ':seenVotes': seen }) }, marshallOptions),
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          },
        },
      ],
    });
    try {
      await this.client.send(command);
      return { status: 'recorded' };
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [voteReason, requestReason] = error.CancellationReasons ?? [];
      let staleSequence = false;
      if (requestReason?.Code === 'ConditionalCheckFailed') {
        const current = requestReason.Item ?? (await this.get(ITEM.pk(record.key), ITEM.requestSk));
        const state = current === undefined ? undefined : requestStateOf(current);
        if (state !== undefined && state.record.outcome !== 'pending') return { status: 'closed' };
        staleSequence = state !== undefined && state.voteCount === seen && state.eventSeq !== eventSeq.seq;
      }
      if (voteReason?.Code === 'ConditionalCheckFailed') return { status: 'already_voted' };
      if (staleSequence && voteReason?.Code === 'None') return { status: 'retry', staleSequence };
      const codes = [voteReason?.Code, requestReason?.Code];
      if (codes.includes('ConditionalCheckFailed') || codes.includes('TransactionConflict')) return { status: 'retry' };
      throw new ReviewStoreError(`recording ${vote.id}'s vote on ${record.key} was cancelled (${codes.join(', ')})`, { cause: error });
    }
  }

  async recordRefusal(write: RefusalWrite): Promise<void> {
    const nonce = randomBytes(4).toString('hex');
    await this.putNew(write.request.key, {
      ...eventItem(write.request, 'vote_refused', write.at, `${write.reviewerId}#${write.at}#${nonce}`),
      reviewId: write.reviewId,
      reviewerId: write.reviewerId,
      slackUserId: write.slackUserId,
      ...(write.teamsAadObjectId === undefined ? {} : { teamsAadObjectId: write.teamsAadObjectId }),
      vote: write.vote,
      comment: write.comment,
      rule: write.rule,
      message: write.message,
    });
  }

  async closeRequest(actionId: string, closing: { outcome: 'approved' | 'rejected' | 'expired'; reason: string; reviewers: ReviewerVote[]; decidedAt: string }): Promise<boolean> {
    const set = setExpression({ outcome: closing.outcome, reason: closing.reason, reviewers: closing.reviewers, decidedAt: closing.decidedAt });
    try {
      await this.client.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: marshall({ pk: ITEM.pk(actionId), sk: ITEM.requestSk }),
        UpdateExpression: set.expression,
        ConditionExpression: '#outcome = :pending',
        ExpressionAttributeNames: set.names,
        ExpressionAttributeValues: marshall({ ...set.values, ':pending': 'pending' }, marshallOptions),
      }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async recordOutcome(write: OutcomeWrite): Promise<boolean> {
    return this.putNew(write.request.key, {
      ...eventItem(write.request, 'outcome', write.at),
      reviewId: write.reviewId,
      workflowOutcome: write.workflowOutcome,
      outcome: write.outcome,
      reason: write.reason,
      reviewers: write.reviewers,
      decidedAt: write.decidedAt,
      validUntil: validUntilOf(write.outcome, write.decidedAt, write.request.validForSeconds),
    }, write.eventSeq);
  }

  async markOutcomePublished(actionId: string, at: string): Promise<void> {
    await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: ITEM.pk(actionId), sk: ITEM.requestSk }),
      UpdateExpression: 'SET #p = if_not_exists(#p, :at)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeNames: { '#p': 'outcomePublishedAt' },
      ExpressionAttributeValues: marshall({ ':at': at }),
    }));
  }

  /** A new event item of the request `key`, numbered after its last one; false when it exists already. */
  private putNew(key: string, item: Record<string, unknown>, eventSeq?: number): Promise<boolean> {
    return appendRequestEvent(this.client, this.tableName, key, item, undefined, {}, eventSeq);
  }

  private async get(pk: string, sk: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk, sk }), ConsistentRead: true }));
    return Item;
  }

  private votesOf(actionId: string): Promise<ReviewerVote[]> {
    return queryAcceptedVotes(this.client, this.tableName, actionId);
  }
}
