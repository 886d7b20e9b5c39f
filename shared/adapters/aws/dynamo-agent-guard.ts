import {
  GetItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  ConditionalCheckFailedException,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { countRejection, judgeAdmission, MAX_AUTO_QUARANTINE_WINDOW_MINUTES, violationAlertWindow, type AlertAllowance, type AutoQuarantineRule, type CountedRejection, type LimitName, type Quarantine, type TokenBucket, type ViolationAlertLimit } from '../../domain/flood-control.js';
import type { AdmissionRequest, AdmitResult, AgentGuard, AgentStatus, AutoQuarantine, LiftResult, QuarantineResult, TrippedQuarantine } from '../../ports/agent-guard.js';
import { DECISION_TABLE } from '../../store-schema.js';
import { marshallOptions } from './dynamo-decision-store.js';

/**
 * Item layout of an agent's flood-control state, beside the requests in the decision table:
 * - `STATE`: the open-review count, the token bucket, the quarantine, the burst, and `eventSeq`;
 * - `PENDING#<payloadSha256>`: one per request holding an open-review slot (its actionId), so a second
 *   request with the same payload finds the first, and a quarantine finds the reviews to close;
 * - `COUNTED-REJECTION#<actionId>`: a reviewer rejection counted toward automatic quarantine (outside the
 *   PENDING#…STATE range that `status` reads);
 * - `EVENT#<type>#<seq>`: the immutable audit event items of quarantine and lift (`kind: event`).
 */
export const AGENT_ITEM = {
  pk: (agentId: string) => `AGENT#${agentId}`,
  stateSk: 'STATE',
  pendingSk: (payloadSha256: string) => `PENDING#${payloadSha256}`,
  pendingPrefix: 'PENDING#',
  /** One per request whose rejection was counted toward automatic quarantine: a retried count finds it. */
  rejectionSk: (actionId: string) => `COUNTED-REJECTION#${actionId}`,
  eventSk: (type: string, seq: number) => `EVENT#${type}#${String(seq).padStart(6, '0')}`,
  /** The count of a reporter's violation alerts under one rule in one window (its start); after `STATE`, so the status query does not read it. */
  violationAlertsSk: (rule: string, windowStart: string) => `VIOLATION-ALERTS#${rule}#${windowStart}`,
} as const;

/**
 * When a counted-rejection marker may go (epoch seconds, the table's TTL): it stops a retried count
 * counting a rejection twice, which matters only while the rejection can still be in a window. It
 * outlives the longest window the directory allows (a week) by a day, whatever the rule is now.
 */
export const REJECTION_MARKER_KEEP_MS = (MAX_AUTO_QUARANTINE_WINDOW_MINUTES * 60 + 24 * 3600) * 1000;
export function rejectionMarkerExpiry(rejectedAtMs: number): number {
  return Math.ceil((rejectedAtMs + REJECTION_MARKER_KEEP_MS) / 1000);
}

/** What the `agent_quarantined` event item says, beside the detail its caller gives (who, through what). */
function quarantineEvent(quarantine: Quarantine, detail: Record<string, unknown>): Record<string, unknown> {
  return { ...detail, occurredAt: quarantine.at, by: quarantine.by, reason: quarantine.reason, origin: quarantine.origin };
}

/** The audit log's request key of an agent's own events, so its quarantines and lifts are numbered 1..n like a request's. */
export const agentEventKey = (agentId: string) => `agent/${agentId}`;

/** A new burst starts when the agent had no limit denial for this long. */
export const BURST_QUIET_MS = 15 * 60_000;

const MAX_ATTEMPTS = 60;

export class AgentGuardError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AgentGuardError';
  }
}

interface StateItem {
  openReviews?: number;
  tokens?: number;
  refilledAtMs?: number;
  bucketVersion?: number;
  quarantine?: Quarantine;
  eventSeq?: number;
  burstStartedAt?: string;
  burstLimit?: LimitName;
  burstDenied?: number;
  lastLimitedAt?: string;
  recentRejections?: CountedRejection[];
  rejectionsVersion?: number;
}

function bucketOf(state: StateItem | undefined): TokenBucket | undefined {
  return state?.tokens === undefined || state.refilledAtMs === undefined ? undefined : { tokens: state.tokens, refilledAtMs: state.refilledAtMs };
}

