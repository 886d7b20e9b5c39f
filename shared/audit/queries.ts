/**
 * The auditors' saved queries: ONE source of truth for `npm run audit -- query --saved <name>`
 * (DuckDB over the local log) and the Athena named queries the stack ships (Trino). The SQL uses
 * only what both engines share (CAST to TIMESTAMP from 'YYYY-MM-DD HH:MM:SS', substr, strpos,
 * count(CASE ...), CTEs), and filters on the `dt` partition so Athena prunes what it scans.
 *
 * Parameters are written `:name` and are always string values; `renderSavedQuery` replaces them with
 * SQL string literals (quotes doubled), using each parameter's documented default when not given.
 * Times are UTC, written 'YYYY-MM-DD HH:MM:SS'. "Now" is `localtimestamp`: the session's time zone,
 * UTC in Athena and in `audit query` (which sets it).
 */
import { AUDIT_COLUMNS, AUDIT_PARTITIONS, AUDIT_TABLE_NAME } from './format.js';

export interface QueryParameter {
  description: string;
  /** Used when the caller gives no value (and for the Athena named query's text). */
  default: string;
}

export interface SavedQuery {
  name: string;
  description: string;
  params: Readonly<Record<string, QueryParameter>>;
  sql: string;
}

const T = AUDIT_TABLE_NAME;
const FROM: QueryParameter = { description: 'start of the time range, UTC, inclusive (YYYY-MM-DD HH:MM:SS)', default: '1970-01-01 00:00:00' };
const TO: QueryParameter = { description: 'end of the time range, UTC, exclusive (YYYY-MM-DD HH:MM:SS)', default: '9999-12-31 23:59:59' };
/** The time range, with the partition filter that lets Athena skip other days. */
const IN_RANGE = `dt BETWEEN substr(:from, 1, 10) AND substr(:to, 1, 10)
  AND occurred_at >= CAST(:from AS TIMESTAMP) AND occurred_at < CAST(:to AS TIMESTAMP)`;
/** The records that permit an act: an allowed decision, or an approved outcome. */
const PERMITTED = `((event_type = 'decided' AND outcome = 'allowed') OR (event_type = 'outcome' AND outcome = 'approved'))`;

