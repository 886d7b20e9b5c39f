import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactionConflictException,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { canonicalJson } from '../../domain/canonical-json.js';
import type { DecisionView, ReviewerVote } from '../../domain/decision.js';
import type { ExecutionSummary } from '../../domain/execution.js';
import { agentIdOfSource, decidedDetailOf } from '../../domain/decision.js';
import type { DecisionStore, RecordResult, RequestRecord } from '../../ports/index.js';
import {
  AUDIT_EVENT_MARK, decidedEventItem, eventIdOf, eventItem, ITEM, rawDetailFields, requestRecordOf, shadowFields, type RequestItemData,
} from '../../domain/request-items.js';

/**
 * Item layout of the decision table: one mutable request item and immutable event items per request
 * (`ITEM`, shared/domain/request-items.ts).
 *
 * Every event carries `requestSeq`, its place among its request's events (`requested` is 1,
 * `decided` 2, then each later event the next number), written in the same transaction that moves
 * the request item's `eventSeq` from the number before it. So the audit log alone shows a hole: a
 * request whose events are not 1..n with no gap lost some on the way. The `requested` event has no item
 * of its own since issue 15: the request item's INSERT is its source (request-items.ts).
 */
export { ITEM, eventItem, type EventType } from '../../domain/request-items.js';

/** The sort key prefix of accepted votes (`EVENT#vote#<reviewerId>`); refusals are `EVENT#vote_refused#…`. */
export const VOTE_SK_PREFIX = 'EVENT#vote#';

/** A request's accepted votes, oldest first, read consistently (the review store and the decision API). */
export async function queryAcceptedVotes(client: DynamoDBClient, tableName: string, actionId: string): Promise<ReviewerVote[]> {
  const votes: ReviewerVote[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: marshall({ ':pk': ITEM.pk(actionId), ':prefix': VOTE_SK_PREFIX }),
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }));
    for (const item of page.Items ?? []) {
      const data = unmarshall(item) as { reviewerId: string; vote: 'approve' | 'deny'; occurredAt: string; comment?: string };
      votes.push({ id: data.reviewerId, vote: data.vote, at: data.occurredAt, ...(data.comment === undefined ? {} : { comment: data.comment }) });
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return votes.sort((a, b) => a.at.localeCompare(b.at) || a.id.localeCompare(b.id));
}

/**
 * Every event's id and time as the table holds them (the reconciliation's side): the event items, and
 * the request items marked as their `requested` event's source (request-items.ts), whose event is
 * `<key>/requested` at `receivedAt`. Reads only those attributes and the keys: the IAM grant for it
 * allows no other attribute (review items hold task tokens).
 */
export async function scanEventItems(client: DynamoDBClient, tableName: string): Promise<Array<{ eventId: string; occurredAt: string }>> {
  const items: Array<{ eventId: string; occurredAt: string }> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({
      TableName: tableName,
      Select: 'SPECIFIC_ATTRIBUTES',
      ProjectionExpression: '#kind, #eventId, #occurredAt, #key, #receivedAt, #mark',
      FilterExpression: '#kind = :event OR (#kind = :request AND #mark = :requested)',
      ExpressionAttributeNames: { '#kind': 'kind', '#eventId': 'eventId', '#occurredAt': 'occurredAt', '#key': 'key', '#receivedAt': 'receivedAt', '#mark': AUDIT_EVENT_MARK.attribute },
      ExpressionAttributeValues: { ':event': { S: 'event' }, ':request': { S: 'request' }, ':requested': { S: AUDIT_EVENT_MARK.value } },
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }));
    for (const item of page.Items ?? []) {
      if (item.kind?.S === 'request') {
        if (item.key?.S !== undefined) items.push({ eventId: eventIdOf(item.key.S, 'requested'), occurredAt: item.receivedAt?.S ?? '' });
      } else if (item.eventId?.S !== undefined) items.push({ eventId: item.eventId.S, occurredAt: item.occurredAt?.S ?? '' });
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}

