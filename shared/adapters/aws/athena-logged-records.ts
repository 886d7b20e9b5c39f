import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  type AthenaClient,
  type Row,
} from '@aws-sdk/client-athena';
import { AUDIT_TABLE_NAME, type AuditEventType } from '../../audit/format.js';
import { sqlString } from '../../audit/queries.js';
import type { LoggedRecord, LoggedRecordSource, ReplayRange } from '../../policy/replay.js';

/**
 * The replay's reader of the audit log through Athena (issue 16): one query over the `audit_events`
 * table, in the auditors' workgroup (which enforces its own result location and encryption), with the
 * caller's permissions. The query filters on the `dt` partition so Athena reads only the days of the
 * range (plus the day after it, where a late `decided` record may sit).
 */

export class AthenaReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AthenaReplayError';
  }
}

export interface AthenaRecordSourceOptions {
  workGroup: string;
  /** The Glue database holding the table (the stack's `GlueDatabase` output). */
  database: string;
  /** @default audit_events */
  table?: string;
  /** How long to wait between polls of the query's state. @default 1000 ms */
  pollMs?: number;
  /** @default 15 minutes, then the query is reported as not finished */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const DAY_MS = 86_400_000;
const COLUMNS = ['event_type', 'action_id', 'occurred_at', 'outcome', 'policy_ids', 'payload_sha256', 'detail'] as const;

/** 'YYYY-MM-DD HH:MM:SS.mmm', the literal both Athena and the table's timestamps use. */
function timestampLiteral(iso: string): string {
  return sqlString(new Date(iso).toISOString().replace('T', ' ').replace('Z', ''));
}

/** The replay's query for a range; exported for the tests and the README. */
export function replayQuery(range: ReplayRange, table = AUDIT_TABLE_NAME, now = new Date()): string {
  const where = ["event_type IN ('requested', 'decided')"];
  if (range.from !== undefined) {
    const lastDay = new Date(Date.parse((range.to ?? now.toISOString()).slice(0, 10)) + DAY_MS).toISOString().slice(0, 10);
    where.push(`dt BETWEEN ${sqlString(range.from.slice(0, 10))} AND ${sqlString(lastDay)}`);
  }
  const times = [
    ...(range.from === undefined ? [] : [`occurred_at >= CAST(${timestampLiteral(range.from)} AS TIMESTAMP)`]),
    ...(range.to === undefined ? [] : [`occurred_at < CAST(${timestampLiteral(range.to)} AS TIMESTAMP)`]),
  ];
  if (times.length > 0) where.push(`(event_type = 'decided' OR (${times.join(' AND ')}))`);
  // policy_ids as JSON text: Athena renders an array<string> as "[a, b]", which a comma in an id would break.
  return `SELECT event_type, action_id, occurred_at, outcome, CAST(policy_ids AS JSON) AS policy_ids, payload_sha256, detail
FROM ${table}
WHERE ${where.join('\n  AND ')}`;
}

/** Athena prints a timestamp as 'YYYY-MM-DD HH:MM:SS.mmm' (UTC in the table): the log's ISO form. */
function isoOf(text: string): string {
  return /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/.test(text) ? `${text.replace(' ', 'T')}Z` : text;
}

function policyIdsOf(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new AthenaReplayError(`policy_ids came back as ${text}, not a JSON list of strings`);
  return value;
}

export class AthenaRecordSource implements LoggedRecordSource {
  readonly description: string;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly client: AthenaClient,
    private readonly options: AthenaRecordSourceOptions,
  ) {
    this.description = `Athena (workgroup ${options.workGroup}, ${options.database}.${options.table ?? AUDIT_TABLE_NAME})`;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async *records(range: ReplayRange): AsyncIterable<LoggedRecord> {
    const started = await this.client.send(new StartQueryExecutionCommand({
      QueryString: replayQuery(range, this.options.table),
      WorkGroup: this.options.workGroup,
      QueryExecutionContext: { Database: this.options.database },
    }));
    const id = started.QueryExecutionId;
    if (id === undefined) throw new AthenaReplayError('StartQueryExecution returned no QueryExecutionId');
    await this.waitFor(id);

    let token: string | undefined;
    let first = true;
    do {
      const page = await this.client.send(new GetQueryResultsCommand({ QueryExecutionId: id, NextToken: token, MaxResults: 1000 }));
      const names = (page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? []).map((c) => c.Name ?? '');
      const missing = COLUMNS.filter((c) => !names.includes(c));
      if (missing.length > 0) throw new AthenaReplayError(`the query's results lack the column(s) ${missing.join(', ')}`);
      let rows = page.ResultSet?.Rows ?? [];
      // A SELECT's first result row is the header; it is only on the first page.
      if (first && rows[0] !== undefined && isHeader(rows[0], names)) rows = rows.slice(1);
      first = false;
      for (const row of rows) yield this.recordOf(row, names);
      token = page.NextToken;
    } while (token !== undefined);
  }

  private recordOf(row: Row, names: readonly string[]): LoggedRecord {
    const cell = (name: (typeof COLUMNS)[number]): string | undefined => row.Data?.[names.indexOf(name)]?.VarCharValue;
    const nullable = (name: (typeof COLUMNS)[number]) => cell(name) ?? null;
    return {
      event_type: cell('event_type') as AuditEventType,
      action_id: nullable('action_id'),
      occurred_at: isoOf(cell('occurred_at') ?? ''),
      outcome: nullable('outcome'),
      policy_ids: policyIdsOf(cell('policy_ids')),
      payload_sha256: nullable('payload_sha256'),
      detail: nullable('detail'),
    };
  }

  private async waitFor(id: string): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    const maxWaitMs = this.options.maxWaitMs ?? 15 * 60_000;
    for (let waited = 0; ; waited += pollMs) {
      const { QueryExecution } = await this.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const status = QueryExecution?.Status;
      switch (status?.State) {
        case 'SUCCEEDED':
          return;
        case 'FAILED':
        case 'CANCELLED':
          throw new AthenaReplayError(`Athena query ${id} ${status.State.toLowerCase()}: ${status.StateChangeReason ?? status.AthenaError?.ErrorMessage ?? 'no reason given'}`);
        default:
          if (waited >= maxWaitMs) throw new AthenaReplayError(`Athena query ${id} did not finish within ${Math.round(maxWaitMs / 1000)} s (state ${status?.State ?? 'unknown'}); it is still in the workgroup's history`);
          await this.sleep(pollMs);
      }
    }
  }
}

function isHeader(row: Row, names: readonly string[]): boolean {
  const values = (row.Data ?? []).map((d) => d.VarCharValue);
  return values.length === names.length && values.every((v, i) => v === names[i]);
}
