/**
 * `ColumnarWriter` in pure JavaScript (hyparquet-writer): the columnar copy's Parquet files, written the
 * same way by the audit-compact Lambda (DuckDB's native binary cannot ship in a <= 1 MB bundle) and by
 * the local stack, so both paths make byte-identical files from the same objects. DuckDB still reads
 * them (queries, verify's row-for-row comparison), which cross-checks this writer on every verify.
 *
 * Types match the NDJSON table's (COLUMNAR_COLUMNS): strings as UTF8 byte arrays, timestamps as INT64
 * TIMESTAMP_MILLIS (the records carry millisecond ISO times), request_seq as INT64, policy_ids as a
 * three-level LIST of UTF8 (what Athena's Parquet SerDe and DuckDB read as array<string>). GZIP pages
 * (node:zlib), which Athena engine 3 reads and writes for Parquet.
 */
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ColumnarSource, ColumnarWriter } from '../../ports/columnar.js';
import { COLUMNAR_COLUMNS } from '../../audit/columnar.js';
import { parseAuditObject } from '../../audit/object.js';
import { parseObjectKey } from '../../audit/digest-store.js';

type SchemaElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]['schema']>[number];
type ColumnType = (typeof COLUMNAR_COLUMNS)[number]['type'];

export class ColumnarWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ColumnarWriteError';
  }
}

function schemaOf(name: string, type: ColumnType): SchemaElement[] {
  switch (type) {
    case 'string': return [{ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }];
    case 'bigint': return [{ name, type: 'INT64', repetition_type: 'OPTIONAL' }];
    case 'timestamp': return [{ name, type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'OPTIONAL' }];
    case 'array<string>': return [
      { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    ];
  }
}

/** One record's value as the column's Parquet value; throws naming the record and column when it does not fit. */
function valueOf(value: unknown, type: ColumnType, where: string): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new ColumnarWriteError(`${where} is ${typeof value}, not a string`);
      return value;
    case 'bigint':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ColumnarWriteError(`${where} is ${JSON.stringify(value)}, not an integer`);
      return BigInt(value);
    case 'timestamp': {
      const time = typeof value === 'string' ? new Date(value) : undefined;
      if (time === undefined || Number.isNaN(time.getTime())) throw new ColumnarWriteError(`${where} is ${JSON.stringify(value)}, not an ISO time`);
      return time;
    }
    case 'array<string>':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new ColumnarWriteError(`${where} is not a list of strings`);
      return value;
  }
}

/**
 * Rows per row group. Rows are sorted by agent, then time, so each row group's min/max of `agent_id`
 * names a few agents: a reader filtering on one agent skips the other groups by those statistics (DuckDB
 * does; Athena documents that it reads or skips Parquet blocks by their min/max). At 10M records a day
 * holds about 333,000 rows in 34 groups, one agent's day 1 to 2 of them.
 */
export const ROW_GROUP_ROWS = 10_000;

const AGENT = COLUMNAR_COLUMNS.findIndex((c) => c.name === 'agent_id');
const OCCURRED_AT = COLUMNAR_COLUMNS.findIndex((c) => c.name === 'occurred_at');

/** Row order in a file: by agent_id (records with none first), then occurred_at; ties keep the sources' order. */
function rowOrder(columns: ReadonlyArray<readonly unknown[]>): number[] {
  const agents = columns[AGENT]! as ReadonlyArray<string | null>;
  const times = (columns[OCCURRED_AT]! as ReadonlyArray<Date | null>).map((time) => time?.getTime() ?? -Infinity);
  const order = Array.from({ length: agents.length }, (_, i) => i);
  // Array.prototype.sort is stable: equal keys keep their index order, so the same objects give the same file.
  return order.sort((a, b) => {
    const x = agents[a] ?? null;
    const y = agents[b] ?? null;
    if (x !== y) return x === null ? -1 : y === null ? 1 : x < y ? -1 : 1;
    return times[a]! - times[b]!;
  });
}

export class HyparquetColumnarWriter implements ColumnarWriter {
  async toParquet(sources: readonly ColumnarSource[]): Promise<Uint8Array> {
    const columns = COLUMNAR_COLUMNS.map(() => [] as unknown[]);
    for (const source of sources) {
      const hour = parseObjectKey(source.key)?.hour.toISOString().slice(11, 13);
      if (hour === undefined) throw new ColumnarWriteError(`${source.key} is not an audit object key (dt=/hour=/shard=): it has no partition hour`);
      parseAuditObject(source.body).forEach((record, line) => {
        const fields = record as unknown as Record<string, unknown>;
        COLUMNAR_COLUMNS.forEach((column, i) => {
          const raw = column.name === 'hour' ? hour : column.name === 'object_key' ? source.key : fields[column.name];
          columns[i]!.push(valueOf(raw, column.type, `${source.key} record ${line + 1}, column ${column.name},`));
        });
      });
    }
    const order = rowOrder(columns);
    const sorted = columns.map((values) => order.map((i) => values[i]));
    const schema: SchemaElement[] = [{ name: 'root', num_children: COLUMNAR_COLUMNS.length }, ...COLUMNAR_COLUMNS.flatMap((c) => schemaOf(c.name, c.type))];
    const buffer = parquetWriteBuffer({
      columnData: COLUMNAR_COLUMNS.map((c, i) => ({ name: c.name, data: sorted[i]! })),
      schema,
      // Fixed: no row-group boundary depends on the writer's defaults.
      rowGroupSize: ROW_GROUP_ROWS,
      // GZIP through node:zlib (zstd is not in Node 20's zlib): 1.84x the NDJSON.gz with the writer's
      // Snappy, gzip much less (README design notes); Athena engine 3 reads GZIP Parquet.
      codec: 'GZIP',
      compressors: { GZIP: (input: Uint8Array) => gzipSync(input, { level: 6 }) },
      createdBy: 'countersign audit-compact (hyparquet-writer 0.17.0)',
    } as Parameters<typeof parquetWriteBuffer>[0]);
    return new Uint8Array(buffer);
  }
}
