import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore, MemoryEventPublisher } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryReviewStore, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import type { ApprovalRequirement } from '../../shared/domain/decision.js';
import { castVote } from '../../shared/review/cast-vote.js';
import { openReview, SLACK_RETRY_WINDOW_MS } from '../../shared/review/open-review.js';
import { recordOutcome } from '../../shared/review/record-outcome.js';
import type { ReviewDeps } from '../../shared/review/review-deps.js';
import { REJECTED_ERROR } from '../../shared/workflow/contract.js';
import { DATA_OWNERS_QUORUM_1, localDirectory, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest, testClock } from '../support/reviews.js';

function setup() {
  const decisions = new MemoryDecisionStore();
  const store = new MemoryReviewStore(decisions.records);
  const channel = new MemoryReviewChannel();
  const callbacks = new MemoryTaskCallbacks();
  const publisher = new MemoryEventPublisher();
  const clock = testClock();
  let ids = 0;
  const deps: ReviewDeps = { store, channel, callbacks, directory: localDirectory, now: clock.now, newReviewId: () => `rv-test-${++ids}` };
  return { decisions, store, channel, callbacks, publisher, clock, deps, outcomeDeps: { ...deps, publisher } };
}

/** A pending request (ops-agent, owned by carol, on behalf of dan) with its review opened in phase initial. */
async function opened(approval: ApprovalRequirement = SECURITY_QUORUM_2, detail: Record<string, unknown> = {}) {
  const t = setup();
  const { input } = await seedPendingRequest(t.decisions, approval, detail);
  const first = reviewEvent(input, 'initial');
  const result = await openReview(first, t.deps);
  return { ...t, input, reviewId: result.reviewId, firstToken: first.taskToken };
}

const slackUser = (slackUserId: string) => ({ kind: 'slack', slackUserId }) as const;
const refusals = (store: MemoryReviewStore) => store.events.filter((e) => e.type === 'vote_refused').map((e) => ({ reviewerId: e.data.reviewerId, rule: e.data.rule }));

