import { formatText } from 'adaptivecards/lib/text-formatters.js';
import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore } from '../../shared/adapters/memory/memory-adapters.js';
import { MemoryReviewChannel, MemoryReviewStore, MemoryTaskCallbacks } from '../../shared/adapters/memory/memory-review-adapters.js';
import { castVote } from '../../shared/review/cast-vote.js';
import { openReview } from '../../shared/review/open-review.js';
import { recordOutcome } from '../../shared/review/record-outcome.js';
import type { ReviewDeps } from '../../shared/review/review-deps.js';
import { reviewMessage } from '../../shared/slack/render.js';
import { reviewCard, threadNoteCard, type CardElement } from '../../shared/teams/card.js';
import { DATA_OWNERS_QUORUM_1, localDirectory, reviewEvent, SECURITY_QUORUM_2, seedPendingRequest, testClock } from '../support/reviews.js';

const HOSTILE = '**bold** [click](https://evil.example) {{DATE(2017-02-14T06:00:00Z, SHORT)}} {{{TIME(2017-02-14T06:00:00Z)}} <at>everyone</at>\u202Eevil\u061C\u{E0041}';

async function setup(approval = SECURITY_QUORUM_2, detail: Record<string, unknown> = {}) {
  const decisions = new MemoryDecisionStore();
  const store = new MemoryReviewStore(decisions.records);
  const slack = new MemoryReviewChannel();
  const teams = new MemoryReviewChannel();
  const deps: ReviewDeps = { store, channel: slack, teams, callbacks: new MemoryTaskCallbacks(), directory: localDirectory, now: testClock().now };
  const { input } = await seedPendingRequest(decisions, approval, { agent: { id: 'billing-agent', onBehalfOf: 'someone-else' }, ...detail });
  return { decisions, store, slack, teams, deps, input };
}

/**
 * Every text of one element type in a card: TextBlock (where Teams reads Markdown and functions) or
 * TextRun (no Markdown, but DATE/TIME functions apply).
 */
function textsOf(type: 'TextBlock' | 'TextRun', element: unknown): string[] {
  if (Array.isArray(element)) return element.flatMap((item) => textsOf(type, item));
  if (element === null || typeof element !== 'object') return [];
  const record = element as CardElement;
  const own = record.type === type && typeof record.text === 'string' ? [record.text] : [];
  return [...own, ...Object.values(record).flatMap((value) => textsOf(type, value))];
}

