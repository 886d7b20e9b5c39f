import type { ApprovalRequirement, Outcome, ReviewerVote } from './decision.js';
import type { Directory, Member } from './directory.js';

/**
 * The reviewer rules (DESIGN.md decision 4): who may vote on a request, when a vote is refused and
 * why, and when the votes close the request. Pure: the review service loads the state, asks
 * `judgeVote`, and writes what it answers with conditional writes.
 */

/** Who is voting, as the caller knows them: the votes API by IAM principal, Slack by user id, Teams by Entra ID object id. */
export type ReviewerRef =
  | { kind: 'member'; memberId: string }
  | { kind: 'slack'; slackUserId: string }
  | { kind: 'teams'; aadObjectId: string }
  | { kind: 'iam'; principalArn: string };

/** What the rules need to know about one open (or closed) review. */
export interface ReviewState {
  actionId: string;
  agentId: string;
  onBehalfOf: string | null;
  approval: ApprovalRequirement;
  /** The `@escalate` group, once the review was escalated to it. */
  escalatedTo: string | null;
  /** ISO time after which no vote counts. */
  expiresAt: string;
  /** The request's outcome: `pending` while the review is open. */
  outcome: Outcome;
  /** Why it closed, once closed. */
  reason: string;
  /** Accepted votes so far, one per reviewer. */
  votes: ReviewerVote[];
}

export interface VoteAttempt {
  reviewer: ReviewerRef;
  vote: 'approve' | 'deny';
  comment?: string;
  /** ISO time of the click or API call. */
  at: string;
}

/** The rule that refused a vote; recorded with the refusal and shown to the reviewer. */
export const REFUSAL_RULES = [
  'unknown_reviewer',
  'request_closed',
  'request_expired',
  'not_in_approver_group',
  'self_approval',
  'already_voted',
  'reason_required',
  'agent_quarantined',
] as const;
export type RefusalRule = (typeof REFUSAL_RULES)[number];

/** How the accepted vote closes the request. */
export interface Closing {
  outcome: 'approved' | 'rejected';
  reason: string;
  reviewers: ReviewerVote[];
  decidedAt: string;
}

export type VoteJudgement =
  | {
      accepted: false;
      rule: RefusalRule;
      /** Says why, in words the reviewer can act on. */
      message: string;
      /** The directory id when known, else the identifier the caller gave (Slack user id, IAM ARN). */
      reviewerId: string;
      member: Member | undefined;
    }
  | {
      accepted: true;
      member: Member;
      vote: ReviewerVote;
      /** Distinct approvals including this vote. */
      approvals: ReviewerVote[];
      /** Set when this vote decides the request. */
      closes: Closing | null;
    };

export function resolveReviewer(reviewer: ReviewerRef, directory: Directory): Member | undefined {
  switch (reviewer.kind) {
    case 'member':
      return directory.member(reviewer.memberId);
    case 'slack':
      return directory.memberBySlackId(reviewer.slackUserId);
    case 'teams':
      return directory.memberByAadObjectId(reviewer.aadObjectId);
    case 'iam':
      return memberByPrincipal(reviewer.principalArn, directory);
  }
}

export function reviewerLabel(reviewer: ReviewerRef): string {
  switch (reviewer.kind) {
    case 'member':
      return reviewer.memberId;
    case 'slack':
      return reviewer.slackUserId;
    case 'teams':
      return reviewer.aadObjectId;
    case 'iam':
      return reviewer.principalArn;
  }
}

const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/[^/]+$/;
const ROLE = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/;

/**
 * Maps an IAM caller to a reviewer. A role session (`arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`)
 * matches the role's ARN as written in the directory; the session ARN omits the role's path, so a
 * directory entry `role/path/ROLE` in the same account and partition matches too.
 */