describe('openReview', () => {
  it('posts the review to the approver group channel with the stored request, and records review_requested', async () => {
    const t = await opened();
    const [post] = t.channel.callsOf('postReview');
    expect(t.channel.callsOf('postReview')).toHaveLength(1);
    expect(post?.channelId).toBe('C0SECURITY');
    expect(post?.view).toMatchObject({
      reviewId: t.reviewId,
      actionId: t.input.actionId,
      request: { action: 'iam.policy.update', agent: { id: 'ops-agent', onBehalfOf: 'dan@example.com' }, justification: 'daily report' },
      payloadSha256: t.input.payloadSha256,
      approval: { approvers: 'security', quorum: 2 },
      approvals: [],
      expiresAt: '2026-11-22T04:00:01.000Z',
      status: { state: 'open' },
    });
    expect(JSON.stringify(post?.view)).not.toContain(t.firstToken);
    const requested = t.store.events.filter((e) => e.type === 'review_requested');
    expect(requested).toHaveLength(1);
    expect(requested[0]?.data).toMatchObject({ channel: 'C0SECURITY', messageTs: post?.ref.ts, reviewId: t.reviewId, taskTokenSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(t.store.events)).not.toContain(t.firstToken);
  });

  it('does not post twice when the task is retried, keeps the review id, and stores the newest token', async () => {
    const t = await opened();
    const retry = reviewEvent(t.input, 'initial');
    const again = await openReview(retry, t.deps);
    expect(again).toMatchObject({ status: 'already_posted', reviewId: t.reviewId });
    expect(t.channel.callsOf('postReview')).toHaveLength(1);
    expect(t.store.events.filter((e) => e.type === 'review_requested')).toHaveLength(1);
    expect(t.store.tokenOf(t.reviewId)).toBe(retry.taskToken);
  });

  it('throws when Slack fails, leaving the request pending, and posts on the retry', async () => {
    const t = setup();
    const { input } = await seedPendingRequest(t.decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent' } });
    t.channel.failNext('postReview', new Error('slack is down'));
    await expect(openReview(reviewEvent(input, 'initial'), t.deps)).rejects.toThrow('slack is down');
    expect((await t.decisions.getDecision(input.actionId))?.outcome).toBe('pending');
    expect(t.store.events).toEqual([]);
    await expect(openReview(reviewEvent(input, 'initial'), t.deps)).resolves.toMatchObject({ status: 'posted' });
    expect(t.channel.callsOf('postReview').map((c) => c.channelId)).toEqual(['C0DATAOWNERS']);
  });

  it('goes on without Slack after the retry window: the request waits pending, the reason is recorded, and the reminder posts the review', async () => {
    const t = setup();
    const { input } = await seedPendingRequest(t.decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent' } });
    t.channel.failNext('postReview', new Error('slack is down'));
    await expect(openReview(reviewEvent(input, 'initial'), t.deps)).rejects.toThrow('Slack chat.postMessage failed: slack is down');
    t.clock.advance(SLACK_RETRY_WINDOW_MS / 1000 + 1);
    t.channel.failNext('postReview', new Error('slack is still down'));
    await expect(openReview(reviewEvent(input, 'initial'), t.deps)).resolves.toMatchObject({ status: 'slack_unavailable' });
    expect((await t.decisions.getDecision(input.actionId))?.outcome).toBe('pending');
    expect(t.store.events.filter((e) => e.type === 'review_requested')).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ channel: null, slackUnavailable: 'Slack chat.postMessage failed: slack is still down' }) }),
    ]);
    // Slack is back by the reminder: the review is posted, then the reminder in its thread.
    await expect(openReview(reviewEvent(input, 'reminder'), t.deps)).resolves.toMatchObject({ status: 'posted' });
    expect(t.channel.callsOf('postReview').map((c) => c.channelId)).toEqual(['C0DATAOWNERS']);
    expect(t.channel.callsOf('postThreadNote')).toHaveLength(1);
  });

  it('never fails a reminder or an escalation because Slack is down', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    t.channel.failNext('postThreadNote', new Error('slack 503'));
    await expect(openReview(reviewEvent(t.input, 'reminder'), t.deps)).resolves.toMatchObject({ status: 'slack_unavailable' });
    expect((await t.decisions.getDecision(t.input.actionId))?.outcome).toBe('pending');
  });

  it('reminds in the thread, mentioning only who can still vote, once', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } }); // no onBehalfOf: dan may vote
    await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps);
    t.clock.advance(1800);
    const reminder = reviewEvent(t.input, 'reminder');
    await expect(openReview(reminder, t.deps)).resolves.toMatchObject({ status: 'posted', phase: 'reminder' });
    await openReview(reviewEvent(t.input, 'reminder'), t.deps);
    const notes = t.channel.callsOf('postThreadNote');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ message: t.channel.callsOf('postReview')[0]?.ref, mentionSlackUserIds: ['U0DAN'] });
    expect(notes[0]?.text).toContain('1 more approval from #approvals-security');
    // The deadline goes to the channel as a time (shown in each reader's zone), not as ISO text.
    expect(notes[0]?.deadline).toBe(t.channel.callsOf('postReview')[0]?.view.expiresAt);
    expect(notes[0]?.text).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
    expect(t.store.events.filter((e) => e.type === 'reminded').map((e) => e.data.waitingOn)).toEqual([['dan']]);
  });

  it('escalates: posts to the @escalate channel, notes the original thread, extends the deadline, and lets the group vote', async () => {
    const t = await opened();
    t.clock.set('2026-11-22T04:00:01.000Z');
    const escalation = reviewEvent(t.input, 'escalation');
    await expect(openReview(escalation, t.deps)).resolves.toMatchObject({ status: 'posted', phase: 'escalation' });
    const posts = t.channel.callsOf('postReview');
    expect(posts.map((p) => p.channelId)).toEqual(['C0SECURITY', 'C0SECURITYLEADS']);
    expect(posts[1]?.view).toMatchObject({ escalatedTo: 'security-leads', expiresAt: '2026-11-22T04:30:01.000Z' });
    expect(t.channel.callsOf('postThreadNote')[0]).toMatchObject({ message: posts[0]?.ref, text: expect.stringContaining('escalated to #approvals-security-leads'), deadline: '2026-11-22T04:30:01.000Z' });
    expect(t.channel.callsOf('postThreadNote')[0]?.text).not.toContain('2026-11-22T04:30:01.000Z');
    expect(t.channel.callsOf('updateReview')[0]).toMatchObject({ message: posts[0]?.ref, view: { escalatedTo: 'security-leads' } });
    expect(t.store.events.filter((e) => e.type === 'escalated')).toHaveLength(1);

    const vote = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0FRANK'), vote: 'approve' }, t.deps);
    expect(vote).toMatchObject({ status: 'recorded', approvals: 1 });
    await openReview(reviewEvent(t.input, 'escalation'), t.deps);
    expect(t.channel.callsOf('postReview')).toHaveLength(2);
  });

  it('ignores a late retry of an earlier phase: the current token stays', async () => {
    const t = await opened();
    const escalation = reviewEvent(t.input, 'escalation');
    await openReview(escalation, t.deps);
    await expect(openReview(reviewEvent(t.input, 'initial'), t.deps)).resolves.toMatchObject({ status: 'stale' });
    expect(t.store.tokenOf(t.reviewId)).toBe(escalation.taskToken);
  });

  it('fails the next phase with ReviewClosed when a vote decided between phases, without resuming the workflow itself', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    t.callbacks.expire(t.firstToken); // the first wait timed out just before the click
    const vote = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, t.deps);
    expect(vote).toMatchObject({ status: 'recorded', callback: 'not_waiting', closed: { outcome: 'approved' } });
    const reminder = reviewEvent(t.input, 'reminder');
    const failure = await openReview(reminder, t.deps).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).name).toBe('ReviewClosed');
    expect((failure as Error).message).toMatch(/already approved by a vote/);
    expect(t.callbacks.succeeded).toEqual([]);
    expect(t.channel.callsOf('postThreadNote')).toHaveLength(0);
  });
});

