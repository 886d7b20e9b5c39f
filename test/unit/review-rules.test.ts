import { describe, expect, it } from 'vitest';
import type { ReviewerVote } from '../../shared/domain/decision.js';
import { judgeVote, memberByPrincipal, pendingReviewers, quorumShortfall, reviewExpiresAt, type ReviewState, type VoteAttempt } from '../../shared/domain/review.js';
import { directoryWithIam, localDirectory as directory, SECURITY_QUORUM_2 } from '../support/reviews.js';

const AT = '2026-11-22T03:10:00.000Z';

/** ops-agent (owned by carol) asks security (carol, dan, erin), quorum 2, on behalf of dan. */
function state(overrides: Partial<ReviewState> = {}): ReviewState {
  return {
    actionId: 'act-1',
    agentId: 'ops-agent',
    onBehalfOf: 'dan@example.com',
    approval: SECURITY_QUORUM_2,
    escalatedTo: null,
    expiresAt: '2026-11-22T04:00:00.000Z',
    outcome: 'pending',
    reason: 'needs approval',
    votes: [],
    ...overrides,
  };
}

const slack = (slackUserId: string, vote: 'approve' | 'deny' = 'approve', comment?: string): VoteAttempt => ({
  reviewer: { kind: 'slack', slackUserId }, vote, at: AT, ...(comment === undefined ? {} : { comment }),
});
const approveBy = (id: string, at = '2026-11-22T03:05:00.000Z'): ReviewerVote => ({ id, vote: 'approve', at });

function refusal(s: ReviewState, attempt: VoteAttempt) {
  const judgement = judgeVote(s, attempt, directory);
  if (judgement.accepted) throw new Error(`expected a refusal, got an accepted ${judgement.vote.vote}`);
  return judgement;
}

describe('judgeVote: refusals, each with its rule and a message that says why', () => {
  it('refuses someone who is not in the directory', () => {
    const r = refusal(state(), slack('U0MALLORY'));
    expect(r).toMatchObject({ rule: 'unknown_reviewer', reviewerId: 'U0MALLORY', member: undefined });
    expect(r.message).toContain('not a reviewer in the Countersign directory (U0MALLORY)');
  });

  it('refuses a vote on a closed request, naming the outcome', () => {
    const r = refusal(state({ outcome: 'approved', reason: 'approved by dan and erin' }), slack('U0ERIN'));
    expect(r).toMatchObject({ rule: 'request_closed', reviewerId: 'erin' });
    expect(r.message).toContain('already closed (approved: approved by dan and erin)');
  });

  it('refuses a vote at or after expiresAt, even while the workflow has not closed it yet', () => {
    expect(refusal(state({ expiresAt: AT }), slack('U0ERIN'))).toMatchObject({ rule: 'request_expired', message: expect.stringContaining(`expired at ${AT}`) });
    expect(judgeVote(state({ expiresAt: '2026-11-22T03:10:00.001Z' }), slack('U0ERIN'), directory).accepted).toBe(true);
  });

  it('refuses a member outside the approver group', () => {
    const r = refusal(state(), slack('U0GRACE'));
    expect(r).toMatchObject({ rule: 'not_in_approver_group', reviewerId: 'grace' });
    expect(r.message).toContain('Only members of "security" can vote');
  });

  it('lets the @escalate group vote only after escalation', () => {
    expect(refusal(state(), slack('U0FRANK')).rule).toBe('not_in_approver_group');
    const escalated = judgeVote(state({ escalatedTo: 'security-leads' }), slack('U0FRANK'), directory);
    expect(escalated).toMatchObject({ accepted: true, vote: { id: 'frank', vote: 'approve' } });
    expect(refusal(state({ escalatedTo: 'security-leads' }), slack('U0GRACE')).message).toContain('"security" or "security-leads"');
  });

  it('refuses the owner of the requesting agent (self-approval)', () => {
    const r = refusal(state(), slack('U0CAROL'));
    expect(r).toMatchObject({ rule: 'self_approval', reviewerId: 'carol' });
    expect(r.message).toContain('you own the agent "ops-agent"');
  });

  it('refuses the human the agent acts for, by e-mail, id or Slack id, case-insensitively (self-approval)', () => {
    for (const onBehalfOf of ['DAN@example.com', 'dan', 'U0DAN']) {
      const r = refusal(state({ onBehalfOf }), slack('U0DAN'));
      expect(r).toMatchObject({ rule: 'self_approval', reviewerId: 'dan' });
      expect(r.message).toContain('the agent acts on your behalf');
    }
    expect(judgeVote(state({ onBehalfOf: null }), slack('U0DAN'), directory).accepted).toBe(true);
  });

  it('refuses a deny by a self-approver too: they cannot vote at all', () => {
    expect(refusal(state(), slack('U0CAROL', 'deny', 'no')).rule).toBe('self_approval');
  });

  it('refuses a second vote by the same reviewer, approve or deny', () => {
    const s = state({ votes: [approveBy('erin')] });
    expect(refusal(s, slack('U0ERIN')).rule).toBe('already_voted');
    const r = refusal(s, slack('U0ERIN', 'deny', 'changed my mind'));
    expect(r).toMatchObject({ rule: 'already_voted', message: expect.stringContaining('(approve at 2026-11-22T03:05:00.000Z)') });
  });

  it('refuses a deny without a reason (blank counts as none)', () => {
    expect(refusal(state(), slack('U0ERIN', 'deny')).rule).toBe('reason_required');
    expect(refusal(state(), slack('U0ERIN', 'deny', '   ')).rule).toBe('reason_required');
  });

  it('applies the rules in order: unknown, closed/expired, group, self, second vote', () => {
    const closed = state({ outcome: 'rejected', reason: 'denied', votes: [approveBy('erin')] });
    expect(refusal(closed, slack('U0MALLORY')).rule).toBe('unknown_reviewer');
    expect(refusal(closed, slack('U0GRACE')).rule).toBe('request_closed');
    expect(refusal(state({ expiresAt: AT }), slack('U0GRACE')).rule).toBe('request_expired');
    // heidi owns support-agent but is not in security: the group rule answers first.
    expect(refusal(state({ agentId: 'support-agent' }), slack('U0HEIDI')).rule).toBe('not_in_approver_group');
    // carol owns ops-agent and "voted" before: self-approval answers first.
    expect(refusal(state({ votes: [approveBy('carol')] }), slack('U0CAROL')).rule).toBe('self_approval');
  });
});

