import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryReviewStore, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { openReview } from '../../shared/review/open-review.js';
import { recordOutcome } from '../../shared/review/record-outcome.js';
import { answerVoteRequest, type VotesApiDeps } from '../../shared/review/votes-api.js';
import { MemoryEventPublisher } from '../../shared/adapters/memory/memory-adapters.js';
import { directoryWithIam, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest, testClock } from '../support/reviews.js';

const ERIN_SESSION = 'arn:aws:sts::123456789012:assumed-role/erin-reviewer/ci-build-7';
const DAN = 'arn:aws:iam::123456789012:user/dan';

async function setup(open = true) {
  const decisions = new MemoryDecisionStore();
  const store = new MemoryReviewStore(decisions.records);
  const deps: VotesApiDeps = { store, decisions: store, channel: new MemoryReviewChannel(), callbacks: new MemoryTaskCallbacks(), directory: directoryWithIam, now: testClock().now };
  // ops-agent (owned by carol) asks security, quorum 2, with no onBehalfOf.
  const { input } = await seedPendingRequest(decisions, SECURITY_QUORUM_2, { agent: { id: 'ops-agent' } });
  if (open) await openReview(reviewEvent(input, 'initial'), deps);
  const post = (body: unknown, callerArn: string | null = ERIN_SESSION, path = `/actions/${input.actionId}/votes`, method = 'POST') =>
    answerVoteRequest({ method, path, body: typeof body === 'string' ? body : JSON.stringify(body), callerArn: callerArn ?? undefined }, deps);
  return { deps, store, input, post };
}

describe('POST /actions/{actionId}/votes', () => {
  it('records an approve by the reviewer the IAM role session maps to, and answers with the decision', async () => {
    const t = await setup();
    const { response } = await t.post({ vote: 'approve', comment: 'checked in CI' });
    expect(response.statusCode).toBe(200);
    // Still pending (quorum 2), and the answer shows the vote counted so far.
    expect(JSON.parse(response.body)).toMatchObject({ actionId: t.input.actionId, outcome: 'pending', reviewers: [{ id: 'erin', vote: 'approve', comment: 'checked in CI' }], payloadSha256: t.input.payloadSha256 });
    const second = await t.post({ vote: 'approve' }, DAN);
    expect(JSON.parse(second.response.body)).toMatchObject({ outcome: 'approved', reviewers: [{ id: 'erin', vote: 'approve', comment: 'checked in CI' }, { id: 'dan', vote: 'approve' }] });
  });

  it('records a deny with its comment as the reason', async () => {
    const t = await setup();
    const { response } = await t.post({ vote: 'deny', comment: 'not during the freeze' });
    expect(JSON.parse(response.body)).toMatchObject({ outcome: 'rejected', reason: 'denied by erin: not during the freeze' });
  });

  it.each([
    ['an unknown caller', { vote: 'approve' }, 'arn:aws:iam::123456789012:user/mallory', 403, 'unknown_reviewer'],
    ['the agent owner (self-approval)', { vote: 'approve' }, 'arn:aws:sts::123456789012:assumed-role/carol-ci/x', 403, 'self_approval'],
  ])('refuses %s with 403 and the reason, and records it', async (_name, body, caller, status, rule) => {
    const t = await setup();
    const { response } = await t.post(body, caller);
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'VoteRefused', rule, message: expect.any(String) });
    expect(t.store.events.filter((e) => e.type === 'vote_refused').map((e) => e.data.rule)).toEqual([rule]);
  });

  it('refuses a second vote by the same reviewer with 403', async () => {
    const t = await setup();
    await t.post({ vote: 'approve' });
    const { response } = await t.post({ vote: 'approve' });
    expect(response.statusCode).toBe(403);
    expect(JSON.parse(response.body)).toMatchObject({ rule: 'already_voted' });
  });

  it('answers 409 once the request is closed', async () => {
    const t = await setup();
    await recordOutcome({ request: t.input, outcome: 'expired' }, { ...t.deps, publisher: new MemoryEventPublisher() });
    const { response } = await t.post({ vote: 'approve' });
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body)).toMatchObject({ rule: 'request_closed', message: expect.stringContaining('expired') });
  });

  it('answers 409 while the review is not open yet', async () => {
    const t = await setup(false);
    const { response } = await t.post({ vote: 'approve' });
    expect(response.statusCode).toBe(409);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'ReviewNotOpen' });
  });

  it.each([
    ['unknown action', 404, { vote: 'approve' }, ERIN_SESSION, '/actions/act-unknown/votes', 'POST'],
    ['no route', 404, { vote: 'approve' }, ERIN_SESSION, '/actions/act-1', 'POST'],
    ['GET', 405, { vote: 'approve' }, ERIN_SESSION, undefined, 'GET'],
    ['bad actionId', 400, { vote: 'approve' }, ERIN_SESSION, '/actions/bad%20id/votes', 'POST'],
    ['body not JSON', 400, 'vote=approve', ERIN_SESSION, undefined, 'POST'],
    ['unknown vote', 400, { vote: 'maybe' }, ERIN_SESSION, undefined, 'POST'],
    ['unknown field', 400, { vote: 'approve', as: 'dan' }, ERIN_SESSION, undefined, 'POST'],
    ['deny without comment', 400, { vote: 'deny' }, ERIN_SESSION, undefined, 'POST'],
    ['deny with a blank comment', 400, { vote: 'deny', comment: '  ' }, ERIN_SESSION, undefined, 'POST'],
    ['no IAM caller', 403, { vote: 'approve' }, null, undefined, 'POST'],
  ] as const)('%s → %i, and no vote', async (_name, status, body, caller, path, method) => {
    const t = await setup();
    const { response } = await t.post(body, caller, path ?? `/actions/${t.input.actionId}/votes`, method);
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    expect(t.store.events.filter((e) => e.type === 'vote')).toEqual([]);
  });
});
