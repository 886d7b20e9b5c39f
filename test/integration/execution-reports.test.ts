import { QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoExecutionStore } from '../../shared/adapters/aws/dynamo-execution-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { MemoryEventPublisher } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { canonicalJson, rawJsonText, sha256Hex } from '../../shared/domain/canonical-json.js';
import { payloadSha256, type ActionRequest } from '../../shared/domain/contract.js';
import { evaluateActionRequested } from '../../shared/domain/intake.js';
import { recordExecutionReport, type RecordExecutionDeps } from '../../shared/execution/record-execution.js';
import { channelAlerts, reviewMessages } from '../../shared/execution/review-adapters.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { castVote } from '../../shared/review/cast-vote.js';
import { openReview } from '../../shared/review/open-review.js';
import { recordOutcome } from '../../shared/review/record-outcome.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { eventsAmong } from '../support/decision-items.js';
import { actionRequested } from '../support/requests.js';
import { localDirectory, reviewEvent } from '../support/reviews.js';

/**
 * Issue 12, layer 1: `Action Executed` reports recorded on DynamoDB Local with the real stores, the
 * shipped policies, and the review service (memory Slack channel, so alerts and message updates show).
 */

const TABLE = 'countersign-executions-it';
const DECIDED_AT = new Date('2026-12-07T03:00:00.000Z');
let ddb: DynamoDbLocal;
let decisions: DynamoDecisionStore;
let reviews: DynamoReviewStore;
const policy = new CedarPolicyEngine();

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  decisions = new DynamoDecisionStore(ddb.client, TABLE);
  reviews = new DynamoReviewStore(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
});

async function items(pk: string) {
  const { Items = [] } = await ddb.client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, ConsistentRead: true }));
  return Items.map((item) => unmarshall(item));
}

function recorder(at: Date = new Date(DECIDED_AT.getTime() + 60_000)) {
  const channel = new MemoryReviewChannel();
  const now = () => at;
  const deps: RecordExecutionDeps = {
    store: new DynamoExecutionStore(ddb.client, TABLE),
    alerts: channelAlerts(channel, localDirectory),
    messages: reviewMessages({ store: reviews, channel, directory: localDirectory, now }),
    now,
  };
  return { channel, deps };
}

/** A request decided by the shipped policies at DECIDED_AT. */
async function decided(detail: Record<string, unknown>) {
  const event = actionRequested(detail);
  const result = await evaluateActionRequested(event, { policy, store: decisions, publisher: new MemoryEventPublisher(), workflow: undefined, now: () => DECIDED_AT });
  const request = event.detail as ActionRequest;
  return { event, request, record: result.record, hash: payloadSha256(request) };
}

let reportNumber = 0;
function report(actionId: string, fields: Record<string, unknown> = {}, source = 'agent.billing-agent') {
  return {
    id: `report-${++reportNumber}`,
    source,
    detailType: 'Action Executed',
    detail: {
      specVersion: '1',
      actionId,
      payloadSha256: 'f'.repeat(64),
      status: 'succeeded',
      startedAt: '2026-12-07T03:00:10.000Z',
      finishedAt: '2026-12-07T03:00:40.000Z',
      result: { summary: 'exported 1,204 rows', sha256: sha256Hex(canonicalJson({ rows: 1204 })) },
      ...fields,
    },
  };
}