describe('judgeVote: tally and closing', () => {
  it('counts an approve below quorum without closing', () => {
    const j = judgeVote(state(), slack('U0ERIN'), directory);
    expect(j).toMatchObject({ accepted: true, closes: null, vote: { id: 'erin', vote: 'approve', at: AT } });
    expect(j.accepted && j.approvals.map((v) => v.id)).toEqual(['erin']);
  });

  it('closes approved when distinct approvers reach quorum, with all of them as reviewers', () => {
    const j = judgeVote(state({ onBehalfOf: null, votes: [approveBy('erin')] }), slack('U0DAN', 'approve', 'looks right'), directory);
    expect(j).toMatchObject({
      accepted: true,
      closes: {
        outcome: 'approved',
        reason: 'approved by erin and dan (quorum 2 of "security")',
        decidedAt: AT,
        reviewers: [approveBy('erin'), { id: 'dan', vote: 'approve', at: AT, comment: 'looks right' }],
      },
    });
  });

  it('closes rejected on one deny, even after approvals, keeping the reason', () => {
    const j = judgeVote(state({ escalatedTo: 'security-leads', votes: [approveBy('erin')] }), slack('U0FRANK', 'deny', '  no ticket  '), directory);
    expect(j).toMatchObject({
      accepted: true,
      vote: { id: 'frank', vote: 'deny', comment: 'no ticket' },
      closes: { outcome: 'rejected', reason: 'denied by frank: no ticket', reviewers: [approveBy('erin'), { id: 'frank', vote: 'deny', at: AT, comment: 'no ticket' }] },
    });
  });

  it('closes at quorum 1 on the first approve', () => {
    const j = judgeVote(state({ approval: { ...SECURITY_QUORUM_2, quorum: 1 } }), slack('U0ERIN'), directory);
    expect(j.accepted && j.closes?.outcome).toBe('approved');
  });
});

