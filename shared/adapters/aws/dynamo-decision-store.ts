import {
  GetItemCommand,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { canonicalJson } from '../../domain/canonical-json.js';
import type { ActionRequest } from '../../domain/contract.js';
import { payloadOf } from '../../domain/payload.js';
import type { DecisionView, Outcome, ReviewerVote } from '../../domain/decision.js';
import type { ExecutionSummary } from '../../domain/execution.js';
import { decidedDetailOf } from '../../domain/decision.js';
import type { DecisionStore, RecordResult, RequestRecord } from '../../ports/index.js';

/**
 * Item layout of the decision table: one mutable request item and immutable event items per request.
 *
 * Every event item carries `requestSeq`, its place among its request's events (`requested` is 1,
 * `decided` 2, then each later event the next number), written in the same transaction that moves
 * the request item's `eventSeq` from the number before it. So the audit log alone shows a hole: a
 * request whose events are not 1..n with no gap lost some on the way.
 */
export const ITEM = {
  pk: (key: string) => `REQ#${key}`,
  requestSk: 'REQUEST',
  eventSk: (type: string, discriminator?: string) => (discriminator === undefined ? `EVENT#${type}` : `EVENT#${type}#${discriminator}`),
} as const;

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
 * Every event item's id and time (the reconciliation's side of the table). Reads only `kind`,
 * `eventId` and `occurredAt`: the IAM grant for it allows no other attribute (review items hold
 * task tokens).
 */
export async function scanEventItems(client: DynamoDBClient, tableName: string): Promise<Array<{ eventId: string; occurredAt: string }>> {
  const items: Array<{ eventId: string; occurredAt: string }> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(new ScanCommand({
      TableName: tableName,
      Select: 'SPECIFIC_ATTRIBUTES',
      ProjectionExpression: '#kind, #eventId, #occurredAt',
      FilterExpression: '#kind = :event',
      ExpressionAttributeNames: { '#kind': 'kind', '#eventId': 'eventId', '#occurredAt': 'occurredAt' },
      ExpressionAttributeValues: { ':event': { S: 'event' } },
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }));
    for (const item of page.Items ?? []) {
      if (item.eventId?.S !== undefined) items.push({ eventId: item.eventId.S, occurredAt: item.occurredAt?.S ?? '' });
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

/** Event item types: the spine's, the review's (written by `DynamoReviewStore`), the execution reports' (`DynamoExecutionStore`) and the credentials API's (`DynamoCredentialsStore`). */
export type EventType = 'requested' | 'decided' | 'conflict' | 'review_requested' | 'reminded' | 'escalated' | 'vote' | 'vote_refused' | 'outcome'
  | 'executed' | 'execution_violation' | 'credentials_issued' | 'credentials_refused' | 'credentials_failed';

const MAX_TRANSACTION_ATTEMPTS = 8;

export class DecisionStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DecisionStoreError';
  }
}

/** What an item keeps of an invalid request's raw detail: set only for an invalid request. */
type RawDetailFields = { rawDetailSha256?: string; rawDetailBytes?: number; rawDetailTruncated?: true };

/**
 * The raw-detail fields of a record as item attributes: absent for a valid request. The text itself
 * (`rawDetail`) is already bounded by intake (whole up to 256 KiB, else a 16 KiB prefix), so the request
 * item and the `requested` event item each stay under DynamoDB's 400 KB.
 */
function rawDetailFields(record: RequestRecord): RawDetailFields {
  if (record.rawDetailSha256 === null || record.rawDetailBytes === null) return {};
  return { rawDetailSha256: record.rawDetailSha256, rawDetailBytes: record.rawDetailBytes, ...(record.rawDetailTruncated ? { rawDetailTruncated: true } : {}) };
}

/** The stored form of a `RequestRecord`: the request as canonical JSON text, plus keys and reviewers. */
/** The shadow set's answer as item attributes (issue 16): absent when there was none. */
type ShadowFields = { shadowOutcome?: Outcome; shadowPolicyIds?: string[]; shadowReason?: string };

function shadowFields(record: RequestRecord): ShadowFields {
  if (record.shadow === undefined) return {};
  return { shadowOutcome: record.shadow.outcome, shadowPolicyIds: record.shadow.policyIds, shadowReason: record.shadow.reason };
}

type RequestItem = Omit<RequestRecord, 'request' | 'dispatchedAt' | 'shadow' | keyof RawDetailFields> & RawDetailFields & ShadowFields & {
  pk: string;
  sk: string;
  kind: 'request';
  requestJson: string | null;
  /** Absent until set: `if_not_exists` treats a stored NULL as present. */
  dispatchedAt?: string;
  reviewers: ReviewerVote[];
  /** How many event items the request has: the `requestSeq` of its newest. */
  eventSeq: number;
};

function toItem(record: RequestRecord): RequestItem {
  return {
    pk: ITEM.pk(record.key),
    sk: ITEM.requestSk,
    kind: 'request',
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
    dispatchedAt: record.dispatchedAt ?? undefined,
    ...shadowFields(record),
    reviewers: [],
    eventSeq: 2,
  };
}

