import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { DuckDbColumnarEngine } from '../../shared/adapters/local/duckdb-columnar-engine.js';
import { HyparquetColumnarWriter } from '../../shared/adapters/parquet/hyparquet-columnar-writer.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { columnarPartKeys, compactClosedHours, listedByDigests, readManifests, type ColumnarManifest } from '../../shared/audit/columnar.js';
import { writeDigestsUpTo } from '../../shared/audit/digest.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { defineAuditEvents, openAuditQuery } from '../../shared/audit/query.js';
import { verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';

// Real parts: the local bucket directory, real Parquet written and read by DuckDB, signed digests.
const H10 = new Date('2026-11-20T10:00:00Z');
const H11 = new Date('2026-11-20T11:00:00Z');
const NOW = new Date('2026-11-20T13:05:00Z');
const engine = new DuckDbColumnarEngine();

let dir: string;
let sink: LocalAuditSink;
let signer: Ed25519Signer;
let publicKeyPem: string;
let writer: FixtureLogWriter;

const events = (prefix: string, n: number, agent: string) => Array.from({ length: n }, (_, i) => ({
  event_id: `${prefix}/${i}`, agent_id: agent, action_id: prefix, occurred_at: '2026-11-20T10:15:00.000Z', policy_ids: i % 2 === 0 ? ['p1', 'p2'] : [],
  comment: i === 1 ? 'a "quoted" comment\nwith a newline, é and 😀' : null,
}));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-columnar-'));
  sink = new LocalAuditSink(dir);
  signer = Ed25519Signer.generate();
  publicKeyPem = await signer.publicKeyPem();
  writer = new FixtureLogWriter(sink);
  await writer.write('shard-a', H10, events('a1', 5, 'agent-a'));
  await writer.write('shard-b', H10, events('b1', 3, 'agent-b'));
  await writer.write('shard-a', H11, events('a2', 4, 'agent-a'));
  await writeDigestsUpTo(NOW, { sink, signer });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pathOf = (key: string) => join(dir, ...key.split('/'));
const deps = () => ({ store: sink, writer: new HyparquetColumnarWriter(), retainUntil: () => new Date('2030-01-01T00:00:00Z') });
const compact = async (now = NOW) => compactClosedHours(deps(), await listedByDigests(sink), now);
const verify = () => verifyAuditLog({ sink, publicKeyPem, now: NOW, columnar: engine });
const kinds = (report: VerifyReport) => [...new Set(report.problems.map((p) => p.kind))].sort();
const DAY = '2026-11-20';
const part1 = columnarPartKeys(DAY, 1);

async function query(sql: string, columnar = true) {
  const q = await openAuditQuery(dir, { columnar });
  try {
    return (await q.run(sql)).rows;
  } finally {
    q.close();
  }
}

/** Rewrites the hour-10 Parquet file through DuckDB with `change` applied (SQL over the rows), keeping the manifest. */
async function rewriteParquet(select: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const file = pathOf(part1.parquet);
  const out = `${file}.new`;
  await connection.run(`COPY (${select.replaceAll('$FILE', `read_parquet('${file}', hive_partitioning = false)`)}) TO '${out}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  await writeFile(file, await readFile(out));
  await rm(out);
}

describe('the columnar copy of closed hours', () => {
  it('compacts the closed hours of a day into one Parquet file whose manifest names its sources, and verify proves it is the log', async () => {
    const result = await compact();
    expect(result).toMatchObject({ written: [part1.parquet], refused: [], records: 12 });
    const [first] = await readManifests(sink);
    const objects = writer.objects;
    expect(first!.manifest).toMatchObject({
      day: DAY, records: 12, parquet: { key: part1.parquet },
      sources: objects.map((o) => ({ key: o.key, sha256: createHash('sha256').update(o.content).digest('hex'), records: o.records.length })).sort((a, b) => (a.key < b.key ? -1 : 1)),
    });
    const report = await verify();
    expect(report.problems).toEqual([]);
    expect(report.columnar).toEqual({ parts: 1, records: 12, rowsCompared: true });
    // A second run finds nothing new to copy.
    expect((await compact()).written).toEqual([]);
  });

  it('leaves an hour that is not closed (an object no digest lists yet) as NDJSON', async () => {
    const late = await writer.write('shard-a', new Date('2026-11-20T12:00:00Z'), events('a3', 2, 'agent-a'));
    expect((await compact()).records).toBe(12);
    expect((await readManifests(sink)).flatMap((m) => m.manifest.sources.map((source) => source.key))).not.toContain(late.key);
  });

  it('queries read the Parquet copy where it exists and NDJSON for the rest, with the same answers', async () => {
    const sql = `SELECT agent_id, dt, hour, count(*) AS n, count(comment) AS comments, sum(length(policy_ids)) AS policies, min(occurred_at) AS first FROM audit_events GROUP BY ALL ORDER BY ALL`;
    const before = await query(sql);
    await compact();
    // A late object reaches hour 10 after it was compacted: read as NDJSON until a second part holds it.
    await writer.write('shard-c', H10, events('c1', 2, 'agent-c'));
    await writeDigestsUpTo(new Date('2026-11-20T14:05:00Z'), { sink, signer });
    const expected = [...before, { agent_id: 'agent-c', dt: '2026-11-20', hour: '10', n: '2', comments: '1', policies: '2', first: '2026-11-20 10:15:00' }]
      .sort((a, b) => (String(a.agent_id) + String(a.hour) < String(b.agent_id) + String(b.hour) ? -1 : 1));
    expect(await query(sql)).toEqual(expected);
    expect(await query(sql, false)).toEqual(expected);
    const second = await compact(new Date('2026-11-20T14:05:00Z'));
    expect(second.written).toEqual([columnarPartKeys(DAY, 2).parquet]);
    expect(await query(sql)).toEqual(expected);
    // The rows read from Parquet are the records, byte for byte in every column.
    const rows = `SELECT * FROM audit_events ORDER BY hash`;
    expect(await query(rows)).toEqual(await query(rows, false));
    // The local audit page and API name the object that holds each record: the same from Parquet.
    const keyed = async (columnar: boolean) => {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      await defineAuditEvents(connection, dir, { objectKeys: true, columnar });
      const rows = (await connection.runAndReadAll('SELECT event_id, object_key FROM audit_events ORDER BY event_id')).getRowObjectsJson();
      connection.closeSync();
      instance.closeSync();
      return rows;
    };
    expect(await keyed(true)).toEqual(await keyed(false));
    expect((await keyed(true)).find((row) => row.event_id === 'a1/0')).toEqual({ event_id: 'a1/0', object_key: writer.objects[0]!.key });
    expect((await query(`SELECT comment FROM audit_events WHERE event_id = 'a1/1'`))[0]!.comment).toBe('a "quoted" comment\nwith a newline, é and 😀');
  });

  it('with a copy, reads as NDJSON only the objects no part holds: not version stores, not dot folders, and a late object in every hour folder it may land in', async () => {
    await compact();
    // A later version of a compacted object (S3 keeps both; queries read the log's first) and a copy in a dot folder.
    await sink.putObjectVersion(writer.objects[0]!.key, writer.objects[1]!.body);
    const dotted = pathOf(`audit/.trash/dt=${DAY}/hour=10/shard=shard-a/x.ndjson.gz`);
    await mkdir(dirname(dotted), { recursive: true });
    await writeFile(dotted, writer.objects[1]!.body);
    // Late objects, each in its own hour and shard folder, none in a part yet.
    await writer.write('shard-z', new Date('2026-11-20T12:00:00Z'), events('z1', 2, 'agent-z'));
    await writer.write('shard-y', new Date('2026-11-21T03:00:00Z'), events('y1', 3, 'agent-y'));
    expect(await query('SELECT agent_id, count(*) AS n FROM audit_events GROUP BY ALL ORDER BY ALL')).toEqual([
      { agent_id: 'agent-a', n: '9' }, { agent_id: 'agent-b', n: '3' }, { agent_id: 'agent-y', n: '3' }, { agent_id: 'agent-z', n: '2' },
    ]);
  });
});

describe('verify finds a columnar copy that is not the log', () => {
  beforeEach(async () => {
    await compact();
  });

  it('a Parquet file with a row dropped', async () => {
    await rewriteParquet(`SELECT * FROM $FILE WHERE event_id <> 'a1/2'`);
    const report = await verify();
    expect(kinds(report)).toEqual(['columnar-count', 'columnar-hash', 'columnar-rows']);
    expect(report.problems.find((p) => p.kind === 'columnar-count')!.message).toBe(`${part1.parquet} holds 11 rows; its sources hold 12 records: rows were dropped`);
  });

  it('a Parquet file with a row changed (hash column kept)', async () => {
    await rewriteParquet(`SELECT * REPLACE (CASE WHEN event_id = 'a1/2' THEN 'agent-evil' ELSE agent_id END AS agent_id) FROM $FILE`);
    const report = await verify();
    expect(kinds(report)).toEqual(['columnar-hash', 'columnar-rows']);
    expect(report.problems.find((p) => p.kind === 'columnar-rows')!.message).toContain('1 row(s) are no record of the log and 1 record(s) of its sources are not in it');
  });

  it('a byte of the Parquet file flipped', async () => {
    const bytes = await readFile(pathOf(part1.parquet));
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 1;
    await writeFile(pathOf(part1.parquet), bytes);
    expect(kinds(await verify())).toContain('columnar-hash');
  });

  it('a manifest that does not match: a source hash, a record count, a source no digest lists', async () => {
    const manifest = JSON.parse(await readFile(pathOf(part1.manifest), 'utf8')) as ColumnarManifest;
    manifest.sources[0]!.sha256 = 'ab'.repeat(32);
    manifest.records += 2;
    manifest.sources.push({ key: 'audit/dt=2026-11-20/hour=10/shard=evil/0000000000000000000000000000000000000001-0000000000000000000000000000000000000001.ndjson.gz', sha256: 'cd'.repeat(32), records: 1 });
    await writeFile(pathOf(part1.manifest), JSON.stringify(manifest));
    const report = await verify();
    expect(kinds(report)).toEqual(['columnar-count', 'columnar-source']);
    const messages = report.problems.map((p) => p.message);
    expect(messages.some((m) => m.includes('the copy was not made from the signed object'))).toBe(true);
    expect(messages.some((m) => m.includes('which no digest lists'))).toBe(true);
  });

  it('a manifest that points at a file outside its own place: queries ignore it, verify names it', async () => {
    const sources = writer.objects.map((o) => ({ key: o.key, sha256: createHash('sha256').update(o.content).digest('hex'), records: o.records.length }));
    const forged = { format: 'countersign-audit-columnar/1', day: '2026-11-21', parquet: { key: 'columnar/dt=2026-11-21/../../outside.parquet', sha256: 'ab'.repeat(32), bytes: 1 }, records: 12, columns: [], sources, createdAt: NOW.toISOString() };
    await sink.putObject('columnar/dt=2026-11-21/_part-001.manifest.json', Buffer.from(JSON.stringify(forged)), { sha256OfUncompressed: 'x', retainUntil: NOW });
    // A real Parquet file is there: were the forged manifest followed, every row would be counted twice.
    await writeFile(join(dir, 'outside.parquet'), await readFile(pathOf(part1.parquet)));
    expect((await query('SELECT count(*) AS n FROM audit_events'))[0]!.n).toBe('12');
    const report = await verify();
    expect(report.problems.map((p) => [p.kind, p.objectKey])).toEqual([['columnar-manifest', 'columnar/dt=2026-11-21/_part-001.manifest.json']]);
  });

  it('a Parquet file without a manifest, and a stray file under columnar/', async () => {
    await sink.putObject('columnar/dt=2026-11-20/hour=12/part-001.parquet', new Uint8Array([1, 2, 3]), { sha256OfUncompressed: 'x', retainUntil: NOW });
    await sink.putObject('columnar/notes.txt', new Uint8Array([1]), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const report = await verify();
    expect(report.problems.map((p) => [p.kind, p.objectKey])).toEqual([
      ['columnar-extra', 'columnar/dt=2026-11-20/hour=12/part-001.parquet'],
      ['columnar-extra', 'columnar/notes.txt'],
    ]);
  });
});
