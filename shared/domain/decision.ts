import type { RequestRecord } from '../ports/index.js';
import type { ExecutionSummary } from './execution.js';

/** Outcomes an `Action Decided` event can carry (DESIGN.md, event contract v1). */
export const FINAL_OUTCOMES = ['allowed', 'denied', 'approved', 'rejected', 'expired', 'invalid'] as const;
export type FinalOutcome = (typeof FINAL_OUTCOMES)[number];
/** What the decision API answers: a final outcome, or `pending` while a review is open. */
export type Outcome = FinalOutcome | 'pending';

/** What a policy says a request needs before it may run. */
export interface ApprovalRequirement {
  /** The approver group that may vote. */
  approvers: string;
  /** Distinct approving reviewers needed. */
  quorum: number;
  /** ISO 8601 duration, as written in the policy (`PT30M`). */
  timeout: string;
  timeoutSeconds: number;
  /** The group that is asked when the first deadline passes, if the policy names one. */
  escalate?: string;
}

/** How long a permitted request may be acted on (a policy's `@validFor`, or the default): once, within this. */
export interface Validity {
  /** ISO 8601 duration, as written in the policy (`PT15M`). */
  validFor: string;
  validForSeconds: number;
}

/** The policy engine's answer for one request. */
export type PolicyDecision =
  | { kind: 'allow'; policyIds: string[]; reason: string; validity: Validity }
  | { kind: 'deny'; policyIds: string[]; reason: string }
  | { kind: 'approval'; policyIds: string[]; reason: string; approval: ApprovalRequirement; validity: Validity }
  /** The request is well formed JSON but not something the policy schema knows (unknown verb, wrong resource type). */
  | { kind: 'invalid'; policyIds: []; reason: string };

export interface ReviewerVote {
  id: string;
  vote: 'approve' | 'deny';
  at: string;
  comment?: string;
}

/** The detail of an `Action Decided` event, and the body of `GET /actions/{actionId}`. */
export interface ActionDecidedDetail {
  /** Null only for a request so malformed that it carried no usable actionId; `requestEventId` still identifies it. */
  actionId: string | null;
  /** The EventBridge event id of the `Action Requested` event (PutEvents returned it to the agent). */
  requestEventId: string;
  outcome: Outcome;
  reason: string;
  payloadSha256: string | null;
  policyIds: string[];
  reviewers: ReviewerVote[];
  decidedAt: string | null;
  /**
   * Until when an `allowed` or `approved` request may be executed, once: `decidedAt` plus the policy's
   * `@validFor`. Null for every other outcome, and while pending.
   */
  validUntil: string | null;
}

/** `GET /actions/{actionId}`: the decision, and the agent's report of the act once one was recorded. */
export interface DecisionView extends ActionDecidedDetail {
  execution: ExecutionSummary | null;
}

/** An agent's events come from source `agent.<agentId>` (the contract re-exports it). */
export const AGENT_SOURCE_PREFIX = 'agent.';

/**
 * The agent a request's record belongs to: its event's source without `agent.` (intake refuses every other
 * source, and records such a request under the source as sent). Kept here, beside the decision's view,
 * so the decision API reads it without the contract's schema library.
 */
export function agentIdOfSource(source: string): string {
  return source.startsWith(AGENT_SOURCE_PREFIX) ? source.slice(AGENT_SOURCE_PREFIX.length) : source;
}

/** Outcomes that permit the act. */
export function permitsExecution(outcome: Outcome): outcome is 'allowed' | 'approved' {
  return outcome === 'allowed' || outcome === 'approved';
}

/** `decidedAt + validForSeconds` for a permitting outcome, else null. */
export function validUntilOf(outcome: Outcome, decidedAt: string | null, validForSeconds: number | null): string | null {
  if (!permitsExecution(outcome) || decidedAt === null || validForSeconds === null) return null;
  const at = Date.parse(decidedAt);
  return Number.isFinite(at) ? new Date(at + validForSeconds * 1000).toISOString() : null;
}

/**
 * What the shadow policy set (`policies/shadow/`, issue 16) would have decided: never acted on, only
 * recorded beside the decision. The same outcome words (`pending` = needs approval).
 */
export interface ShadowDecision {
  outcome: Outcome;
  policyIds: string[];
  reason: string;
}

export function shadowDecisionOf(decision: PolicyDecision): ShadowDecision {
  return { outcome: outcomeOf(decision), policyIds: [...decision.policyIds], reason: decision.reason };
}

export function outcomeOf(decision: PolicyDecision): Outcome {
  switch (decision.kind) {
    case 'allow':
      return 'allowed';
    case 'deny':
      return 'denied';
    case 'approval':
      return 'pending';
    case 'invalid':
      return 'invalid';
  }
}

/**
 * Splits a policy timeout into the workflow's waits: a reminder at half time, the deadline at the
 * full timeout, and, when the policy escalates, half the timeout again for the escalation group.
 */
export function approvalTiming(approval: ApprovalRequirement): { reminderAfterSeconds: number; deadlineAfterSeconds: number; escalationSeconds: number } {
  const reminderAfterSeconds = Math.max(1, Math.floor(approval.timeoutSeconds / 2));
  return {
    reminderAfterSeconds,
    deadlineAfterSeconds: Math.max(1, approval.timeoutSeconds - reminderAfterSeconds),
    escalationSeconds: Math.max(1, Math.floor(approval.timeoutSeconds / 2)),
  };
}

/** The `Action Decided` detail of a recorded request. */
export function decidedDetailOf(record: RequestRecord): ActionDecidedDetail {
  return {
    actionId: record.actionId,
    requestEventId: record.eventId,
    outcome: record.outcome,
    reason: record.reason,
    payloadSha256: record.payloadSha256,
    policyIds: record.policyIds,
    reviewers: [],
    decidedAt: record.decidedAt,
    validUntil: validUntilOf(record.outcome, record.decidedAt, record.validForSeconds),
  };
}
