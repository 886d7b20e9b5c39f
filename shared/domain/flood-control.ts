/**
 * Flood control and the kill switch (issue 16): per-agent limits on approval requests, refusal of a
 * second review for a payload that is already pending, and quarantine. Pure, and without zod (the
 * decision API reads an agent's state through this module and stays small): the limits' schema is in
 * directory.ts, the state in the decision table (`AgentGuard`).
 */

export interface AgentLimits {
  maxOpenReviews: number;
  maxApprovalRequestsPerHour: number;
}

/** The defaults when the directory says nothing; they fit the example directory (groups of one to three reviewers). */
export const DEFAULT_LIMITS: AgentLimits = { maxOpenReviews: 5, maxApprovalRequestsPerHour: 20 };

/** The limits of one agent: its own where the directory gives them, else the stack's. */
export function limitsOf(stack: AgentLimits, agentOverride: Partial<AgentLimits> | undefined): AgentLimits {
  return {
    maxOpenReviews: agentOverride?.maxOpenReviews ?? stack.maxOpenReviews,
    maxApprovalRequestsPerHour: agentOverride?.maxApprovalRequestsPerHour ?? stack.maxApprovalRequestsPerHour,
  };
}

const HOUR_MS = 3_600_000;

/** A token bucket as stored: tokens left at `refilledAt` (epoch ms). Absent: full. */
export interface TokenBucket {
  tokens: number;
  refilledAtMs: number;
}

export type BucketTake =
  | { ok: true; next: TokenBucket }
  /** Empty: the next token is there at `nextTokenAtMs`. */
  | { ok: false; nextTokenAtMs: number };

/** Takes one token from a bucket of `perHour` tokens that refills evenly over an hour. */
export function takeToken(bucket: TokenBucket | undefined, perHour: number, nowMs: number): BucketTake {
  const rate = perHour / HOUR_MS;
  const elapsed = bucket === undefined ? 0 : Math.max(0, nowMs - bucket.refilledAtMs);
  const tokens = bucket === undefined ? perHour : Math.min(perHour, bucket.tokens + elapsed * rate);
  // Float noise aside (a quarter hour of 4 per hour refills 0.9999999… tokens), a whole token is a token.
  if (tokens >= 1 - 1e-9) return { ok: true, next: { tokens: Math.max(0, tokens - 1), refilledAtMs: nowMs } };
  // Multiply before dividing, and forgive float noise, so 4 per hour waits exactly 900000 ms, not 900001.
  return { ok: false, nextTokenAtMs: nowMs + Math.ceil(((1 - tokens) * HOUR_MS) / perHour - 1e-6) };
}

/** Longest quarantine or lift reason kept (Slack's modal input allows 3000). */
export const MAX_QUARANTINE_REASON_CHARS = 1000;

/** An agent's quarantine as stored. */
export interface Quarantine {
  agentId: string;
  by: string;
  reason: string;
  at: string;
  /** `manual` (a reviewer or the API) or `auto` (K rejections in the window). */
  origin: 'manual' | 'auto';
}

/** What the guard saw of one agent before admitting a request. */
export interface AgentState {
  quarantine: Quarantine | null;
  /** The pending request with this payload, if any (its actionId). */
  pendingWithSamePayload: string | null;
  openReviews: number;
  bucket: TokenBucket | undefined;
}

export type LimitName = 'quarantine' | 'duplicate' | 'open-reviews' | 'approval-rate';

export type Admission =
  | { admitted: true; bucket: TokenBucket }
  | { admitted: false; limit: LimitName; reason: string; resetsAt: string | null };

export function quarantineReason(q: Quarantine): string {
  return `agent quarantined by ${q.by}: ${q.reason} (since ${q.at}; until the quarantine is lifted every request of "${q.agentId}" is denied)`;
}

/**
 * Whether a request that needs a review may open one, in this order: quarantine, duplicate of a pending
 * request, open reviews, hourly rate. A denial says which limit and when it resets.
 */
export function judgeAdmission(agentId: string, actionId: string, state: AgentState, limits: AgentLimits, now: Date): Admission {
  if (state.quarantine !== null) return { admitted: false, limit: 'quarantine', reason: quarantineReason(state.quarantine), resetsAt: null };
  if (state.pendingWithSamePayload !== null && state.pendingWithSamePayload !== actionId) {
    return {
      admitted: false,
      limit: 'duplicate',
      reason: `duplicate of pending request "${state.pendingWithSamePayload}" (same payloadSha256): wait for its decision instead of filing a second review`,
      resetsAt: null,
    };
  }
  if (state.openReviews >= limits.maxOpenReviews) {
    return {
      admitted: false,
      limit: 'open-reviews',
      reason: `flood control: "${agentId}" has ${state.openReviews} reviews open, the limit is ${limits.maxOpenReviews} open at once; it resets when one of them is decided`,
      resetsAt: null,
    };
  }
  const take = takeToken(state.bucket, limits.maxApprovalRequestsPerHour, now.getTime());
  if (!take.ok) {
    const resetsAt = new Date(take.nextTokenAtMs).toISOString();
    return {
      admitted: false,
      limit: 'approval-rate',
      reason: `flood control: "${agentId}" used its ${limits.maxApprovalRequestsPerHour} approval requests per hour; the next one is allowed at ${resetsAt}`,
      resetsAt,
    };
  }
  return { admitted: true, bucket: take.next };
}

