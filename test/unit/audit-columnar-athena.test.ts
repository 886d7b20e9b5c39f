import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseRecord, fixtureObject } from '../../bench/audit-log-fixture.js';
import { generateAuditLog, generatedRecord } from '../../scripts/generate-audit-log.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { ColumnarWriteError, HyparquetColumnarWriter } from '../../shared/adapters/parquet/hyparquet-columnar-writer.js';
import { compactClosedHours, listedByDigests } from '../../shared/audit/columnar.js';
import { openAuditQuery } from '../../shared/audit/query.js';
import { COLUMNAR_TABLE_NAME, renderSavedQuery, SAVED_QUERIES, withColumnarCopy } from '../../shared/audit/queries.js';

// The saved queries as the stack ships them to Athena (withColumnarCopy: Parquet for the days before the
// latest compacted one, NDJSON for the rest) run here in DuckDB over the same two tables Glue defines,
// against a generated log; each must answer exactly as the plain query over NDJSON only.
const START = new Date('2026-10-01T00:00:00Z');
const DAYS = ['2026-10-01', '2026-10-02', '2026-10-03'];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-columnar-athena-'));
  await generateAuditLog({ records: 3_000, dir, days: DAYS.length, perObject: 40, agents: 3, shards: 2, start: START });
  const sink = new LocalAuditSink(dir);
  const result = await compactClosedHours({ store: sink, writer: new HyparquetColumnarWriter(), retainUntil: () => new Date('2030-01-01T00:00:00Z') }, await listedByDigests(sink), new Date('2026-10-04T02:00:00Z'));
  expect(result.records).toBe(3_000);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Values that match the generated log (each saved query's defaults name an agent and action it does not hold). */
const VALUES: Record<string, string> = { agent_id: 'agent-1', action_id: 'act-7', reviewer_id: 'reviewer-3' };

/** The saved queries the generated log gives rows to. */
const ANSWERED = ['actions-by-agent', 'who-approved', 'denied-rejected-expired', 'votes-per-reviewer'];

async function engines() {
  const ndjson = await openAuditQuery(dir, { columnar: false });
  const athena = await openAuditQuery(dir, { columnar: false });
  // What the Glue table audit_events_columnar is: every part's Parquet file, dt from the path.
  await athena.run(`CREATE VIEW ${COLUMNAR_TABLE_NAME} AS SELECT * FROM read_parquet('${join(dir, 'columnar', 'dt=*', 'part-*.parquet')}', hive_partitioning = true, hive_types = {'dt': 'VARCHAR'})`);
  return { ndjson, athena };
}

describe('the Athena saved queries over the columnar copy', () => {
  it('read Parquet for the days before the latest compacted day and NDJSON for that day, with every record once', async () => {
    const { ndjson, athena } = await engines();
    try {
      const sql = withColumnarCopy('SELECT dt, count(*) AS n FROM audit_events GROUP BY dt ORDER BY dt');
      const parquetDays = (await athena.run(`SELECT DISTINCT dt FROM ${COLUMNAR_TABLE_NAME} ORDER BY dt`)).rows.map((r) => r.dt);
      expect(parquetDays).toEqual(DAYS);
      expect((await athena.run(sql)).rows).toEqual((await ndjson.run('SELECT dt, count(*) AS n FROM audit_events GROUP BY dt ORDER BY dt')).rows);
      expect((await athena.run(sql)).rows.map((r) => Number(r.n)).reduce((a, b) => a + b, 0)).toBe(3_000);
    } finally {
      ndjson.close();
      athena.close();
    }
  });

  it.each(SAVED_QUERIES.map((q) => [q.name, q] as const))('%s answers as it does over NDJSON alone', async (_name, query) => {
    const values = Object.fromEntries(Object.keys(query.params).filter((p) => p in VALUES).map((p) => [p, VALUES[p]!]));
    const plain = renderSavedQuery(query, values);
    const { ndjson, athena } = await engines();
    try {
      const expected = await ndjson.run(plain);
      const actual = await athena.run(withColumnarCopy(plain));
      expect(actual.columns).toEqual(expected.columns);
      expect(actual.rows).toEqual(expected.rows);
      // The generated log has no executions or refused votes: those queries answer empty on both sides.
      if (ANSWERED.includes(query.name)) expect(expected.rows.length).toBeGreaterThan(0);
    } finally {
      ndjson.close();
      athena.close();
    }
  });

  it('every saved query reads the log through the union (none escapes the rewrite)', () => {
    for (const query of SAVED_QUERIES) expect(withColumnarCopy(renderSavedQuery(query))).not.toMatch(/FROM audit_events\b(?! WHERE dt >=)/);
  });
});

describe('the pure-JS Parquet writer', () => {
  const hour = new Date('2026-10-01T05:00:00Z');
  const object = fixtureObject(Array.from({ length: 20 }, (_, i) => baseRecord(generatedRecord(i, hour, 2), 's', String(i + 1), '')), hour);

  it('writes the same bytes for the same objects (the Lambda and the local stack make identical files)', async () => {
    const writer = new HyparquetColumnarWriter();
    const a = await writer.toParquet([{ key: object.key, body: object.body }]);
    const b = await new HyparquetColumnarWriter().toParquet([{ key: object.key, body: object.body }]);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a.subarray(0, 4)).toString()).toBe('PAR1');
  });

  it('refuses a record whose value does not fit its column, naming the object, record and column', async () => {
    const bad = fixtureObject([{ ...baseRecord(generatedRecord(0, hour, 2), 's', '1', ''), request_seq: 'seven' as never }], hour);
    const error = await new HyparquetColumnarWriter().toParquet([{ key: bad.key, body: bad.body }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ColumnarWriteError);
    expect((error as Error).message).toContain(`${bad.key} record 1, column request_seq, is "seven", not an integer`);
  });
});
