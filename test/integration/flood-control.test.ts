import { randomUUID } from 'node:crypto';
import { DescribeTimeToLiveCommand, QueryCommand, TransactionCanceledException, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ITEM, DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { AgentLimitedDetailSchema, agentLimitedText } from '../../shared/domain/agent-limited.js';
import type { AgentLimits, CountedRejection } from '../../shared/domain/flood-control.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { MemoryReviewChannel, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { Directory } from '../../shared/domain/directory.js';
import { castVote } from '../../shared/review/cast-vote.js';
import { liftQuarantine, quarantineAgent, systemQuarantine } from '../../shared/review/quarantine-agent.js';
import { openReview } from '../../shared/review/open-review.js';
import type { ReviewDeps } from '../../shared/review/review-deps.js';
import { actionRequested } from '../support/requests.js';
import { DECISION_TABLE } from '../../shared/store-schema.js';
import { reviewEvent, SECURITY_QUORUM_2, seedPendingRequest } from '../support/reviews.js';
import directoryJson from '../../config/directory.json' with { type: 'json' };
import { answerTeamsRequest, type TeamsInteractionDeps } from '../../shared/review/teams-interaction.js';
import { BotFrameworkTokenVerifier } from '../../shared/teams/verify-token.js';
import { BotFrameworkIssuer, issuerFetch } from '../../local/teams/bot-framework-issuer.js';

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

/** The quarantine a tripped count writes for the agent, as auto-quarantine.ts builds it. */
const tripQuarantine = (agentId: string) => (tripped: CountedRejection[]) => systemQuarantine(agentId, 'countersign (auto: test)', `tripped by ${tripped.map((r) => r.actionId).join(', ')}`, { now: () => new Date() });

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
  it('an agent resending one request (same actionId and payload, new event ids, all at once) holds one slot: the copies that lose never give it back', async () => {
    const agentId = freshAgent();
    const first = exportRequest(agentId);
    const copies = [first, ...Array.from({ length: 5 }, () => ({ ...first, id: randomUUID() }))];
    const d = deps({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 1000 });
    const results = await Promise.all(copies.map((event) => evaluateActionRequested(event, d)));
    expect(results.filter((r) => r.status === 'created')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'duplicate')).toHaveLength(5);
    const items = await agentItems(agentId);
    expect(items.find((i) => i.sk === AGENT_ITEM.stateSk)?.openReviews).toBe(1);
    const slots = items.filter((i) => typeof i.sk === 'string' && i.sk !== AGENT_ITEM.stateSk && i.actionId !== undefined && i.payloadSha256 !== undefined);
    expect(slots.map((i) => i.actionId)).toEqual([(first.detail as { actionId: string }).actionId]);
    // So a second review of the same payload is still refused, naming the first.
    const again = await evaluateActionRequested({ ...exportRequest(agentId, (first.detail as { parameters: Record<string, unknown> }).parameters) }, d);
    expect(again.record.outcome).toBe('denied');
    expect(again.record.reason).toContain((first.detail as { actionId: string }).actionId);
  });

  it('a request refused as a conflict (its actionId already another payload\'s) gives back the slot it took', async () => {
    const agentId = freshAgent();
    const d = deps({ maxOpenReviews: 5, maxApprovalRequestsPerHour: 1000 });
    const first = exportRequest(agentId);
    expect((await evaluateActionRequested(first, d)).status).toBe('created');
    const conflicting = exportRequest(agentId);
    (conflicting.detail as { actionId: string }).actionId = (first.detail as { actionId: string }).actionId;
    expect((await evaluateActionRequested(conflicting, d)).status).toBe('conflict');
    const items = await agentItems(agentId);
    expect(items.find((i) => i.sk === AGENT_ITEM.stateSk)?.openReviews).toBe(1);
    expect(items.filter((i) => i.payloadSha256 !== undefined && i.sk !== AGENT_ITEM.stateSk && i.actionId !== undefined)).toHaveLength(1);
  });

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

  it('keeps the denial on record and reports a warning when the burst cannot be announced on the bus', async () => {
    const agentId = freshAgent();
    const d = deps({ maxOpenReviews: 1, maxApprovalRequestsPerHour: 1000 });
    const failing: IntakeDeps = { ...d, publisher: { publishDecided: (detail) => d.publisher.publishDecided(detail), publishLimited: async () => { throw new Error('PutEvents refused: ThrottlingException'); } } };
    expect((await evaluateActionRequested(exportRequest(agentId), failing)).record.outcome).toBe('pending');
    const denied = await evaluateActionRequested(exportRequest(agentId), failing);
    expect(denied.record.outcome).toBe('denied');
    expect(denied.warnings).toEqual([`announcing the flood-control burst for "data-owners" failed: Error: PutEvents refused: ThrottlingException`]);
    expect(await store.getDecision(denied.record.key)).toMatchObject({ outcome: 'denied', reason: denied.record.reason });
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

describe('automatic quarantine on DynamoDB Local', () => {
  const rule = { rejections: 2, windowMinutes: 60 };

  /** The review service on the table, with a directory that turns automatic quarantine on and names the agent's owner. */
  function reviewDeps(agentId: string): ReviewDeps & { channel: MemoryReviewChannel; callbacks: MemoryTaskCallbacks } {
    const directory = Directory.parse({ ...directoryJson, agents: { ...directoryJson.agents, [agentId]: { owners: ['carol'] } }, floodControl: { autoQuarantine: rule } });
    return { store: new DynamoReviewStore(ddb.client, TABLE), guard, channel: new MemoryReviewChannel(), callbacks: new MemoryTaskCallbacks(), directory, now: () => new Date() };
  }

  /** A request of the agent admitted by flood control (it holds an open-review slot) with its review open. */
  async function underReview(agentId: string, d: ReviewDeps, n: number) {
    const { record, input } = await seedPendingRequest(store, SECURITY_QUORUM_2, { agent: { id: agentId, onBehalfOf: 'dan@example.com' }, parameters: { n, nonce: randomUUID() } }, new Date().toISOString());
    expect(await guard.admit({ agentId, actionId: input.actionId, payloadSha256: input.payloadSha256, limits: { maxOpenReviews: 10, maxApprovalRequestsPerHour: 100 }, now: new Date() })).toMatchObject({ admitted: true, tookSlot: true });
    const event = reviewEvent(input, 'initial');
    const { reviewId } = await openReview(event, d);
    return { actionId: record.key, reviewId, taskToken: event.taskToken };
  }

  const deny = (reviewId: string, d: ReviewDeps) => castVote({ reviewId, reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'deny', comment: 'wrong table' }, d);

  it('marks a counted rejection with the table\'s TTL a day past the longest window; the request, review and event items carry none; the table has TTL on (as the CDK table does)', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const a = await underReview(agentId, d, 1);
    expect(await deny(a.reviewId, d)).toMatchObject({ status: 'recorded', autoQuarantine: { status: 'counted' } });
    const [marker] = (await agentItems(agentId)).filter((i) => String(i.sk).startsWith('COUNTED-REJECTION#'));
    // A week (the directory's longest window) and a day after the rejection, in epoch seconds.
    const rejectedAt = Date.parse(String(marker?.rejectedAt));
    expect(marker).toMatchObject({ actionId: a.actionId, [DECISION_TABLE.timeToLiveAttribute]: Math.ceil((rejectedAt + 8 * 24 * 3600 * 1000) / 1000) });
    const itemsOf = async (pk: string) => (await ddb.client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: marshall({ ':pk': pk }), ConsistentRead: true }))).Items ?? [];
    const Items = [...await itemsOf(`REQ#${a.actionId}`), ...await itemsOf(`REVIEW#${a.reviewId}`)];
    expect(Items.map((item) => item.sk?.S)).toEqual(expect.arrayContaining(['REQUEST', 'REVIEW', expect.stringMatching(/^EVENT#/)]));
    expect(Items.filter((item) => DECISION_TABLE.timeToLiveAttribute in item).map((item) => item.sk?.S)).toEqual([]);
    const { TimeToLiveDescription } = await ddb.client.send(new DescribeTimeToLiveCommand({ TableName: TABLE }));
    expect(TimeToLiveDescription).toEqual({ TimeToLiveStatus: 'ENABLED', AttributeName: DECISION_TABLE.timeToLiveAttribute });
    // A second start (the local stack's restart) finds it on and leaves it: a second UpdateTimeToLive would be refused.
    await ensureDecisionTable(ddb.client, TABLE);
  });

  it('quarantines the agent as Countersign on the Kth reviewer rejection: recorded and audited, its other open review closed, its owners told', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const [a, b, c] = [await underReview(agentId, d, 1), await underReview(agentId, d, 2), await underReview(agentId, d, 3)];

    expect(await deny(a.reviewId, d)).toMatchObject({ status: 'recorded', closed: { outcome: 'rejected' }, autoQuarantine: { status: 'counted' } });
    expect((await guard.status(agentId)).quarantine).toBeNull();
    // A retried count of the same rejection counts nothing (the second rejection below is what trips it).
    expect(await guard.countRejection(agentId, { actionId: a.actionId, atMs: Date.now() }, rule, tripQuarantine(agentId))).toBeNull();

    const second = await deny(b.reviewId, d);
    const by = 'countersign (auto: 2 rejections in 60 min)';
    expect(second).toMatchObject({ status: 'recorded', autoQuarantine: { status: 'quarantined', outcome: { status: 'quarantined', quarantine: { agentId, by, origin: 'auto' }, closedActionIds: [c.actionId] } } });
    const reason = `reviewers rejected 2 of its requests within 60 minutes (the limit is 2): ${a.actionId}, ${b.actionId}`;

    const status = await guard.status(agentId);
    expect(status).toMatchObject({ quarantine: { by, reason, origin: 'auto' }, openReviews: 0, pendingActionIds: [] });
    expect(await store.getDecision(c.actionId)).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining(`closed: agent quarantined by ${by}: ${reason}`) });
    // c's workflow was resumed with the rejection; the task token went to the callbacks only.
    expect(d.callbacks.failed.map((f) => f.taskToken)).toContain(c.taskToken);
    expect(d.channel.calls.filter((call) => call.method === 'postAlert')).toEqual([
      { method: 'postAlert', channelId: 'C0SECURITY', text: expect.stringMatching(new RegExp(`^Countersign: agent ${agentId} was quarantined by countersign \\(auto: 2 rejections in 60 min\\): .* 1 open review was closed as rejected\\. Owners: carol\\.$`)) },
    ]);
    const audited = (await agentItems(agentId)).filter((i) => i.kind === 'event');
    expect(audited).toEqual([expect.objectContaining({ eventType: 'agent_quarantined', by, reason, origin: 'auto', via: 'auto', group: null, requestSeq: 1 })]);

    // From now on intake denies the agent; lifting it is the quarantine group's act, and the count starts again.
    expect(await guard.lift(agentId, 'dan', 'owners fixed the prompt', new Date().toISOString())).toMatchObject({ status: 'lifted', previous: { by } });
    const after = await underReview(agentId, d, 4);
    expect(await deny(after.reviewId, d)).toMatchObject({ autoQuarantine: { status: 'counted' } });
    expect((await guard.status(agentId)).quarantine).toBeNull();
  });

  it('an agent quarantined behind an open review\'s back: an approval is refused, its owner may not lift it, and quarantining again closes the review', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const a = await underReview(agentId, d, 1);
    // The quarantine is on record but its closing never ran (the function stopped after the write).
    await guard.quarantine({ agentId, by: 'dan', reason: 'looping', at: new Date().toISOString(), origin: 'manual' }, { group: 'security', via: 'api', fromActionId: null });

    const approve = await castVote({ reviewId: a.reviewId, reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'approve' }, d);
    expect(approve).toMatchObject({ status: 'refused', rule: 'agent_quarantined', message: `${agentId} is quarantined (by dan: looping); its requests cannot be approved until the quarantine is lifted` });
    expect(await store.getDecision(a.actionId)).toMatchObject({ outcome: 'pending' });

    const carol = d.directory.member('carol');
    if (carol === undefined) throw new Error('carol is in the example directory');
    expect(await liftQuarantine(agentId, carol, 'it is fine', { ...d, guard })).toEqual({ status: 'refused', message: `carol owns ${agentId} and may not lift its quarantine: another member of the quarantine group has to` });

    const erin = d.directory.member('erin');
    if (erin === undefined) throw new Error('erin is in the example directory');
    expect(await quarantineAgent(agentId, { kind: 'member', member: erin, via: 'api' }, 'still looping', { ...d, guard })).toMatchObject({ status: 'already_quarantined' });
    expect(await store.getDecision(a.actionId)).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('closed: agent quarantined by dan: looping') });
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 0, pendingActionIds: [] });
  });

  it('closes an agent\'s open reviews four at a time within its budget; out of time, the rest stay open refusing approvals, are named, and the next quarantine closes them', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const opened = [];
    for (let n = 1; n <= 6; n++) opened.push(await underReview(agentId, d, n));
    const pending = (await guard.status(agentId)).pendingActionIds;
    expect([...pending].sort()).toEqual(opened.map((o) => o.actionId).sort());
    const erin = d.directory.member('erin');
    const dan = d.directory.member('dan');
    if (erin === undefined || dan === undefined) throw new Error('erin and dan are in the example directory');

    // No time at all: the quarantine is on record and closes nothing; every review is named as left open.
    const first = await quarantineAgent(agentId, { kind: 'member', member: erin, via: 'api' }, 'looping', { ...d, guard, quarantineClosingBudgetMs: 0 });
    expect(first).toMatchObject({ status: 'quarantined', closedActionIds: [], leftOpenActionIds: pending });
    expect(first.status === 'quarantined' && first.warnings).toEqual([expect.stringContaining(`6 open review(s) of ${agentId} were left open after 0 ms`)]);
    expect(d.channel.calls.filter((call) => call.method === 'postAlert').at(-1)).toMatchObject({ text: expect.stringContaining('0 open reviews were closed as rejected. 6 more stay open for now (approvals of them are refused; quarantining again closes them).') });
    const approve = await castVote({ reviewId: opened[0]!.reviewId, reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'approve' }, d);
    expect(approve).toMatchObject({ status: 'refused', rule: 'agent_quarantined' });
    for (const { actionId } of opened) expect(await store.getDecision(actionId)).toMatchObject({ outcome: 'pending' });

    // The next quarantine closes them, side by side: four reads of open reviews are in flight at once.
    let inFlight = 0;
    let most = 0;
    const counting = {
      ...d.store,
      getByAction: async (...args: Parameters<typeof d.store.getByAction>) => {
        most = Math.max(most, ++inFlight);
        try {
          return await d.store.getByAction(...args);
        } finally {
          inFlight--;
        }
      },
    } as typeof d.store;
    Object.setPrototypeOf(counting, Object.getPrototypeOf(d.store));
    // Time enough for all of them: what is measured is how many run at once, never how long they take.
    const again = await quarantineAgent(agentId, { kind: 'member', member: dan, via: 'api' }, 'still looping', { ...d, store: counting, guard, quarantineClosingBudgetMs: 600_000 });
    expect(again).toMatchObject({ status: 'already_quarantined', closedActionIds: pending, leftOpenActionIds: [] });
    expect(most).toBe(4);
    for (const { actionId } of opened) expect(await store.getDecision(actionId)).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('closed: agent quarantined by erin: looping') });
    expect(d.callbacks.calls).toBe(6);
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 0, pendingActionIds: [] });
  });

  it('stops starting closes when the budget runs out part way: the closes under way finish, the rest are left open and named', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    for (let n = 1; n <= 6; n++) await underReview(agentId, d, n);
    const pending = (await guard.status(agentId)).pendingActionIds;
    const erin = d.directory.member('erin');
    if (erin === undefined) throw new Error('erin is in the example directory');
    // A clock that moves 400 ms each time a close reads its review: the fourth worker starts at 1,200 ms,
    // and once it has read, 1,600 ms have passed, so no worker starts a fifth close.
    let clock = 0;
    const slowStore = { ...d.store, getByAction: async (...args: Parameters<typeof d.store.getByAction>) => { clock += 400; return d.store.getByAction(...args); } } as typeof d.store;
    Object.setPrototypeOf(slowStore, Object.getPrototypeOf(d.store));
    const result = await quarantineAgent(agentId, { kind: 'member', member: erin, via: 'api' }, 'looping', { ...d, store: slowStore, guard, monotonicMs: () => clock });
    expect(result).toMatchObject({ status: 'quarantined', closedActionIds: pending.slice(0, 4), leftOpenActionIds: pending.slice(4) });
    expect(result.status === 'quarantined' && result.warnings).toEqual([expect.stringContaining(`2 open review(s) of ${agentId} were left open after 1500 ms`)]);
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 2, pendingActionIds: pending.slice(4) });
  });

  it('gives back a slot when its transaction loses a conflict on the agent\'s state item (closes run side by side)', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const a = await underReview(agentId, d, 1);
    const found = await d.store.getByAction(a.actionId);
    if (found?.request.record.payloadSha256 == null) throw new Error('the request has a payload hash');
    // DynamoDB cancels a transaction that meets another one on the same item: the first release loses once.
    let conflicts = 0;
    const conflicting = new Proxy(ddb.client, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return async (command: { input: unknown }) => {
          if (command instanceof TransactWriteItemsCommand && conflicts === 0) {
            conflicts++;
            throw new TransactionCanceledException({ message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]', $metadata: {}, CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }] });
          }
          return (target.send as (c: unknown) => Promise<unknown>)(command);
        };
      },
    });
    const retrying = new DynamoAgentGuard(conflicting, TABLE, async () => undefined);
    expect(await retrying.release(agentId, a.actionId, found.request.record.payloadSha256)).toBe(true);
    expect(conflicts).toBe(1);
    expect(await guard.status(agentId)).toMatchObject({ openReviews: 0, pendingActionIds: [] });
  });

  it('refuses the approval the same way on a review opened before reviews named their agent (its quarantine is read after the request)', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const a = await underReview(agentId, d, 1);
    expect(await d.store.findReview(a.reviewId)).toMatchObject({ agentId });
    await ddb.client.send(new UpdateItemCommand({ TableName: TABLE, Key: marshall({ pk: `REVIEW#${a.reviewId}`, sk: 'REVIEW' }), UpdateExpression: 'REMOVE agentId' }));
    await guard.quarantine({ agentId, by: 'dan', reason: 'looping', at: new Date().toISOString(), origin: 'manual' }, { group: 'security', via: 'api', fromActionId: null });
    const approve = await castVote({ reviewId: a.reviewId, reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'approve' }, d);
    expect(approve).toMatchObject({ status: 'refused', rule: 'agent_quarantined' });
    expect(await store.getDecision(a.actionId)).toMatchObject({ outcome: 'pending' });
  });

  it('counts concurrent rejections exactly once each: of 9 distinct ones with K=3, one count trips it and quarantines the agent in the same write, and the rest are not counted; a repeated one counts once', async () => {
    const agentId = freshAgent();
    const k3 = { rejections: 3, windowMinutes: 60 };
    const at = Date.now();
    const ids = Array.from({ length: 9 }, (_, i) => `${agentId}-r${i}`);
    const trips = (await Promise.all(ids.map((actionId, i) => guard.countRejection(agentId, { actionId, atMs: at + i }, k3, tripQuarantine(agentId))))).filter((t) => t !== null);
    expect(trips).toHaveLength(1);
    const tripped = trips[0]!.tripped.map((r) => r.actionId).sort();
    expect(tripped).toHaveLength(3);
    const items = await agentItems(agentId);
    // Exactly the tripping rejections were counted (a quarantined agent's are not), and one quarantine is on record.
    expect(items.filter((i) => String(i.sk).startsWith('COUNTED-REJECTION#')).map((i) => i.actionId).sort()).toEqual(tripped);
    expect(items.filter((i) => i.kind === 'event')).toEqual([expect.objectContaining({ eventType: 'agent_quarantined', origin: 'auto', via: 'auto', requestSeq: 1 })]);
    expect(await guard.quarantineOf(agentId)).toEqual(trips[0]!.quarantine);

    const other = freshAgent();
    const repeated = await Promise.all(Array.from({ length: 6 }, () => guard.countRejection(other, { actionId: 'same', atMs: at }, { rejections: 2, windowMinutes: 60 }, tripQuarantine(other))));
    expect(repeated).toEqual(Array.from({ length: 6 }, () => null));
    const [state] = (await agentItems(other)).filter((i) => i.sk === AGENT_ITEM.stateSk);
    expect(state?.recentRejections).toEqual([{ actionId: 'same', atMs: at }]);
  });

  it('keeps the automatic quarantine when everything after the tripping count fails: the agent is quarantined and audited, and a manual quarantine later closes what was left open', async () => {
    const agentId = freshAgent();
    const d = reviewDeps(agentId);
    const [a, b, c] = [await underReview(agentId, d, 1), await underReview(agentId, d, 2), await underReview(agentId, d, 3)];
    expect(await deny(a.reviewId, d)).toMatchObject({ autoQuarantine: { status: 'counted' } });
    // From the moment the tripping count's transaction commits, every DynamoDB call fails (the connection gone).
    let broken = false;
    const failing = new Proxy(ddb.client, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return async (command: { input: unknown }) => {
          if (broken) throw new Error('connect ECONNREFUSED (the table is unreachable)');
          const output = await (target.send as (c: unknown) => Promise<unknown>)(command);
          if (command instanceof TransactWriteItemsCommand && JSON.stringify(command.input).includes('agent_quarantined')) broken = true;
          return output;
        };
      },
    });
    const cut: ReviewDeps = { ...d, guard: new DynamoAgentGuard(failing, TABLE) };
    const second = await deny(b.reviewId, cut);
    expect(second).toMatchObject({ status: 'recorded', autoQuarantine: 'failed', warnings: expect.arrayContaining([expect.stringContaining('ECONNREFUSED')]) });
    expect(broken).toBe(true);

    const by = 'countersign (auto: 2 rejections in 60 min)';
    expect(await guard.quarantineOf(agentId)).toMatchObject({ agentId, by, origin: 'auto', reason: `reviewers rejected 2 of its requests within 60 minutes (the limit is 2): ${a.actionId}, ${b.actionId}` });
    expect((await agentItems(agentId)).filter((i) => i.kind === 'event')).toEqual([expect.objectContaining({ eventType: 'agent_quarantined', by, origin: 'auto' })]);
    // Its requests are refused from now on; c's review, which the cut left open, is closed by the next quarantine.
    expect(await guard.admit({ agentId, actionId: 'next', payloadSha256: 'f'.repeat(64), limits: { maxOpenReviews: 10, maxApprovalRequestsPerHour: 100 }, now: new Date() })).toMatchObject({ admitted: false, reason: expect.stringMatching(/^agent quarantined by countersign \(auto: 2 rejections in 60 min\): /) });
    expect(await store.getDecision(c.actionId)).toMatchObject({ outcome: 'pending' });
    const erin = d.directory.member('erin');
    if (erin === undefined) throw new Error('erin is in the example directory');
    expect(await quarantineAgent(agentId, { kind: 'member', member: erin, via: 'api' }, 'finish it', { ...d, guard })).toMatchObject({ status: 'already_quarantined', quarantine: { by, origin: 'auto' } });
    expect(await store.getDecision(c.actionId)).toMatchObject({ outcome: 'rejected' });
  });

  it('does not count the rejections of a quarantined agent', async () => {
    const agentId = freshAgent();
    await guard.quarantine({ agentId, by: 'carol', reason: 'manual', at: new Date().toISOString(), origin: 'manual' }, { group: 'security', via: 'api', fromActionId: null });
    expect(await guard.countRejection(agentId, { actionId: 'x', atMs: Date.now() }, { rejections: 1, windowMinutes: 60 }, tripQuarantine(agentId))).toBeNull();
    expect((await agentItems(agentId)).some((i) => String(i.sk).startsWith('COUNTED-REJECTION#'))).toBe(false);
  });
});