/** Reads one item by its key, consistently (the redrive's source of truth for a failed record's content). */
export function dynamoEventItemReader(client: DynamoDBClient, tableName: string) {
  return async (pk: string, sk: string): Promise<Record<string, AttributeValue> | undefined> => {
    const { Item } = await client.send(new GetItemCommand({ TableName: tableName, Key: marshall({ pk, sk }), ConsistentRead: true }));
    return Item;
  };
}

const MAX_TRANSACTION_ATTEMPTS = 8;

export class DecisionStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DecisionStoreError';
  }
}

type RequestItem = RequestItemData & {
  pk: string;
  sk: string;
  kind: 'request';
  /** Marks this item's INSERT as the source of the `requested` event (request-items.ts). */
  auditEvent: typeof AUDIT_EVENT_MARK.value;
  reviewers: ReviewerVote[];
  /** How many events the request has: the `requestSeq` of its newest. */
  eventSeq: number;
};

/** The request item of a record (marked as its requested event's source). */
export function toItem(record: RequestRecord): RequestItem {
  return {
    pk: ITEM.pk(record.key),
    sk: ITEM.requestSk,
    kind: 'request',
    [AUDIT_EVENT_MARK.attribute]: AUDIT_EVENT_MARK.value,
    key: record.key,
    actionId: record.actionId,
    fingerprint: record.fingerprint,
    eventId: record.eventId,
    source: record.source,
    receivedAt: record.receivedAt,
    // Parameters are kept as canonical JSON text: DynamoDB numbers would round large or precise values.
    requestJson: record.request === null ? null : canonicalJson(record.request),
    rawDetail: record.rawDetail,
    ...rawDetailFields(record),
    payloadSha256: record.payloadSha256,
    outcome: record.outcome,
    reason: record.reason,
    policyIds: record.policyIds,
    approval: record.approval,
    validForSeconds: record.validForSeconds,
    decidedAt: record.decidedAt,
    ...shadowFields(record),
    reviewers: [],
    eventSeq: 2,
  };
}

export function fromItem(item: Record<string, AttributeValue>): RequestRecord {
  return requestRecordOf(unmarshall(item) as RequestItemData);
}

export const marshallOptions = { removeUndefinedValues: true, convertClassInstanceToMap: false } as const;

/**
 * The request's `eventSeq` as stored now (read consistently). A request recorded before sequence
 * numbers existed has none: its event items are counted instead, and the first append sets it.
 */
export async function currentEventSeq(client: DynamoDBClient, tableName: string, key: string): Promise<{ seq: number; stored: boolean }> {
  const { Item } = await client.send(new GetItemCommand({
    TableName: tableName,
    Key: marshall({ pk: ITEM.pk(key), sk: ITEM.requestSk }),
    ConsistentRead: true,
    ProjectionExpression: 'pk, eventSeq',
  }));
  if (Item === undefined) throw new DecisionStoreError(`no request "${key}" is recorded, so no event can be added to it`);
  const stored = Item.eventSeq?.N;
  if (stored !== undefined) return { seq: Number(stored), stored: true };
  let count = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: marshall({ ':pk': ITEM.pk(key), ':prefix': 'EVENT#' }),
      Select: 'COUNT',
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }));
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return { seq: count, stored: false };
}

/** The request item's part of an event's transaction: `eventSeq` moves from `seen` to `seen + 1`, and only from there. */
export function eventSeqUpdate(tableName: string, key: string, seen: { seq: number; stored: boolean }) {
  return {
    TableName: tableName,
    Key: marshall({ pk: ITEM.pk(key), sk: ITEM.requestSk }),
    ConditionExpression: seen.stored ? '#eventSeq = :seen' : 'attribute_exists(pk) AND attribute_not_exists(#eventSeq)',
    names: { '#eventSeq': 'eventSeq' },
    values: { ':next': seen.seq + 1, ...(seen.stored ? { ':seen': seen.seq } : {}) },
    set: '#eventSeq = :next',
  };
}

