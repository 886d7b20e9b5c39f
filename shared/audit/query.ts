/**
 * `audit query`: DuckDB over the local log's NDJSON.gz objects, as the table `audit_events` with
 * exactly the columns of AUDIT_COLUMNS, then the partitions `dt` and `hour` (the Glue table's).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { AUDIT_COLUMNS, AUDIT_PARTITIONS, AUDIT_PREFIX, AUDIT_TABLE_NAME } from './format.js';

export class AuditQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditQueryError';
  }
}

const DUCKDB_TYPES = { string: 'VARCHAR', 'array<string>': 'VARCHAR[]', timestamp: 'TIMESTAMP', bigint: 'BIGINT' } as const;

export interface QueryResult {
  columns: string[];
  rows: Array<Record<string, unknown>>;
}

export interface AuditQueryEngine {
  run(sql: string): Promise<QueryResult>;
  close(): void;
}

/** Whether the log holds any object: depth first, stopping at the first (the log may hold many). */
async function hasObjects(dir: string): Promise<boolean> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (entries.some((entry) => entry.isFile() && entry.name.endsWith('.ndjson.gz'))) return true;
  for (const entry of entries) if (entry.isDirectory() && !entry.name.startsWith('.') && (await hasObjects(join(dir, entry.name)))) return true;
  return false;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The `audit_events` definition over a log directory (a view) or, for an empty log, an empty table.
 * With `objectKeys`, each row also carries
 * `object_key`: the key of the object that holds it, relative to `dir` (as in the bucket).
 */
export async function defineAuditEvents(connection: DuckDBConnection, dir: string, options: { objectKeys?: boolean } = {}): Promise<void> {
  const columns = AUDIT_COLUMNS.map((c) => `${c.name} ${DUCKDB_TYPES[c.type]}`);
  const partitions = AUDIT_PARTITIONS.map((p) => `${p.name} VARCHAR`);
  const keyColumn = options.objectKeys === true ? ['object_key VARCHAR'] : [];
  if (!(await hasObjects(join(dir, AUDIT_PREFIX)))) {
    await connection.run(`CREATE OR REPLACE TABLE ${AUDIT_TABLE_NAME} (${[...columns, ...partitions, ...keyColumn].join(', ')})`);
    return;
  }
  const glob = join(dir, AUDIT_PREFIX, 'dt=*', 'hour=*', 'shard=*', '*.ndjson.gz');
  const types = AUDIT_COLUMNS.map((c) => `${quote(c.name)}: ${quote(DUCKDB_TYPES[c.type])}`).join(', ');
  const root = quote(join(dir, '/'));
  const objectKey = options.objectKeys === true ? [`CASE WHEN starts_with(filename, ${root}) THEN substr(filename, length(${root}) + 1) ELSE filename END AS object_key`] : [];
  const names = [...AUDIT_COLUMNS.map((c) => c.name), ...AUDIT_PARTITIONS.map((p) => p.name), ...objectKey].join(', ');
  // Explicit columns: no sampling, and the `shard=` folder does not become a column.
  await connection.run(`CREATE OR REPLACE VIEW ${AUDIT_TABLE_NAME} AS SELECT ${names} FROM read_json(${quote(glob)},
    format = 'newline_delimited', compression = 'gzip', hive_partitioning = true,
    hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'}, columns = {${types}}${options.objectKeys === true ? ', filename = true' : ''})`);
}

export async function openAuditQuery(dir: string): Promise<AuditQueryEngine> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  // The saved queries' "now" (localtimestamp) is UTC, as in Athena, whatever the machine's zone.
  await connection.run("SET TimeZone = 'UTC'");
  await defineAuditEvents(connection, dir);
  return {
    async run(sql: string): Promise<QueryResult> {
      let reader;
      try {
        reader = await connection.runAndReadAll(sql);
      } catch (error) {
        throw new AuditQueryError(`the query failed: ${(error as Error).message.split('\n')[0]}`);
      }
      return { columns: reader.columnNames(), rows: reader.getRowObjectsJson() as Array<Record<string, unknown>> };
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function formatCsv(result: QueryResult): string {
  const escape = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  return [result.columns.map(escape).join(','), ...result.rows.map((row) => result.columns.map((c) => escape(cell(row[c]))).join(','))].join('\n') + '\n';
}

export function formatJson(result: QueryResult): string {
  return `${JSON.stringify(result.rows, null, 2)}\n`;
}

export function formatTable(result: QueryResult, maxWidth = 60): string {
  const clip = (text: string) => {
    const flat = text.replace(/[\r\n\t]/g, ' ');
    return flat.length > maxWidth ? `${flat.slice(0, maxWidth - 1)}…` : flat;
  };
  const body = result.rows.map((row) => result.columns.map((c) => clip(cell(row[c]))));
  const widths = result.columns.map((c, i) => Math.max(c.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((text, i) => text.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(result.columns), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`].join('\n') + '\n';
}
