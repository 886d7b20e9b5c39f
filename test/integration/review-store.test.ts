import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoReviewStore, taskTokenSha256 } from '../../shared/adapters/aws/dynamo-review-store.js';
import { MemoryEventPublisher } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import type { ApprovalRequirement } from '../../shared/domain/decision.js';
import { castVote, type CastVoteResult } from '../../shared/review/cast-vote.js';
import { openReview } from '../../shared/review/open-review.js';
import { recordOutcome } from '../../shared/review/record-outcome.js';
import type { ReviewDeps } from '../../shared/review/review-deps.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { DATA_OWNERS_QUORUM_1, localDirectory, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest, testClock } from '../support/reviews.js';
import { eventsAmong } from '../support/decision-items.js';

const TABLE = 'countersign-reviews-it';
let ddb: DynamoDbLocal;
let decisions: DynamoDecisionStore;
let store: DynamoReviewStore;

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  decisions = new DynamoDecisionStore(ddb.client, TABLE);
  store = new DynamoReviewStore(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
});

async function query(pk: string) {
  const { Items = [] } = await ddb.client.send(new QueryCommand({ TableName: TABLE, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: pk } }, ConsistentRead: true }));
  return Items.map((item) => unmarshall(item));
}

/** A request recorded as evaluate-action would, with its review opened (phase initial). */
async function opened(approval: ApprovalRequirement, detail: Record<string, unknown>, now: () => Date = () => new Date()) {
  const channel = new MemoryReviewChannel();
  const callbacks = new MemoryTaskCallbacks();
  const deps: ReviewDeps = { store, channel, callbacks, directory: localDirectory, now };
  const { input } = await seedPendingRequest(decisions, approval, detail);
  const first = reviewEvent(input, 'initial');
  const { reviewId } = await openReview(first, deps);
  return { deps, channel, callbacks, input, reviewId, token: first.taskToken, items: () => query(`REQ#${input.actionId}`) };
}

const click = (reviewId: string, slackUserId: string, vote: 'approve' | 'deny' = 'approve', comment?: string) =>
  ({ reviewId, reviewer: { kind: 'slack', slackUserId } as const, vote, ...(comment === undefined ? {} : { comment }) });
const byStatus = (results: CastVoteResult[], status: CastVoteResult['status']) => results.filter((r) => r.status === status);

