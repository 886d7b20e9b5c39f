import { createHash } from 'node:crypto';
import { marshall } from '@aws-sdk/util-dynamodb';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDecisionStore, marshallOptions } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { eventsAmong, itemsOfRequest } from '../support/decision-items.js';
import { actionRequested } from '../support/requests.js';

const TABLE = 'countersign-decisions-it';
let ddb: DynamoDbLocal;
let store: DynamoDecisionStore;
const policy = new CedarPolicyEngine();

function deps(): IntakeDeps & { publisher: MemoryEventPublisher; workflow: MemoryWorkflowStarter } {
  return { policy, store, publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => new Date() };
}

const itemsOf = (key: string) => itemsOfRequest(ddb.client, TABLE, key);

/** A store whose DynamoDB client fails on the decided event's PutItem, as a timeout or a crash between the two writes would. */
function diesBeforeDecided(): DynamoDecisionStore {
  const client = {
    send: (command: { input?: { Item?: Record<string, { S?: string }> } }) => (command.input?.Item?.sk?.S === 'EVENT#decided' ? Promise.reject(new Error('socket hang up')) : ddb.client.send(command as never)),
  } as unknown as typeof ddb.client;
  return new DynamoDecisionStore(client, TABLE);
}

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  store = new DynamoDecisionStore(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
});