/**
 * Adds an immutable event item to a request with the next `requestSeq`, in one transaction with the
 * request's `eventSeq`. False when an item with that key exists already (a redelivery). Another event
 * of the same request written at the same moment makes the transaction fail: read again and retry.
 */
export async function appendRequestEvent(
  client: DynamoDBClient,
  tableName: string,
  key: string,
  item: Record<string, unknown>,
  pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  /** More of the request item to set in the same transaction (e.g. its `execution`). */
  requestFields: Record<string, unknown> = {},
  /** The request's `eventSeq` as the caller read it: the first attempt starts from it instead of reading it. */
  knownEventSeq?: number,
): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const hinted = attempt === 1 && knownEventSeq !== undefined;
    const seen = hinted ? { seq: knownEventSeq, stored: true } : await currentEventSeq(client, tableName, key);
    const update = withRequestFields(eventSeqUpdate(tableName, key, seen), requestFields);
    try {
      await client.send(new TransactWriteItemsCommand({
        TransactItems: [
          { Put: { TableName: tableName, Item: marshall({ ...item, requestSeq: seen.seq + 1 }, marshallOptions), ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Update: {
              TableName: update.TableName, Key: update.Key, UpdateExpression: `SET ${update.set}`, ConditionExpression: update.ConditionExpression,
              ExpressionAttributeNames: update.names, ExpressionAttributeValues: marshall(update.values, marshallOptions),
            },
          },
        ],
      }));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const [eventReason, requestReason] = error.CancellationReasons ?? [];
      if (eventReason?.Code === 'ConditionalCheckFailed') return false;
      const racing = requestReason?.Code === 'ConditionalCheckFailed' || [eventReason?.Code, requestReason?.Code].includes('TransactionConflict');
      if (racing && attempt < MAX_EVENT_APPEND_ATTEMPTS) {
        // A stale hint is no race with another writer: read the count and try again at once.
        if (!hinted) await pause(Math.random() * 10 * 2 ** Math.min(attempt, 6));
        continue;
      }
      throw new DecisionStoreError(`adding event ${String(item.sk)} to request ${key} was cancelled (${(error.CancellationReasons ?? []).map((r) => r.Code).join(', ')}) after ${attempt} attempt(s)`, { cause: error });
    }
  }
}

const MAX_EVENT_APPEND_ATTEMPTS = 20;

type SeqUpdate = ReturnType<typeof eventSeqUpdate>;

function withRequestFields(update: SeqUpdate, fields: Record<string, unknown>): Omit<SeqUpdate, 'names' | 'values'> & { names: Record<string, string>; values: Record<string, unknown> } {
  const entries = Object.entries(fields);
  if (entries.length === 0) return update;
  const names: Record<string, string> = { ...update.names };
  const values: Record<string, unknown> = { ...update.values };
  const sets = [update.set];
  entries.forEach(([name, value], index) => {
    names[`#f${index}`] = name;
    values[`:f${index}`] = value;
    sets.push(`#f${index} = :f${index}`);
  });
  return { ...update, names, values, set: sets.join(', ') };
}

