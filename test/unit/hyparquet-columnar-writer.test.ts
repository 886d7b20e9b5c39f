import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { generatedRecord } from '../../scripts/generate-audit-log.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { DuckDbColumnarEngine } from '../../shared/adapters/local/duckdb-columnar-engine.js';
import { HyparquetColumnarWriter, ROW_GROUP_ROWS } from '../../shared/adapters/parquet/hyparquet-columnar-writer.js';
import type { ColumnarSource } from '../../shared/ports/columnar.js';

// A day's part of 25,000 records from 7 agents over 25 objects: the file's rows are sorted by agent
// and time in row groups of at most ROW_GROUP_ROWS, so the groups' agent_id statistics let a reader
// skip every group but the one or two that hold an agent (what a one-agent query in DuckDB or Athena
// skips by), and the rows are still exactly the sources' records.
const RECORDS = 25_000;
const AGENTS = 7;
const DAY = new Date('2026-10-15T00:00:00Z');
let dir: string;
let file: string;
let sources: ColumnarSource[];
let parquet: Uint8Array;

async function all(sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hyparquet-columnar-writer-'));
  const writer = new FixtureLogWriter(new LocalAuditSink(dir), undefined, 1, false);
  sources = [];
  for (let object = 0; object < RECORDS / 1000; object++) {
    const hour = new Date(DAY.getTime() + object * 3_600_000 * 0.9);
    const first = object * 1000;
    const fields = Array.from({ length: 1000 }, (_, k) => generatedRecord(first + k, new Date(hour.getTime() + k * 1000), AGENTS));
    const { key, body } = writer.batch(`shard-${object % 3}`, new Date(Math.floor(hour.getTime() / 3_600_000) * 3_600_000), fields);
    sources.push({ key, body });
  }
  parquet = await new HyparquetColumnarWriter().toParquet(sources);
  file = join(dir, 'part.parquet');
  await writeFile(file, parquet);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('HyparquetColumnarWriter', () => {
  it('writes row groups of at most ROW_GROUP_ROWS rows whose agent_id ranges do not overlap, one agent in at most two', async () => {
    const groups = await all(`SELECT row_group_id, any_value(row_group_num_rows) AS rows, any_value(stats_min_value) AS min, any_value(stats_max_value) AS max
      FROM parquet_metadata('${file}') WHERE path_in_schema = 'agent_id' GROUP BY row_group_id ORDER BY row_group_id`);
    expect(groups).toHaveLength(Math.ceil(RECORDS / ROW_GROUP_ROWS));
    expect(groups.every((g) => Number(g.rows) <= ROW_GROUP_ROWS)).toBe(true);
    for (let i = 1; i < groups.length; i++) expect(String(groups[i - 1]!.max) <= String(groups[i]!.min)).toBe(true);
    for (let agent = 0; agent < AGENTS; agent++) {
      const holding = groups.filter((g) => String(g.min) <= `agent-${agent}` && `agent-${agent}` <= String(g.max));
      expect(holding.length, `agent-${agent}`).toBeGreaterThanOrEqual(1);
      expect(holding.length, `agent-${agent}`).toBeLessThanOrEqual(2);
    }
  });

  it('orders rows by agent, then time', async () => {
    const [order] = await all(`SELECT count(*) AS out_of_order FROM (
      SELECT agent_id, occurred_at, lag(agent_id) OVER w AS prev_agent, lag(occurred_at) OVER w AS prev_time
      FROM read_parquet('${file}', file_row_number = true) WINDOW w AS (ORDER BY file_row_number))
      WHERE prev_agent > agent_id OR (prev_agent = agent_id AND prev_time > occurred_at)`);
    expect(Number(order!.out_of_order)).toBe(0);
  });

  it('holds exactly the sources\' records, and the same sources give the same bytes', async () => {
    expect(await new DuckDbColumnarEngine().compare(parquet, sources)).toEqual({ rows: RECORDS, onlyInCopy: 0, onlyInLog: 0 });
    expect(Buffer.from(await new HyparquetColumnarWriter().toParquet(sources)).equals(Buffer.from(parquet))).toBe(true);
  });
});
