/**
 * `audit query`: DuckDB over the local log's NDJSON.gz objects, as the table `audit_events` with
 * exactly the columns of AUDIT_COLUMNS, then the partitions `dt` and `hour` (the Glue table's).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { parseColumnarKey, readManifests, siblingKey } from './columnar.js';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { AUDIT_COLUMNS, AUDIT_PARTITIONS, AUDIT_PREFIX, AUDIT_TABLE_NAME } from './format.js';

/** A key's version store beside it in the local bucket (LocalAuditSink's `.versions` folders): no object of the log. */
const VERSIONS_FOLDER_SUFFIX = '.versions';

export class AuditQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditQueryError';
  }
}

export const DUCKDB_TYPES = { string: 'VARCHAR', 'array<string>': 'VARCHAR[]', timestamp: 'TIMESTAMP', bigint: 'BIGINT' } as const;

/** The `columns` argument of DuckDB's read_json for audit objects: every table column, typed (no sampling). */
export function ndjsonColumnsArgument(): string {
  return `{${AUDIT_COLUMNS.map((c) => `${quote(c.name)}: ${quote(DUCKDB_TYPES[c.type])}`).join(', ')}}`;
}

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

export function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Every `.ndjson.gz` object file under the log's `audit/` folder (not version stores, not dot folders).
 * Read a level of folders at a time, each level's folders at once: at 10M records the log has about
 * 3,600 folders (day, hour, shard), and one recursive readdir visiting them in turn took 0.8-1.5 s of
 * a query's time on the loaded bench machine, against 0.1-0.2 s this way.
 */
async function objectFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  let folders = [join(dir, AUDIT_PREFIX)];
  while (folders.length > 0) {
    const listed = await Promise.all(folders.map(async (folder) => {
      try {
        return { folder, entries: await readdir(folder, { withFileTypes: true }) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { folder, entries: [] };
        throw error;
      }
    }));
    folders = [];
    for (const { folder, entries } of listed) {
      for (const entry of entries) {
        if (entry.isDirectory()) {
          if (!entry.name.startsWith('.') && !entry.name.endsWith(VERSIONS_FOLDER_SUFFIX)) folders.push(join(folder, entry.name));
        } else if (entry.name.endsWith('.ndjson.gz') && !entry.name.startsWith('.')) {
          files.push(join(folder, entry.name));
        }
      }
    }
  }
  return files.sort();
}

/** The columnar copy's parts whose Parquet file is there: the files, and the objects they hold (local paths). */
async function columnarParts(dir: string): Promise<{ parquet: string[]; covered: Set<string> }> {
  const store = new LocalColumnarReader(dir);
  const parquet: string[] = [];
  const covered = new Set<string>();
  for (const { key, manifest } of await readManifests(store)) {
    // Only the manifest's own sibling file: a manifest is read before anyone verified it, and a key
    // with `..` must not point a query at a file outside the log.
    if (manifest.parquet.key !== siblingKey(key) || parseColumnarKey(manifest.parquet.key)?.kind !== 'parquet') continue;
    const path = join(dir, ...manifest.parquet.key.split('/'));
    if (!existsSync(path)) continue;
    parquet.push(path);
    for (const source of manifest.sources) covered.add(join(dir, ...source.key.split('/')));
  }
  return { parquet: parquet.sort(), covered };
}

/** Just enough of a store over the local bucket directory to read the manifests (no sidecars under columnar/). */
class LocalColumnarReader {
  constructor(private readonly dir: string) {}
  async getObject(key: string): Promise<Uint8Array | undefined> {
    return readFile(join(this.dir, ...key.split('/')));
  }
  async list(prefix: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, prefix), { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names.filter((name) => name.endsWith('.manifest.json')).map((name) => `${prefix}${name.split(sep).join('/')}`);
  }
}

export interface AuditEventsOptions {
  /** Each row also carries `object_key`: the key of the object that holds it, relative to `dir` (as in the bucket). */
  objectKeys?: boolean;
  /** Read the Parquet copy where it exists (columnar.ts). @default true */
  columnar?: boolean;
}

/**
 * The `audit_events` definition over a log directory (a view) or, for an empty log, an empty table:
 * the columnar copy's Parquet files for the objects they hold, and every other object as NDJSON.
 */
export async function defineAuditEvents(connection: DuckDBConnection, dir: string, options: AuditEventsOptions = {}): Promise<void> {
  const columns = AUDIT_COLUMNS.map((c) => `${c.name} ${DUCKDB_TYPES[c.type]}`);
  const partitions = AUDIT_PARTITIONS.map((p) => `${p.name} VARCHAR`);
  const keyColumn = options.objectKeys === true ? ['object_key VARCHAR'] : [];
  const parts = options.columnar === false ? { parquet: [], covered: new Set<string>() } : await columnarParts(dir);
  if (parts.parquet.length === 0 && !(await hasObjects(join(dir, AUDIT_PREFIX)))) {
    await connection.run(`CREATE OR REPLACE TABLE ${AUDIT_TABLE_NAME} (${[...columns, ...partitions, ...keyColumn].join(', ')})`);
    return;
  }
  const root = quote(join(dir, '/'));
  const objectKey = options.objectKeys === true ? [`CASE WHEN starts_with(filename, ${root}) THEN substr(filename, length(${root}) + 1) ELSE filename END AS object_key`] : [];
  const dataNames = [...AUDIT_COLUMNS.map((c) => c.name), ...AUDIT_PARTITIONS.map((p) => p.name)];
  const names = [...dataNames, ...objectKey].join(', ');
  const hive = "hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'hour': 'VARCHAR'}";
  // Explicit columns: no sampling, and the `shard=` folder does not become a column. Without a copy, one
  // glob; with one, the objects no part holds, by name.
  const ndjson = parts.parquet.length === 0
    ? [quote(join(dir, AUDIT_PREFIX, 'dt=*', 'hour=*', 'shard=*', '*.ndjson.gz'))]
    : (await objectFiles(dir)).filter((file) => !parts.covered.has(file)).map(quote);
  const selects: string[] = [];
  if (parts.parquet.length > 0) {
    selects.push(`SELECT ${[...dataNames, ...(options.objectKeys === true ? ['object_key'] : [])].join(', ')} FROM read_parquet([${parts.parquet.map(quote).join(', ')}], hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})`);
  }
  if (ndjson.length > 0) {
    selects.push(`SELECT ${names} FROM read_json([${ndjson.join(', ')}],
    format = 'newline_delimited', compression = 'gzip', ${hive}, columns = ${ndjsonColumnsArgument()}${options.objectKeys === true ? ', filename = true' : ''})`);
  }
  await connection.run(`CREATE OR REPLACE VIEW ${AUDIT_TABLE_NAME} AS ${selects.join('\n  UNION ALL\n  ')}`);
}

export async function openAuditQuery(dir: string, options: { columnar?: boolean } = {}): Promise<AuditQueryEngine> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  // The saved queries' "now" (localtimestamp) is UTC, as in Athena, whatever the machine's zone.
  await connection.run("SET TimeZone = 'UTC'");
  await defineAuditEvents(connection, dir, options);
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
