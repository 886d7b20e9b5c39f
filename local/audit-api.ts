/**
 * The data behind the local audit page (`GET /audit/records`): the records of the local audit log,
 * filtered server side, with the decisions per hour and the approval latencies, read with DuckDB
 * through `defineAuditEvents` (the `audit_events` table of `npm run audit -- query`).
 *
 * The log only grows (objects are write-once, never deleted), so the records are copied into one
 * in-memory snapshot table when the set of objects changes, and every query of a refresh runs on
 * that snapshot: the page polls every 2 s without DuckDB reading every object each time, and the
 * table, the totals and the charts of one answer agree with each other. User input reaches SQL only
 * as bound parameters.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, INTEGER, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';
import * as z from 'zod';
import { jsonDepth, rawJsonText } from '../shared/domain/canonical-json.js';
import { LIMITS } from '../shared/domain/contract.js';
import { FINAL_OUTCOMES } from '../shared/domain/decision.js';
import { AUDIT_EVENT_TYPES, AUDIT_PREFIX, AUDIT_TABLE_NAME } from '../shared/audit/format.js';
import { defineAuditEvents } from '../shared/audit/query.js';
import { jsonResponse, type HttpRequest, type HttpResponse } from './aws-json-server.js';
import { pageHtml } from './pages/bundle.js';
import type { AuditHourCounts, AuditLatency, AuditPageExecution, AuditPageRecord, AuditRecordsView } from './audit-view.js';

export type { AuditHourCounts, AuditLatency, AuditPageExecution, AuditPageRecord, AuditRecordsView };
import { htmlPageResponse } from './page-response.js';

export const DEFAULT_RECORDS_LIMIT = 200;
export const MAX_RECORDS_LIMIT = 1000;
/** At most this many latencies in one answer (the newest). */
export const MAX_LATENCIES = 1000;
/** The outcomes a request can have: its final outcome, or pending while it is under review. */
export const REQUEST_OUTCOMES = ['pending', ...FINAL_OUTCOMES] as const;
/** The outcomes of requests that went to review. */
export const REVIEWED_OUTCOMES = ['approved', 'rejected', 'expired'] as const;

const SNAPSHOT_TABLE = 'audit_page_snapshot';
const MIN_TIME = '1970-01-01 00:00:00.000';
const MAX_TIME = '9999-12-31 23:59:59.999';
const ISO_MS = `'%Y-%m-%dT%H:%M:%S.%gZ'`;

export class AuditRecordsQueryError extends Error {
  constructor(readonly parameter: string, message: string) {
    super(`${parameter}: ${message}`);
    this.name = 'AuditRecordsQueryError';
  }
}

export class AuditLogUnreadableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditLogUnreadableError';
  }
}

const isoTime = (name: string) => z.iso.datetime({ offset: true, error: `is not an ISO 8601 time with a zone, such as 2026-11-20T10:00:00Z or 2026-11-20T11:00:00+01:00 (${name})` });

const RecordsQuerySchema = z.strictObject({
  agent: z.string().max(128, 'must be at most 128 characters').optional(),
  outcome: z.enum(REQUEST_OUTCOMES, `must be one of ${REQUEST_OUTCOMES.join(', ')}`).optional(),
  eventType: z.enum(AUDIT_EVENT_TYPES, `must be one of ${AUDIT_EVENT_TYPES.join(', ')}`).optional(),
  from: isoTime('inclusive').optional(),
  to: isoTime('exclusive').optional(),
  limit: z.string()
    .regex(/^\d{1,4}$/, `must be a whole number from 1 to ${MAX_RECORDS_LIMIT}`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= MAX_RECORDS_LIMIT, `must be a whole number from 1 to ${MAX_RECORDS_LIMIT}`)
    .optional(),
});

export interface AuditRecordsQuery {
  agent?: string;
  outcome?: (typeof REQUEST_OUTCOMES)[number];
  eventType?: (typeof AUDIT_EVENT_TYPES)[number];
  /** ISO 8601, inclusive. */
  from?: string;
  /** ISO 8601, exclusive. */
  to?: string;
  limit: number;
}

/**
 * The query string of `/audit/records`, checked: a parameter given twice, unknown, or with a bad
 * value throws `AuditRecordsQueryError` naming it. Empty values mean "not set" (an empty filter).
 */