export function fromItem(item: Record<string, AttributeValue>): RequestRecord {
  const data = unmarshall(item) as RequestItem;
  return {
    key: data.key,
    actionId: data.actionId ?? null,
    fingerprint: data.fingerprint,
    eventId: data.eventId,
    source: data.source,
    receivedAt: data.receivedAt,
    request: data.requestJson ? (JSON.parse(data.requestJson) as ActionRequest) : null,
    rawDetail: data.rawDetail ?? null,
    rawDetailSha256: data.rawDetailSha256 ?? null,
    rawDetailBytes: data.rawDetailBytes ?? null,
    rawDetailTruncated: data.rawDetailTruncated === true,
    payloadSha256: data.payloadSha256 ?? null,
    outcome: data.outcome,
    reason: data.reason,
    policyIds: data.policyIds ?? [],
    approval: data.approval ?? null,
    validForSeconds: data.validForSeconds ?? null,
    decidedAt: data.decidedAt ?? null,
    dispatchedAt: data.dispatchedAt ?? null,
    ...(data.shadowOutcome === undefined ? {} : { shadow: { outcome: data.shadowOutcome, policyIds: data.shadowPolicyIds ?? [], reason: data.shadowReason ?? '' } }),
  };
}

/** Fields every event item carries, so the audit log and queries need no join. */
export function eventItem(record: RequestRecord, type: EventType, occurredAt: string, discriminator?: string) {
  const request = record.request;
  return {
    pk: ITEM.pk(record.key),
    sk: ITEM.eventSk(type, discriminator),
    kind: 'event',
    eventId: discriminator === undefined ? `${record.key}/${type}` : `${record.key}/${type}/${discriminator}`,
    eventType: type,
    occurredAt,
    key: record.key,
    actionId: record.actionId,
    sourceEventId: record.eventId,
    source: record.source,
    agentId: request?.agent.id ?? null,
    onBehalfOf: request?.agent.onBehalfOf ?? null,
    action: request?.action ?? null,
    resourceType: request?.resource.type ?? null,
    resourceId: request?.resource.id ?? null,
    environment: request?.environment ?? null,
    payloadSha256: record.payloadSha256,
  };
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

function isTransactionConflict(error: TransactionCanceledException): boolean {
  return (error.CancellationReasons ?? []).some((reason) => reason.Code === 'TransactionConflict');
}

/** `DecisionStore` on one DynamoDB table (single-table layout, see `ITEM`). */
export class DynamoDecisionStore implements DecisionStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  async recordRequest(record: RequestRecord): Promise<RecordResult> {
    // The request in full as the policy saw it (requestJson), and the canonical text its payloadSha256 is
    // the hash of (payloadJson), so that a replay can decide it again and re-check the hash from the log alone.
    const requested = {
      ...eventItem(record, 'requested', record.receivedAt),
      requestSeq: 1,
      requestJson: toItem(record).requestJson,
      // fingerprint: the same hash, also for a request the policy found invalid (whose payloadSha256 is null).
      ...(record.request === null ? {} : { payloadJson: canonicalJson(payloadOf(record.request)), fingerprint: record.fingerprint }),
      rawDetail: record.rawDetail,
      ...rawDetailFields(record),
    };
    const decided = {
      ...eventItem(record, 'decided', record.decidedAt ?? record.receivedAt),
      requestSeq: 2,
      outcome: record.outcome,
      reason: record.reason,
      policyIds: record.policyIds,
      approval: record.approval,
      validForSeconds: record.validForSeconds,
      validUntil: decidedDetailOf(record).validUntil,
      ...shadowFields(record),
    };
    const newOnly = { ConditionExpression: 'attribute_not_exists(pk)' };
    const command = new TransactWriteItemsCommand({
      TransactItems: [
        { Put: { TableName: this.tableName, Item: marshall(toItem(record), marshallOptions), ...newOnly, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
        { Put: { TableName: this.tableName, Item: marshall(requested, marshallOptions), ...newOnly } },
        { Put: { TableName: this.tableName, Item: marshall(decided, marshallOptions), ...newOnly } },
      ],
    });
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(command);
        return { status: 'created', record };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        if (isTransactionConflict(error) && attempt < MAX_TRANSACTION_ATTEMPTS) {
          // Another delivery of the same request is writing right now: wait and look again.
          await this.pause(Math.random() * 20 * 2 ** attempt);
          continue;
        }
        const existingItem = error.CancellationReasons?.[0]?.Item;
        const existing = existingItem !== undefined ? fromItem(existingItem) : await this.getRecord(record.key);
        if (existing === undefined) {
          throw new DecisionStoreError(`recording request ${record.key} was cancelled (${(error.CancellationReasons ?? []).map((r) => r.Code).join(', ')}) but no earlier request exists`, { cause: error });
        }
        if (existing.fingerprint === record.fingerprint) return { status: 'duplicate', record: existing };
        await this.recordConflict(record);
        return { status: 'conflict', record: existing, conflictFingerprint: record.fingerprint };
      }
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

  async markDispatched(key: string, at: string): Promise<void> {
    await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: marshall({ pk: ITEM.pk(key), sk: ITEM.requestSk }),
      UpdateExpression: 'SET dispatchedAt = if_not_exists(dispatchedAt, :at)',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: marshall({ ':at': at }),
    }));
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
    const item = await this.getItem(actionId);
    if (item === undefined) return undefined;
    const { reviewers, execution } = unmarshall(item) as Pick<RequestItem, 'reviewers'> & { execution?: ExecutionSummary };
    const decided = { ...decidedDetailOf(fromItem(item)), execution: execution ?? null };
    if (decided.outcome === 'pending') return { ...decided, reviewers: await queryAcceptedVotes(this.client, this.tableName, actionId) };
    return { ...decided, reviewers: reviewers ?? [] };
  }
}