describe('castVote', () => {
  it('closes approved at quorum, resumes the workflow with the current token, and shows the outcome', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    t.clock.advance(60);
    const result = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, t.deps);
    expect(result).toMatchObject({ status: 'recorded', approvals: 1, quorum: 1, callback: 'delivered', closed: { outcome: 'approved', reason: 'approved by bob (quorum 1 of "data-owners")' } });
    expect(t.callbacks.succeeded).toEqual([{
      taskToken: t.firstToken,
      output: { outcome: 'approved', reason: 'approved by bob (quorum 1 of "data-owners")', reviewers: [{ id: 'bob', vote: 'approve', at: '2026-11-22T03:01:01.000Z' }], decidedAt: '2026-11-22T03:01:01.000Z', reviewId: t.reviewId },
    }]);
    expect(t.channel.callsOf('updateReview').at(-1)?.view.status).toMatchObject({ state: 'closed', outcome: 'approved', reviewers: [{ id: 'bob' }], decidedAt: '2026-11-22T03:01:01.000Z' });
    expect(await t.store.getDecision(t.input.actionId)).toMatchObject({ outcome: 'approved', reviewers: [{ id: 'bob', vote: 'approve' }], decidedAt: '2026-11-22T03:01:01.000Z' });
  });

  it('resumes the new phase when the workflow moved on between the vote\'s read and its write: the old token answers not waiting, the new one gets the outcome', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    const reminder = reviewEvent(t.input, 'reminder');
    // The reminder phase opens (a new token) after the vote read the review and before it is written.
    const store = Object.create(t.store) as typeof t.store;
    store.recordVote = async (write) => {
      t.callbacks.expire(t.firstToken);
      await openReview(reminder, t.deps);
      return t.store.recordVote(write);
    };
    const result = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, { ...t.deps, store });
    expect(result).toMatchObject({ status: 'recorded', callback: 'delivered', closed: { outcome: 'approved' } });
    expect(t.callbacks.succeeded.map((s) => s.taskToken)).toEqual([reminder.taskToken]);
  });

  it('shows quorum progress on the message and keeps waiting below quorum', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    const first = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps);
    expect(first).toMatchObject({ status: 'recorded', approvals: 1, quorum: 2, closed: null, callback: null });
    expect(t.callbacks.calls).toBe(0);
    expect(t.channel.callsOf('updateReview')[0]?.view).toMatchObject({ approvals: [{ id: 'erin' }], status: { state: 'open' } });
    const second = await castVote({ reviewId: t.reviewId, reviewer: { kind: 'member', memberId: 'dan' }, vote: 'approve' }, t.deps);
    expect(second).toMatchObject({ status: 'recorded', approvals: 2, closed: { outcome: 'approved', reviewers: [{ id: 'erin' }, { id: 'dan' }] } });
    expect(t.callbacks.succeeded).toHaveLength(1);
  });

  it('opens the deny modal for an eligible reviewer, then records the deny with its reason and fails the task as Rejected', async () => {
    const t = await opened();
    const button = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'deny', triggerId: 'trigger-1' }, t.deps);
    expect(button).toMatchObject({ status: 'modal_opened' });
    expect(t.channel.callsOf('openDenyModal')).toEqual([{ method: 'openDenyModal', triggerId: 'trigger-1', view: expect.objectContaining({ reviewId: t.reviewId }) }]);
    expect(t.store.events.filter((e) => e.type.startsWith('vote'))).toEqual([]);

    const submitted = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'deny', comment: 'no change ticket' }, t.deps);
    expect(submitted).toMatchObject({ status: 'recorded', closed: { outcome: 'rejected', reason: 'denied by erin: no change ticket' }, callback: 'delivered' });
    expect(t.callbacks.failed).toHaveLength(1);
    const failure = t.callbacks.failed[0];
    expect(failure).toMatchObject({ taskToken: t.firstToken, error: REJECTED_ERROR });
    expect(JSON.parse(failure?.cause ?? '')).toEqual({ reason: 'denied by erin: no change ticket', reviewers: [expect.objectContaining({ id: 'erin', vote: 'deny', comment: 'no change ticket' })], decidedAt: expect.any(String), reviewId: t.reviewId });
  });

  it('refuses a Deny button press by someone who may not vote, without opening the modal', async () => {
    const t = await opened();
    const result = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0CAROL'), vote: 'deny', triggerId: 'trigger-1' }, t.deps);
    expect(result).toMatchObject({ status: 'refused', rule: 'self_approval', channelId: 'C0SECURITY' });
    expect(t.channel.callsOf('openDenyModal')).toEqual([]);
    expect(refusals(t.store)).toEqual([{ reviewerId: 'carol', rule: 'self_approval' }]);
  });

  it('records every refusal with its rule and message, and changes nothing else', async () => {
    const t = await opened();
    await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps);
    const attempts = [
      { reviewer: slackUser('U0MALLORY'), vote: 'approve' as const },
      { reviewer: slackUser('U0GRACE'), vote: 'approve' as const },
      { reviewer: slackUser('U0CAROL'), vote: 'approve' as const },
      { reviewer: slackUser('U0DAN'), vote: 'approve' as const },
      { reviewer: slackUser('U0ERIN'), vote: 'approve' as const },
      { reviewer: slackUser('U0FRANK'), vote: 'deny' as const, comment: 'no' },
    ];
    for (const attempt of attempts) await castVote({ reviewId: t.reviewId, ...attempt }, t.deps);
    expect(refusals(t.store)).toEqual([
      { reviewerId: 'U0MALLORY', rule: 'unknown_reviewer' },
      { reviewerId: 'grace', rule: 'not_in_approver_group' },
      { reviewerId: 'carol', rule: 'self_approval' },
      { reviewerId: 'dan', rule: 'self_approval' },
      { reviewerId: 'erin', rule: 'already_voted' },
      { reviewerId: 'frank', rule: 'not_in_approver_group' },
    ]);
    for (const e of t.store.events.filter((x) => x.type === 'vote_refused')) expect(e.data.message).toEqual(expect.stringMatching(/.{20,}/));
    expect((await t.decisions.getDecision(t.input.actionId))?.outcome).toBe('pending');
    expect(t.callbacks.calls).toBe(0);
  });

  it('refuses a click after the deadline as expired, and after the close as closed', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    t.clock.set('2026-11-22T04:00:01.000Z');
    await expect(castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps)).resolves.toMatchObject({ status: 'refused', rule: 'request_expired' });
    t.channel.failNext('updateReview'); // the outcome never reached the message: it still shows buttons
    await expect(recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps)).resolves.toMatchObject({ warnings: [expect.stringContaining('updateReview failed')] });
    await expect(castVote({ reviewId: t.reviewId, reviewer: slackUser('U0DAN'), vote: 'approve' }, t.deps)).resolves.toMatchObject({ status: 'refused', rule: 'request_closed', message: expect.stringContaining('already closed (expired') });
    // The late click brings the message up to date.
    expect(t.channel.callsOf('updateReview').at(-1)?.view.status).toMatchObject({ state: 'closed', outcome: 'expired' });
    expect(refusals(t.store)).toEqual([{ reviewerId: 'erin', rule: 'request_expired' }, { reviewerId: 'dan', rule: 'request_closed' }]);
  });

  it('answers not_found for an unknown review id and records nothing', async () => {
    const t = await opened();
    await expect(castVote({ reviewId: 'rv-nope', reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps)).resolves.toMatchObject({ status: 'not_found' });
    expect(t.store.events.filter((e) => e.type.startsWith('vote'))).toEqual([]);
  });

  it('keeps the vote when the Slack update fails, and says so', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    t.channel.failNext('updateReview', new Error('slack 500'));
    const result = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps);
    expect(result).toMatchObject({ status: 'recorded', warnings: [expect.stringContaining('slack 500')] });
    expect(t.store.events.filter((e) => e.type === 'vote')).toHaveLength(1);
  });
});

