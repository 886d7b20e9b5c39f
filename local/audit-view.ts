/**
 * What `GET /audit/records` answers (local/audit-api.ts) and the audit page (local/pages/audit/) draws:
 * types only, so the page's browser bundle can share them.
 */

/** One line of the log as the page shows it. */
export interface AuditPageRecord {
  eventId: string;
  eventType: string;
  /** ISO 8601 UTC, milliseconds. */
  occurredAt: string;
  actionId: string | null;
  agentId: string | null;
  onBehalfOf: string | null;
  action: string | null;
  resourceType: string | null;
  resourceId: string | null;
  environment: string | null;
  /** The record's own outcome (`decided` and `outcome` records). */
  outcome: string | null;
  /** The outcome of the request the record belongs to now: final, or pending while under review. */
  requestOutcome: string | null;
  reason: string | null;
  reviewerId: string | null;
  vote: string | null;
  comment: string | null;
  policyIds: string[];
  /** The policies that decided the request this record belongs to (from its `decided` record). */
  requestPolicyIds: string[];
  payloadSha256: string | null;
  /** The record's own hash in the chain. */
  hash: string | null;
  /** The key of the log object that holds the record, relative to the bucket directory. */
  objectKey: string | null;
  /**
   * The event source the request's sender gave (`agent.<id>`), from its `requested` record: for a
   * malformed request, which has no agent id, the only hint of who sent it. Claimed, not verified.
   */
  claimedSource: string | null;
  /** What the agent wrote, from `requested` and `conflict` records: text to show, never markup. */
  justification: string | null;
  parameters: unknown;
  /** Until when the request could be executed, once (allowed and approved requests, their executions and violations). */
  validUntil: string | null;
  /** `executed` and `execution_violation` records: what the agent reported it did. */
  execution: AuditPageExecution | null;
  /** `execution_violation` records: the rule the report broke. */
  violationRule: string | null;
}

/** An execution report as the page shows it (from the record's columns and the item in its detail). */
export interface AuditPageExecution {
  status: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  resultSummary: string | null;
  resultSha256: string | null;
  error: { code: string; message: string } | null;
  /** The payload hash the agent reported executing (it differs from the request's on a payload_mismatch). */
  executedPayloadSha256: string | null;
}

export interface AuditHourCounts {
  /** The start of the hour, ISO 8601 UTC. */
  hour: string;
  counts: Record<string, number>;
}

export interface AuditLatency {
  actionId: string;
  agentId: string | null;
  outcome: string;
  requestedAt: string;
  decidedAt: string;
  seconds: number;
}

export interface AuditRecordsView {
  /** Newest first, at most `limit`. */
  records: AuditPageRecord[];
  /** How many records match the filters (before `limit`). */
  total: number;
  /** Every agent in the log, for the filter. */
  agents: string[];
  /** Every request outcome, for the filter. */
  outcomes: string[];
  /** Each request counted once, in the hour of its final outcome, filtered by agent, outcome and time. */
  perHour: AuditHourCounts[];
  /** Requests that went to review and ended (approved, rejected, expired): request to outcome, newest first. */
  latencies: AuditLatency[];
  /** Records and objects in the whole log. */
  log: { records: number; objects: number };
  generatedAt: string;
}