describe('evaluate-action on DynamoDB Local', () => {
  it('records the request (the source of its requested event) and its decided event, and publishes the decision', async () => {
    const d = deps();
    const event = actionRequested();
    const result = await evaluateActionRequested(event, d);
    const actionId = (event.detail as { actionId: string }).actionId;
    expect(result).toMatchObject({ status: 'created', dispatched: true });
    const items = await itemsOf(actionId);
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
    const decided = items.find((i) => i.sk === 'EVENT#decided');
    expect(decided).toMatchObject({ kind: 'event', eventType: 'decided', requestSeq: 2, outcome: 'allowed', agentId: 'billing-agent', action: 'db.query' });
    // Marked as the source of the requested event, which the audit writer makes from it (test/unit/audit-record.test.ts).
    expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ kind: 'request', auditEvent: 'requested', eventSeq: 2 });
    expect(d.publisher.published).toEqual([expect.objectContaining({ actionId, outcome: 'allowed', requestEventId: event.id })]);
    expect(await store.getDecision(actionId)).toMatchObject({ actionId, outcome: 'allowed', policyIds: decided?.policyIds });
  });

  it('makes exactly one decision and one set of items from 20 concurrent sends of one actionId', async () => {
    const d = deps();
    const first = actionRequested({ action: 'db.export', environment: 'prod' });
    // An agent retrying its PutEvents: same detail, new EventBridge event ids.
    const sends = Array.from({ length: 20 }, () => ({ ...first, id: crypto.randomUUID() }));
    const results = await Promise.all(sends.map((event) => evaluateActionRequested(event, d)));
    const actionId = (first.detail as { actionId: string }).actionId;

    expect(results.filter((r) => r.status === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'duplicate')).toHaveLength(19);
    const items = await itemsOf(actionId);
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
    expect(d.workflow.started.size).toBe(1);
    expect(d.publisher.published).toHaveLength(0);
    expect(await store.getDecision(actionId)).toMatchObject({ outcome: 'pending', decidedAt: null });
  });

  it('writes nothing new when the same event is delivered again, and hands the same decision on again', async () => {
    const d = deps();
    const event = actionRequested();
    await evaluateActionRequested(event, d);
    const before = await itemsOf((event.detail as { actionId: string }).actionId);
    const again = await evaluateActionRequested(event, d);
    // No write marks a finished hand-off (a write unit per decision): a redelivery publishes again, at least once.
    expect(again).toMatchObject({ status: 'duplicate', dispatched: true });
    expect(await itemsOf((event.detail as { actionId: string }).actionId)).toEqual(before);
    expect(d.publisher.published).toHaveLength(2);
    expect(d.publisher.published[1]).toEqual(d.publisher.published[0]);
  });

  it('writes the decided event on redelivery when the first invocation died between the request item and it', async () => {
    const event = actionRequested({ action: 'db.export', environment: 'prod' });
    const actionId = (event.detail as { actionId: string }).actionId;
    const first = deps();
    await expect(evaluateActionRequested(event, { ...first, store: diesBeforeDecided() })).rejects.toThrow('socket hang up');
    expect((await itemsOf(actionId)).map((i) => i.sk)).toEqual(['REQUEST']);
    expect(first.workflow.started.size).toBe(0);

    const d = deps();
    expect(await evaluateActionRequested(event, d)).toMatchObject({ status: 'duplicate', dispatched: true, record: { outcome: 'pending' } });
    const items = await itemsOf(actionId);
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
    expect(items.find((i) => i.sk === 'EVENT#decided')).toMatchObject({ eventType: 'decided', requestSeq: 2, outcome: 'pending', sourceEventId: event.id });
    expect(d.workflow.started.size).toBe(1);
  });

  it('writes a missing decided event on an agent\'s retry too (another event id, same request), without handing it on', async () => {
    const event = actionRequested();
    const actionId = (event.detail as { actionId: string }).actionId;
    await expect(evaluateActionRequested(event, { ...deps(), store: diesBeforeDecided() })).rejects.toThrow('socket hang up');
    const d = deps();
    expect(await evaluateActionRequested({ ...event, id: crypto.randomUUID() }, d)).toMatchObject({ status: 'duplicate', dispatched: false });
    expect((await itemsOf(actionId)).find((i) => i.sk === 'EVENT#decided')).toMatchObject({ outcome: 'allowed', sourceEventId: event.id });
  });

  it('finishes the hand-off when EventBridge redelivers an event whose first invocation died after the write', async () => {
    const event = actionRequested();
    const failing = { ...deps(), publisher: { publishDecided: async () => { throw new Error('network down'); }, publishLimited: async () => undefined } };
    await expect(evaluateActionRequested(event, failing)).rejects.toThrow('network down');
    const d = deps();
    const retried = await evaluateActionRequested(event, d);
    expect(retried).toMatchObject({ status: 'duplicate', dispatched: true });
    expect(d.publisher.published).toHaveLength(1);
  });

  it('writes a missing decided event before a conflict\'s refusal, so the refusal is never event 3 without event 2', async () => {
    const event = actionRequested({ parameters: { sql: 'select 1' } });
    const actionId = (event.detail as { actionId: string }).actionId;
    await expect(evaluateActionRequested(event, { ...deps(), store: diesBeforeDecided() })).rejects.toThrow('socket hang up');
    const conflicting = actionRequested({ actionId, parameters: { sql: 'select * from customers' } });
    expect(await evaluateActionRequested(conflicting, deps())).toMatchObject({ status: 'conflict', dispatched: false });
    const events = eventsAmong(await itemsOf(actionId)).map((e) => [e.requestSeq, e.eventType]).sort();
    expect(events).toEqual([[1, 'requested'], [2, 'decided'], [3, 'conflict']]);
  });

  it('does not hand on again what a replay from the archive brings back, unless its decided event was missing', async () => {
    const d = deps();
    const event = actionRequested();
    await evaluateActionRequested(event, d);
    expect(await evaluateActionRequested({ ...event, replayName: 'r1' }, d)).toMatchObject({ status: 'duplicate', dispatched: false });
    expect(d.publisher.published).toHaveLength(1);

    const unfinished = actionRequested();
    await expect(evaluateActionRequested(unfinished, { ...deps(), store: diesBeforeDecided() })).rejects.toThrow('socket hang up');
    const replayed = deps();
    expect(await evaluateActionRequested({ ...unfinished, replayName: 'r1' }, replayed)).toMatchObject({ status: 'duplicate', completed: true, dispatched: true });
    expect(replayed.publisher.published).toEqual([expect.objectContaining({ requestEventId: unfinished.id, outcome: 'allowed' })]);
  });

  it('refuses the same actionId with a different payload, records the refusal once, and keeps the first decision', async () => {
    const d = deps();
    const original = actionRequested({ parameters: { sql: 'select 1' } });
    const actionId = (original.detail as { actionId: string }).actionId;
    await evaluateActionRequested(original, d);
    const conflicting = actionRequested({ actionId, parameters: { sql: 'select * from customers' } });
    const refused = await evaluateActionRequested(conflicting, d);
    expect(refused).toMatchObject({ status: 'conflict', dispatched: false });
    await evaluateActionRequested(conflicting, d); // redelivered: still one refusal on record

    const items = await itemsOf(actionId);
    const conflicts = items.filter((i) => i.eventType === 'conflict');
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ kind: 'event', sourceEventId: conflicting.id, reason: expect.stringContaining('already used for a different request') });
    expect(JSON.parse(conflicts[0]?.requestJson as string).parameters).toEqual({ sql: 'select * from customers' });
    expect(await store.getDecision(actionId)).toMatchObject({ outcome: 'allowed' });
    expect(d.publisher.published).toHaveLength(1);
  });

  it('records an event without a usable actionId under its event id, with the raw detail kept', async () => {
    const d = deps();
    const event = { id: crypto.randomUUID(), source: 'agent.billing-agent', detailType: 'Action Requested', detail: { actionId: 'bad id!', anything: [1, 2] } };
    const result = await evaluateActionRequested(event, d);
    expect(result).toMatchObject({ status: 'created', record: { outcome: 'invalid', actionId: null } });
    const items = await itemsOf(`invalid/${event.id}`);
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
    expect(JSON.parse(items.find((i) => i.sk === 'REQUEST')?.rawDetail as string)).toEqual(event.detail);
    expect(d.publisher.published).toEqual([expect.objectContaining({ actionId: null, outcome: 'invalid', requestEventId: event.id })]);
  });

  it('records a request with 640,000-byte parameters as invalid: hash, size and a 16 KiB prefix in the request item, far under 400 KB (issue 11)', async () => {
    const d = deps();
    const event = actionRequested({ parameters: { pad: 'x'.repeat(640_000) } });
    const actionId = (event.detail as { actionId: string }).actionId;
    const result = await evaluateActionRequested(event, d);
    expect(result).toMatchObject({ status: 'created', dispatched: true, record: { outcome: 'invalid' } });
    const items = await itemsOf(actionId);
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'REQUEST']);
    const whole = canonicalize(event.detail) as string;
    for (const sk of ['REQUEST']) {
      const item = items.find((i) => i.sk === sk) as Record<string, unknown>;
      expect(item).toMatchObject({ rawDetailTruncated: true, rawDetailBytes: Buffer.byteLength(whole), rawDetailSha256: createHash('sha256').update(whole).digest('hex') });
      expect(whole.startsWith(item.rawDetail as string)).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(marshall(item, marshallOptions)))).toBeLessThan(20 * 1024);
    }
    expect(await store.getDecision(actionId)).toMatchObject({ outcome: 'invalid', reason: expect.stringContaining('the limit is 262144 bytes') });
  });

  it('records an identity mismatch as invalid under the actionId, with a reason naming the field', async () => {
    const d = deps();
    const event = actionRequested({ agent: { id: 'ops-agent' } }, { source: 'agent.billing-agent' });
    const actionId = (event.detail as { actionId: string }).actionId;
    await evaluateActionRequested(event, d);
    expect(await store.getDecision(actionId)).toMatchObject({
      outcome: 'invalid',
      reason: 'agent.id: "ops-agent" does not match the event source "agent.billing-agent"; an agent may only send requests as itself',
    });
  });
});
