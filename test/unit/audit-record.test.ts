import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoCredentialsStore } from '../../shared/adapters/aws/dynamo-credentials-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoExecutionStore } from '../../shared/adapters/aws/dynamo-execution-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { AUDIT_EVENT_TYPES } from '../../shared/audit/format.js';
import { toAuditRecordBody, type StreamPosition } from '../../shared/audit/record.js';
import { canonicalJson } from '../../shared/domain/canonical-json.js';
import { payloadOf } from '../../shared/domain/payload.js';
import { requestRecordOf } from '../../shared/domain/request-items.js';
import { DETAIL_TYPE_EXECUTED, type ActionExecuted } from '../../shared/domain/contract.js';
import { reportIdentity, summaryOf } from '../../shared/domain/execution.js';
import { decideRequest } from '../../shared/domain/intake.js';
import type { ReviewSnapshot } from '../../shared/ports/review-store.js';
import { actionRequested } from '../support/requests.js';

const ddb = mockClient(DynamoDBClient);
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAS-secret-task-token';
const position: StreamPosition = { shardId: 'shardId-0001', sequenceNumber: '100', streamCreatedAt: '2026-11-22T03:00:05.000Z' };

/**
 * The event items the stores really write, captured from their DynamoDB calls; `requested` is the request
 * item, marked as that event's source (request-items.ts).
 */
