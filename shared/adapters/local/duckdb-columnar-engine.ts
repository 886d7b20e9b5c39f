/**
 * `ColumnarEngine` on DuckDB (@duckdb/node-api): compares a columnar copy's Parquet file (written by
 * HyparquetColumnarWriter) with its source objects, so every verify also cross-checks that writer. Works on files in a private temporary folder, so the same
 * code serves the local bucket and bytes read from S3.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { ColumnarComparison, ColumnarEngine, ColumnarSource } from '../../ports/columnar.js';
import { COLUMNAR_COLUMNS } from '../../audit/columnar.js';
import { DUCKDB_TYPES, ndjsonColumnsArgument, quote } from '../../audit/query.js';

/** The typed rows of gzip NDJSON sources laid out under `root` by key: the table's columns, then object_key. */
function sourceRows(root: string, sources: readonly ColumnarSource[]): string {
  const files = sources.map((s) => quote(join(root, ...s.key.split('/')))).join(', ');
  const prefix = quote(join(root, '/'));
  const derived: Record<string, string> = {
    hour: "regexp_extract(filename, '/hour=([0-9]{2})/', 1)",
    object_key: `substr(filename, length(${prefix}) + 1)`,
  };
  const names = COLUMNAR_COLUMNS.map((c) => (derived[c.name] === undefined ? c.name : `${derived[c.name]} AS ${c.name}`)).join(', ');
  return `SELECT ${names}
    FROM read_json([${files}], format = 'newline_delimited', compression = 'gzip', columns = ${ndjsonColumnsArgument()}, filename = true)`;
}

async function withScratch<T>(sources: readonly ColumnarSource[], run: (root: string, db: { all(sql: string): Promise<Array<Record<string, unknown>>> }) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'countersign-columnar-'));
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    for (const source of sources) {
      const path = join(root, 'log', ...source.key.split('/'));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, source.body);
    }
    return await run(root, { all: async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>> });
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(root, { recursive: true, force: true });
  }
}

export class DuckDbColumnarEngine implements ColumnarEngine {
  async compare(parquet: Uint8Array, sources: readonly ColumnarSource[]): Promise<ColumnarComparison> {
    return withScratch(sources, async (root, db) => {
      const file = join(root, 'copy.parquet');
      await writeFile(file, parquet);
      let described: Array<Record<string, unknown>>;
      try {
        described = await db.all(`DESCRIBE SELECT * FROM read_parquet(${quote(file)}, hive_partitioning = false)`);
      } catch (error) {
        return { rows: 0, onlyInCopy: 0, onlyInLog: 0, schemaProblem: `cannot be read as Parquet (${(error as Error).message.split('\n')[0]})` };
      }
      const actual = described.map((row) => `${String(row.column_name)} ${String(row.column_type)}`).join(', ');
      const expected = COLUMNAR_COLUMNS.map((c) => `${c.name} ${DUCKDB_TYPES[c.type]}`).join(', ');
      if (actual !== expected) return { rows: 0, onlyInCopy: 0, onlyInLog: 0, schemaProblem: `has the columns (${actual}), not (${expected})` };
      const names = COLUMNAR_COLUMNS.map((c) => c.name).join(', ');
      const copy = `SELECT ${names} FROM read_parquet(${quote(file)}, hive_partitioning = false)`;
      const log = sourceRows(join(root, 'log'), sources);
      // Multisets of whole typed rows, both ways: a changed, added, dropped or doubled row shows.
      let counts: Record<string, unknown> | undefined;
      try {
        [counts] = await db.all(`SELECT
          (SELECT count(*) FROM read_parquet(${quote(file)}, hive_partitioning = false)) AS rows,
          (SELECT count(*) FROM (${copy} EXCEPT ALL ${log})) AS only_in_copy,
          (SELECT count(*) FROM (${log} EXCEPT ALL ${copy})) AS only_in_log`);
      } catch (error) {
        // A damaged file can have a readable footer and unreadable pages (a flipped byte in a string, say).
        return { rows: 0, onlyInCopy: 0, onlyInLog: 0, schemaProblem: `cannot be read as Parquet (${(error as Error).message.split('\n')[0]})` };
      }
      return { rows: Number(counts!.rows), onlyInCopy: Number(counts!.only_in_copy), onlyInLog: Number(counts!.only_in_log) };
    });
  }
}