export const SAVED_QUERIES: readonly SavedQuery[] = [
  {
    name: 'actions-by-agent',
    description: 'The actions one agent asked for over a time range, with the decision and the final outcome',
    params: { agent_id: { description: 'the agent (the event source without "agent.")', default: 'billing-agent' }, from: FROM, to: TO },
    sql: `SELECT action_id,
  min(occurred_at) AS first_event_at,
  max(action) AS action,
  max(resource_type) AS resource_type,
  max(resource_id) AS resource_id,
  max(environment) AS environment,
  max(on_behalf_of) AS on_behalf_of,
  max(CASE WHEN event_type = 'decided' THEN outcome END) AS decision,
  max(CASE WHEN event_type = 'outcome' THEN outcome END) AS final_outcome
FROM ${T}
WHERE agent_id = :agent_id
  -- An agent's own records (quarantine, lift) are no action of it.
  AND action_id IS NOT NULL
  AND ${IN_RANGE}
GROUP BY action_id
ORDER BY first_event_at, action_id`,
  },
  {
    name: 'who-approved',
    description: 'Who approved a given action: the accepted approve votes, in order',
    params: { action_id: { description: 'the actionId of the request', default: 'export-2026-11-22-001' } },
    sql: `SELECT reviewer_id, vote, occurred_at, comment, payload_sha256
FROM ${T}
WHERE event_type = 'vote' AND vote = 'approve' AND action_id = :action_id
ORDER BY occurred_at, reviewer_id`,
  },
  {
    name: 'denied-rejected-expired',
    description: 'Actions denied by policy, rejected by a reviewer, or expired without a decision',
    params: { from: FROM, to: TO },
    sql: `SELECT occurred_at, action_id, agent_id, action, resource_type, resource_id, environment, outcome, reason
FROM ${T}
WHERE event_type IN ('decided', 'outcome') AND outcome IN ('denied', 'rejected', 'expired')
  AND ${IN_RANGE}
ORDER BY occurred_at, action_id`,
  },
  {
    name: 'votes-per-reviewer',
    description: 'Accepted votes per reviewer over a time range',
    params: { from: FROM, to: TO },
    sql: `SELECT reviewer_id,
  count(*) AS votes,
  count(CASE WHEN vote = 'approve' THEN 1 END) AS approvals,
  count(CASE WHEN vote = 'deny' THEN 1 END) AS denials
FROM ${T}
WHERE event_type = 'vote'
  AND ${IN_RANGE}
GROUP BY reviewer_id
ORDER BY votes DESC, reviewer_id`,
  },
  {
    name: 'refused-votes',
    description: 'Refused votes: self-approval, reviewers outside the approver group, unknown reviewers',
    params: { from: FROM, to: TO },
    sql: `SELECT occurred_at, action_id, reviewer_id, agent_id, on_behalf_of, vote,
  substr(reason, 1, strpos(reason, ':') - 1) AS rule,
  reason
FROM ${T}
WHERE event_type = 'vote_refused'
  AND (reason LIKE 'self_approval:%' OR reason LIKE 'not_in_approver_group:%' OR reason LIKE 'unknown_reviewer:%')
  AND ${IN_RANGE}
ORDER BY occurred_at, action_id`,
  },
  {
    name: 'approval-bypassed',
    description: 'Allowed or approved actions with no approval where policy required one (should be empty)',
    params: {},
    sql: `WITH required AS (
  SELECT DISTINCT action_id FROM ${T}
  WHERE (event_type = 'decided' AND outcome = 'pending') OR event_type = 'review_requested'
), passed AS (
  SELECT action_id, min(occurred_at) AS passed_at, max(outcome) AS outcome FROM ${T}
  WHERE (event_type = 'decided' AND outcome = 'allowed') OR (event_type = 'outcome' AND outcome = 'approved')
  GROUP BY action_id
), approvals AS (
  SELECT action_id, count(DISTINCT reviewer_id) AS approvers FROM ${T}
  WHERE event_type = 'vote' AND vote = 'approve' AND (on_behalf_of IS NULL OR reviewer_id <> on_behalf_of)
  GROUP BY action_id
)
SELECT p.action_id, p.outcome, p.passed_at, coalesce(a.approvers, 0) AS approvers
FROM passed p
JOIN required r ON r.action_id = p.action_id
LEFT JOIN approvals a ON a.action_id = p.action_id
WHERE coalesce(a.approvers, 0) = 0
ORDER BY p.passed_at, p.action_id`,
  },
  {
    name: 'approved-not-executed',
    description: 'Allowed or approved actions whose validity window passed with no execution reported (requests decided before validUntil existed are not listed)',
    params: { as_of: { description: 'the time to judge at, UTC (YYYY-MM-DD HH:MM:SS); empty for now', default: '' } },
    sql: `WITH permitted AS (
  SELECT action_id, max(agent_id) AS agent_id, max(action) AS action, max(resource_type) AS resource_type, max(resource_id) AS resource_id,
    max(environment) AS environment, max(outcome) AS outcome, min(occurred_at) AS permitted_at, max(valid_until) AS valid_until
  FROM ${T}
  WHERE ${PERMITTED} AND valid_until IS NOT NULL
  GROUP BY action_id
), executed AS (
  SELECT DISTINCT action_id FROM ${T} WHERE event_type = 'executed'
)
SELECT p.action_id, p.agent_id, p.action, p.resource_type, p.resource_id, p.environment, p.outcome, p.permitted_at, p.valid_until
FROM permitted p
LEFT JOIN executed e ON e.action_id = p.action_id
WHERE e.action_id IS NULL
  AND p.valid_until < coalesce(CAST(nullif(:as_of, '') AS TIMESTAMP), localtimestamp)
ORDER BY p.valid_until, p.action_id`,
  },
  {
    name: 'executed-without-approval',
    description: 'Execution reports that no valid decision covers (should be empty): every recorded violation, and any executed record with no allowed or approved decision in the log',
    params: { from: FROM, to: TO },
    sql: `WITH permitted AS (
  SELECT DISTINCT action_id FROM ${T} WHERE ${PERMITTED}
)
SELECT occurred_at, violation_rule AS rule, action_id, agent_id, action, resource_type, resource_id, outcome, execution_status, started_at, reason, event_id
FROM ${T}
WHERE event_type = 'execution_violation'
  AND ${IN_RANGE}
UNION ALL
SELECT x.occurred_at, 'no_permit_in_log' AS rule, x.action_id, x.agent_id, x.action, x.resource_type, x.resource_id, x.outcome, x.execution_status, x.started_at,
  'an executed record with no allowed decision or approved outcome in the log' AS reason, x.event_id
FROM ${T} x
LEFT JOIN permitted p ON p.action_id = x.action_id
WHERE x.event_type = 'executed' AND p.action_id IS NULL
  AND x.dt BETWEEN substr(:from, 1, 10) AND substr(:to, 1, 10)
  AND x.occurred_at >= CAST(:from AS TIMESTAMP) AND x.occurred_at < CAST(:to AS TIMESTAMP)
ORDER BY occurred_at, event_id`,
  },
  {
    name: 'quarantines',
    description: 'Agent quarantines (manual, or automatic after reviewers\' rejections) and their lifts: which agent, by whom, why, when',
    params: { agent_id: { description: 'the agent; empty for every agent', default: '' }, from: FROM, to: TO },
    sql: `SELECT occurred_at, agent_id,
  CASE WHEN event_type = 'agent_quarantined' THEN 'quarantined' ELSE 'lifted' END AS change,
  reviewer_id AS by,
  CASE WHEN event_type = 'agent_released' THEN NULL WHEN reviewer_id LIKE 'countersign (auto:%' THEN 'auto' ELSE 'manual' END AS origin,
  reason, event_id
FROM ${T}
WHERE event_type IN ('agent_quarantined', 'agent_released')
  AND (:agent_id = '' OR agent_id = :agent_id)
  AND ${IN_RANGE}
ORDER BY occurred_at, event_id`,
  },
  {
    name: 'shadow-diff',
    description: 'Requests the shadow policy set (policies/shadow/) would have decided differently from the enforced set: the decision, the shadow outcome and both sets of policy ids (pending = needs approval)',
    params: { from: FROM, to: TO },
    sql: `SELECT occurred_at, action_id, agent_id, action, resource_type, resource_id, environment,
  outcome, shadow_outcome, policy_ids, shadow_policy_ids
FROM ${T}
WHERE event_type = 'decided' AND shadow_outcome IS NOT NULL AND shadow_outcome <> outcome
  AND ${IN_RANGE}
ORDER BY occurred_at, action_id`,
  },
  {
    name: 'time-to-execute',
    description: 'How long agents take from the decision (allowed, or approved) to the start of the act, and how long the act runs, per agent and action',
    params: { from: FROM, to: TO },
    sql: `WITH permitted AS (
  SELECT action_id, min(occurred_at) AS permitted_at FROM ${T}
  WHERE ${PERMITTED}
  GROUP BY action_id
), executed AS (
  SELECT action_id, agent_id, action, execution_status, started_at, finished_at FROM ${T}
  WHERE event_type = 'executed'
    AND ${IN_RANGE}
)
SELECT e.agent_id, e.action,
  count(*) AS executions,
  count(CASE WHEN e.execution_status = 'failed' THEN 1 END) AS failed,
  round(avg(date_diff('millisecond', p.permitted_at, e.started_at)) / 1000.0, 3) AS avg_seconds_to_start,
  round(max(date_diff('millisecond', p.permitted_at, e.started_at)) / 1000.0, 3) AS max_seconds_to_start,
  round(avg(date_diff('millisecond', e.started_at, e.finished_at)) / 1000.0, 3) AS avg_seconds_running
FROM executed e
JOIN permitted p ON p.action_id = e.action_id
GROUP BY e.agent_id, e.action
ORDER BY e.agent_id, e.action`,
  },
];