/** `AgentGuard` on the decision table. */
export class DynamoAgentGuard implements AgentGuard {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  private async get(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall({ pk, sk }), ConsistentRead: true }));
    return Item === undefined ? undefined : unmarshall(Item);
  }

  private async state(agentId: string): Promise<StateItem | undefined> {
    return (await this.get(AGENT_ITEM.pk(agentId), AGENT_ITEM.stateSk)) as StateItem | undefined;
  }

  async quarantineOf(agentId: string): Promise<Quarantine | null> {
    return (await this.state(agentId))?.quarantine ?? null;
  }

  async admit(request: AdmissionRequest): Promise<AdmitResult> {
    const pk = AGENT_ITEM.pk(request.agentId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const [state, marker] = await Promise.all([this.state(request.agentId), this.get(pk, AGENT_ITEM.pendingSk(request.payloadSha256))]);
      const pendingActionId = typeof marker?.actionId === 'string' ? marker.actionId : null;
      const bucket = bucketOf(state);
      // A redelivery of this very request: it holds its slot (and spent its token) already, and is recorded
      // (or about to be) as the decision it got then; judging it again against limits it fills would count a
      // limit denial that never reaches the agent.
      // Not when the agent was quarantined since: the quarantine is judged first, whatever the request holds.
      if (pendingActionId === request.actionId && state?.quarantine === undefined) return { admitted: true, bucket: bucket ?? { tokens: request.limits.maxApprovalRequestsPerHour, refilledAtMs: request.now.getTime() }, tookSlot: false };
      const verdict = judgeAdmission(request.agentId, request.actionId, {
        quarantine: state?.quarantine ?? null,
        pendingWithSamePayload: pendingActionId,
        openReviews: state?.openReviews ?? 0,
        bucket,
      }, request.limits, request.now);
      if (!verdict.admitted) return verdict;

      const names: Record<string, string> = { '#open': 'openReviews', '#tokens': 'tokens', '#refilled': 'refilledAtMs', '#q': 'quarantine', '#kind': 'kind', '#agent': 'agentId' };
      const values: Record<string, unknown> = { ':one': 1, ':max': request.limits.maxOpenReviews, ':tokens': verdict.bucket.tokens, ':now': verdict.bucket.refilledAtMs, ':kind': 'agent', ':agent': request.agentId };
      // The bucket is taken from exactly the state it was computed on (its version, which every take moves on:
      // two takes in the same millisecond leave the same refilledAtMs); the open count only has to stay under the limit.
      names['#version'] = 'bucketVersion';
      let bucketCondition = 'attribute_not_exists(#version)';
      if (state?.bucketVersion !== undefined) {
        bucketCondition = '#version = :seenVersion';
        values[':seenVersion'] = state.bucketVersion;
      }
      try {
        await this.updateStateAndPut(pk, {
          expression: 'SET #tokens = :tokens, #refilled = :now, #kind = :kind, #agent = :agent ADD #open :one, #version :one',
          condition: `attribute_not_exists(#q) AND (attribute_not_exists(#open) OR #open < :max) AND ${bucketCondition}`,
          names,
          values,
        }, { sk: AGENT_ITEM.pendingSk(request.payloadSha256), kind: 'agent', agentId: request.agentId, actionId: request.actionId, payloadSha256: request.payloadSha256, at: request.now.toISOString() });
        return { ...verdict, tookSlot: true };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        // Another request of this agent changed its state since it was read: read again and judge again.
        await this.pause(Math.random() * 4 * 2 ** Math.min(attempt, 5));
      }
    }
    throw new AgentGuardError(`admitting request ${request.actionId} of agent ${request.agentId} lost the race ${MAX_ATTEMPTS} times in a row; the event is retried`);
  }

  async release(agentId: string, actionId: string, payloadSha256: string): Promise<boolean> {
    const pk = AGENT_ITEM.pk(agentId);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new TransactWriteItemsCommand({
          TransactItems: [
            {
              Delete: {
                TableName: this.tableName,
                Key: marshall({ pk, sk: AGENT_ITEM.pendingSk(payloadSha256) }),
                ConditionExpression: 'actionId = :id',
                ExpressionAttributeValues: marshall({ ':id': actionId }),
              },
            },
            {
              Update: {
                TableName: this.tableName,
                Key: marshall({ pk, sk: AGENT_ITEM.stateSk }),
                UpdateExpression: 'ADD openReviews :minus',
                ConditionExpression: 'openReviews > :zero',
                ExpressionAttributeValues: marshall({ ':minus': -1, ':zero': 0 }),
              },
            },
          ],
        }));
        return true;
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const [marker, state] = error.CancellationReasons ?? [];
        if (marker?.Code === 'ConditionalCheckFailed') return false;
        // Another transaction on the agent's state item at the same moment (a quarantine closes its reviews
        // side by side, an admission, another release): DynamoDB cancels one of them; this one tries again.
        if ([marker?.Code, state?.Code].includes('TransactionConflict') && attempt < MAX_ATTEMPTS) {
          await this.pause(Math.random() * 4 * 2 ** Math.min(attempt, 5));
          continue;
        }
        throw new AgentGuardError(`giving back the open-review slot of ${actionId} (agent ${agentId}) was cancelled (${[marker?.Code, state?.Code].join(', ')}) after ${attempt} attempt(s); it is retried`, { cause: error });
      }
    }
  }

  async recordLimited(agentId: string, limit: LimitName, at: string): Promise<boolean> {
    const key = marshall({ pk: AGENT_ITEM.pk(agentId), sk: AGENT_ITEM.stateSk });
    const quietSince = new Date(Date.parse(at) - BURST_QUIET_MS).toISOString();
    try {
      await this.client.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'SET burstStartedAt = :at, burstLimit = :limit, burstDenied = :one, lastLimitedAt = :at, kind = :kind, agentId = :agent',
        ConditionExpression: 'attribute_not_exists(lastLimitedAt) OR lastLimitedAt < :quietSince',
        ExpressionAttributeValues: marshall({ ':at': at, ':limit': limit, ':one': 1, ':quietSince': quietSince, ':kind': 'agent', ':agent': agentId }),
      }));
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // Within a burst: counted, no new line. Concurrent denials race only the first write; one wins it.
    await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: key,
      UpdateExpression: 'SET lastLimitedAt = :at ADD burstDenied :one',
      ExpressionAttributeValues: marshall({ ':at': at, ':one': 1 }),
    }));
    return false;
  }

  async countRejection(agentId: string, rejection: CountedRejection, rule: AutoQuarantineRule, onTrip: (tripped: CountedRejection[]) => AutoQuarantine): Promise<TrippedQuarantine | null> {
    const pk = AGENT_ITEM.pk(agentId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const state = await this.state(agentId);
      if (state?.quarantine !== undefined) return null;
      const counted = countRejection(state?.recentRejections, rejection, rule);
      // Counted from exactly the list that was read (its version moves on with every count), and once per
      // request (the marker's put fails on a retry).
      const values: Record<string, unknown> = { ':recent': counted.recent, ':one': 1, ':kind': 'agent', ':agent': agentId };
      let versionCondition = 'attribute_not_exists(rejectionsVersion)';
      if (state?.rejectionsVersion !== undefined) {
        versionCondition = 'rejectionsVersion = :seen';
        values[':seen'] = state.rejectionsVersion;
      }
      const marker = { sk: AGENT_ITEM.rejectionSk(rejection.actionId), kind: 'agent', agentId, actionId: rejection.actionId, rejectedAt: new Date(rejection.atMs).toISOString(), [DECISION_TABLE.timeToLiveAttribute]: rejectionMarkerExpiry(rejection.atMs) };
      // The count that trips the rule quarantines the agent in the same transaction, with its audit event:
      // no later write can fail and leave the rule tripped (its count started again) but the agent free.
      const trip = counted.tripped === null ? null : onTrip(counted.tripped);
      const seen = state?.eventSeq;
      const seq = (seen ?? 0) + 1;
      if (trip !== null) {
        values[':q'] = trip.quarantine;
        values[':seq'] = seq;
        if (seen !== undefined) values[':seenSeq'] = seen;
      }
      try {
        await this.updateStateAndPut(pk, {
          expression: trip === null
            ? 'SET recentRejections = :recent, kind = :kind, agentId = :agent ADD rejectionsVersion :one'
            : 'SET recentRejections = :recent, quarantine = :q, eventSeq = :seq, kind = :kind, agentId = :agent ADD rejectionsVersion :one',
          condition: trip === null
            ? `attribute_not_exists(quarantine) AND ${versionCondition}`
            : `attribute_not_exists(quarantine) AND ${versionCondition} AND ${seen === undefined ? 'attribute_not_exists(eventSeq)' : 'eventSeq = :seenSeq'}`,
          values,
        }, marker, ...(trip === null ? [] : [this.agentEventItem(agentId, 'agent_quarantined', seq, quarantineEvent(trip.quarantine, trip.detail))]));
        return trip === null ? null : { tripped: counted.tripped!, quarantine: trip.quarantine };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        // Counted before (a retry): nothing to do. Else another count or a quarantine came first: read again.
        if (error.CancellationReasons?.[1]?.Code === 'ConditionalCheckFailed') return null;
        await this.pause(Math.random() * 4 * 2 ** Math.min(attempt, 5));
      }
    }
    throw new AgentGuardError(`counting the rejection of ${rejection.actionId} (agent ${agentId}) lost the race ${MAX_ATTEMPTS} times in a row; try again`);
  }

  async countViolationAlert(reporter: string, rule: string, at: string, limit: ViolationAlertLimit): Promise<AlertAllowance> {
    const window = violationAlertWindow(Date.parse(at), limit);
    const key = marshall({ pk: AGENT_ITEM.pk(reporter), sk: AGENT_ITEM.violationAlertsSk(rule, new Date(window.startMs).toISOString()) });
    // Kept a day past its window (the table's TTL), then gone: only the current window's count matters.
    const common = { ':kind': 'agent', ':agent': reporter, ':ttl': Math.ceil(window.endMs / 1000) + 24 * 3600, ':one': 1 };
    try {
      await this.client.send(new UpdateItemCommand({
        TableName: this.tableName,
        Key: key,
        UpdateExpression: `SET kind = :kind, agentId = :agent, #ttl = :ttl ADD alerts :one`,
        ConditionExpression: 'attribute_not_exists(alerts) OR alerts < :max',
        ExpressionAttributeNames: { '#ttl': DECISION_TABLE.timeToLiveAttribute },
        ExpressionAttributeValues: marshall({ ...common, ':max': limit.max }),
      }));
      return { kind: 'alert' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // Past the limit: counted (`overLimit`); the first one is posted with the line that holds the rest, once
    // (concurrent ones race for it: one wins), the others are held.
    const over = await this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: key,
      UpdateExpression: 'ADD overLimit :one',
      ExpressionAttributeValues: marshall({ ':one': 1 }),
      ReturnValues: 'UPDATED_NEW',
    }));
    const count = over.Attributes === undefined ? undefined : (unmarshall(over.Attributes) as { overLimit?: number }).overLimit;
    return count === 1 ? { kind: 'first_held', until: new Date(window.endMs).toISOString() } : { kind: 'held' };
  }

  /** One transaction: a conditional Update of the agent's STATE item and the Puts of new items of the agent. */
  private async updateStateAndPut(
    pk: string,
    update: { expression: string; condition: string; names?: Record<string, string>; values: Record<string, unknown> },
    ...items: Array<Record<string, unknown>>
  ): Promise<void> {
    await this.client.send(new TransactWriteItemsCommand({
      TransactItems: [
        {
          Update: {
            TableName: this.tableName,
            Key: marshall({ pk, sk: AGENT_ITEM.stateSk }),
            UpdateExpression: update.expression,
            ConditionExpression: update.condition,
            ...(update.names === undefined ? {} : { ExpressionAttributeNames: update.names }),
            ExpressionAttributeValues: marshall(update.values, marshallOptions),
          },
        },
        ...items.map((item) => ({ Put: { TableName: this.tableName, Item: marshall({ ...item, pk }, marshallOptions), ConditionExpression: 'attribute_not_exists(pk)' } })),
      ],
    }));
  }

  /** The audit event item of a quarantine or lift, the agent's `seq`th event. */
  private agentEventItem(agentId: string, type: 'agent_quarantined' | 'agent_released', seq: number, event: Record<string, unknown>): Record<string, unknown> {
    return {
      ...event,
      sk: AGENT_ITEM.eventSk(type, seq),
      kind: 'event',
      eventType: type,
      eventId: `${agentEventKey(agentId)}/${type}/${seq}`,
      key: agentEventKey(agentId),
      actionId: null,
      agentId,
      requestSeq: seq,
    };
  }

  /** Writes a change of the STATE item together with its audit event item, numbered after the last one. */
  private async appendAgentEvent(
    agentId: string,
    type: 'agent_quarantined' | 'agent_released',
    event: Record<string, unknown>,
    change: { update: string; condition: string; names?: Record<string, string>; values: Record<string, unknown> },
  ): Promise<'written' | 'condition_failed'> {
    const pk = AGENT_ITEM.pk(agentId);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const seen = (await this.state(agentId))?.eventSeq;
      const seq = (seen ?? 0) + 1;
      const seqCondition = seen === undefined ? 'attribute_not_exists(eventSeq)' : 'eventSeq = :seenSeq';
      try {
        await this.updateStateAndPut(pk, {
          expression: `${change.update}, eventSeq = :seq, kind = :kind, agentId = :agent`,
          condition: `(${change.condition}) AND ${seqCondition}`,
          ...(change.names === undefined ? {} : { names: change.names }),
          values: { ...change.values, ':seq': seq, ':kind': 'agent', ':agent': agentId, ...(seen === undefined ? {} : { ':seenSeq': seen }) },
        }, this.agentEventItem(agentId, type, seq, event));
        return 'written';
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const after = await this.state(agentId);
        if (after?.eventSeq === seen) {
          // Nothing else was written meanwhile: the change's own condition failed.
          if (error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return 'condition_failed';
        }
        await this.pause(Math.random() * 4 * 2 ** Math.min(attempt, 5));
      }
    }
    throw new AgentGuardError(`recording ${type} for agent ${agentId} lost the race ${MAX_ATTEMPTS} times in a row; try again`);
  }

  async quarantine(quarantine: Quarantine, detail: Record<string, unknown>): Promise<QuarantineResult> {
    const written = await this.appendAgentEvent(quarantine.agentId, 'agent_quarantined', quarantineEvent(quarantine, detail), {
      update: 'SET quarantine = :q',
      condition: 'attribute_not_exists(quarantine)',
      values: { ':q': quarantine },
    });
    if (written === 'written') return { status: 'quarantined', quarantine };
    const current = await this.quarantineOf(quarantine.agentId);
    if (current === null) throw new AgentGuardError(`quarantining ${quarantine.agentId} was refused, yet it is not quarantined; try again`);
    return { status: 'already_quarantined', quarantine: current };
  }

  async lift(agentId: string, by: string, reason: string, at: string): Promise<LiftResult> {
    const previous = await this.quarantineOf(agentId);
    if (previous === null) return { status: 'not_quarantined' };
    const written = await this.appendAgentEvent(agentId, 'agent_released', { occurredAt: at, by, reason, quarantinedBy: previous.by, quarantinedAt: previous.at, quarantineReason: previous.reason }, {
      // Lifts exactly the quarantine that was read (a new one set meanwhile is not lifted unseen).
      update: 'REMOVE quarantine SET liftedAt = :at',
      condition: 'quarantine.#at = :qat AND quarantine.#by = :qby',
      names: { '#at': 'at', '#by': 'by' },
      values: { ':at': at, ':qat': previous.at, ':qby': previous.by },
    });
    return written === 'written' ? { status: 'lifted', previous } : { status: 'not_quarantined' };
  }

  async status(agentId: string): Promise<AgentStatus> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
        // PENDING#… and STATE, not the event items (EVENT#…).
        ExpressionAttributeValues: marshall({ ':pk': AGENT_ITEM.pk(agentId), ':from': AGENT_ITEM.pendingPrefix, ':to': AGENT_ITEM.stateSk }),
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }));
      items.push(...(page.Items ?? []).map((item) => unmarshall(item)));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    const state = items.find((i) => i.sk === AGENT_ITEM.stateSk) as StateItem | undefined;
    const pending = items.filter((i) => typeof i.sk === 'string' && i.sk.startsWith(AGENT_ITEM.pendingPrefix));
    const burstStartedAt = state?.burstStartedAt;
    const burstActive = burstStartedAt !== undefined && state?.lastLimitedAt !== undefined && Date.now() - Date.parse(state.lastLimitedAt) < BURST_QUIET_MS;
    return {
      agentId,
      quarantine: state?.quarantine ?? null,
      openReviews: state?.openReviews ?? 0,
      pendingActionIds: pending.map((i) => String(i.actionId)).sort(),
      bucket: bucketOf(state) ?? null,
      burst: burstActive ? { startedAt: burstStartedAt, denied: state?.burstDenied ?? 0, limit: state?.burstLimit ?? 'approval-rate' } : null,
    };
  }
}
