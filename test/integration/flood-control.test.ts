import { randomUUID } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ITEM, DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { AgentLimitedDetailSchema, agentLimitedText } from '../../shared/domain/agent-limited.js';
import type { AgentLimits } from '../../shared/domain/flood-control.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { actionRequested } from '../support/requests.js';

const TABLE = 'countersign-flood-it';
let ddb: DynamoDbLocal;
let store: DynamoDecisionStore;
let guard: DynamoAgentGuard;
const policy = new CedarPolicyEngine();

function deps(limits: AgentLimits, now = () => new Date()): IntakeDeps & { publisher: MemoryEventPublisher } {
  return {
    policy, store, publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now,
    flood: { guard, limitsOf: () => limits },
  };
}

/** A request that needs a review (db.export in prod), from a fresh agent unless one is given. */
function exportRequest(agentId: string, parameters: Record<string, unknown> = { table: 'customers', nonce: randomUUID() }) {
  return actionRequested({ agent: { id: agentId, onBehalfOf: 'alice@example.com' }, action: 'db.export', environment: 'prod', parameters });
}

const freshAgent = () => `agent-${randomUUID().slice(0, 8)}`;

async function agentItems(agentId: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = await ddb.client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': AGENT_ITEM.pk(agentId) }), ConsistentRead: true }));
  return Items.map((i) => unmarshall(i));
}

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  store = new DynamoDecisionStore(ddb.client, TABLE);
  guard = new DynamoAgentGuard(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
});