describe('"Block this agent" from a Teams card, on DynamoDB Local', () => {
  const APP_ID = '11111111-2222-4333-8444-555555555555';
  const TENANT = '99999999-8888-4777-8666-555555555555';
  const SERVICE_URL = 'https://smba.trafficmanager.net/teams/';
  const AAD = { carol: '00000000-0000-4000-8000-00000000ca01', bob: '00000000-0000-4000-8000-000000000b0b', erin: '00000000-0000-4000-8000-00000000e214' };

  async function teamsSetup() {
    const issuer = await BotFrameworkIssuer.create();
    const published = issuerFetch(() => [issuer]);
    const agentId = freshAgent();
    const directory = Directory.parse({ ...directoryJson, agents: { ...directoryJson.agents, [agentId]: { owners: ['alice'] } }, floodControl: { autoQuarantine: { rejections: 1, windowMinutes: 5 } } });
    const deps: TeamsInteractionDeps & { channel: MemoryReviewChannel; callbacks: MemoryTaskCallbacks } = {
      store: new DynamoReviewStore(ddb.client, TABLE), guard, channel: new MemoryReviewChannel(), teams: new MemoryReviewChannel(), callbacks: new MemoryTaskCallbacks(), directory, now: () => new Date(),
      verifier: new BotFrameworkTokenVerifier({ openIdMetadataUrl: published.metadataUrl, fetch: published.fetch }), bot: { appId: APP_ID, tenantId: TENANT },
    };
    const open = async (n: number) => {
      const { input } = await seedPendingRequest(store, SECURITY_QUORUM_2, { agent: { id: agentId, onBehalfOf: 'dan@example.com' }, parameters: { n, nonce: randomUUID() } }, new Date().toISOString());
      await guard.admit({ agentId, actionId: input.actionId, payloadSha256: input.payloadSha256, limits: { maxOpenReviews: 10, maxApprovalRequestsPerHour: 100 }, now: new Date() });
      return { actionId: input.actionId, reviewId: (await openReview(reviewEvent(input, 'initial'), deps)).reviewId };
    };
    const tap = async (reviewId: string, from: string, verb: string, data: Record<string, string> = {}) => {
      const activity = {
        type: 'invoke', name: 'adaptiveCard/action', channelId: 'msteams', serviceUrl: SERVICE_URL,
        from: { id: `29:${from}`, aadObjectId: from }, conversation: { id: '19:approvals-security@thread.tacv2' }, channelData: { tenant: { id: TENANT } },
        value: { action: { type: 'Action.Execute', verb, data: { reviewId, ...data } }, trigger: 'manual' },
      };
      const token = await issuer.sign({ audience: APP_ID, serviceUrl: SERVICE_URL });
      const answer = await answerTeamsRequest({ method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(activity), isBase64Encoded: false }, deps);
      return { ...answer, card: JSON.stringify(JSON.parse(answer.response.body) as unknown) };
    };
    return { agentId, deps, open, tap };
  }

  it('refuses someone outside the quarantine group and an empty reason on the card; a security member quarantines the agent and closes its open reviews', async () => {
    const { agentId, deps, open, tap } = await teamsSetup();
    const [a, b] = [await open(1), await open(2)];

    const bob = await tap(a.reviewId, AAD.bob, 'block_agent', { quarantineReason: 'looping' });
    expect(bob.log).toMatchObject({ action: 'block_agent', status: 'refused', message: 'bob may not quarantine agents or lift a quarantine: only members of "security" or of the policy\'s escalation group may' });
    expect(bob.card).toContain('bob may not quarantine agents');
    const empty = await tap(a.reviewId, AAD.carol, 'block_agent', { quarantineReason: '   ' });
    expect(empty.log).toMatchObject({ status: 'refused', message: expect.stringContaining('A reason is required to quarantine an agent') });
    expect((await guard.status(agentId)).quarantine).toBeNull();

    const carol = await tap(a.reviewId, AAD.carol, 'block_agent', { quarantineReason: 'looping on policy updates' });
    expect(carol.log).toMatchObject({ status: 'quarantined', agentId, by: 'carol' });
    expect(carol.card).toContain(`${agentId} is quarantined`);
    expect((await guard.status(agentId)).quarantine).toMatchObject({ by: 'carol', reason: 'looping on policy updates', origin: 'manual' });
    for (const id of [a.actionId, b.actionId]) expect(await store.getDecision(id)).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('agent quarantined by carol: looping on policy updates') });
    const [event] = (await agentItems(agentId)).filter((i) => i.kind === 'event');
    expect(event).toMatchObject({ eventType: 'agent_quarantined', by: 'carol', via: 'teams', group: 'security', fromActionId: a.actionId });
    expect(deps.callbacks.failed).toHaveLength(2);

    const again = await tap(b.reviewId, AAD.erin, 'block_agent', { quarantineReason: 'me too' });
    expect(again.log).toMatchObject({ status: 'already_quarantined' });
  });

  it('counts a deny from Teams toward automatic quarantine', async () => {
    const { agentId, open, tap } = await teamsSetup();
    const a = await open(1);
    const denied = await tap(a.reviewId, AAD.erin, 'deny', { reason: 'wrong policy' });
    expect(denied.log).toMatchObject({ status: 'recorded', closed: 'rejected', autoQuarantine: 'quarantined' });
    expect((await guard.status(agentId)).quarantine).toMatchObject({ by: 'countersign (auto: 1 rejections in 5 min)', origin: 'auto' });
  });
});