describe('recordOutcome', () => {
  it('closes an expired request with a reason, records the outcome, publishes it with the reviewers, and updates the message, once', async () => {
    const t = await opened(SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
    await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0ERIN'), vote: 'approve' }, t.deps);
    t.clock.set('2026-11-22T04:00:02.000Z');
    const result = await recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps);
    expect(result).toMatchObject({ closedNow: true, published: true, messagesUpdated: 1 });
    expect(t.publisher.published).toEqual([expect.objectContaining({
      actionId: t.input.actionId,
      outcome: 'expired',
      reason: 'no decision before the deadline (2026-11-22T04:00:01.000Z): 1 of 2 approvals from "security"; the request fails closed',
      reviewers: [expect.objectContaining({ id: 'erin', vote: 'approve' })],
      decidedAt: '2026-11-22T04:00:02.000Z',
      payloadSha256: t.input.payloadSha256,
    })]);
    expect(t.channel.callsOf('updateReview').at(-1)?.view.status).toMatchObject({ state: 'closed', outcome: 'expired' });

    const again = await recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps);
    expect(again).toMatchObject({ closedNow: false, published: false });
    expect(t.publisher.published).toHaveLength(1);
    expect(t.store.events.filter((e) => e.type === 'outcome')).toHaveLength(1);
  });

  it('publishes the approval a vote recorded, without closing again', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    const vote = await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, t.deps);
    const output = t.callbacks.succeeded[0]?.output as never;
    const result = await recordOutcome({ request: t.input, outcome: 'approved', result: output }, t.outcomeDeps);
    expect(vote.status).toBe('recorded');
    expect(result).toMatchObject({ closedNow: false, published: true, decision: { outcome: 'approved', reviewers: [{ id: 'bob', vote: 'approve' }] } });
  });

  it('returns the approval\'s validUntil, and when the window closes unused says so on the message, writing nothing', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, t.deps);
    const approved = await recordOutcome({ request: t.input, outcome: 'approved', result: t.callbacks.succeeded[0]?.output as never }, t.outcomeDeps);
    // decidedAt is the vote's time (the test clock); the seeded request carries the default 15 minutes.
    expect(approved.decision.validUntil).toBe('2026-11-22T03:15:01.000Z');
    expect(t.channel.callsOf('updateReview').at(-1)?.view.execution).toEqual({ validUntil: '2026-11-22T03:15:01.000Z', summary: null, expiredUnused: false });

    const events = t.store.events.length;
    t.clock.set('2026-11-22T03:15:02.000Z');
    const closed = await recordOutcome({ request: t.input, outcome: 'window_closed' }, t.outcomeDeps);
    expect(closed).toMatchObject({ closedNow: false, published: false, messagesUpdated: 1, decision: { outcome: 'approved' } });
    expect(t.channel.callsOf('updateReview').at(-1)?.view.execution).toEqual({ validUntil: '2026-11-22T03:15:01.000Z', summary: null, expiredUnused: true });
    expect(t.store.events).toHaveLength(events);
    expect(t.publisher.published).toHaveLength(1);
  });

  it('keeps an approval that won the race against the deadline', async () => {
    const t = await opened(DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
    await castVote({ reviewId: t.reviewId, reviewer: slackUser('U0BOB'), vote: 'approve' }, t.deps);
    const result = await recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps);
    expect(result.decision).toMatchObject({ outcome: 'approved' });
    expect(t.store.events.find((e) => e.type === 'outcome')?.data).toMatchObject({ workflowOutcome: 'expired', outcome: 'approved' });
  });

  it('fails closed when the workflow failed before any review, saying what happened', async () => {
    const t = setup();
    const { input } = await seedPendingRequest(t.decisions, SECURITY_QUORUM_2);
    const result = await recordOutcome({
      request: input,
      outcome: 'failed',
      error: { Error: 'SlackApiError', Cause: JSON.stringify({ errorMessage: 'Slack chat.postMessage failed: channel_not_found', errorType: 'SlackApiError' }) },
    }, t.outcomeDeps);
    expect(result.decision).toMatchObject({ outcome: 'rejected', reason: expect.stringContaining('the approval workflow failed (SlackApiError: Slack chat.postMessage failed: channel_not_found)') });
    expect(t.publisher.published).toHaveLength(1);
    expect(t.channel.calls).toEqual([]);
  });

  it('records a rejection from the Rejected cause when the request is somehow still pending', async () => {
    const t = await opened();
    const cause = { reason: 'denied by erin: no', reviewers: [{ id: 'erin', vote: 'deny', at: '2026-11-22T03:05:00.000Z', comment: 'no' }], decidedAt: '2026-11-22T03:05:00.000Z' };
    const result = await recordOutcome({ request: t.input, outcome: 'rejected', error: { Error: REJECTED_ERROR, Cause: JSON.stringify(cause) } }, t.outcomeDeps);
    expect(result.decision).toMatchObject({ outcome: 'rejected', reason: 'denied by erin: no', reviewers: cause.reviewers, decidedAt: cause.decidedAt });
  });

  it('records and publishes even when the Slack update fails, reports it as a warning, and a retry publishes nothing twice', async () => {
    const t = await opened();
    t.channel.failNext('updateReview', new Error('slack 503'));
    await expect(recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps)).resolves.toMatchObject({
      decision: { outcome: 'expired' }, published: true, messagesUpdated: 0, warnings: [expect.stringContaining('slack 503')],
    });
    expect(t.publisher.published).toHaveLength(1);
    await expect(recordOutcome({ request: t.input, outcome: 'expired' }, t.outcomeDeps)).resolves.toMatchObject({ published: false, messagesUpdated: 1 });
    expect(t.publisher.published).toHaveLength(1);
  });

  it('does not throw for a Slack failure on the failed path, the last resort', async () => {
    const t = await opened();
    t.channel.failNext('updateReview', new Error('slack 503'));
    await expect(recordOutcome({ request: t.input, outcome: 'failed', error: { Error: 'States.Timeout' } }, t.outcomeDeps)).resolves.toMatchObject({ warnings: [expect.stringContaining('slack 503')], decision: { outcome: 'rejected' } });
  });
});