describe('the Teams review card', () => {
  it('is an Adaptive Card 1.5 with Action.Execute approve and a Deny that requires a reason, carrying the review id only', async () => {
    const { deps, input, teams } = await setup();
    const outcome = await openReview(reviewEvent(input, 'initial', 'secret-task-token'), deps);
    const view = teams.callsOf('postReview')[0]!.view;
    const card = reviewCard(view);
    expect(card.version).toBe('1.5');
    const json = JSON.stringify(card);
    expect(json).not.toContain('secret-task-token');
    expect(card.actions?.[0]).toMatchObject({ type: 'Action.Execute', verb: 'approve', data: { reviewId: outcome.reviewId }, associatedInputs: 'none' });
    expect(card.actions?.[1]).toMatchObject({ type: 'Action.ShowCard', title: 'Deny' });
    const deny = (card.actions?.[1] as { card: { body: CardElement[]; actions: CardElement[] } }).card;
    expect(deny.body[0]).toMatchObject({ type: 'Input.Text', id: 'reason', isRequired: true });
    expect(deny.body[0]?.errorMessage).toEqual(expect.any(String));
    expect(deny.actions[0]).toMatchObject({ type: 'Action.Execute', verb: 'deny', data: { reviewId: outcome.reviewId } });
    // Block this agent (issue 16): a required reason, then Action.Execute block_agent with the review id only.
    expect(card.actions?.[2]).toMatchObject({ type: 'Action.ShowCard', title: 'Block this agent' });
    const block = (card.actions?.[2] as { card: { body: CardElement[]; actions: CardElement[] } }).card;
    expect(block.body[0]).toMatchObject({ type: 'Input.Text', id: 'quarantineReason', isRequired: true, maxLength: 1000 });
    expect(block.body[0]?.errorMessage).toEqual(expect.any(String));
    expect(block.actions).toEqual([{ type: 'Action.Execute', title: 'Quarantine agent', verb: 'block_agent', data: { reviewId: outcome.reviewId }, style: 'destructive', associatedInputs: 'auto' }]);
    expect(card.actions).toHaveLength(3);
  });

  it('warns of lookalike words in what the agent wrote (Slack and Teams alike), as text; nothing for plain words of any one script', async () => {
    // A Cyrillic о in the resource id and in a parameter, a fullwidth amount: each reads as something it is not.
    const { deps, input, teams, slack } = await setup(SECURITY_QUORUM_2, { resource: { type: 'Database', id: 'cust\u043Emers' }, parameters: { table: 'payr\u043Ell', amount: '\uFF11\uFF10\uFF10\uFF10', note: 'Привет café' } });
    await openReview(reviewEvent(input, 'initial', 'token'), deps);
    const view = teams.callsOf('postReview')[0]!.view;
    expect(view.lookalikeWarning).toBe(
      'Lookalike letters: check these words, they may not be what they seem. Resource: "cust\u043Emers" mixes Latin and Cyrillic letters (U+043E Cyrillic); '
      + 'Parameters: "payr\u043Ell" mixes Latin and Cyrillic letters (U+043E Cyrillic); Parameters: "\uFF11\uFF10\uFF10\uFF10" has compatibility forms of ASCII letters or digits (fullwidth, styled, ligatures, Roman numerals) (U+FF11, U+FF10, U+FF10, U+FF10).',
    );
    expect(textsOf('TextRun', reviewCard(view))).toContain(view.lookalikeWarning);
    // Slack: a plain_text section (no mrkdwn: the words are the agent's).
    const slackBlocks = JSON.stringify(reviewMessage(slack.callsOf('postReview')[0]!.view).blocks);
    expect(slackBlocks).toContain(JSON.stringify({ type: 'plain_text', text: `⚠ ${view.lookalikeWarning}`, emoji: false }));

    const plainRequest = await setup(SECURITY_QUORUM_2, { parameters: { note: 'Привет café naïve ΑΒΓ customers' } });
    await openReview(reviewEvent(plainRequest.input, 'initial', 'token'), plainRequest.deps);
    expect(plainRequest.teams.callsOf('postReview')[0]!.view.lookalikeWarning).toBeUndefined();
  });

  it('lists every parameter by its key when they are too long to show whole, so a long one cannot hide the one that matters', async () => {
    const { deps, input, teams } = await setup(SECURITY_QUORUM_2, { parameters: { content: 'x'.repeat(3000), path: '/srv/.ssh/authorized_keys' } });
    await openReview(reviewEvent(input, 'initial'), deps);
    const card = reviewCard(teams.callsOf('postReview')[0]!.view);
    const shown = textsOf('TextRun', card).find((text) => text.startsWith('Too long to show whole'));
    expect(shown).toContain('\npath: "/srv/.ssh/authorized_keys"');
    expect(shown).toMatch(/\ncontent: "x+ … \[cut: 3002 characters\]/);
  });

  it('fits parameters as the card shows them: a run of braces (each given a word joiner) cannot push a key out either', async () => {
    for (const braces of [1700, 5000]) {
      const { deps, input, teams } = await setup(SECURITY_QUORUM_2, { parameters: { content: '{'.repeat(braces), path: '/root/.ssh/authorized_keys' } });
      await openReview(reviewEvent(input, 'initial'), deps);
      const card = reviewCard(teams.callsOf('postReview').at(-1)!.view);
      const shown = textsOf('TextRun', card).find((text) => text.includes('authorized_keys') || text.startsWith('Too long'));
      expect(shown, `${braces} braces`).toContain('/root/.ssh/authorized_keys');
      expect(shown!.length).toBeLessThanOrEqual(3000);
      expect(shown).not.toContain('[U+2060]');
      expect(shown).not.toMatch(/\{\{/);
    }
  });

  it('shows agent text only in TextRuns (no Markdown), never in a TextBlock, with its {{DATE()}} and {{TIME()}} inert', async () => {
    const { deps, input, teams } = await setup(SECURITY_QUORUM_2, { justification: HOSTILE, parameters: { note: HOSTILE }, agent: { id: 'billing-agent', onBehalfOf: HOSTILE } });
    await openReview(reviewEvent(input, 'initial'), deps);
    const card = reviewCard(teams.callsOf('postReview')[0]!.view);
    for (const text of textsOf('TextBlock', card)) {
      expect(text).not.toContain('evil');
      expect(text).not.toContain('**bold**');
    }
    const json = JSON.stringify(card);
    expect(json).toContain('[click](https://evil.example)');
    expect(json).toContain('[U+202E]');
    expect(json).toContain('[U+061C][U+E0041]');
    expect(json).not.toMatch(/[\u202E\u061C]|\u{E0041}/u);
    // Microsoft's renderer applies DATE() and TIME() to TextRuns too: agent text must come out of its formatter as it went in.
    const agentRuns = textsOf('TextRun', card).filter((text) => text.includes('evil.example'));
    expect(agentRuns.length).toBeGreaterThanOrEqual(3);
    for (const text of agentRuns) {
      expect(formatText('en', text)).toBe(text);
      expect(text).toContain('DATE(2017-02-14T06:00:00Z, SHORT)');
    }
  });

  it('a thread note mentions reviewers by Entra ID object id, with literal text', () => {
    const note = threadNoteCard('Reminder: **now**', [{ aadObjectId: '00000000-0000-4000-8000-00000000ca01', name: 'carol' }], '2026-11-22T04:00:00.000Z');
    expect(note.msteams).toEqual({ entities: [{ type: 'mention', text: '<at>carol</at>', mentioned: { id: '00000000-0000-4000-8000-00000000ca01', name: 'carol' } }] });
    expect(textsOf('TextBlock', note).join(' ')).toContain('{{DATE(2026-11-22T04:00:00Z, SHORT)}}');
    expect(textsOf('TextBlock', note).join(' ')).not.toContain('Reminder');
  });
});

describe('one review in Slack and Teams', () => {
  it('posts to both channels of the group, counts a vote from either toward one quorum, and updates both at the close', async () => {
    const { deps, input, slack, teams, store } = await setup();
    const { reviewId } = await openReview(reviewEvent(input, 'initial'), deps);
    expect(slack.callsOf('postReview').map((c) => c.channelId)).toEqual(['C0SECURITY']);
    expect(teams.callsOf('postReview').map((c) => c.channelId)).toEqual(['19:approvals-security@thread.tacv2']);
    const teamsVote = await castVote({ reviewId, reviewer: { kind: 'teams', aadObjectId: '00000000-0000-4000-8000-00000000CA01' }, vote: 'approve' }, deps);
    expect(teamsVote).toMatchObject({ status: 'recorded', approvals: 1, closed: null });
    const slackVote = await castVote({ reviewId, reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'approve' }, deps);
    expect(slackVote).toMatchObject({ status: 'recorded', approvals: 2, closed: { outcome: 'approved' } });
    expect(slack.callsOf('updateReview').at(-1)?.view.status.state).toBe('closed');
    expect(teams.callsOf('updateReview').at(-1)?.view.status.state).toBe('closed');
    const snapshot = await store.getReview(reviewId);
    expect(Object.keys(snapshot?.review.messages ?? {}).sort()).toEqual(['initial', 'teamsInitial']);
  });

  it('reminders reply in both threads (Teams mentions by Entra ID), escalation posts to both channels of the next group', async () => {
    const { deps, input, slack, teams } = await setup();
    await openReview(reviewEvent(input, 'initial'), deps);
    await openReview(reviewEvent(input, 'reminder'), deps);
    expect(slack.callsOf('postThreadNote')[0]?.mentionSlackUserIds).toEqual(['U0CAROL', 'U0DAN', 'U0ERIN']);
    expect(teams.callsOf('postThreadNote')[0]?.mentionSlackUserIds).toEqual(['00000000-0000-4000-8000-00000000ca01', '00000000-0000-4000-8000-000000000da0', '00000000-0000-4000-8000-00000000e214']);
    await openReview(reviewEvent(input, 'escalation'), deps);
    expect(slack.callsOf('postReview').map((c) => c.channelId)).toEqual(['C0SECURITY', 'C0SECURITYLEADS']);
    expect(teams.callsOf('postReview').map((c) => c.channelId)).toEqual(['19:approvals-security@thread.tacv2', '19:approvals-security-leads@thread.tacv2']);
  });

  it('a group without a Teams channel is asked in Slack only; a Teams failure on a new review is retried, not duplicated in Slack', async () => {
    const { deps, input, slack, teams } = await setup(DATA_OWNERS_QUORUM_1);
    await openReview(reviewEvent(input, 'initial'), deps);
    expect(slack.callsOf('postReview')).toHaveLength(1);
    expect(teams.callsOf('postReview')).toHaveLength(0);

    const second = await setup();
    second.teams.failNext('postReview', new Error('Bot Connector 503'));
    await expect(openReview(reviewEvent(second.input, 'initial'), second.deps)).rejects.toThrow(/Teams .* failed/);
    await openReview(reviewEvent(second.input, 'initial'), second.deps);
    expect(second.slack.callsOf('postReview')).toHaveLength(1);
    expect(second.teams.callsOf('postReview')).toHaveLength(1);
  });

  it('record-outcome updates the Teams card as well as the Slack message', async () => {
    const { deps, input, teams } = await setup();
    await openReview(reviewEvent(input, 'initial'), deps);
    const result = await recordOutcome({ outcome: 'expired', request: input }, { ...deps, publisher: { publishDecided: async () => {} } });
    expect(result.messagesUpdated).toBe(2);
    expect(teams.callsOf('updateReview').at(-1)?.view.status).toMatchObject({ state: 'closed', outcome: 'expired' });
  });
});
