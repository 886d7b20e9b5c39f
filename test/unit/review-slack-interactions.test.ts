import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryReviewStore, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { openReview } from '../../shared/review/open-review.js';
import type { ReviewDeps } from '../../shared/review/review-deps.js';
import { answerSlackRequest, approvalCountedText, type SlackHttpRequest } from '../../shared/review/slack-interaction.js';
import { DENY_MODAL_CALLBACK_ID, DENY_REASON_ACTION_ID, DENY_REASON_BLOCK_ID } from '../../shared/slack/block-ids.js';
import { signSlackRequest } from '../../shared/slack/verify-signature.js';
import { DATA_OWNERS_QUORUM_1, localDirectory, reviewEvent, seedPendingRequest, testClock } from '../support/reviews.js';

const SECRET = 'test-signing-secret';
const NOW = 1_795_000_000;

async function setup() {
  const decisions = new MemoryDecisionStore();
  const store = new MemoryReviewStore(decisions.records);
  const channel = new MemoryReviewChannel();
  const callbacks = new MemoryTaskCallbacks();
  const deps: ReviewDeps = { store, channel, callbacks, directory: localDirectory, now: testClock().now };
  // billing-agent (owned by alice) asks data-owners (alice, bob), quorum 1.
  const { input } = await seedPendingRequest(decisions, DATA_OWNERS_QUORUM_1, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' } });
  const { reviewId } = await openReview(reviewEvent(input, 'initial'), deps);
  channel.calls.length = 0;
  return { decisions, store, channel, callbacks, deps, input, reviewId };
}

function formBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

function blockActions(reviewId: string, actionId: 'approve' | 'deny', user = 'U0BOB', extra: Record<string, unknown> = {}) {
  return {
    type: 'block_actions',
    team: { id: 'T0LOCAL' },
    user: { id: user, team_id: 'T0LOCAL' },
    api_app_id: 'A0COUNTERSIGN',
    trigger_id: 'trigger-123',
    container: { type: 'message', channel_id: 'C0DATAOWNERS', message_ts: '1700000000.000001' },
    actions: [{ action_id: actionId, value: reviewId, type: 'button' }],
    ...extra,
  };
}

function viewSubmission(reviewId: string, reason: string, user = 'U0BOB') {
  return {
    type: 'view_submission',
    team: { id: 'T0LOCAL' },
    user: { id: user },
    api_app_id: 'A0COUNTERSIGN',
    view: { callback_id: DENY_MODAL_CALLBACK_ID, private_metadata: reviewId, state: { values: { [DENY_REASON_BLOCK_ID]: { [DENY_REASON_ACTION_ID]: { type: 'plain_text_input', value: reason } } } } },
  };
}

function signed(rawBody: string, options: { secret?: string; at?: number; base64?: boolean } = {}): SlackHttpRequest {
  const headers = signSlackRequest({ rawBody, signingSecret: options.secret ?? SECRET, timestampSeconds: options.at ?? NOW });
  return {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: options.base64 ? Buffer.from(rawBody).toString('base64') : rawBody,
    isBase64Encoded: options.base64 ?? false,
    nowSeconds: NOW,
  };
}

const votesOf = (store: MemoryReviewStore) => store.events.filter((e) => e.type === 'vote' || e.type === 'vote_refused');

describe('slack interactions: Approve, Deny, the deny modal', () => {
  it('records an approve from a base64-delivered body and answers 200 with an empty body', async () => {
    const t = await setup();
    const { response } = await answerSlackRequest(signed(formBody(blockActions(t.reviewId, 'approve')), { base64: true }), SECRET, t.deps);
    expect(response).toMatchObject({ statusCode: 200, body: '' });
    expect(await t.store.getDecision(t.input.actionId)).toMatchObject({ outcome: 'approved', reviewers: [{ id: 'bob', vote: 'approve' }] });
    expect(t.callbacks.succeeded).toHaveLength(1);
    // The reviewer alone is told their approval counted, in the message's channel.
    expect(t.channel.callsOf('notify')).toEqual([{ method: 'notify', channelId: 'C0DATAOWNERS', slackUserId: 'U0BOB', text: 'Your approval counted (1 of 1): the request is decided.' }]);
  });

  it('words the confirmation of an approval by what is still missing', () => {
    expect(approvalCountedText(1, 2, false)).toBe('Your approval counted (1 of 2): 1 more approval needed.');
    expect(approvalCountedText(1, 3, false)).toBe('Your approval counted (1 of 3): 2 more approvals needed.');
  });

  it('opens the deny modal on Deny, records the deny on the submission, and clears the modal', async () => {
    const t = await setup();
    const press = await answerSlackRequest(signed(formBody(blockActions(t.reviewId, 'deny'))), SECRET, t.deps);
    expect(press.response).toMatchObject({ statusCode: 200, body: '' });
    expect(t.channel.callsOf('openDenyModal')).toEqual([expect.objectContaining({ triggerId: 'trigger-123' })]);
    expect(votesOf(t.store)).toEqual([]);

    const submit = await answerSlackRequest(signed(formBody(viewSubmission(t.reviewId, 'export is not on the plan'))), SECRET, t.deps);
    expect(submit.response).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(submit.response.body)).toEqual({ response_action: 'clear' });
    expect(await t.store.getDecision(t.input.actionId)).toMatchObject({ outcome: 'rejected', reason: 'denied by bob: export is not on the plan' });
    expect(t.callbacks.failed).toEqual([expect.objectContaining({ error: 'Rejected' })]);
  });

  it('shows an error under the reason input for an empty reason, and records nothing', async () => {
    const t = await setup();
    const { response } = await answerSlackRequest(signed(formBody(viewSubmission(t.reviewId, '   '))), SECRET, t.deps);
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ response_action: 'errors', errors: { [DENY_REASON_BLOCK_ID]: expect.stringContaining('needs a reason') } });
    expect(votesOf(t.store)).toEqual([]);
  });

  it('tells a refused reviewer why, ephemerally, in the message channel, and records the refusal', async () => {
    const t = await setup();
    const { response } = await answerSlackRequest(signed(formBody(blockActions(t.reviewId, 'approve', 'U0ALICE'))), SECRET, t.deps);
    expect(response).toMatchObject({ statusCode: 200, body: '' });
    expect(t.channel.callsOf('notify')).toEqual([{ method: 'notify', channelId: 'C0DATAOWNERS', slackUserId: 'U0ALICE', text: expect.stringContaining('you own the agent "billing-agent"') }]);
    expect(votesOf(t.store).map((e) => e.data.rule)).toEqual(['self_approval']);
  });

  it('refuses a deny submitted after the request closed, and tells the reviewer', async () => {
    const t = await setup();
    await answerSlackRequest(signed(formBody(blockActions(t.reviewId, 'approve'))), SECRET, t.deps);
    t.channel.calls.length = 0;
    const { response } = await answerSlackRequest(signed(formBody(viewSubmission(t.reviewId, 'too late', 'U0BOB'))), SECRET, t.deps);
    expect(JSON.parse(response.body)).toEqual({ response_action: 'clear' });
    expect(t.channel.callsOf('notify')[0]).toMatchObject({ channelId: 'C0DATAOWNERS', slackUserId: 'U0BOB', text: expect.stringContaining('already closed') });
    expect(await t.store.getDecision(t.input.actionId)).toMatchObject({ outcome: 'approved' });
  });

  it('acknowledges other interactions without doing anything', async () => {
    const t = await setup();
    const { response, log } = await answerSlackRequest(signed(formBody({ type: 'view_closed', team: { id: 'T0LOCAL' }, user: { id: 'U0BOB' }, api_app_id: 'A0COUNTERSIGN' })), SECRET, t.deps);
    expect(response).toMatchObject({ statusCode: 200, body: '' });
    expect(log).toMatchObject({ status: 'ignored' });
    expect(t.channel.calls).toEqual([]);
  });
});