/** `DecisionStore` on one DynamoDB table (single-table layout, see `ITEM`). */
export class DynamoDecisionStore implements DecisionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /**
   * One conditional PutItem of the request item (the `requested` event's source, request-items.ts), then
   * one of the `decided` event item: 2 write units for a decision up to 1 KB each, where the earlier
   * 3-item transaction cost 6 (transactions bill twice). The two writes are not atomic: a delivery that
   * dies between them leaves the request without its `decided` event, and the redelivery (EventBridge
   * retries a failed invocation) writes it, as any later send of the same request does.
   */
  async recordRequest(record: RequestRecord): Promise<RecordResult> {
    const existing = await this.putRequestItem(record);
    if (existing === undefined) {
      await this.putDecidedEvent(record);
      return { status: 'created', record };
    }
    // The decision on record, not this delivery's: a review may have closed it since, but then its
    // `decided` event was written before the review began (the hand-off comes after it), and this put is a
    // no-op. Before a conflict's refusal too, so that the refusal (event 3) never lands without event 2.
    const completed = await this.putDecidedEvent(existing);
    if (existing.fingerprint === record.fingerprint) return { status: 'duplicate', record: existing, completed };
    await this.recordConflict(record);
    return { status: 'conflict', record: existing, conflictFingerprint: record.fingerprint };
  }

  /** Writes the request item if its key is new (undefined); else the request recorded under that key. */
  private async putRequestItem(record: RequestRecord): Promise<RequestRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(toItem(record), marshallOptions),
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }));
        return undefined;
      } catch (error) {
        if (error instanceof TransactionConflictException && attempt < MAX_TRANSACTION_ATTEMPTS) {
          // The item exists and a transaction (a conflict's refusal, an event) is changing it right now: look again.
          await this.pause(Math.random() * 20 * 2 ** attempt);
          continue;
        }
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const existing = error.Item !== undefined ? fromItem(error.Item) : await this.getRecord(record.key);
        if (existing === undefined) throw new DecisionStoreError(`recording request ${record.key} failed its condition but no earlier request exists`, { cause: error });
        return existing;
      }
    }
  }

  /** The `decided` event item, if it is not there yet (true when it was written now). */
  private async putDecidedEvent(record: RequestRecord): Promise<boolean> {
    try {
      await this.client.send(new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(decidedEventItem(record), marshallOptions),
        ConditionExpression: 'attribute_not_exists(pk)',
      }));
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return false;
    }
  }

  private async recordConflict(refused: RequestRecord): Promise<void> {
    const item = {
      ...eventItem(refused, 'conflict', refused.receivedAt, refused.fingerprint),
      reason: `actionId "${refused.key}" was already used for a different request; this one was refused (send a new actionId)`,
      refusedFingerprint: refused.fingerprint,
      requestJson: refused.request === null ? null : canonicalJson(refused.request),
      rawDetail: refused.rawDetail,
      ...rawDetailFields(refused),
    };
    // The same conflicting request delivered again: its refusal is already recorded (false).
    await appendRequestEvent(this.client, this.tableName, refused.key, item, this.pause);
  }

  private async getItem(key: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: ITEM.pk(key), sk: ITEM.requestSk }),
      ConsistentRead: true,
    }));
    return Item;
  }

  async getRecord(key: string): Promise<RequestRecord | undefined> {
    const item = await this.getItem(key);
    return item === undefined ? undefined : fromItem(item);
  }

  /** The decision; while a review is open, `reviewers` are the votes counted so far. */
  async getDecision(actionId: string): Promise<DecisionView | undefined> {
    return (await this.getDecisionWithAgent(actionId))?.decision;
  }

  async getDecisionWithAgent(actionId: string, readableBy?: (agentId: string) => boolean): Promise<{ decision: DecisionView; agentId: string } | undefined> {
    const item = await this.getItem(actionId);
    if (item === undefined) return undefined;
    const record = fromItem(item);
    const agentId = agentIdOfSource(record.source);
    if (readableBy !== undefined && !readableBy(agentId)) return undefined;
    const { reviewers, execution } = unmarshall(item) as Pick<RequestItem, 'reviewers'> & { execution?: ExecutionSummary };
    const decided = { ...decidedDetailOf(record), execution: execution ?? null };
    if (decided.outcome === 'pending') return { decision: { ...decided, reviewers: await queryAcceptedVotes(this.client, this.tableName, actionId) }, agentId };
    return { decision: { ...decided, reviewers: reviewers ?? [] }, agentId };
  }
}