describe('Action Executed on DynamoDB Local', () => {
  it('records a clean execution of an allowed request once, as its third event, and the decision API shows it', async () => {
    const { record, hash } = await decided({ action: 'db.query' });
    expect(record.outcome).toBe('allowed');
    const { channel, deps } = recorder();
    const sent = report(record.key, { payloadSha256: hash });

    const first = await recordExecutionReport(sent, deps);
    expect(first).toMatchObject({ status: 'executed', actionId: record.key, alerted: false });
    const executed = (await items(`REQ#${record.key}`)).find((item) => item.eventType === 'executed');
    expect(executed).toMatchObject({
      requestSeq: 3,
      status: 'succeeded',
      startedAt: '2026-12-07T03:00:10.000Z',
      executedPayloadSha256: hash,
      payloadSha256: hash,
      reportedBy: 'billing-agent',
      outcome: 'allowed',
      validUntil: '2026-12-07T03:15:00.000Z',
      resultSummary: 'exported 1,204 rows',
    });
    const decision = await decisions.getDecision(record.key);
    expect(decision).toMatchObject({
      outcome: 'allowed',
      validUntil: '2026-12-07T03:15:00.000Z',
      execution: { status: 'succeeded', agentId: 'billing-agent', startedAt: '2026-12-07T03:00:10.000Z', resultSummary: 'exported 1,204 rows', error: null },
    });

    // The same report again (EventBridge redelivery, an agent's retry): nothing new, nobody told.
    const again = await recordExecutionReport({ ...sent, id: 'another-bus-event-id' }, deps);
    expect(again.status).toBe('duplicate');
    expect(channel.callsOf('postAlert')).toHaveLength(0);
    expect((await items(`REQ#${record.key}`)).filter((item) => item.eventType === 'executed')).toHaveLength(1);

    // A second, different report of the same approval: used once, so a violation, alerted to the security group.
    const second = await recordExecutionReport(report(record.key, { payloadSha256: hash, startedAt: '2026-12-07T03:01:00.000Z', finishedAt: '2026-12-07T03:01:05.000Z' }), deps);
    expect(second).toMatchObject({ status: 'violation', rule: 'already_executed', alerted: true });
    expect(channel.callsOf('postAlert')).toEqual([{ method: 'postAlert', channelId: 'C0SECURITY', text: expect.stringContaining('[already_executed]') }]);
    const violation = (await items(`REQ#${record.key}`)).find((item) => item.eventType === 'execution_violation');
    expect(violation).toMatchObject({ requestSeq: 4, rule: 'already_executed', startedAt: '2026-12-07T03:01:00.000Z' });
  });

  it('lets only one of two different reports sent at once be the execution', async () => {
    const { record, hash } = await decided({ action: 'db.query' });
    const { deps } = recorder();
    const results = await Promise.all([
      recordExecutionReport(report(record.key, { payloadSha256: hash }), deps),
      recordExecutionReport(report(record.key, { payloadSha256: hash, status: 'failed', error: { code: 'Timeout', message: 'the export timed out' } }), deps),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['executed', 'violation']);
    expect(results.find((r) => r.status === 'violation')?.rule).toBe('already_executed');
    const events = eventsAmong(await items(`REQ#${record.key}`)).map((item) => item.requestSeq).sort();
    expect(events).toEqual([1, 2, 3, 4]);
  });

  it('records a report on no request as no_decision, under a key no actionId can have, alerted to the security group', async () => {
    const { channel, deps } = recorder();
    const sent = report('never-requested-1');
    const result = await recordExecutionReport(sent, deps);
    expect(result).toMatchObject({ status: 'violation', rule: 'no_decision', alerted: true });
    expect(result.reason).toContain('no request with actionId "never-requested-1" was received');
    const [alert] = channel.callsOf('postAlert');
    expect(alert).toMatchObject({ channelId: 'C0SECURITY' });
    expect(alert?.text).toContain('agent billing-agent reported executing never-requested-1');
    expect(await items('REQ#never-requested-1')).toEqual([]);
    expect(await recordExecutionReport({ ...sent, id: 'redelivered' }, deps)).toMatchObject({ status: 'duplicate', alerted: false });
    expect(channel.callsOf('postAlert')).toHaveLength(1);
  });

  it.each([
    ['a denied request', { action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'customer-uploads' }, parameters: { force: true } }, {}, 'not_permitted', 'the request is denied'],
    ['a changed payload', { action: 'db.query' }, { payloadSha256: 'a'.repeat(64) }, 'payload_mismatch', 'what ran is not what was allowed'],
    ['a start after the window', { action: 'db.query' }, { startedAt: '2026-12-07T03:16:00.000Z', finishedAt: '2026-12-07T03:16:30.000Z' }, 'approval_expired', 'after the permission expired (2026-12-07T03:15:00.000Z)'],
    ['a start before the decision', { action: 'db.query' }, { startedAt: '2026-12-07T02:50:00.000Z', finishedAt: '2026-12-07T02:51:00.000Z' }, 'not_permitted', 'it ran before it was permitted'],
    ['a finish after the report arrived', { action: 'db.query' }, { finishedAt: '2026-12-07T03:40:00.000Z' }, 'invalid_report', 'finishedAt: 2026-12-07T03:40:00.000Z is later than the report\'s arrival'],
  ])('refuses %s as %s', async (_name, detail, fields, rule, words) => {
    const { record, hash } = await decided(detail);
    const { channel, deps } = recorder(new Date('2026-12-07T03:20:00.000Z'));
    const result = await recordExecutionReport(report(record.key, { payloadSha256: hash, ...fields }), deps);
    expect(result).toMatchObject({ status: 'violation', rule, alerted: true });
    expect(result.reason).toContain(words);
    expect(channel.callsOf('postAlert')).toHaveLength(1);
    expect(await decisions.getDecision(record.key)).toMatchObject({ execution: null });
  });

  it('refuses another agent\'s report on a request, keeping it with that request', async () => {
    const { record, hash } = await decided({ action: 'db.query' });
    const { deps } = recorder();
    const result = await recordExecutionReport(report(record.key, { payloadSha256: hash }, 'agent.ops-agent'), deps);
    expect(result).toMatchObject({ status: 'violation', rule: 'not_permitted' });
    expect(result.reason).toContain('reported by agent "ops-agent", but the request is agent "billing-agent"\'s');
    expect((await items(`REQ#${record.key}`)).find((item) => item.eventType === 'execution_violation')).toMatchObject({ reportedBy: 'ops-agent', agentId: 'billing-agent' });
  });

  it('records a malformed report as invalid_report with what was wrong, and its resend as a duplicate', async () => {
    const { record } = await decided({ action: 'db.query' });
    const { deps } = recorder();
    const sent = report(record.key, { status: 'done', extra: 1 });
    const result = await recordExecutionReport(sent, deps);
    expect(result).toMatchObject({ status: 'violation', rule: 'invalid_report' });
    expect(result.reason).toContain('unknown field "extra"');
    expect(result.reason).toContain('status: must be "succeeded" or "failed"');
    const stored = (await items(`REQ#${record.key}`)).find((item) => item.eventType === 'execution_violation');
    expect(JSON.parse(stored?.reportJson as string)).toMatchObject({ status: 'done', extra: 1 });
    expect((await recordExecutionReport(sent, deps)).status).toBe('duplicate');
  });

  it('tells the approver group of a report on a request still under review, and shows an approved one on the review message', async () => {
    const { record, hash } = await decided({ action: 'db.export', resource: { type: 'Database', id: 'customers' }, parameters: { table: 'customers', format: 'csv' } });
    expect(record.outcome).toBe('pending');
    const { channel, deps } = recorder();
    const early = await recordExecutionReport(report(record.key, { payloadSha256: hash }), deps);
    expect(early).toMatchObject({ status: 'violation', rule: 'not_permitted' });
    expect(early.reason).toContain('the request is pending (its review is still open)');
    expect(channel.callsOf('postAlert')[0]).toMatchObject({ channelId: 'C0DATAOWNERS' });

    // Approve it in the review (bob, of data-owners), then the agent reports a clean execution.
    const reviewDeps = { store: reviews, channel, callbacks: new MemoryTaskCallbacks(), directory: localDirectory, now: () => DECIDED_AT };
    const input = { actionId: record.key, payloadSha256: hash, agentId: 'billing-agent', onBehalfOf: 'alice@example.com', action: 'db.export', resource: { type: 'Database', id: 'customers' }, environment: 'prod', policyIds: record.policyIds, approval: record.approval!, timing: { reminderAfterSeconds: 900, deadlineAfterSeconds: 900, escalationSeconds: 900 }, requestedAt: DECIDED_AT.toISOString() };
    const { reviewId } = await openReview(reviewEvent(input, 'initial'), reviewDeps);
    expect((await castVote({ reviewId, reviewer: { kind: 'slack', slackUserId: 'U0BOB' }, vote: 'approve' }, reviewDeps)).status).toBe('recorded');
    await recordOutcome({ request: input, outcome: 'approved', result: { outcome: 'approved', reason: 'approved by bob', reviewers: [{ id: 'bob', vote: 'approve', at: DECIDED_AT.toISOString() }], decidedAt: DECIDED_AT.toISOString() } }, { ...reviewDeps, publisher: new MemoryEventPublisher() });

    const executed = await recordExecutionReport(report(record.key, { payloadSha256: hash, status: 'failed', error: { code: 'AccessDenied', message: 'the export role may not read customers' } }), deps);
    expect(executed).toMatchObject({ status: 'executed', messagesUpdated: 1 });
    const shown = channel.callsOf('updateReview').at(-1)?.view;
    expect(shown?.execution).toMatchObject({ validUntil: '2026-12-07T03:15:00.000Z', expiredUnused: false, summary: { status: 'failed', agentId: 'billing-agent', error: { code: 'AccessDenied' } } });
  });

  it('records an act that started after the agent was quarantined as a violation (agent_quarantined), and one that started before as executed', async () => {
    // Two allowed queries of an agent of its own (a fresh one per run), decided at 03:00; the agent is quarantined
    // at 03:00:20; a report's clock is given a minute of skew.
    const agentId = `quarantined-${Date.now().toString(36)}`;
    const guard = new DynamoAgentGuard(ddb.client, TABLE);
    const withQuarantine = (deps: RecordExecutionDeps): RecordExecutionDeps => ({ ...deps, quarantineOf: (id) => guard.quarantineOf(id) });
    const before = await decided({ action: 'db.query', agent: { id: agentId } });
    const after = await decided({ action: 'db.query', agent: { id: agentId } });
    await guard.quarantine({ agentId, by: 'carol', reason: 'looping', at: '2026-12-07T03:00:20.000Z', origin: 'manual' }, { group: 'security', via: 'api', fromActionId: null });

    const { channel, deps } = recorder();
    const early = await recordExecutionReport(report(before.record.key, { payloadSha256: before.hash, startedAt: '2026-12-07T03:01:10.000Z', finishedAt: '2026-12-07T03:01:15.000Z' }, `agent.${agentId}`), withQuarantine(deps));
    expect(early).toMatchObject({ status: 'executed' });
    const late = await recordExecutionReport(report(after.record.key, { payloadSha256: after.hash, startedAt: '2026-12-07T03:01:30.000Z', finishedAt: '2026-12-07T03:01:40.000Z' }, `agent.${agentId}`), withQuarantine(deps));
    expect(late).toMatchObject({ status: 'violation', rule: 'agent_quarantined', alerted: true, reason: expect.stringContaining(`agent "${agentId}" was quarantined by carol at 2026-12-07T03:00:20.000Z (looping)`) });
    expect(channel.calls.filter((call) => call.method === 'postAlert').map((call) => 'text' in call ? call.text : '').join('\n')).toContain('[agent_quarantined]');
  });

  it('keeps an oversized report as a 16 KiB prefix with the whole text\'s hash and size: a violation is an item on someone\'s request', async () => {
    const { record } = await decided({ action: 'db.query' });
    const { deps } = recorder();
    // 250 KB of detail, sent straight to the bus: invalid (over the report's 16 KiB), and kept only in part.
    const sent = report(record.key, { payloadSha256: 'e'.repeat(64), result: { summary: 'ok', sha256: 'a'.repeat(64) }, padding: 'p'.repeat(250_000) });
    const result = await recordExecutionReport(sent, deps);
    expect(result).toMatchObject({ status: 'violation', rule: 'invalid_report' });
    const [violation] = (await items(`REQ#${record.key}`)).filter((item) => item.eventType === 'execution_violation');
    const whole = rawJsonText(sent.detail);
    expect(violation).toMatchObject({ reportTruncated: true, reportSha256: sha256Hex(whole), reportBytes: Buffer.byteLength(whole) });
    expect(Buffer.byteLength(String(violation?.reportJson))).toBeLessThanOrEqual(16 * 1024);
    expect(whole.startsWith(String(violation?.reportJson))).toBe(true);
  });

  it('holds a flood of violation alerts from one agent: the limit\'s alerts, one line holding the rest, then silence; every violation recorded', async () => {
    const agentId = `flooder-${Date.now().toString(36)}`;
    const guard = new DynamoAgentGuard(ddb.client, TABLE);
    const limit = { max: 3, windowMinutes: 10 };
    const { channel, deps } = recorder();
    const limited: RecordExecutionDeps = { ...deps, countAlert: (reporter, rule, at) => guard.countViolationAlert(reporter, rule, at, limit) };
    // Ten reports of acts on requests never received (each a violation, alerted to the security group), eight of them at once.
    const sent = Array.from({ length: 10 }, (_, i) => report(`${agentId}-ghost-${i}`, {}, `agent.${agentId}`));
    const results = [await recordExecutionReport(sent[0]!, limited), await recordExecutionReport(sent[1]!, limited), ...await Promise.all(sent.slice(2).map((one) => recordExecutionReport(one, limited)))];
    expect(results.every((result) => result.status === 'violation')).toBe(true);
    expect(results.filter((result) => result.alerted)).toHaveLength(4);
    expect(results.filter((result) => result.held === true)).toHaveLength(6);
    const posted = channel.callsOf('postAlert').map((call) => ('text' in call ? call.text : ''));
    expect(posted).toHaveLength(4);
    const holding = posted.filter((text) => text.includes('their no_decision alerts are held until 2026-12-07T03:10:00.000Z'));
    expect(holding).toHaveLength(1);
    expect(holding[0]).toContain(`agent ${agentId}`);
    // Every report is on record; the window's item counts what was posted and what was held.
    const { Items: recorded = [] } = await ddb.client.send(new ScanCommand({ TableName: TABLE, ConsistentRead: true, FilterExpression: 'agentId = :agent AND eventType = :type', ExpressionAttributeValues: { ':agent': { S: agentId }, ':type': { S: 'execution_violation' } } }));
    expect(recorded.map((item) => unmarshall(item).actionId).sort()).toEqual(sent.map((one) => one.detail.actionId).sort());
    const [counted] = (await items(`AGENT#${agentId}`)).filter((item) => String(item.sk).startsWith('VIOLATION-ALERTS#'));
    // Counted per rule: 3 posted under the limit, 7 over it (the first of them posted with the hold line).
    expect(counted).toMatchObject({ sk: 'VIOLATION-ALERTS#no_decision#2026-12-07T03:00:00.000Z', alerts: 3, overLimit: 7, kind: 'agent' });
    // The next window alerts again.
    const later = recorder(new Date(DECIDED_AT.getTime() + 11 * 60_000));
    const next = await recordExecutionReport(report(`${agentId}-ghost-later`, {}, `agent.${agentId}`), { ...later.deps, countAlert: (reporter, rule, at) => guard.countViolationAlert(reporter, rule, at, limit) });
    expect(next).toMatchObject({ status: 'violation', alerted: true });
    expect(later.channel.callsOf('postAlert')[0]).toMatchObject({ text: expect.not.stringContaining('held until') });
  });

  it('counts each rule on its own, and sends the hold line to the security group as well as the request\'s approvers', async () => {
    const agentId = `mixed-${Date.now().toString(36)}`;
    const guard = new DynamoAgentGuard(ddb.client, TABLE);
    const { channel, deps } = recorder();
    const limited: RecordExecutionDeps = { ...deps, countAlert: (reporter, rule, at) => guard.countViolationAlert(reporter, rule, at, { max: 1, windowMinutes: 10 }) };
    // A prod export pending data owners' review: a report of it is not_permitted, alerted to data-owners.
    const { record } = await decided({ action: 'db.export', environment: 'prod', parameters: { table: 'customers', format: 'csv' } });
    const onPending = [report(record.key, { startedAt: '2026-12-07T03:00:10.000Z' }, `agent.${agentId}`), report(record.key, { startedAt: '2026-12-07T03:00:11.000Z' }, `agent.${agentId}`)];
    for (const one of onPending) expect(await recordExecutionReport(one, limited)).toMatchObject({ status: 'violation', rule: 'not_permitted', alerted: true });
    // Another rule of the same agent is not muted by the first one's limit.
    expect(await recordExecutionReport(report(`${agentId}-ghost`, {}, `agent.${agentId}`), limited)).toMatchObject({ rule: 'no_decision', alerted: true });
    const posted = channel.callsOf('postAlert').map((call) => ({ channelId: call.channelId, held: 'text' in call && call.text.includes('alerts are held until') }));
    expect(posted).toEqual([
      { channelId: 'C0DATAOWNERS', held: false },
      { channelId: 'C0DATAOWNERS', held: true },
      { channelId: 'C0SECURITY', held: true },
      { channelId: 'C0SECURITY', held: false },
    ]);
  });

  it('posts the alert when counting it against the limit fails (the violation is recorded either way)', async () => {
    const { channel, deps } = recorder();
    const result = await recordExecutionReport(report(`count-fails-${Date.now().toString(36)}`), { ...deps, countAlert: async () => { throw new Error('throttled'); } });
    expect(result).toMatchObject({ status: 'violation', alerted: true, warnings: [expect.stringContaining('posted anyway')] });
    expect(channel.callsOf('postAlert')).toHaveLength(1);
  });

  it('the decision store reads no votes of a pending request whose agent the reader is not (its answer costs what a missing id\'s does)', async () => {
    const { record } = await decided({ action: 'db.export', environment: 'prod', parameters: { table: 'customers', format: 'csv' } });
    expect(record.outcome).toBe('pending');
    const sent: string[] = [];
    const counting = { send: (command: { constructor: { name: string } }) => { sent.push(command.constructor.name); return ddb.client.send(command as never); } } as unknown as typeof ddb.client;
    const store = new DynamoDecisionStore(counting, TABLE);
    expect(await store.getDecisionWithAgent(record.key, (agentId) => agentId === 'ops-agent')).toBeUndefined();
    expect(sent).toEqual(['GetItemCommand']);
    sent.length = 0;
    expect(await store.getDecisionWithAgent(record.key, (agentId) => agentId === 'billing-agent')).toMatchObject({ agentId: 'billing-agent', decision: { outcome: 'pending' } });
    expect(sent).toEqual(['GetItemCommand', 'QueryCommand']);
  });
});
