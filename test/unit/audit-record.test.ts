import { DynamoDBClient, GetItemCommand, PutItemCommand, TransactionCanceledException, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoCredentialsStore } from '../../shared/adapters/aws/dynamo-credentials-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { AUDIT_EVENT_TYPES } from '../../shared/audit/format.js';
import { toAuditRecordBody, type StreamPosition } from '../../shared/audit/record.js';
import { decideRequest } from '../../shared/domain/intake.js';
import type { ReviewSnapshot } from '../../shared/ports/review-store.js';
import { actionRequested } from '../support/requests.js';

const ddb = mockClient(DynamoDBClient);
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAS-secret-task-token';
const position: StreamPosition = { shardId: 'shardId-0001', sequenceNumber: '100', streamCreatedAt: '2026-11-22T03:00:05.000Z' };

/** The event items the two stores really write, captured from their DynamoDB calls. */
async function itemsTheStoresWrite(): Promise<Record<string, Record<string, unknown>>> {
  ddb.reset();
  const written: Array<Record<string, unknown>> = [];
  let refuseNext: Error | undefined;
  ddb.on(TransactWriteItemsCommand).callsFake((input: { TransactItems: Array<{ Put?: { Item: never } }> }) => {
    if (refuseNext !== undefined) { const error = refuseNext; refuseNext = undefined; throw error; }
    for (const t of input.TransactItems) if (t.Put !== undefined) written.push(unmarshall(t.Put.Item));
    return {};
  });
  ddb.on(PutItemCommand).callsFake((input: { Item: never }) => { written.push(unmarshall(input.Item)); return {}; });
  // The request item's event count, as the stores read it before each new event.
  ddb.on(GetItemCommand).callsFake(() => ({ Item: marshall({ pk: 'REQ#x', eventSeq: written.filter((i) => i.kind === 'event').length }) }));
  const client = new DynamoDBClient({});
  const decisions = new DynamoDecisionStore(client, 't');
  const reviews = new DynamoReviewStore(client, 't');
  const policy = { decide: () => ({ kind: 'approval' as const, policyIds: ['data.export.prod'], reason: 'needs approval', approval: { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 }, validity: { validFor: 'PT15M', validForSeconds: 900 } }) };
  const record = decideRequest(actionRequested({ action: 'db.export' }), policy, '2026-11-22T03:00:00.000Z');
  await decisions.recordRequest(record);

  // A second request under the same actionId with other parameters: a conflict.
  const other = decideRequest(actionRequested({ actionId: record.key, action: 'db.export', parameters: { table: 'other' } }), policy, '2026-11-22T03:00:02.000Z');
  refuseNext = new TransactionCanceledException({
    message: 'cancelled', $metadata: {},
    CancellationReasons: [{ Code: 'ConditionalCheckFailed', Item: marshall({ ...record, pk: `REQ#${record.key}`, sk: 'REQUEST', kind: 'request', requestJson: null, request: undefined }, { removeUndefinedValues: true }) }],
  });
  await decisions.recordRequest(other);

  const snapshot: ReviewSnapshot = {
    request: { record, reviewId: 'rev-1', reviewers: [], voteCount: 0, outcomePublishedAt: null, execution: null },
    review: { reviewId: 'rev-1', actionId: record.key, phase: 'initial', taskToken: TOKEN, taskTokenSha256: 'f'.repeat(64), openedAt: '2026-11-22T03:00:01.000Z', expiresAt: '2026-11-22T03:30:01.000Z', escalatedTo: null, messages: {}, notes: {} },
    votes: [],
  };
  await reviews.recordReviewEvent(snapshot, 'review_requested', '2026-11-22T03:00:01.000Z', { channel: 'C1', messageTs: '1.1', approvers: 'data-owners', quorum: 1 });
  await reviews.recordReviewEvent(snapshot, 'reminded', '2026-11-22T03:15:01.000Z', { channel: 'C1', messageTs: '1.1', waitingOn: ['bob'] });
  await reviews.recordReviewEvent(snapshot, 'escalated', '2026-11-22T03:30:01.000Z', { channel: 'C2', messageTs: '2.2', escalatedTo: 'security-leads' });
  await reviews.recordRefusal({ request: record, reviewId: 'rev-1', reviewerId: 'alice', slackUserId: 'U1', vote: 'approve', comment: 'mine', rule: 'self_approval', message: 'You cannot approve a request made on your behalf.', at: '2026-11-22T03:01:00.000Z' });
  await reviews.recordVote({ snapshot, vote: { id: 'bob', vote: 'approve', at: '2026-11-22T03:02:00.000Z', comment: 'ok' }, slackUserId: 'U2', closing: { outcome: 'approved', reason: 'quorum reached', reviewers: [] } as never });
  await reviews.recordOutcome({ request: record, reviewId: 'rev-1', workflowOutcome: 'approved', outcome: 'approved', reason: 'quorum reached', reviewers: [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:02:00.000Z' }], decidedAt: '2026-11-22T03:02:00.000Z', at: '2026-11-22T03:02:01.000Z' });
  const credentials = new DynamoCredentialsStore(client, 't');
  const callerArn = 'arn:aws:sts::123456789012:assumed-role/billing-agent/run-1';
  await credentials.claimIssue(record, { occurredAt: '2026-11-22T03:03:00.000Z', callerArn, roleArn: 'arn:aws:iam::123456789012:role/exec', roleSessionName: 'cs-x', sourceIdentity: 'cs-x', durationSeconds: 900, sessionPolicy: '{"Version":"2012-10-17","Statement":[]}', validUntil: '2026-11-22T03:17:00.000Z' });
  await credentials.recordFailure(record, { occurredAt: '2026-11-22T03:03:01.000Z', callerArn, errorName: 'AccessDenied', message: 'not authorized to perform: sts:TagSession' });
  await credentials.recordRefusal(record, { occurredAt: '2026-11-22T03:04:00.000Z', callerArn, rule: 'already_issued', message: 'credentials were issued before', refusalId: 'req-2' });
  return Object.fromEntries(written.filter((i) => i.kind === 'event').map((i) => [i.eventType as string, i]));
}

describe('toAuditRecordBody on the items the stores write', () => {
  let items: Record<string, Record<string, unknown>>;
  beforeEach(async () => { items = await itemsTheStoresWrite(); });

  it('maps every event type the stores write, none as unmappable', () => {
    expect(Object.keys(items).sort()).toEqual(AUDIT_EVENT_TYPES.filter((t) => t !== 'unmappable').sort());
    for (const [type, item] of Object.entries(items)) {
      const body = toAuditRecordBody(item, position);
      expect(body.event_type, `${type}: ${body.reason ?? ''}`).toBe(type);
      expect(body).toMatchObject({ event_id: item.eventId, occurred_at: item.occurredAt, action_id: item.actionId, agent_id: 'billing-agent', action: 'db.export', resource_type: 'Database', resource_id: 'customers', environment: 'prod', shard_id: 'shardId-0001', sequence_number: '100' });
    }
  });

  it('numbers every event of the request in the order written: requested 1, decided 2, then each next', () => {
    const order = ['requested', 'decided', 'conflict', 'review_requested', 'reminded', 'escalated', 'vote_refused', 'vote', 'outcome', 'credentials_issued', 'credentials_failed', 'credentials_refused'];
    expect(order.map((type) => toAuditRecordBody(items[type]!, position).request_seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('carries outcome, reason and policies of decisions and outcomes', () => {
    expect(toAuditRecordBody(items.decided!, position)).toMatchObject({ outcome: 'pending', reason: 'needs approval', policy_ids: ['data.export.prod'], payload_sha256: expect.stringMatching(/^[0-9a-f]{64}$/), detail: null });
    expect(toAuditRecordBody(items.outcome!, position)).toMatchObject({ outcome: 'approved', reason: 'quorum reached', policy_ids: [] });
  });

  it('carries reviewer, vote and comment of votes, and the attempted vote with rule and message of refusals', () => {
    expect(toAuditRecordBody(items.vote!, position)).toMatchObject({ reviewer_id: 'bob', vote: 'approve', comment: 'ok', reason: null });
    expect(toAuditRecordBody(items.vote_refused!, position)).toMatchObject({
      reviewer_id: 'alice', vote: 'approve', comment: 'mine', reason: 'self_approval: You cannot approve a request made on your behalf.',
    });
  });

  it('keeps the whole item as canonical JSON for requested, conflict and the review phases (their deadline), and nothing for the others', () => {
    const requested = toAuditRecordBody(items.requested!, position);
    expect(JSON.parse(requested.detail!)).toMatchObject({ eventType: 'requested', requestJson: expect.stringContaining('"action":"db.export"') });
    const conflict = toAuditRecordBody(items.conflict!, position);
    expect(conflict.reason).toContain('already used for a different request');
    expect(JSON.parse(conflict.detail!)).toMatchObject({ refusedFingerprint: expect.any(String) });
    // verify reads a review's deadline from these: an outcome must follow it.
    expect(JSON.parse(toAuditRecordBody(items.review_requested!, position).detail!)).toMatchObject({ expiresAt: '2026-11-22T03:30:01.000Z', taskTokenSha256: 'f'.repeat(64) });
    expect(JSON.parse(toAuditRecordBody(items.escalated!, position).detail!)).toMatchObject({ expiresAt: '2026-11-22T03:30:01.000Z', escalatedTo: null });
    for (const type of ['decided', 'reminded', 'vote', 'vote_refused', 'outcome']) {
      expect(toAuditRecordBody(items[type]!, position).detail, type).toBeNull();
    }
  });

  it('carries what STS was asked, and why credentials were refused or failed, with the whole item', () => {
    const issued = toAuditRecordBody(items.credentials_issued!, position);
    expect(issued.reason).toBe('arn:aws:iam::123456789012:role/exec as cs-x for 900 s, until 2026-11-22T03:17:00.000Z');
    expect(JSON.parse(issued.detail!)).toMatchObject({ sessionPolicy: '{"Version":"2012-10-17","Statement":[]}', callerArn: expect.stringContaining('assumed-role/billing-agent') });
    expect(toAuditRecordBody(items.credentials_refused!, position).reason).toBe('already_issued: credentials were issued before');
    expect(toAuditRecordBody(items.credentials_failed!, position).reason).toBe('AccessDenied: not authorized to perform: sts:TagSession');
  });

  it('never lets temporary credentials into a record, even if an item carried them', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const body = toAuditRecordBody({ ...items.credentials_issued!, credentials: { secretAccessKey: secret }, SecretAccessKey: secret, sessionToken: secret }, position);
    expect(JSON.stringify(body)).not.toContain(secret);
  });

  it('never lets a task token into a record, even when an event item carries one', () => {
    for (const item of Object.values(items)) {
      for (const withToken of [{ ...item, taskToken: TOKEN }, { ...item, eventType: 'mystery', nested: { TaskToken: TOKEN, list: [{ task_token: TOKEN }] } }]) {
        const body = toAuditRecordBody(withToken, position);
        expect(JSON.stringify(body)).not.toContain(TOKEN);
      }
    }
    const unmappable = toAuditRecordBody({ ...items.requested!, eventType: 'mystery', taskToken: TOKEN }, position);
    expect(JSON.parse(unmappable.detail!)).not.toHaveProperty('taskToken');
  });
});

describe('toAuditRecordBody on items it cannot map', () => {
  const base = { pk: 'REQ#a1', sk: 'EVENT#x', kind: 'event', eventId: 'a1/x', occurredAt: '2026-11-22T03:00:00.000Z', actionId: 'a1' };

  it('keeps an unknown event type as unmappable with the raw image', () => {
    const body = toAuditRecordBody({ ...base, eventType: 'teleported', extra: { n: 1 } }, position);
    expect(body).toMatchObject({ event_type: 'unmappable', event_id: 'a1/x', action_id: 'a1', reason: 'unknown eventType "teleported"', occurred_at: base.occurredAt });
    expect(JSON.parse(body.detail!)).toEqual({ ...base, eventType: 'teleported', extra: { n: 1 } });
  });

  it('keeps an item with missing or malformed fields, and falls back to the table key and the stream time', () => {
    expect(toAuditRecordBody({ ...base, eventType: 'vote', reviewerId: 'bob' }, position)).toMatchObject({ event_type: 'unmappable', reason: 'vote event item has no string "vote"' });
    expect(toAuditRecordBody({ ...base, eventType: 'decided', outcome: 'allowed', occurredAt: 'yesterday' }, position)).toMatchObject({ event_type: 'unmappable', occurred_at: position.streamCreatedAt });
    const { eventId: _drop, ...noId } = base;
    expect(toAuditRecordBody({ ...noId }, position)).toMatchObject({ event_type: 'unmappable', event_id: 'REQ#a1/EVENT#x', reason: 'event item has no string "eventType"' });
    expect(toAuditRecordBody({ odd: new Set(['b', 'a']), bin: new Uint8Array([1, 2]) }, position)).toMatchObject({
      event_type: 'unmappable', event_id: 'stream/shardId-0001/100', detail: '{"bin":"AQI=","odd":["a","b"]}',
    });
  });
});