describe('reviewers by IAM principal', () => {
  it('maps a user ARN, a role ARN, and a role session to the role with its path', () => {
    expect(memberByPrincipal('arn:aws:iam::123456789012:user/dan', directoryWithIam)?.id).toBe('dan');
    expect(memberByPrincipal('arn:aws:iam::123456789012:role/carol-ci', directoryWithIam)?.id).toBe('carol');
    expect(memberByPrincipal('arn:aws:sts::123456789012:assumed-role/carol-ci/build-42', directoryWithIam)?.id).toBe('carol');
    expect(memberByPrincipal('arn:aws:sts::123456789012:assumed-role/erin-reviewer/session', directoryWithIam)?.id).toBe('erin');
  });

  it('does not map another account, another role, or a session of an unlisted role', () => {
    expect(memberByPrincipal('arn:aws:sts::999999999999:assumed-role/carol-ci/x', directoryWithIam)).toBeUndefined();
    expect(memberByPrincipal('arn:aws:sts::123456789012:assumed-role/carol-ci-2/x', directoryWithIam)).toBeUndefined();
    expect(memberByPrincipal('arn:aws:iam::123456789012:user/mallory', directoryWithIam)).toBeUndefined();
  });

  it('judges an IAM caller like any reviewer', () => {
    const j = judgeVote(state(), { reviewer: { kind: 'iam', principalArn: 'arn:aws:sts::123456789012:assumed-role/carol-ci/ci' }, vote: 'approve', at: AT }, directoryWithIam);
    expect(j).toMatchObject({ accepted: false, rule: 'self_approval', reviewerId: 'carol' });
    const unknown = judgeVote(state(), { reviewer: { kind: 'iam', principalArn: 'arn:aws:iam::123456789012:user/mallory' }, vote: 'approve', at: AT }, directoryWithIam);
    expect(unknown).toMatchObject({ accepted: false, rule: 'unknown_reviewer', reviewerId: 'arn:aws:iam::123456789012:user/mallory' });
  });
});

describe('who is still waited on, and when votes stop counting', () => {
  it('mentions only members who may still vote: not voters, not the owner, not the onBehalfOf human', () => {
    expect(pendingReviewers(state({ votes: [approveBy('erin')] }), directory).map((m) => m.id)).toEqual([]);
    expect(pendingReviewers(state({ onBehalfOf: null }), directory).map((m) => m.id)).toEqual(['dan', 'erin']);
    expect(pendingReviewers(state({ onBehalfOf: null, escalatedTo: 'security-leads' }), directory).map((m) => m.id)).toEqual(['dan', 'erin', 'frank']);
  });

  it('says when the quorum cannot be reached, who is left out and what happens next; nothing while it can', () => {
    // security is carol, dan, erin; carol owns ops-agent and dan is who it acts for: erin alone cannot make 2.
    expect(quorumShortfall(state(), directory)).toBe(
      'Quorum cannot be reached: 2 more approvals needed from "security", and only erin may still vote (carol and dan own the agent or are who it acts for). At the deadline it is escalated to security-leads.',
    );
    expect(quorumShortfall(state({ onBehalfOf: null }), directory)).toBeUndefined();
    expect(quorumShortfall(state({ onBehalfOf: null, votes: [approveBy('dan')] }), directory)).toBeUndefined();
    // After escalation frank can vote too: reachable again.
    expect(quorumShortfall(state({ escalatedTo: 'security-leads' }), directory)).toBeUndefined();
    // platform is heidi alone, who owns support-agent, and there is no escalation.
    const platform = state({ agentId: 'support-agent', onBehalfOf: null, approval: { approvers: 'platform', quorum: 1, timeout: 'PT1H', timeoutSeconds: 3600 } });
    expect(quorumShortfall(platform, directory)).toBe(
      'Quorum cannot be reached: 1 more approval needed from "platform", and nobody may still vote (heidi owns the agent or is who it acts for). It will expire unless someone who may approve is added to the group.',
    );
    expect(quorumShortfall({ ...platform, outcome: 'expired' }, directory)).toBeUndefined();
  });

  it('sets the deadline to the whole timeout from the first ask, and the escalation window from escalation', () => {
    const timing = { reminderAfterSeconds: 1800, deadlineAfterSeconds: 1800, escalationSeconds: 1800 };
    expect(reviewExpiresAt(timing, 'initial', '2026-11-22T03:00:00.000Z')).toBe('2026-11-22T04:00:00.000Z');
    expect(reviewExpiresAt(timing, 'escalation', '2026-11-22T04:00:00.000Z')).toBe('2026-11-22T04:30:00.000Z');
  });
});
