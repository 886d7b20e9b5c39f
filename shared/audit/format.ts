/**
 * The audit log's format (issue 4): one definition that the writer, the digests, `verify`, the
 * Glue table and the local DuckDB table all follow.
 *
 * Objects: `audit/dt=YYYY-MM-DD/hour=HH/shard=<shard>/<firstSeq>-<lastSeq>.ndjson.gz`, newline-delimited
 * JSON (one `AuditRecord` a line, canonical JSON), gzip. `dt`/`hour` come from the first record's
 * stream creation time (UTC), so a redelivered batch maps to the same key. Sequence numbers are
 * zero-padded to 40 digits in keys so that keys sort in stream order.
 *
 * Chain: per stream shard, in sequence order. `hash` = SHA-256 (hex) of the canonical JSON of the
 * record without its `hash` field; `prev_hash` = the previous record's `hash` in that shard, or
 * GENESIS_HASH for the shard's first record.
 *
 * Digests: `digests/dt=YYYY-MM-DD/hour=HH/digest.json`, one per hour (also for hours with no
 * objects), listing every object written in that hour with the SHA-256 of its uncompressed content,
 * its record count and sequence range; chained to the previous hour's digest (its key, SHA-256 and
 * signature) and signed over the canonical JSON of the digest without `signature`.
 */
export const AUDIT_PREFIX = 'audit/';
export const DIGEST_PREFIX = 'digests/';
/** The columnar (Parquet) copy of closed hours: columnar.ts. */
export const COLUMNAR_PREFIX = 'columnar/';
export const GENESIS_HASH = '0'.repeat(64);
/** The chain of redriven records of a shard: `late.<shard>` (format above). */
export const LATE_CHAIN_PREFIX = 'late.';
export const AUDIT_TABLE_NAME = 'audit_events';
export const SEQUENCE_KEY_DIGITS = 40;

export const AUDIT_EVENT_TYPES = [
  'requested', 'decided', 'review_requested', 'reminded', 'escalated', 'vote', 'vote_refused', 'outcome', 'conflict',
  'credentials_issued', 'credentials_refused', 'credentials_failed',
  'executed', 'execution_violation', 'agent_quarantined', 'agent_released', 'unmappable',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** One line of the audit log. Column names are the `audit_events` table's. */
export interface AuditRecord {
  event_id: string;
  event_type: AuditEventType;
  action_id: string | null;
  occurred_at: string;
  agent_id: string | null;
  on_behalf_of: string | null;
  action: string | null;
  resource_type: string | null;
  resource_id: string | null;
  environment: string | null;
  outcome: string | null;
  reason: string | null;
  reviewer_id: string | null;
  vote: string | null;
  comment: string | null;
  policy_ids: string[];
  payload_sha256: string | null;
  /**
   * The event's place among its request's events (`requested` 1, `decided` 2, …), written with the
   * event item: a request's numbers in the log must run 1..n with no gap. Null for items written
   * before the store numbered them.
   */
  request_seq: number | null;
  /**
   * The chain the record is in: the stream shard it came from, or `late.<shard>` for records that went
   * to the failure destination and were redriven later. With the sequence number: the chain's order.
   */
  shard_id: string;
  sequence_number: string;
  /** When a record that went to the failure destination was redriven into the log; null for every other. */
  redriven_at: string | null;
  /**
   * Until when an allowed or approved request may be executed, once: on `decided` (allowed), `outcome`
   * (approved), `executed` and `execution_violation` records of a permitted request; else null. Records
   * written before issue 12 have no such field (null in the table).
   */
  valid_until: string | null;
  /** `executed` and `execution_violation`: the reported status (`succeeded` | `failed`), as the agent reported it. */
  execution_status: string | null;
  /** `executed` and `execution_violation`: the reported start and end of the act (the agent's clock). */
  started_at: string | null;
  finished_at: string | null;
  /** `execution_violation`: the rule the report broke (`no_decision`, `not_permitted`, `payload_mismatch`, …). */
  violation_rule: string | null;
  /**
   * `decided`: what the shadow policy set (`policies/shadow/`, issue 16) would have decided, in the
   * decision's words (`pending` = needs approval), and the shadow policies that determined it. Null and
   * empty when no shadow set was deployed, on every other record, and on records written before issue 16
   * (which have no such fields: null in the table).
   */
  shadow_outcome: string | null;
  shadow_policy_ids: string[];
  /**
   * The event item as written (canonical JSON) for `requested`, `conflict`, `review_requested`,
   * `escalated`, `credentials_*` (the role, session name, duration and session policy asked of STS, never
   * the credentials), `executed`, `execution_violation` and `unmappable`, else null.
   */
  detail: string | null;
  prev_hash: string;
  hash: string;
}

/** The `audit_events` columns, in table order, with their types (Glue/Athena and DuckDB alike). */
export const AUDIT_COLUMNS: ReadonlyArray<{ name: keyof AuditRecord; type: 'string' | 'array<string>' | 'timestamp' | 'bigint' }> = [
  { name: 'event_id', type: 'string' },
  { name: 'event_type', type: 'string' },
  { name: 'action_id', type: 'string' },
  { name: 'occurred_at', type: 'timestamp' },
  { name: 'agent_id', type: 'string' },
  { name: 'on_behalf_of', type: 'string' },
  { name: 'action', type: 'string' },
  { name: 'resource_type', type: 'string' },
  { name: 'resource_id', type: 'string' },
  { name: 'environment', type: 'string' },
  { name: 'outcome', type: 'string' },
  { name: 'reason', type: 'string' },
  { name: 'reviewer_id', type: 'string' },
  { name: 'vote', type: 'string' },
  { name: 'comment', type: 'string' },
  { name: 'policy_ids', type: 'array<string>' },
  { name: 'payload_sha256', type: 'string' },
  { name: 'request_seq', type: 'bigint' },
  { name: 'shard_id', type: 'string' },
  { name: 'sequence_number', type: 'string' },
  { name: 'redriven_at', type: 'string' },
  { name: 'valid_until', type: 'timestamp' },
  { name: 'execution_status', type: 'string' },
  { name: 'started_at', type: 'timestamp' },
  { name: 'finished_at', type: 'timestamp' },
  { name: 'violation_rule', type: 'string' },
  { name: 'shadow_outcome', type: 'string' },
  { name: 'shadow_policy_ids', type: 'array<string>' },
  { name: 'detail', type: 'string' },
  { name: 'prev_hash', type: 'string' },
  { name: 'hash', type: 'string' },
];
/** Partition columns, after the data columns. */
export const AUDIT_PARTITIONS = [{ name: 'dt', type: 'string' }, { name: 'hour', type: 'string' }] as const;