export function memberByPrincipal(arn: string, directory: Directory): Member | undefined {
  const exact = directory.memberByIamPrincipal(arn);
  if (exact !== undefined) return exact;
  const session = ASSUMED_ROLE.exec(arn);
  if (session === null) return undefined;
  const [, partition, account, roleName] = session;
  const roleArn = `arn:${partition}:iam::${account}:role/${roleName}`;
  return directory.memberByIamPrincipal(roleArn)
    ?? directory.data.members.find((m) => m.iamPrincipalArns.some((candidate) => {
      const role = ROLE.exec(candidate);
      return role !== null && role[1] === partition && role[2] === account && role[3] === roleName;
    }));
}

/** The groups that may vote: the policy's approvers, and the `@escalate` group once escalated. */
export function votingGroups(state: Pick<ReviewState, 'approval' | 'escalatedTo'>): string[] {
  return state.escalatedTo === null || state.escalatedTo === state.approval.approvers
    ? [state.approval.approvers]
    : [state.approval.approvers, state.escalatedTo];
}

/** Why this member may not vote on this request at all (self-approval), if they may not. */
export function selfApprovalOf(member: Member, state: Pick<ReviewState, 'agentId' | 'onBehalfOf'>, directory: Directory): string | undefined {
  if (directory.ownersOf(state.agentId).some((owner) => owner.id === member.id)) {
    return `you own the agent "${state.agentId}" that made this request, and nobody may decide on their own agent's request`;
  }
  if (directory.isOnBehalfOf(member, state.onBehalfOf)) {
    return 'the agent acts on your behalf (its onBehalfOf names you), and nobody may decide on a request made for them';
  }
  return undefined;
}

/** Members who may still vote: in a voting group, not self-approvers, and without a vote yet. */
export function pendingReviewers(state: ReviewState, directory: Directory): Member[] {
  const voted = new Set(state.votes.map((v) => v.id));
  const seen = new Set<string>();
  return votingGroups(state)
    .flatMap((group) => directory.membersOf(group))
    .filter((member) => {
      if (seen.has(member.id)) return false;
      seen.add(member.id);
      return !voted.has(member.id) && selfApprovalOf(member, state, directory) === undefined;
    });
}

/**
 * Why the open review cannot reach its quorum with the groups voting now, or undefined when it still
 * can: fewer members may still approve than approvals are missing (the rest own the agent, are who
 * it acts for, or voted already). Without this, such a request only ever expires, silently.
 */
export function quorumShortfall(state: ReviewState, directory: Directory): string | undefined {
  if (state.outcome !== 'pending') return undefined;
  const approved = new Set(state.votes.filter((v) => v.vote === 'approve').map((v) => v.id)).size;
  const missing = state.approval.quorum - approved;
  const possible = pendingReviewers(state, directory);
  if (missing <= possible.length) return undefined;
  const groups = votingGroups(state);
  const excluded = groups
    .flatMap((group) => directory.membersOf(group))
    .filter((member, index, all) => all.findIndex((m) => m.id === member.id) === index)
    .filter((member) => selfApprovalOf(member, state, directory) !== undefined)
    .map((member) => member.id);
  const who = possible.length === 0 ? 'nobody' : `only ${listNames(possible.map((m) => m.id))}`;
  const why = excluded.length === 0 ? '' : ` (${listNames(excluded)} ${excluded.length === 1 ? 'owns the agent or is' : 'own the agent or are'} who it acts for)`;
  const next = state.escalatedTo === null && state.approval.escalate !== undefined && state.approval.escalate !== state.approval.approvers
    ? `At the deadline it is escalated to ${state.approval.escalate}.`
    : 'It will expire unless someone who may approve is added to the group.';
  return `Quorum cannot be reached: ${missing} more approval${missing === 1 ? '' : 's'} needed from ${groupsText(groups)}, and ${who} may still vote${why}. ${next}`;
}