describe('slack interactions: bad input gets an HTTP error and never a vote', () => {
  const cases: Array<[string, (reviewId: string) => SlackHttpRequest, number]> = [
    ['wrong signing secret', (id) => signed(formBody(blockActions(id, 'approve')), { secret: 'not-the-secret' }), 401],
    ['stale timestamp', (id) => signed(formBody(blockActions(id, 'approve')), { at: NOW - 301 }), 401],
    ['body altered after signing', (id) => ({ ...signed(formBody(blockActions(id, 'approve'))), body: formBody(blockActions(id, 'approve', 'U0ALICE')) }), 401],
    ['signature headers missing', (id) => ({ ...signed(formBody(blockActions(id, 'approve'))), headers: {} }), 400],
    ['not a form body', () => signed('{"type":"block_actions"}'), 400],
    ['payload not JSON', () => signed('payload=%7Bnope'), 400],
    ['block_actions without a user', (id) => signed(formBody({ ...blockActions(id, 'approve'), user: undefined })), 400],
    ['unknown team', (id) => signed(formBody(blockActions(id, 'approve', 'U0BOB', { team: { id: 'T0OTHER' } }))), 401],
    ['unknown app', (id) => signed(formBody(blockActions(id, 'approve', 'U0BOB', { api_app_id: 'A0OTHER' }))), 401],
    ['unknown review id', () => signed(formBody(blockActions('rv-unknown', 'approve'))), 404],
    ['GET', (id) => ({ ...signed(formBody(blockActions(id, 'approve'))), method: 'GET' }), 405],
  ];

  it.each(cases)('%s → %i', async (_name, build, status) => {
    const t = await setup();
    const { response, log } = await answerSlackRequest(build(t.reviewId), SECRET, t.deps);
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    expect(log.status).toEqual(expect.any(String));
    expect(votesOf(t.store)).toEqual([]);
    expect(t.callbacks.calls).toBe(0);
    expect(await t.store.getDecision(t.input.actionId)).toMatchObject({ outcome: 'pending' });
  });
});
