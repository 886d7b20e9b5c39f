import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/house-function.js';
import { judgeVote, type ReviewState } from '../../shared/domain/review.js';
import { localDirectory as directory, SECURITY_QUORUM_2 } from '../support/reviews.js';
import { readmeText } from './readme.js';

/** What the README says about `reviewers` and about quorum after escalation is what the review rules do. */

const readme = readmeText().replace(/\s+/g, ' ');
const state = (overrides: Partial<ReviewState>): ReviewState => ({
  actionId: 'act-1', agentId: 'ops-agent', onBehalfOf: null, approval: SECURITY_QUORUM_2, escalatedTo: null,
  expiresAt: '2026-11-22T05:00:00.000Z', outcome: 'pending', reason: 'needs approval', votes: [], ...overrides,
});

describe('README: the event contract, as the review rules apply it', () => {
  it('documents reviewers as { id, vote, at, comment? }, the fields of an accepted vote', () => {
    expect(readme).toContain('Each entry of `reviewers` is `{ id, vote, at, comment? }`');
    const withComment = judgeVote(state({}), { reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'deny', at: '2026-11-22T03:10:00.000Z', comment: 'no ticket' }, directory);
    expect(withComment.accepted && Object.keys(withComment.vote).sort()).toEqual(['at', 'comment', 'id', 'vote']);
    const without = judgeVote(state({}), { reviewer: { kind: 'slack', slackUserId: 'U0ERIN' }, vote: 'approve', at: '2026-11-22T03:10:00.000Z' }, directory);
    expect(without.accepted && Object.keys(without.vote).sort()).toEqual(['at', 'id', 'vote']);
  });

  it('quorum after escalation is one quorum: a security approval before the deadline plus a security-leads one after it approves, as the README example says', () => {
    expect(readme).toContain('one security approval before the deadline plus one security-leads approval after it approves the request');
    // The README's example policy carries exactly the requirement this test uses.
    const policy = readFileSync(join(PROJECT_ROOT, 'policies', 'iam.cedar'), 'utf8');
    expect(policy).toMatch(/@id\("iam-policy-update-prod-needs-two-security"\)\s*@approval\s*@approvers\("security"\)\s*@quorum\("2"\)\s*@timeout\("PT1H"\)\s*@escalate\("security-leads"\)/);
    expect(SECURITY_QUORUM_2).toMatchObject({ approvers: 'security', quorum: 2, escalate: 'security-leads' });
    const erinBefore = { id: 'erin', vote: 'approve' as const, at: '2026-11-22T03:50:00.000Z' };
    const frankAfter = judgeVote(state({ escalatedTo: 'security-leads', votes: [erinBefore] }), { reviewer: { kind: 'slack', slackUserId: 'U0FRANK' }, vote: 'approve', at: '2026-11-22T04:10:00.000Z' }, directory);
    expect(frankAfter).toMatchObject({ accepted: true, closes: { outcome: 'approved', reviewers: [{ id: 'erin' }, { id: 'frank' }] } });
  });
});