function listNames(names: string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

function groupsText(groups: string[]): string {
  return groups.map((g) => `"${g}"`).join(' or ');
}

/**
 * Applies the reviewer rules to one vote, in order: unknown reviewer; request closed or expired;
 * not in a voting group; self-approval; a second vote; a deny without a reason. An accepted approve
 * adds to the tally of distinct approvers and closes the request `approved` at quorum; an accepted
 * deny closes it `rejected` (one deny ends it).
 */
export function judgeVote(state: ReviewState, attempt: VoteAttempt, directory: Directory): VoteJudgement {
  const member = resolveReviewer(attempt.reviewer, directory);
  const refuse = (rule: RefusalRule, message: string): VoteJudgement => ({
    accepted: false,
    rule,
    message,
    reviewerId: member?.id ?? reviewerLabel(attempt.reviewer),
    member,
  });

  if (member === undefined) {
    return refuse('unknown_reviewer', `You are not a reviewer in the Countersign directory (${reviewerLabel(attempt.reviewer)}), so your vote was not counted. Ask the platform team to add you to an approver group.`);
  }
  if (state.outcome !== 'pending') {
    return refuse('request_closed', `This request is already closed (${state.outcome}: ${state.reason}), so your vote was not counted.`);
  }
  if (Date.parse(attempt.at) >= Date.parse(state.expiresAt)) {
    return refuse('request_expired', `This request expired at ${state.expiresAt}, so your vote was not counted. The agent has to send a new request.`);
  }
  const groups = votingGroups(state);
  if (!groups.some((group) => directory.isInGroup(member, group))) {
    return refuse('not_in_approver_group', `Only members of ${groupsText(groups)} can vote on this request, and you are not in ${groups.length > 1 ? 'either' : 'it'}. Your vote was not counted.`);
  }
  const self = selfApprovalOf(member, state, directory);
  if (self !== undefined) {
    return refuse('self_approval', `You cannot vote on this request: ${self}. Another member of ${groupsText(groups)} has to decide.`);
  }
  const earlier = state.votes.find((v) => v.id === member.id);
  if (earlier !== undefined) {
    return refuse('already_voted', `You already voted on this request (${earlier.vote} at ${earlier.at}); each reviewer votes once, so this vote was not counted.`);
  }
  const comment = attempt.comment?.trim() ?? '';
  if (attempt.vote === 'deny' && comment === '') {
    return refuse('reason_required', 'A deny needs a reason: say why, so the agent\'s owner knows what to change.');
  }

  const vote: ReviewerVote = { id: member.id, vote: attempt.vote, at: attempt.at, ...(comment === '' ? {} : { comment }) };
  const approvals = state.votes.filter((v) => v.vote === 'approve');
  if (attempt.vote === 'deny') {
    return {
      accepted: true,
      member,
      vote,
      approvals,
      closes: { outcome: 'rejected', reason: `denied by ${member.id}: ${comment}`, reviewers: [...state.votes, vote], decidedAt: attempt.at },
    };
  }
  const tally = [...approvals, vote];
  const quorum = state.approval.quorum;
  const closes: Closing | null = tally.length >= quorum
    ? {
        outcome: 'approved',
        reason: `approved by ${listNames(tally.map((v) => v.id))} (quorum ${quorum} of ${groupsText(groups)})`,
        reviewers: tally,
        decidedAt: attempt.at,
      }
    : null;
  return { accepted: true, member, vote, approvals: tally, closes };
}

/**
 * When votes stop counting. The first ask sets the deadline: the policy's whole timeout from then
 * (the reminder does not move it). Escalation opens a new window of `escalationSeconds` from then.
 */
export function reviewExpiresAt(
  timing: { reminderAfterSeconds: number; deadlineAfterSeconds: number; escalationSeconds: number },
  phase: 'initial' | 'reminder' | 'escalation',
  now: string,
): string {
  const seconds = phase === 'escalation' ? timing.escalationSeconds : timing.reminderAfterSeconds + timing.deadlineAfterSeconds;
  return new Date(Date.parse(now) + seconds * 1000).toISOString();
}