describe('review store on DynamoDB Local', () => {
  it('opens a review once under retries: one message, one review_requested item, a stable review id, the newest token kept server side only', async () => {
    const t = await opened(SECURITY_QUORUM_2, {});
    const retries = Array.from({ length: 5 }, () => reviewEvent(t.input, 'initial'));
    const results = await Promise.all(retries.map((event) => openReview(event, t.deps)));
    const last = reviewEvent(t.input, 'initial');
    await openReview(last, t.deps);

    expect(new Set(results.map((r) => r.reviewId))).toEqual(new Set([t.reviewId]));
    expect(t.channel.callsOf('postReview')).toHaveLength(1);
    const items = await t.items();
    expect(items.map((i) => i.sk).sort()).toEqual(['EVENT#decided', 'EVENT#review_requested', 'REQUEST']);
    expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ reviewId: t.reviewId, outcome: 'pending' });
    expect(items.find((i) => i.sk === 'EVENT#review_requested')).toMatchObject({
      kind: 'event', eventType: 'review_requested', reviewId: t.reviewId, agentId: 'ops-agent', action: 'iam.policy.update',
      channel: 'C0SECURITY', messageTs: t.channel.callsOf('postReview')[0]?.ref.ts, taskTokenSha256: taskTokenSha256(t.token),
    });
    const [review] = await query(`REVIEW#${t.reviewId}`);
    expect(review).toMatchObject({ kind: 'review', actionId: t.input.actionId, taskToken: last.taskToken, taskTokenSha256: taskTokenSha256(last.taskToken), initialMessage: t.channel.callsOf('postReview')[0]?.ref });
    // Tokens stay in the review item: no event item and no Slack call carries one.
    const tokens = [t.token, last.taskToken, ...retries.map((r) => r.taskToken)];
    for (const token of tokens) {
      expect(JSON.stringify(items)).not.toContain(token);
      expect(JSON.stringify(t.channel.calls)).not.toContain(token);
    }
  });

  it('records every refusal rule as an event item with the rule, the message and the request context', async () => {
    const clock = testClock(new Date().toISOString());
    const t = await opened(SECURITY_QUORUM_2, {}, clock.now); // ops-agent (carol) on behalf of dan
    await castVote(click(t.reviewId, 'U0ERIN'), t.deps);
    for (const [user, vote, comment] of [['U0MALLORY', 'approve'], ['U0GRACE', 'approve'], ['U0CAROL', 'approve'], ['U0DAN', 'deny', 'no'], ['U0ERIN', 'approve']] as const) {
      await castVote(click(t.reviewId, user, vote, comment), t.deps);
    }
    clock.advance(3601);
    await castVote(click(t.reviewId, 'U0ERIN'), t.deps);
    await recordOutcome({ request: t.input, outcome: 'expired' }, { ...t.deps, publisher: new MemoryEventPublisher() });
    await castVote(click(t.reviewId, 'U0ERIN'), t.deps);

    const refused = (await t.items()).filter((i) => i.eventType === 'vote_refused').sort((a, b) => String(a.sk).localeCompare(String(b.sk)));
    expect(refused.map((i) => [i.reviewerId, i.rule]).sort()).toEqual([
      ['U0MALLORY', 'unknown_reviewer'],
      ['carol', 'self_approval'],
      ['dan', 'self_approval'],
      ['erin', 'already_voted'],
      ['erin', 'request_closed'],
      ['erin', 'request_expired'],
      ['grace', 'not_in_approver_group'],
    ]);
    for (const item of refused) {
      expect(item).toMatchObject({ kind: 'event', reviewId: t.reviewId, agentId: 'ops-agent', action: 'iam.policy.update', payloadSha256: t.input.payloadSha256, message: expect.stringMatching(/.{20,}/) });
      expect(item.sk).toMatch(new RegExp(`^EVENT#vote_refused#${item.reviewerId}#\\d{4}-\\d\\d-\\d\\dT[^#]+#[0-9a-f]{8}$`));
    }
  });

  it('numbers a request\'s events 1..n with no gap and no repeat, even when refusals and votes land at the same moment', async () => {
    const t = await opened(SECURITY_QUORUM_2, {});
    const clicks = [
      ...Array.from({ length: 6 }, () => click(t.reviewId, 'U0MALLORY')),
      ...Array.from({ length: 4 }, () => click(t.reviewId, 'U0GRACE')),
      click(t.reviewId, 'U0ERIN'), click(t.reviewId, 'U0DAN', 'deny'), click(t.reviewId, 'U0ERIN'),
    ];
    await Promise.all(clicks.map((c) => castVote(c, t.deps)));
    await recordOutcome({ request: t.input, outcome: 'rejected' }, { ...t.deps, publisher: new MemoryEventPublisher() });
    const items = await t.items();
    const events = eventsAmong(items);
    // requested (the request item), decided, review_requested, and one item per click (accepted or refused), then the outcome.
    expect(events.length).toBeGreaterThanOrEqual(3 + clicks.length);
    expect(events.map((i) => i.requestSeq as number).sort((a, b) => a - b)).toEqual(events.map((_, index) => index + 1));
    expect(events.find((i) => i.eventType === 'requested')?.requestSeq).toBe(1);
    expect(events.find((i) => i.eventType === 'decided')?.requestSeq).toBe(2);
    expect(events.find((i) => i.eventType === 'review_requested')?.requestSeq).toBe(3);
    expect(items.find((i) => i.sk === 'REQUEST')?.eventSeq).toBe(events.length);
  });

  it('starts a vote and an outcome from the event count read with the request, and reads it again when another event came since', async () => {
    const t = await opened(SECURITY_QUORUM_2, {});
    const stale = await store.getReview(t.reviewId, t.input.actionId);
    expect(stale?.request.eventSeq).toBe(3);
    const at = new Date().toISOString();
    // Another event lands after the snapshot was read: the snapshot's count (3) is now one behind.
    await store.recordRefusal({ request: stale!.request.record, reviewId: t.reviewId, reviewerId: 'mallory', slackUserId: 'U0MALLORY', vote: 'approve', rule: 'not_in_approver_group', message: 'not an approver', at });
    const vote = { id: 'erin', vote: 'approve' as const, at };
    expect(await store.recordVote({ snapshot: stale!, vote, slackUserId: 'U0ERIN', closing: null })).toEqual({ status: 'retry' });
    // castVote reads again and records the vote as event 5; the outcome, handed a stale count (3), reads again too: event 6.
    expect((await castVote(click(t.reviewId, 'U0ERIN'), t.deps)).status).toBe('recorded');
    expect(await store.recordOutcome({ request: stale!.request.record, reviewId: t.reviewId, workflowOutcome: 'expired', outcome: 'pending', reason: 'test', reviewers: [], decidedAt: at, at, eventSeq: 3 })).toBe(true);
    const events = eventsAmong(await t.items());
    expect(Object.fromEntries(events.map((i) => [i.eventType, i.requestSeq]))).toEqual({ requested: 1, decided: 2, review_requested: 3, vote_refused: 4, vote: 5, outcome: 6 });
  });

  it('numbers on a request recorded before numbering existed: its events are counted once, then eventSeq moves', async () => {
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    const { marshall } = await import('@aws-sdk/util-dynamodb');
    const { appendRequestEvent } = await import('../../shared/adapters/aws/dynamo-decision-store.js');
    const key = `legacy-${Date.now()}`;
    for (const item of [
      { pk: `REQ#${key}`, sk: 'REQUEST', kind: 'request', key, outcome: 'pending' },
      { pk: `REQ#${key}`, sk: 'EVENT#requested', kind: 'event', eventId: `${key}/requested` },
      { pk: `REQ#${key}`, sk: 'EVENT#decided', kind: 'event', eventId: `${key}/decided` },
    ]) await ddb.client.send(new PutItemCommand({ TableName: TABLE, Item: marshall(item) }));
    expect(await appendRequestEvent(ddb.client, TABLE, key, { pk: `REQ#${key}`, sk: 'EVENT#reminded', kind: 'event', eventId: `${key}/reminded` })).toBe(true);
    expect(await appendRequestEvent(ddb.client, TABLE, key, { pk: `REQ#${key}`, sk: 'EVENT#outcome', kind: 'event', eventId: `${key}/outcome` })).toBe(true);
    // The same event again is a redelivery: nothing written, nothing numbered.
    expect(await appendRequestEvent(ddb.client, TABLE, key, { pk: `REQ#${key}`, sk: 'EVENT#outcome', kind: 'event', eventId: `${key}/outcome` })).toBe(false);
    const items = await query(`REQ#${key}`);
    expect(items.find((i) => i.sk === 'EVENT#reminded')?.requestSeq).toBe(3);
    expect(items.find((i) => i.sk === 'EVENT#outcome')?.requestSeq).toBe(4);
    expect(items.find((i) => i.sk === 'REQUEST')?.eventSeq).toBe(4);
  });

  it('counts 20 concurrent clicks by one reviewer as one vote (quorum 2), then closes once on the second reviewer', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    const erin = await Promise.all(Array.from({ length: 20 }, () => castVote(click(t.reviewId, 'U0ERIN'), t.deps)));
    expect(byStatus(erin, 'recorded')).toHaveLength(1);
    expect(byStatus(erin, 'refused').map((r) => r.status === 'refused' && r.rule)).toEqual(Array(19).fill('already_voted'));
    let items = await t.items();
    expect(items.filter((i) => i.eventType === 'vote').map((i) => i.sk)).toEqual(['EVENT#vote#erin']);
    expect(items.filter((i) => i.eventType === 'vote_refused')).toHaveLength(19);
    expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ outcome: 'pending', voteCount: 1 });
    expect(t.callbacks.calls).toBe(0);

    const dan = await Promise.all(Array.from({ length: 20 }, () => castVote(click(t.reviewId, 'U0DAN'), t.deps)));
    expect(byStatus(dan, 'recorded')).toEqual([expect.objectContaining({ closed: expect.objectContaining({ outcome: 'approved' }), callback: 'delivered' })]);
    items = await t.items();
    expect(items.filter((i) => i.eventType === 'vote').map((i) => i.sk).sort()).toEqual(['EVENT#vote#dan', 'EVENT#vote#erin']);
    expect(t.callbacks.succeeded).toEqual([{ taskToken: t.token, output: expect.objectContaining({ outcome: 'approved', reviewers: [expect.objectContaining({ id: 'erin' }), expect.objectContaining({ id: 'dan' })] }) }]);
    expect(await decisions.getDecision(t.input.actionId)).toMatchObject({
      outcome: 'approved',
      reason: 'approved by erin and dan (quorum 2 of "security")',
      reviewers: [{ id: 'erin', vote: 'approve' }, { id: 'dan', vote: 'approve' }],
      decidedAt: expect.any(String),
    });
  });

  it('closes once when two different approvers reach quorum 2 at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
      const results = await Promise.all([castVote(click(t.reviewId, 'U0ERIN'), t.deps), castVote(click(t.reviewId, 'U0DAN'), t.deps)]);
      expect(byStatus(results, 'recorded')).toHaveLength(2);
      expect(results.filter((r) => r.status === 'recorded' && r.closed !== null)).toHaveLength(1);
      expect(t.callbacks.succeeded).toHaveLength(1);
      expect(await decisions.getDecision(t.input.actionId)).toMatchObject({ outcome: 'approved', reviewers: [expect.anything(), expect.anything()] });
    }
  });

  it('lets exactly one of an approve and a deny racing win: one outcome, one callback, the loser refused as closed', async () => {
    const winners = new Set<string>();
    for (let round = 0; round < 8; round++) {
      const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'ops-agent' } }); // alice and bob both eligible
      const [approve, deny] = await Promise.all([
        castVote(click(t.reviewId, 'U0ALICE'), t.deps),
        castVote(click(t.reviewId, 'U0BOB', 'deny', 'not today'), t.deps),
      ]);
      const results = [approve, deny];
      expect(byStatus(results, 'recorded')).toHaveLength(1);
      expect(byStatus(results, 'refused')).toEqual([expect.objectContaining({ rule: 'request_closed' })]);
      expect(t.callbacks.calls).toBe(1);
      const outcome = approve?.status === 'recorded' ? 'approved' : 'rejected';
      winners.add(outcome);
      expect(outcome === 'approved' ? t.callbacks.succeeded : t.callbacks.failed).toHaveLength(1);
      const items = await t.items();
      expect(items.filter((i) => i.eventType === 'vote')).toHaveLength(1);
      expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ outcome, reviewers: [expect.objectContaining({ id: outcome === 'approved' ? 'alice' : 'bob' })] });
    }
  });

  it('refuses and records a click after expiry, and keeps the expired outcome published once', async () => {
    const clock = testClock(new Date().toISOString());
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'ops-agent' } }, clock.now);
    clock.advance(1800);
    const publisher = new MemoryEventPublisher();
    const outcomeDeps = { ...t.deps, publisher };
    await recordOutcome({ request: t.input, outcome: 'expired' }, outcomeDeps);
    await recordOutcome({ request: t.input, outcome: 'expired' }, outcomeDeps);
    const late = await castVote(click(t.reviewId, 'U0ALICE'), t.deps);
    expect(late).toMatchObject({ status: 'refused', rule: 'request_closed' });
    expect(t.callbacks.calls).toBe(0);
    expect(publisher.published).toEqual([expect.objectContaining({ actionId: t.input.actionId, outcome: 'expired', reason: expect.stringContaining('no decision before the deadline') })]);
    const items = await t.items();
    expect(items.find((i) => i.sk === 'EVENT#outcome')).toMatchObject({ kind: 'event', workflowOutcome: 'expired', outcome: 'expired', agentId: 'ops-agent' });
    expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ outcome: 'expired', outcomePublishedAt: expect.any(String) });
    expect(items.filter((i) => i.eventType === 'vote_refused').map((i) => i.rule)).toEqual(['request_closed']);
    expect(await decisions.getDecision(t.input.actionId)).toMatchObject({ outcome: 'expired', decidedAt: expect.any(String) });
  });

  it('keeps escalation, reminder and token state across phases, and ignores a late retry of an earlier phase', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    const reminder = reviewEvent(t.input, 'reminder');
    await openReview(reminder, t.deps);
    const escalation = reviewEvent(t.input, 'escalation');
    await openReview(escalation, t.deps);
    await expect(openReview(reviewEvent(t.input, 'reminder'), t.deps)).resolves.toMatchObject({ status: 'stale' });
    const [review] = await query(`REVIEW#${t.reviewId}`);
    expect(review).toMatchObject({ phase: 'escalation', taskToken: escalation.taskToken, escalatedTo: 'security-leads', reminderNotedAt: expect.any(String), escalationNotedAt: expect.any(String), escalationMessage: { channel: 'C0SECURITYLEADS' } });
    expect((await t.items()).map((i) => i.sk).filter((sk: string) => sk.startsWith('EVENT#')).sort()).toEqual(['EVENT#decided', 'EVENT#escalated', 'EVENT#reminded', 'EVENT#review_requested']);
    await expect(castVote(click(t.reviewId, 'U0FRANK', 'deny', 'no'), t.deps)).resolves.toMatchObject({ status: 'recorded', callback: 'delivered' });
    expect(t.callbacks.failed).toEqual([expect.objectContaining({ taskToken: escalation.taskToken, error: 'Rejected' })]);
  });
});

describe('a vote that closes the request while a new phase opens', () => {
  it('is seen by the new phase, which hands over with ReviewClosed instead of waiting a whole phase', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    // The new phase reads the request, then stores its token; the vote closes the request in between.
    let first = true;
    const racing = new DynamoReviewStore(new Proxy(ddb.client, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver);
        return async (command: { input: { Key?: Record<string, { S?: string }> } }) => {
          const result = await target.send(command as never);
          if (first && command.input.Key?.sk?.S === 'REQUEST') {
            first = false;
            t.callbacks.expire(t.token); // the first wait has just timed out
            const vote = await castVote(click(t.reviewId, 'U0BOB'), t.deps);
            if (vote.status !== 'recorded') throw new Error(JSON.stringify(vote));
          }
          return result;
        };
      },
    }), TABLE);
    const reminder = reviewEvent(t.input, 'reminder');
    const failure = await openReview(reminder, { ...t.deps, store: racing }).catch((error: unknown) => error);
    expect((failure as Error).name).toBe('ReviewClosed');
    expect(t.channel.callsOf('postThreadNote')).toHaveLength(0);
  });
});