/** The one line per burst the approver channel gets when an agent hits a limit (plain text). */
export function burstSummaryText(agentId: string, limit: LimitName, reason: string, group: string): string {
  const what = limit === 'open-reviews' ? 'too many open reviews' : 'too many approval requests';
  return `Flood control: ${agentId} is being limited (${what}); its further requests for ${group} are denied and not posted here until the limit resets. ${reason}`;
}

/** What every id of a flood-control or quarantine denial starts with (policies/annotations.ts refuses it as a policy's @id). */
export const LIMIT_POLICY_ID_PREFIX = 'countersign:';
/** The ids of the policy-level outcome recorded for a flood-control or quarantine denial. */
export const FLOOD_POLICY_ID = (limit: LimitName) => `${LIMIT_POLICY_ID_PREFIX}${limit}`;

/**
 * Automatic quarantine: an agent whose requests reviewers rejected `rejections` times within
 * `windowMinutes` is quarantined by Countersign itself. Absent from the directory: off.
 */
/** The longest window an automatic-quarantine rule may count rejections over: a week. */
export const MAX_AUTO_QUARANTINE_WINDOW_MINUTES = 10_080;

export interface AutoQuarantineRule {
  rejections: number;
  windowMinutes: number;
}

/** One counted rejection: the request and when a reviewer rejected it (epoch ms). */
export interface CountedRejection {
  actionId: string;
  atMs: number;
}

export interface RejectionCount {
  /** The rejections to keep: those inside the window, newest last (emptied when the rule trips). */
  recent: CountedRejection[];
  /** The rejections that tripped the rule (K of them, within the window), or null when it did not trip. */
  tripped: CountedRejection[] | null;
}

/**
 * Counts one reviewer rejection against the rule. The window slides: rejections older than
 * `windowMinutes` before this one fall out. When K are inside it, the rule trips and the count starts
 * again from zero (so a lifted agent is not quarantined again by the rejections that quarantined it).
 * A rejection already counted (the same actionId) changes nothing.
 */
export function countRejection(recent: readonly CountedRejection[] | undefined, rejection: CountedRejection, rule: AutoQuarantineRule): RejectionCount {
  const kept = recent ?? [];
  if (kept.some((r) => r.actionId === rejection.actionId)) return { recent: [...kept], tripped: null };
  const since = rejection.atMs - rule.windowMinutes * 60_000;
  const inWindow = [...kept.filter((r) => r.atMs > since), rejection].sort((a, b) => a.atMs - b.atMs).slice(-rule.rejections);
  if (inWindow.length >= rule.rejections) return { recent: [], tripped: inWindow };
  return { recent: inWindow, tripped: null };
}

/** Who an automatic quarantine is recorded as quarantined by. */
export function autoQuarantineBy(rule: AutoQuarantineRule): string {
  return `countersign (auto: ${rule.rejections} rejections in ${rule.windowMinutes} min)`;
}

/** The reason an automatic quarantine records: the rule and the requests that tripped it. */
export function autoQuarantineReason(rule: AutoQuarantineRule, tripped: readonly CountedRejection[]): string {
  const ids = tripped.map((r) => r.actionId).join(', ');
  return `reviewers rejected ${tripped.length} of its requests within ${rule.windowMinutes} minutes (the limit is ${rule.rejections}): ${ids}`;
}

/**
 * How many execution-violation alerts one reporter (an agent's source) may post in a window: every
 * violation is recorded, but past `max` in `windowMinutes` the channels get one line saying the rest are
 * held, then nothing until the next window. An agent (or a stolen role) that sends malformed or forged
 * reports by the thousand cannot flood approver channels, another agent's approvers included.
 */
export interface ViolationAlertLimit {
  max: number;
  windowMinutes: number;
}

export const DEFAULT_VIOLATION_ALERT_LIMIT: ViolationAlertLimit = { max: 5, windowMinutes: 10 };
/** A window of at most a day. */
export const MAX_VIOLATION_ALERT_WINDOW_MINUTES = 1_440;

/** What one more violation of a reporter may post: the alert, the one line that holds the rest (until the window ends), or nothing. */
export type AlertAllowance = { kind: 'alert' } | { kind: 'first_held'; until: string } | { kind: 'held' };

/** The fixed window (epoch-aligned) that `atMs` falls in. */
export function violationAlertWindow(atMs: number, limit: ViolationAlertLimit): { startMs: number; endMs: number } {
  const size = limit.windowMinutes * 60_000;
  const startMs = Math.floor(atMs / size) * size;
  return { startMs, endMs: startMs + size };
}