export class SavedQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SavedQueryError';
  }
}

export function savedQuery(name: string): SavedQuery {
  const query = SAVED_QUERIES.find((q) => q.name === name);
  if (query === undefined) throw new SavedQueryError(`no saved query "${name}"; the saved queries are: ${SAVED_QUERIES.map((q) => q.name).join(', ')}`);
  return query;
}

/** A SQL string literal: single quotes, embedded quotes doubled (the same in DuckDB and Trino). */
export function sqlString(value: string): string {
  if (value.includes('\u0000')) throw new SavedQueryError('a query parameter cannot contain a NUL character');
  return `'${value.replaceAll("'", "''")}'`;
}

/** The query's SQL with every `:name` replaced by the given value (or its default) as a literal. */
export function renderSavedQuery(query: SavedQuery, values: Readonly<Record<string, string>> = {}): string {
  for (const name of Object.keys(values)) {
    if (!(name in query.params)) {
      const known = Object.keys(query.params);
      throw new SavedQueryError(`saved query "${query.name}" has no parameter "${name}"; ${known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`}`);
    }
  }
  // `::` (a cast) is not a parameter; names are lower-case words.
  return query.sql.replace(/(?<!:):([a-z][a-z0-9_]*)\b/g, (match, name: string) => {
    const param = query.params[name];
    if (param === undefined) return match;
    return sqlString(values[name] ?? param.default);
  });
}

/** The Glue table over the columnar copy (columnar/dt=…/part-NNN.parquet): COLUMNAR_COLUMNS, partitioned by dt. */
export const COLUMNAR_TABLE_NAME = 'audit_events_columnar';

/**
 * The records as the Athena saved queries read them: the Parquet copy for the days strictly before the
 * latest day that has a part, and the NDJSON log for that day and after. A day before the latest
 * compacted one has had every closed hour copied (the compaction runs hourly, in order, over every
 * closed hour no part holds); the latest compacted day may be partly copied, so it is read whole as
 * NDJSON. No copy at all: the boundary is the empty string and everything is NDJSON. The outer query's
 * `dt` filter reaches both branches, so Athena still prunes partitions on each side.
 */
export function columnarUnion(): string {
  const names = [...AUDIT_COLUMNS.map((c) => c.name), ...AUDIT_PARTITIONS.map((p) => p.name)].join(', ');
  const boundary = `(SELECT coalesce(max(dt), '') FROM ${COLUMNAR_TABLE_NAME})`;
  return `SELECT ${names} FROM ${COLUMNAR_TABLE_NAME} WHERE dt < ${boundary}
  UNION ALL
  SELECT ${names} FROM ${AUDIT_TABLE_NAME} WHERE dt >= ${boundary}`;
}

/**
 * A saved query's SQL with every read of the log (`FROM audit_events`, with or without a lower-case
 * alias) reading columnarUnion() instead, under the same name or alias.
 */
export function withColumnarCopy(sql: string): string {
  const reads = new RegExp(`\\bFROM ${AUDIT_TABLE_NAME}\\b(?: ([a-z][a-z0-9_]*)\\b)?`, 'g');
  if (sql.match(reads) === null) throw new SavedQueryError(`a saved query must read FROM ${AUDIT_TABLE_NAME}; this one does not: ${sql.slice(0, 80)}`);
  return sql.replace(reads, (_match, alias: string | undefined) => `FROM (${columnarUnion()}) AS ${alias ?? AUDIT_TABLE_NAME}`);
}