describe('flood control on DynamoDB Local', () => {
  it('opens at most maxOpenReviews reviews from 20 concurrent requests, denies the rest naming the limit, and announces the burst once', async () => {
    const agentId = freshAgent();
    const d = deps({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 1000 });
    const results = await Promise.all(Array.from({ length: 20 }, () => evaluateActionRequested(exportRequest(agentId), d)));

    const pending = results.filter((r) => r.record.outcome === 'pending');
    const denied = results.filter((r) => r.record.outcome === 'denied');
    expect(pending).toHaveLength(5);
    expect(denied).toHaveLength(15);
    for (const r of denied) {
      expect(r.record.reason).toContain('the limit is 5 open at once; it resets when one of them is decided');
      expect(r.record.policyIds).toContain('countersign:open-reviews');
      // Recorded like every decision: the decision API answers it.
      expect(await store.getDecision(r.record.key)).toMatchObject({ outcome: 'denied', reason: r.record.reason });
    }
    // One `Agent Requests Limited` event for the burst (record-execution turns it into the channel line).
    expect(d.publisher.limited).toHaveLength(1);
    expect(AgentLimitedDetailSchema.parse(d.publisher.limited[0])).toMatchObject({ agentId, group: 'data-owners', limit: 'open-reviews', resetsAt: null });
    expect(agentLimitedText(d.publisher.limited[0]!)).toContain(`Flood control: ${agentId} is being limited (too many open reviews)`);
    const status = await guard.status(agentId);
    expect(status.openReviews).toBe(5);
    expect(status.pendingActionIds.sort()).toEqual(pending.map((r) => r.record.key).sort());
    expect(status.burst).toMatchObject({ limit: 'open-reviews', denied: 15 });
  });

  it('takes at most maxApprovalRequestsPerHour tokens from 12 concurrent requests and says when the next one is allowed', async () => {
    const agentId = freshAgent();
    const now = new Date('2026-12-07T05:00:00.000Z');
    const d = deps({ maxOpenReviews: 100, maxApprovalRequestsPerHour: 4 }, () => now);
    const results = await Promise.all(Array.from({ length: 12 }, () => evaluateActionRequested(exportRequest(agentId), d)));
    expect(results.filter((r) => r.record.outcome === 'pending')).toHaveLength(4);
    const denied = results.filter((r) => r.record.outcome === 'denied');
    expect(denied).toHaveLength(8);
    // 4 per hour: one token every 15 minutes.
    for (const r of denied) expect(r.record.reason).toBe(`flood control: "${agentId}" used its 4 approval requests per hour; the next one is allowed at 2026-12-07T05:15:00.000Z`);
    expect(d.publisher.limited).toEqual([{ agentId, group: 'data-owners', limit: 'approval-rate', reason: denied[0]?.record.reason, resetsAt: '2026-12-07T05:15:00.000Z', at: '2026-12-07T05:00:00.000Z' }]);

    // A quarter of an hour later, one token is back: one more review, not two.
    const later = deps({ maxOpenReviews: 100, maxApprovalRequestsPerHour: 4 }, () => new Date('2026-12-07T05:15:00.000Z'));
    const next = await Promise.all([evaluateActionRequested(exportRequest(agentId), later), evaluateActionRequested(exportRequest(agentId), later)]);
    expect(next.map((r) => r.record.outcome).sort()).toEqual(['denied', 'pending']);
  });

  it('refuses a second request with the payload of a pending one, naming the pending actionId, and frees the slot when the first is decided', async () => {
    const agentId = freshAgent();
    const d = deps({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 100 });
    const parameters = { table: 'customers', format: 'csv' };
    const first = await evaluateActionRequested(exportRequest(agentId, parameters), d);
    expect(first.record.outcome).toBe('pending');
    const second = await evaluateActionRequested(exportRequest(agentId, parameters), d);
    expect(second.record.outcome).toBe('denied');
    expect(second.record.reason).toContain(`duplicate of pending request "${first.record.key}"`);
    expect(second.record.payloadSha256).toBe(first.record.payloadSha256);

    // Redelivery of the first request takes no second slot.
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 1, pendingActionIds: [first.record.key] });

    expect(await guard.release(agentId, first.record.key, first.record.payloadSha256!)).toBe(true);
    expect(await guard.release(agentId, first.record.key, first.record.payloadSha256!)).toBe(false);
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 0, pendingActionIds: [] });
    const third = await evaluateActionRequested(exportRequest(agentId, parameters), d);
    expect(third.record.outcome).toBe('pending');
  });

  it('denies every request of a quarantined agent with who and why, and lifting it restores the agent; both are audit event items', async () => {
    const agentId = freshAgent();
    const d = deps({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 100 });
    const at = '2026-12-07T05:01:00.000Z';
    expect(await guard.quarantine({ agentId, by: 'frank', reason: 'looping on exports', at, origin: 'manual' }, {})).toMatchObject({ status: 'quarantined' });
    expect(await guard.quarantine({ agentId, by: 'carol', reason: 'again', at, origin: 'manual' }, {})).toMatchObject({ status: 'already_quarantined', quarantine: { by: 'frank' } });

    const allowed = await evaluateActionRequested(actionRequested({ agent: { id: agentId } }), d);
    const review = await evaluateActionRequested(exportRequest(agentId), d);
    for (const r of [allowed, review]) {
      expect(r.record.outcome).toBe('denied');
      expect(r.record.reason).toMatch(/^agent quarantined by frank: looping on exports/);
    }

    expect(await guard.lift(agentId, 'carol', 'fixed the loop', '2026-12-07T05:05:00.000Z')).toMatchObject({ status: 'lifted', previous: { by: 'frank' } });
    expect(await guard.lift(agentId, 'carol', 'twice', '2026-12-07T05:06:00.000Z')).toEqual({ status: 'not_quarantined' });
    expect((await evaluateActionRequested(actionRequested({ agent: { id: agentId } }), d)).record.outcome).toBe('allowed');

    const events = (await agentItems(agentId)).filter((i) => i.kind === 'event');
    expect(events.map((e) => [e.eventType, e.requestSeq, e.by, e.reason])).toEqual([
      ['agent_quarantined', 1, 'frank', 'looping on exports'],
      ['agent_released', 2, 'carol', 'fixed the loop'],
    ]);
    expect(events[0]).toMatchObject({ eventId: `agent/${agentId}/agent_quarantined/1`, agentId, actionId: null, occurredAt: at });
  });

  it('lets concurrent quarantines record exactly one', async () => {
    const agentId = freshAgent();
    const results = await Promise.all(['carol', 'dan', 'erin', 'frank'].map((by) => guard.quarantine({ agentId, by, reason: 'x', at: new Date().toISOString(), origin: 'manual' }, {})));
    expect(results.filter((r) => r.status === 'quarantined')).toHaveLength(1);
    expect((await agentItems(agentId)).filter((i) => i.kind === 'event')).toHaveLength(1);
  });
});