export function parseAuditRecordsQuery(queryString: string): AuditRecordsQuery {
  const values: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(queryString)) {
    if (Object.hasOwn(values, name)) throw new AuditRecordsQueryError(name, 'is given more than once; give it once');
    values[name] = value;
  }
  const given = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ''));
  const parsed = RecordsQuerySchema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      throw new AuditRecordsQueryError(issue.keys.join(', '), `is not a parameter of /audit/records; it takes agent, outcome, eventType, from, to and limit`);
    }
    throw new AuditRecordsQueryError(String(issue.path[0] ?? 'query'), issue.message);
  }
  const { limit, ...filters } = parsed.data;
  const query: AuditRecordsQuery = { ...filters, limit: limit ?? DEFAULT_RECORDS_LIMIT };
  if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) >= Date.parse(query.to)) {
    throw new AuditRecordsQueryError('to', `must be after from (${query.from})`);
  }
  return query;
}

/** The objects of the log, as keys relative to the bucket directory, sorted. */
async function listAuditObjects(auditDir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(join(auditDir, AUDIT_PREFIX), { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries.filter((entry) => entry.endsWith('.ndjson.gz')).sort();
}

/** 'YYYY-MM-DD HH:MM:SS.mmm' UTC, which DuckDB casts to a TIMESTAMP. */
function sqlTime(iso: string | undefined, fallback: string): string {
  return iso === undefined ? fallback : new Date(iso).toISOString().replace('T', ' ').replace('Z', '');
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const texts = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return undefined;
  try {
    return JSON.parse(value);
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The justification and parameters of the request a `requested` or `conflict` record keeps in `detail`. */
export function agentTextOf(detail: string | null): { justification: string | null; parameters: unknown } {
  const item = parseJson(detail);
  if (typeof item !== 'object' || item === null) return { justification: null, parameters: null };
  const { requestJson, rawDetail } = item as { requestJson?: unknown; rawDetail?: unknown };
  const request = parseJson(requestJson) ?? parseJson(rawDetail);
  if (typeof request !== 'object' || request === null) return { justification: null, parameters: null };
  const { justification, parameters } = request as { justification?: unknown; parameters?: unknown };
  // An invalid request's parameters may nest deeper than JSON.stringify (here and in the page) can go: shown as text.
  const shown = jsonDepth(parameters) > LIMITS.detailMaxDepth ? rawJsonText(parameters) : parameters;
  return { justification: text(justification), parameters: shown ?? null };
}

/** The execution report an `executed` or `execution_violation` record carries. */
export function executionOf(row: { event_type: unknown; execution_status: unknown; started_at: unknown; finished_at: unknown; detail: unknown }): AuditPageExecution | null {
  if (row.event_type !== 'executed' && row.event_type !== 'execution_violation') return null;
  const parsed = parseJson(row.detail);
  const item = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const code = text(item.errorCode);
  return {
    status: text(row.execution_status),
    startedAt: text(row.started_at),
    finishedAt: text(row.finished_at),
    resultSummary: text(item.resultSummary),
    resultSha256: text(item.resultSha256),
    error: code === null ? null : { code, message: text(item.errorMessage) ?? '' },
    executedPayloadSha256: text(item.executedPayloadSha256),
  };
}

/**
 * The request each record belongs to (its actionId; the event id for a record without one) and its
 * outcome now: the `outcome` record when there is one, else the `decided` record.
 */
const STATUS_CTE = `status AS (
  SELECT coalesce(action_id, event_id) AS request_key, action_id, agent_id, event_type, outcome, occurred_at
  FROM ${SNAPSHOT_TABLE}
  WHERE event_type IN ('decided', 'outcome') AND outcome IS NOT NULL
  QUALIFY row_number() OVER (
    PARTITION BY coalesce(action_id, event_id)
    ORDER BY CASE event_type WHEN 'outcome' THEN 1 ELSE 0 END DESC, occurred_at DESC, event_id DESC
  ) = 1
)`;

/**
 * The request a record belongs to, from its event id (`<key>/<type>[/…]`, where the key is the
 * actionId, or `invalid/<event id>` for a request without a usable one), and what the request's
 * own records say: the source its sender claimed, the policies that decided it.
 */
const REQUEST_KEY = (eventId: string) => `regexp_extract(${eventId}, '^(invalid/[^/]*|[^/]*)', 1)`;
const FACTS_CTE = `facts AS (
  SELECT ${REQUEST_KEY('event_id')} AS request_key,
    max(CASE WHEN event_type = 'requested' THEN json_extract_string(detail, '$.source') END) AS source,
    max(CASE WHEN event_type = 'decided' THEN policy_ids END) AS policy_ids
  FROM ${SNAPSHOT_TABLE}
  WHERE event_type IN ('requested', 'decided')
  GROUP BY 1
)`;

const RECORDS_SQL = `WITH ${STATUS_CTE}, ${FACTS_CTE}
SELECT r.event_id, r.event_type, strftime(r.occurred_at, ${ISO_MS}) AS occurred_at, r.action_id, r.agent_id, r.on_behalf_of,
  r.action, r.resource_type, r.resource_id, r.environment, r.outcome, s.outcome AS request_outcome, r.reason, r.reviewer_id,
  r.vote, r.comment, r.policy_ids, r.payload_sha256, r.detail, r.hash, r.object_key, f.source AS claimed_source,
  f.policy_ids AS request_policy_ids, strftime(r.valid_until, ${ISO_MS}) AS valid_until, r.execution_status,
  strftime(r.started_at, ${ISO_MS}) AS started_at, strftime(r.finished_at, ${ISO_MS}) AS finished_at, r.violation_rule, count(*) OVER () AS total
FROM ${SNAPSHOT_TABLE} r
LEFT JOIN status s ON s.request_key = coalesce(r.action_id, r.event_id)
LEFT JOIN facts f ON f.request_key = ${REQUEST_KEY('r.event_id')}
WHERE r.occurred_at >= CAST($from AS TIMESTAMP) AND r.occurred_at < CAST($to AS TIMESTAMP)
  AND ($agent IS NULL OR r.agent_id = $agent)
  AND ($eventType IS NULL OR r.event_type = $eventType)
  AND ($outcome IS NULL OR s.outcome = $outcome)
ORDER BY r.occurred_at DESC, r.sequence_number DESC, r.event_id DESC
LIMIT $limit`;

/** Each request once, at its final outcome (a request still pending is not a decision yet). */
const PER_HOUR_SQL = `WITH ${STATUS_CTE}
SELECT strftime(date_trunc('hour', occurred_at), '%Y-%m-%dT%H:00:00Z') AS hour, outcome, count(*) AS n
FROM status
WHERE outcome <> 'pending'
  AND occurred_at >= CAST($from AS TIMESTAMP) AND occurred_at < CAST($to AS TIMESTAMP)
  AND ($agent IS NULL OR agent_id = $agent)
  AND ($outcome IS NULL OR outcome = $outcome)
GROUP BY 1, 2
ORDER BY 1, 2`;

/** From the request (its first record) to the outcome, for requests that went to review. */
const LATENCIES_SQL = `WITH ${STATUS_CTE}, started AS (
  SELECT action_id, min(occurred_at) AS requested_at
  FROM ${SNAPSHOT_TABLE}
  WHERE action_id IS NOT NULL AND event_type IN ('requested', 'decided', 'review_requested')
  GROUP BY action_id
)
SELECT s.action_id, s.agent_id, s.outcome, strftime(t.requested_at, ${ISO_MS}) AS requested_at, strftime(s.occurred_at, ${ISO_MS}) AS decided_at,
  (epoch_ms(s.occurred_at) - epoch_ms(t.requested_at)) / 1000.0 AS seconds
FROM status s JOIN started t ON t.action_id = s.action_id
WHERE s.event_type = 'outcome' AND s.outcome IN (${REVIEWED_OUTCOMES.map((o) => `'${o}'`).join(', ')})
  AND s.occurred_at >= CAST($from AS TIMESTAMP) AND s.occurred_at < CAST($to AS TIMESTAMP)
  AND ($agent IS NULL OR s.agent_id = $agent)
  AND ($outcome IS NULL OR s.outcome = $outcome)
ORDER BY s.occurred_at DESC, s.action_id DESC
LIMIT ${MAX_LATENCIES}`;

const LOG_SQL = `SELECT
  (SELECT count(*) FROM ${SNAPSHOT_TABLE}) AS records,
  (SELECT list(DISTINCT agent_id ORDER BY agent_id) FROM ${SNAPSHOT_TABLE} WHERE agent_id IS NOT NULL) AS agents,
  (SELECT list(DISTINCT outcome ORDER BY outcome) FROM ${SNAPSHOT_TABLE} WHERE event_type IN ('decided', 'outcome') AND outcome IS NOT NULL) AS outcomes`;

const PARAMETER_TYPES = { from: VARCHAR, to: VARCHAR, agent: VARCHAR, eventType: VARCHAR, outcome: VARCHAR, limit: INTEGER };

type Row = Record<string, unknown>;

function toRecord(row: Row): AuditPageRecord {
  const agentText = agentTextOf(text(row.detail));
  return {
    eventId: String(row.event_id),
    eventType: String(row.event_type),
    occurredAt: String(row.occurred_at),
    actionId: text(row.action_id),
    agentId: text(row.agent_id),
    onBehalfOf: text(row.on_behalf_of),
    action: text(row.action),
    resourceType: text(row.resource_type),
    resourceId: text(row.resource_id),
    environment: text(row.environment),
    outcome: text(row.outcome),
    requestOutcome: text(row.request_outcome),
    reason: text(row.reason),
    reviewerId: text(row.reviewer_id),
    vote: text(row.vote),
    comment: text(row.comment),
    policyIds: texts(row.policy_ids),
    requestPolicyIds: texts(row.request_policy_ids),
    payloadSha256: text(row.payload_sha256),
    hash: text(row.hash),
    objectKey: text(row.object_key),
    claimedSource: text(row.claimed_source),
    ...agentText,
    validUntil: text(row.valid_until),
    execution: executionOf(row as Parameters<typeof executionOf>[0]),
    violationRule: text(row.violation_rule),
  };
}

/** Groups `(hour, outcome, n)` rows into one entry per hour. */
export function countsPerHour(rows: ReadonlyArray<{ hour: string; outcome: string; n: number }>): AuditHourCounts[] {
  const hours = new Map<string, Record<string, number>>();
  for (const { hour, outcome, n } of rows) {
    const counts = hours.get(hour) ?? {};
    counts[outcome] = (counts[outcome] ?? 0) + n;
    hours.set(hour, counts);
  }
  return [...hours.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([hour, counts]) => ({ hour, counts }));
}

/**
 * Reads the local audit log for the page: one DuckDB instance and connection, opened on first use,
 * queries one at a time, the snapshot rebuilt when objects were added.
 */
export class AuditRecordsReader {
  private duck: { instance: DuckDBInstance; connection: DuckDBConnection } | undefined;
  /** The object keys the snapshot holds, joined; undefined before the first snapshot. */
  private snapshotOf: string | undefined;
  private objects = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(readonly auditDir: string) {}

  /** Runs `work` after the previous one: a DuckDB connection runs one query at a time. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async connection(): Promise<DuckDBConnection> {
    if (this.duck === undefined) {
      const instance = await DuckDBInstance.create(':memory:');
      this.duck = { instance, connection: await instance.connect() };
    }
    return this.duck.connection;
  }

  private async refreshSnapshot(connection: DuckDBConnection): Promise<void> {
    const keys = await listAuditObjects(this.auditDir);
    const signature = keys.join('\n');
    if (signature === this.snapshotOf) return;
    // Over a log without objects `audit_events` is an empty table, which a view cannot replace.
    const defined = await connection.runAndReadAll('SELECT table_type FROM information_schema.tables WHERE table_name = $name', { name: AUDIT_TABLE_NAME }, { name: VARCHAR });
    if (defined.getRowObjectsJson()[0]?.table_type === 'BASE TABLE') await connection.run(`DROP TABLE ${AUDIT_TABLE_NAME}`);
    await defineAuditEvents(connection, this.auditDir, { objectKeys: true });
    await connection.run(`CREATE OR REPLACE TABLE ${SNAPSHOT_TABLE} AS SELECT * FROM ${AUDIT_TABLE_NAME}`);
    this.snapshotOf = signature;
    this.objects = keys.length;
  }

  read(query: AuditRecordsQuery): Promise<AuditRecordsView> {
    return this.serial(async () => {
      if (this.closed) throw new AuditLogUnreadableError('the audit page is closed (the local stack is stopping)');
      const connection = await this.connection();
      const rows = async (sql: string, values: Record<string, string | number | null>): Promise<Row[]> => {
        const types = Object.fromEntries(Object.keys(values).map((name) => [name, PARAMETER_TYPES[name as keyof typeof PARAMETER_TYPES]]));
        return (await connection.runAndReadAll(sql, values, types)).getRowObjectsJson() as Row[];
      };
      try {
        await this.refreshSnapshot(connection);
        const range = { from: sqlTime(query.from, MIN_TIME), to: sqlTime(query.to, MAX_TIME), agent: query.agent ?? null };
        const outcome = query.outcome ?? null;
        const recordRows = await rows(RECORDS_SQL, { ...range, outcome, eventType: query.eventType ?? null, limit: query.limit });
        const hourRows = await rows(PER_HOUR_SQL, { ...range, outcome });
        const latencyRows = await rows(LATENCIES_SQL, { ...range, outcome });
        const [log] = await rows(LOG_SQL, {});
        const present = Array.isArray(log?.outcomes) ? log.outcomes.filter((o): o is string => typeof o === 'string') : [];
        return {
          records: recordRows.map(toRecord),
          total: Number(recordRows[0]?.total ?? 0),
          agents: Array.isArray(log?.agents) ? log.agents.filter((a): a is string => typeof a === 'string') : [],
          outcomes: [...REQUEST_OUTCOMES, ...present.filter((o) => !(REQUEST_OUTCOMES as readonly string[]).includes(o))],
          perHour: countsPerHour(hourRows.map((r) => ({ hour: String(r.hour), outcome: String(r.outcome), n: Number(r.n) }))),
          latencies: latencyRows.map((r) => ({
            actionId: String(r.action_id),
            agentId: text(r.agent_id),
            outcome: String(r.outcome),
            requestedAt: String(r.requested_at),
            decidedAt: String(r.decided_at),
            seconds: Number(r.seconds),
          })),
          log: { records: Number(log?.records ?? 0), objects: this.objects },
          generatedAt: new Date().toISOString(),
        };
      } catch (error) {
        // The next read builds the snapshot again.
        this.snapshotOf = undefined;
        throw new AuditLogUnreadableError(`the audit log in ${this.auditDir} could not be read: ${(error as Error).message.split('\n')[0]} (npm run audit -- verify --dir ${this.auditDir} says what is wrong with it)`, { cause: error });
      }
    });
  }

  /** Waits for the query running, then closes the connection and the instance. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    if (this.duck === undefined) return;
    this.duck.connection.closeSync();
    this.duck.instance.closeSync();
    this.duck = undefined;
  }
}

export interface AuditRoutes {
  /** Answers `/audit` (the page) and `/audit/records` (its data); other `/audit/...` paths 404. */
  handle(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

const NO_STORE = { 'cache-control': 'no-store' };

function errorResponse(statusCode: number, error: string, message: string, headers: Record<string, string> = {}): HttpResponse {
  return jsonResponse(statusCode, { error, message }, { ...NO_STORE, ...headers });
}

/** What `/audit` answers when the stack keeps no audit trail. */
export function auditTrailOffResponse(): HttpResponse {
  return errorResponse(404, 'AuditTrailOff', 'this local stack runs without the audit trail (started with audit: false), so there is no audit log to show; start it with the audit trail (the default, npm start) to see /audit');
}

async function auditPage(): Promise<HttpResponse> {
  const page = await pageHtml('audit');
  return htmlPageResponse((nonce) => page(nonce));
}

export function createAuditRoutes(options: { auditDir: string; onError?: (error: unknown, where: string) => void }): AuditRoutes {
  const reader = new AuditRecordsReader(options.auditDir);
  return {
    async handle(request) {
      const path = request.path.replace(/\/+$/, '') || '/';
      if (path !== '/audit' && path !== '/audit/records') {
        return errorResponse(404, 'NotFound', `no route for ${request.method} ${request.path}; the audit page serves GET /audit and GET /audit/records`);
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return errorResponse(405, 'MethodNotAllowed', `${request.method} is not allowed on ${path}; use GET`, { allow: 'GET, HEAD' });
      }
      if (path === '/audit') return auditPage();
      let query: AuditRecordsQuery;
      try {
        query = parseAuditRecordsQuery(request.query);
      } catch (error) {
        if (!(error instanceof AuditRecordsQueryError)) throw error;
        return errorResponse(400, 'BadRequest', error.message);
      }
      try {
        return jsonResponse(200, await reader.read(query), NO_STORE);
      } catch (error) {
        if (!(error instanceof AuditLogUnreadableError)) throw error;
        options.onError?.(error.cause ?? error, 'the audit page');
        return errorResponse(500, 'AuditLogUnreadable', error.message);
      }
    },
    close: () => reader.close(),
  };
}
