import type { Admission, AgentLimits, AlertAllowance, AutoQuarantineRule, CountedRejection, LimitName, Quarantine, TokenBucket, ViolationAlertLimit } from '../domain/flood-control.js';

/** A request that needs a review, asking to open one. */
export interface AdmissionRequest {
  agentId: string;
  actionId: string;
  payloadSha256: string;
  limits: AgentLimits;
  now: Date;
}

export type AdmitResult = Admission & {
  /**
   * For an admitted request: true when this call took the open slot (and must give it back if the request
   * is not recorded after all); false when an earlier delivery of the same actionId had taken it.
   */
  tookSlot?: boolean;
};

/** What the decision API and the pages show of an agent. */
export interface AgentStatus {
  agentId: string;
  quarantine: Quarantine | null;
  openReviews: number;
  /** The actionIds of its requests that hold an open-review slot. */
  pendingActionIds: string[];
  bucket: TokenBucket | null;
  /** Set while a burst of limit denials is going on. */
  burst: { startedAt: string; denied: number; limit: LimitName } | null;
}

export type QuarantineResult =
  | { status: 'quarantined'; quarantine: Quarantine }
  | { status: 'already_quarantined'; quarantine: Quarantine };

export type LiftResult =
  | { status: 'lifted'; previous: Quarantine }
  | { status: 'not_quarantined' };

/**
 * Per-agent flood control and quarantine, kept in the decision table (`AGENT#<agentId>` items). Every
 * check-and-take is one conditional write, so concurrent requests cannot overshoot a limit.
 */
export interface AgentGuard {
  quarantineOf(agentId: string): Promise<Quarantine | null>;
  /** Checks quarantine, duplicate payloads, open reviews and the hourly bucket, and takes a slot and a token, atomically. */
  admit(request: AdmissionRequest): Promise<AdmitResult>;
  /** Gives back the open-review slot of a request that is no longer pending. Idempotent: false when it was given back before. */
  release(agentId: string, actionId: string, payloadSha256: string): Promise<boolean>;
  /** Counts a limit denial; true when it starts a new burst (the caller announces the burst, whose one line record-execution posts). */
  recordLimited(agentId: string, limit: LimitName, at: string): Promise<boolean>;
  quarantine(quarantine: Quarantine, detail: Record<string, unknown>): Promise<QuarantineResult>;
  lift(agentId: string, by: string, reason: string, at: string): Promise<LiftResult>;
  status(agentId: string): Promise<AgentStatus>;
  /**
   * Counts a reviewer's rejection of one request toward automatic quarantine, once per actionId (a
   * retried count counts nothing). When this count trips the rule, the quarantine `onTrip` gives for the
   * tripping rejections is written with it, atomically (with its audit event), and returned; else null.
   * A quarantined agent's rejections are not counted.
   */
  countRejection(agentId: string, rejection: CountedRejection, rule: AutoQuarantineRule, onTrip: (tripped: CountedRejection[]) => AutoQuarantine): Promise<TrippedQuarantine | null>;
  /**
   * Counts one recorded execution violation of a reporter (an agent id) under one rule in the limit's current
   * window, and says what may be posted: the alert while under `max`, the alert with the line that holds the
   * rest for the first violation past it, nothing after that. Counted per rule, so a flood of one kind (say
   * malformed reports) does not mute another (a payload mismatch). One conditional write (one more past the limit).
   */
  countViolationAlert(reporter: string, rule: string, at: string, limit: ViolationAlertLimit): Promise<AlertAllowance>;
}

/** The quarantine a tripped rule writes, and the detail of its audit event (who, through what). */
export interface AutoQuarantine {
  quarantine: Quarantine;
  detail: Record<string, unknown>;
}

/** A count that tripped the rule: the rejections that did, and the quarantine written with the count. */
export interface TrippedQuarantine {
  tripped: CountedRejection[];
  quarantine: Quarantine;
}