async function itemsTheStoresWrite(): Promise<Record<string, Record<string, unknown>>> {
  ddb.reset();
  const written: Array<Record<string, unknown>> = [];
  let refuseNext: Error | undefined;
  ddb.on(TransactWriteItemsCommand).callsFake((input: { TransactItems: Array<{ Put?: { Item: never } }> }) => {
    for (const t of input.TransactItems) if (t.Put !== undefined) written.push(unmarshall(t.Put.Item));
    return {};
  });
  ddb.on(PutItemCommand).callsFake((input: { Item: never; ConditionExpression?: string }) => {
    if (refuseNext !== undefined) { const error = refuseNext; refuseNext = undefined; throw error; }
    const item = unmarshall(input.Item);
    // As DynamoDB does: a put only if new fails when the key is there (a decided event written already).
    if (input.ConditionExpression === 'attribute_not_exists(pk)' && written.some((w) => w.pk === item.pk && w.sk === item.sk)) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    written.push(item);
    return {};
  });
  // The request item's event count, as the stores read it before each new event (the request item is its requested event).
  ddb.on(GetItemCommand).callsFake(() => ({ Item: marshall({ pk: 'REQ#x', eventSeq: written.filter((i) => i.kind === 'event' || i.auditEvent === 'requested').length }) }));
  const client = new DynamoDBClient({});
  const decisions = new DynamoDecisionStore(client, 't');
  const reviews = new DynamoReviewStore(client, 't');
  const policy = { decide: () => ({ kind: 'approval' as const, policyIds: ['data.export.prod'], reason: 'needs approval', approval: { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 }, validity: { validFor: 'PT15M', validForSeconds: 900 } }) };
  const record = decideRequest(actionRequested({ action: 'db.export' }), policy, '2026-11-22T03:00:00.000Z');
  await decisions.recordRequest(record);

  // A second request under the same actionId with other parameters: a conflict.
  const other = decideRequest(actionRequested({ actionId: record.key, action: 'db.export', parameters: { table: 'other' } }), policy, '2026-11-22T03:00:02.000Z');
  refuseNext = new ConditionalCheckFailedException({
    message: 'The conditional request failed', $metadata: {},
    Item: marshall({ ...record, pk: `REQ#${record.key}`, sk: 'REQUEST', kind: 'request', requestJson: null, request: undefined }, { removeUndefinedValues: true }),
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

  // Issue 12: the agent's report of the act, then a second, different report (a violation), and a
  // report naming no request at all (kept apart, without a request number).
  const approved = { ...record, outcome: 'approved' as const, decidedAt: '2026-11-22T03:02:00.000Z', validForSeconds: 900 };
  const executions = new DynamoExecutionStore(client, 't');
  const report = (fields: Partial<ActionExecuted>): ActionExecuted => ({
    specVersion: '1', actionId: record.key, payloadSha256: record.payloadSha256!, status: 'succeeded', startedAt: '2026-11-22T03:03:00.000Z', finishedAt: '2026-11-22T03:03:02.500Z', ...fields,
  });
  const executedReport = report({ result: { summary: 'exported 12 rows', sha256: 'a'.repeat(64) } });
  const first = reportIdentity({ id: 'ev-exec-1', source: 'agent.billing-agent', detailType: DETAIL_TYPE_EXECUTED, detail: executedReport });
  await executions.recordExecuted({ target: approved, identity: first, eventId: 'ev-exec-1', source: 'agent.billing-agent', report: executedReport, summary: summaryOf(executedReport, 'billing-agent', '2026-11-22T03:03:03.000Z'), at: '2026-11-22T03:03:03.000Z' });
  const again = report({ status: 'failed', startedAt: '2026-11-22T03:05:00.000Z', finishedAt: '2026-11-22T03:05:01.000Z', error: { code: 'Timeout', message: 'took too long' } });
  const second = reportIdentity({ id: 'ev-exec-2', source: 'agent.billing-agent', detailType: DETAIL_TYPE_EXECUTED, detail: again });
  await executions.recordViolation({ target: approved, identity: second, eventId: 'ev-exec-2', source: 'agent.billing-agent', rule: 'already_executed', reason: 'the request was already executed', report: again, at: '2026-11-22T03:05:02.000Z' });
  const ghost = report({ actionId: 'ghost-1' });
  const third = reportIdentity({ id: 'ev-exec-3', source: 'agent.billing-agent', detailType: DETAIL_TYPE_EXECUTED, detail: ghost });
  await executions.recordViolation({ target: undefined, identity: third, eventId: 'ev-exec-3', source: 'agent.billing-agent', rule: 'no_decision', reason: 'no request with actionId "ghost-1" was received', report: ghost, at: '2026-11-22T03:06:00.000Z' });
  // Issue 16: billing-agent quarantined, then lifted (agent events, numbered 1, 2 among the agent's own).
  const guard = new DynamoAgentGuard(client, 't');
  ddb.on(GetItemCommand).resolves({});
  await guard.quarantine({ agentId: 'billing-agent', by: 'carol', reason: 'looping', at: '2026-11-22T03:07:00.000Z', origin: 'manual' }, { group: 'security', via: 'slack' });
  ddb.on(GetItemCommand).resolves({ Item: marshall({ pk: 'AGENT#billing-agent', sk: 'STATE', eventSeq: 1, quarantine: { agentId: 'billing-agent', by: 'carol', reason: 'looping', at: '2026-11-22T03:07:00.000Z', origin: 'manual' } }) });
  await guard.lift('billing-agent', 'dan', 'loop fixed', '2026-11-22T03:08:00.000Z');

  const events = written.filter((i) => i.kind === 'event');
  const standalone = events.find((i) => typeof i.eventId === 'string' && i.eventId.startsWith('execution/'));
  const requested = written.find((i) => i.kind === 'request' && i.auditEvent === 'requested')!;
  return { requested, ...Object.fromEntries(events.filter((i) => i !== standalone).map((i) => [i.eventType as string, i])), standalone_violation: standalone! };
}

describe('toAuditRecordBody on the items the stores write', () => {
  let items: Record<string, Record<string, unknown>>;
  beforeEach(async () => { items = await itemsTheStoresWrite(); });

  it('maps every event type the stores write, none as unmappable', () => {
    expect(Object.keys(items).filter((k) => k !== 'standalone_violation').sort()).toEqual(AUDIT_EVENT_TYPES.filter((t) => t !== 'unmappable').sort());
    for (const [type, item] of Object.entries(items)) {
      if (type === 'standalone_violation' || type.startsWith('agent_')) continue;
      const body = toAuditRecordBody(item, position);
      expect(body.event_type, `${type}: ${body.reason ?? ''}`).toBe(type);
      // The request item's own eventId is the bus event's; its requested event is `<key>/requested` at receivedAt.
      const [eventId, occurredAt] = type === 'requested' ? [`${String(item.key)}/requested`, item.receivedAt] : [item.eventId, item.occurredAt];
      expect(body).toMatchObject({ event_id: eventId, occurred_at: occurredAt, action_id: item.actionId, agent_id: 'billing-agent', action: 'db.export', resource_type: 'Database', resource_id: 'customers', environment: 'prod', shard_id: 'shardId-0001', sequence_number: '100' });
    }
  });

  it('maps a quarantine and its lift to who did it and why, numbered among the agent\'s own events', () => {
    expect(toAuditRecordBody(items.agent_quarantined!, position)).toMatchObject({
      event_type: 'agent_quarantined', event_id: 'agent/billing-agent/agent_quarantined/1', action_id: null, agent_id: 'billing-agent',
      reviewer_id: 'carol', reason: 'looping', request_seq: 1, occurred_at: '2026-11-22T03:07:00.000Z',
    });
    expect(toAuditRecordBody(items.agent_released!, position)).toMatchObject({
      event_type: 'agent_released', event_id: 'agent/billing-agent/agent_released/2', agent_id: 'billing-agent', reviewer_id: 'dan', reason: 'loop fixed', request_seq: 2,
    });
    expect(JSON.parse(toAuditRecordBody(items.agent_released!, position).detail ?? '{}')).toMatchObject({ quarantinedBy: 'carol', quarantineReason: 'looping' });
  });

  it('numbers every event of the request in the order written: requested 1, decided 2, then each next', () => {
    const order = ['requested', 'decided', 'conflict', 'review_requested', 'reminded', 'escalated', 'vote_refused', 'vote', 'outcome', 'credentials_issued', 'credentials_failed', 'credentials_refused', 'executed', 'execution_violation'];
    expect(order.map((type) => toAuditRecordBody(items[type]!, position).request_seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('carries the execution: status, times and validity of executed records, with the whole item (the report) in detail', () => {
    const executed = toAuditRecordBody(items.executed!, position);
    expect(executed).toMatchObject({
      event_type: 'executed', outcome: 'approved', execution_status: 'succeeded', started_at: '2026-11-22T03:03:00.000Z', finished_at: '2026-11-22T03:03:02.500Z',
      valid_until: '2026-11-22T03:17:00.000Z', violation_rule: null, reason: null, occurred_at: '2026-11-22T03:03:03.000Z',
    });
    expect(JSON.parse(executed.detail!)).toMatchObject({ resultSummary: 'exported 12 rows', resultSha256: 'a'.repeat(64), reportEventId: 'ev-exec-1', reportJson: expect.stringContaining('"status":"succeeded"') });
  });

  it('carries the rule, the reason and the reported act of violations; one naming no request has no request fields nor number', () => {
    expect(toAuditRecordBody(items.execution_violation!, position)).toMatchObject({
      event_type: 'execution_violation', violation_rule: 'already_executed', reason: 'the request was already executed', outcome: 'approved',
      execution_status: 'failed', started_at: '2026-11-22T03:05:00.000Z', finished_at: '2026-11-22T03:05:01.000Z', request_seq: 14, detail: expect.stringContaining('"errorCode":"Timeout"'),
    });
    const standalone = toAuditRecordBody(items.standalone_violation!, position);
    expect(standalone).toMatchObject({
      event_type: 'execution_violation', event_id: expect.stringMatching(/^execution\/[0-9a-f]{64}\/execution_violation$/), action_id: 'ghost-1', agent_id: 'billing-agent',
      violation_rule: 'no_decision', outcome: null, action: null, resource_id: null, payload_sha256: null, request_seq: null, valid_until: null, execution_status: 'succeeded',
    });
  });

  it('gives valid_until on allowed decisions and approved outcomes, and null new columns on every other type', () => {
    expect(toAuditRecordBody(items.outcome!, position).valid_until).toBe('2026-11-22T03:17:00.000Z');
    expect(toAuditRecordBody({ ...items.decided!, outcome: 'allowed', validForSeconds: 900, validUntil: '2026-11-22T03:15:00.000Z' }, position).valid_until).toBe('2026-11-22T03:15:00.000Z');
    for (const type of ['requested', 'decided', 'conflict', 'review_requested', 'reminded', 'escalated', 'vote_refused', 'vote']) {
      expect(toAuditRecordBody(items[type]!, position), type).toMatchObject({ valid_until: null, execution_status: null, started_at: null, finished_at: null, violation_rule: null });
    }
    // A time column takes only an ISO 8601 UTC time; anything else is null there (the item in detail keeps it).
    expect(toAuditRecordBody({ ...items.executed!, startedAt: 'yesterday' }, position)).toMatchObject({ started_at: null, event_type: 'executed' });
  });

  it('keeps a violation record of the largest report the bus can carry within the size of any request record', () => {
    // An invalid report is kept whole up to 256 KiB of JSON text (the bus carries 256 KB at most).
    const reportJson = canonicalJson({ actionId: 'x', note: '"'.repeat(120_000) });
    const body = toAuditRecordBody({ ...items.execution_violation!, reportJson }, position);
    const line = canonicalJson(body);
    // Escaping in the record's detail (a string of the item's JSON) at most quadruples a quote-heavy report: still far under the 64 MiB object cap.
    expect(Buffer.byteLength(line)).toBeLessThan(1024 * 1024);
    expect(JSON.parse(JSON.parse(line).detail as string)).toMatchObject({ reportJson });
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

describe('the requested record of a request item (issue 15: one write per decision)', () => {
  let items: Record<string, Record<string, unknown>>;
  beforeEach(async () => { items = await itemsTheStoresWrite(); });

  it('is the record the requested event item gave before: every column, and the same detail but for the item it names', () => {
    const requestItem = items.requested!;
    const record = requestRecordOf(requestItem as never);
    // What DynamoDecisionStore wrote as EVENT#requested before issue 15, field by field.
    const request = record.request!;
    const former = {
      pk: `REQ#${record.key}`, sk: 'EVENT#requested', kind: 'event', eventId: `${record.key}/requested`, eventType: 'requested', occurredAt: record.receivedAt,
      key: record.key, actionId: record.actionId, sourceEventId: record.eventId, source: record.source, agentId: request.agent.id, onBehalfOf: request.agent.onBehalfOf ?? null,
      action: request.action, resourceType: request.resource.type, resourceId: request.resource.id, environment: request.environment, payloadSha256: record.payloadSha256,
      requestSeq: 1, requestJson: requestItem.requestJson, payloadJson: canonicalJson(payloadOf(request)), fingerprint: record.fingerprint, rawDetail: null,
    };
    const now = toAuditRecordBody(requestItem, position);
    const before = toAuditRecordBody(former, position);
    expect({ ...now, detail: null }).toEqual({ ...before, detail: null });
    expect(now).toMatchObject({ event_type: 'requested', event_id: `${record.key}/requested`, request_seq: 1, occurred_at: record.receivedAt });
    expect(JSON.parse(now.detail!)).toEqual({ ...JSON.parse(before.detail!), sk: 'REQUEST', kind: 'request' });
  });

  it('is the same record from the item as a review, a vote and an execution later left it (what a redrive reads)', () => {
    const requestItem = items.requested!;
    const later = {
      ...requestItem, outcome: 'approved', reason: 'quorum reached', decidedAt: '2026-11-22T03:02:00.000Z', eventSeq: 9, voteCount: 1, reviewId: 'rev-1',
      reviewers: [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:02:00.000Z' }], outcomePublishedAt: '2026-11-22T03:02:01.000Z', execution: { status: 'succeeded' },
    };
    expect(toAuditRecordBody(later, position)).toEqual(toAuditRecordBody(requestItem, position));
  });

  it('keeps a request item without the mark, or with a requestJson it cannot read, as unmappable with the raw image', () => {
    const { auditEvent: _mark, ...unmarked } = items.requested!;
    expect(toAuditRecordBody(unmarked, position)).toMatchObject({ event_type: 'unmappable', reason: 'request item is not marked auditEvent = "requested"' });
    const broken = toAuditRecordBody({ ...items.requested!, requestJson: '{"action":' }, position);
    expect(broken).toMatchObject({ event_type: 'unmappable', reason: expect.stringContaining("request item's requestJson cannot be read") });
    expect(JSON.parse(broken.detail!)).toMatchObject({ requestJson: '{"action":' });
    expect(toAuditRecordBody({ ...items.requested!, key: undefined }, position)).toMatchObject({ event_type: 'unmappable', reason: 'request event item has no string "key"' });
  });
});
