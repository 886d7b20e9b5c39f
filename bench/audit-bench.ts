/**
 * Audit-log figures: verify records/s (per core: CPU time) and DuckDB query time for one agent and
 * one day, over a generated log (scripts/generate-audit-log.ts).
 *
 *   npx tsx bench/audit-bench.ts [--dir PATH] [--records N]
 *
 * Without --dir, generates a log of N records (default 1,000,000) under .countersign/ first.
 */
import { join, resolve } from 'node:path';
import { existsSync, rmSync } from 'node:fs';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { hash } from 'node:crypto';
import { getIfExists, listKeys, PUBLIC_KEY_OBJECT } from '../shared/audit/digest-store.js';
import { AUDIT_PREFIX } from '../shared/audit/format.js';
import { openAuditQuery } from '../shared/audit/query.js';
import { renderSavedQuery, SAVED_QUERIES, savedQuery } from '../shared/audit/queries.js';
import { COLUMNAR_COLUMNS, compactClosedHours, listedByDigests, readManifests } from '../shared/audit/columnar.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { stat } from 'node:fs/promises';
import { verifyAuditLog } from '../shared/audit/verify.js';
import { MIN_OBJECTS_FOR_WORKERS, verifyWorkerCount } from '../shared/audit/verify-workers.js';
import { objectContent } from '../shared/audit/object.js';
import { DuckDbColumnarEngine } from '../shared/adapters/local/duckdb-columnar-engine.js';
import { HyparquetColumnarWriter } from '../shared/adapters/parquet/hyparquet-columnar-writer.js';
import { DEFAULT_GENERATED_DIR, generateAuditLog, isCurrentGeneratedLog } from '../scripts/generate-audit-log.js';

export interface VerifyBench {
  records: number;
  objects: number;
  wallSeconds: number;
  cpuSeconds: number;
  recordsPerSecond: number;
  recordsPerCpuSecond: number;
  ok: boolean;
  /** Parts of the columnar copy whose manifest and file hash verify checked too. */
  columnarParts: number;
  /** Worker threads that checked objects (0: the main thread alone); their CPU is in `cpuSeconds`. */
  workers: number;
}

export interface FloorBench {
  objects: number;
  bytes: number;
  wallSeconds: number;
  cpuSeconds: number;
}

/**
 * verify's floor: read each object through the same store, gunzip it and SHA-256 the uncompressed
 * bytes, nothing else. No verifier can do less per object; verify's CPU over this CPU is its overhead.
 */
export async function benchVerifyFloor(dir: string): Promise<FloorBench> {
  const sink = new LocalAuditSink(dir);
  const keys = await listKeys(sink, AUDIT_PREFIX);
  const cpu = process.cpuUsage();
  const started = performance.now();
  let bytes = 0;
  for (const key of keys) {
    const body = await sink.getObject(key);
    if (body === undefined) continue;
    // The same gunzip as verify's (one output chunk sized from the gzip trailer).
    const content = objectContent(body);
    bytes += content.length;
    hash('sha256', content, 'hex');
  }
  const used = process.cpuUsage(cpu);
  return { objects: keys.length, bytes, wallSeconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** verify over the log; `workers` as VerifyOptions takes it. CPU is the process's, worker threads included. */
export async function benchVerify(dir: string, columnar = false, workers = 0): Promise<VerifyBench> {
  const sink = new LocalAuditSink(dir);
  const pem = await getIfExists(sink, PUBLIC_KEY_OBJECT);
  if (pem === undefined) throw new Error(`${dir} has no ${PUBLIC_KEY_OBJECT}: generate the log with scripts/generate-audit-log.ts`);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const report = await verifyAuditLog({ sink, publicKeyPem: Buffer.from(pem).toString('utf8'), workers, ...(columnar ? { columnar: new DuckDbColumnarEngine() } : {}) });
  const wallSeconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { records: report.records, objects: report.objects, wallSeconds, cpuSeconds, recordsPerSecond: report.records / wallSeconds, recordsPerCpuSecond: report.records / cpuSeconds, ok: report.ok, columnarParts: report.columnar.parts, workers };
}

export interface QueryBench {
  name: string;
  rows: number;
  /** Median of the runs, each on a fresh engine (no cache between runs). */
  medianMs: number;
  runsMs: number[];
  /**
   * Median CPU time of the runs (this process, every thread: DuckDB's too). On a machine shared with other
   * work the wall time waits for cores; the CPU time is what the query itself costs.
   */
  medianCpuMs: number;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function benchQuery(dir: string, name: string, sql: string, columnar: boolean, runs = 3): Promise<QueryBench> {
  const times: number[] = [];
  const cpuTimes: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const engine = await openAuditQuery(dir, { columnar });
    rows = (await engine.run(sql)).rows.length;
    engine.close();
    times.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    cpuTimes.push((used.user + used.system) / 1000);
  }
  return { name, rows, medianMs: median(times), runsMs: times, medianCpuMs: median(cpuTimes) };
}

const DAY = { agent_id: 'agent-7', from: '2026-10-15 00:00:00', to: '2026-10-16 00:00:00' };

export function benchQueries(): Array<{ name: string; sql: string }> {
  return [
    { name: 'one agent, one day (plain SQL)', sql: `SELECT * FROM audit_events WHERE agent_id = 'agent-7' AND dt = '2026-10-15'` },
    { name: 'saved actions-by-agent, one day', sql: renderSavedQuery(savedQuery('actions-by-agent'), DAY) },
    { name: 'count(*) over the whole log', sql: 'SELECT count(*) FROM audit_events' },
  ];
}

export interface CompactionBench {
  parts: number;
  records: number;
  seconds: number;
  parquetBytes: number;
  ndjsonBytes: number;
}

/** Compacts every closed hour of the log not compacted yet (the first run over a generated log), timed. */
export async function benchCompaction(dir: string): Promise<CompactionBench> {
  const store = new LocalAuditSink(dir);
  const started = performance.now();
  const result = await compactClosedHours({ store, writer: new HyparquetColumnarWriter(), retainUntil: () => new Date('2030-01-01T00:00:00Z') }, await listedByDigests(store), new Date());
  const seconds = (performance.now() - started) / 1000;
  const manifests = await readManifests(store);
  const ndjsonBytes = await sizesOf(dir, (await listKeys(store, AUDIT_PREFIX)));
  return { parts: manifests.length, records: result.records, seconds, parquetBytes: manifests.reduce((n, m) => n + m.manifest.parquet.bytes, 0), ndjsonBytes };
}

async function sizesOf(dir: string, keys: readonly string[]): Promise<number> {
  let bytes = 0;
  for (const key of keys) bytes += (await stat(join(dir, ...key.split('/')))).size;
  return bytes;
}

export interface ScanBench {
  name: string;
  ndjsonBytes: number;
  parquetBytes: number;
}

/**
 * Bytes a saved query scans, modelled as Athena bills them: for NDJSON.gz every object of the
 * partitions the `dt` filter keeps (gzip is read whole, all columns); for Parquet the column chunks of
 * the columns the query names, in the files of those partitions, plus each file's footer; and for a
 * query pinned to one agent (`agent_id` given), only the row groups whose agent_id min/max admits it
 * (Athena documents that it reads or skips Parquet blocks by such statistics). DuckDB's parquet_metadata
 * gives the chunk sizes and statistics; the model is Athena's documented behaviour, not a measurement in
 * Athena (README, design notes).
 */
export async function benchBytesScanned(dir: string): Promise<ScanBench[]> {
  const store = new LocalAuditSink(dir);
  const objectKeys = await listKeys(store, AUDIT_PREFIX);
  const manifests = await readManifests(store);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const files = manifests.map((m) => join(dir, ...m.manifest.parquet.key.split('/')));
    const chunks = files.length === 0 ? [] : (await connection.runAndReadAll(`SELECT file_name, row_group_id, path_in_schema AS col, total_compressed_size AS bytes,
      stats_min_value AS min, stats_max_value AS max FROM parquet_metadata([${files.map((f) => `'${f}'`).join(', ')}])`)).getRowObjectsJson();
    const footers = new Map<string, number>();
    for (const file of files) {
      const size = (await stat(file)).size;
      const inChunks = chunks.filter((c) => c.file_name === file).reduce((n, c) => n + Number(c.bytes), 0);
      footers.set(file, Math.max(0, size - inChunks));
    }
    // Each row group's agent_id range, by file and group.
    const agentRange = new Map(chunks.filter((c) => c.col === 'agent_id').map((c) => [`${String(c.file_name)}#${String(c.row_group_id)}`, { min: c.min === null ? undefined : String(c.min), max: c.max === null ? undefined : String(c.max) }]));
    const dtOf = (key: string) => /dt=(\d{4}-\d{2}-\d{2})/.exec(key)?.[1] ?? '';
    const out: ScanBench[] = [];
    for (const query of SAVED_QUERIES) {
      const params: Record<string, string> = query.name === 'actions-by-agent' ? DAY : {};
      const sql = renderSavedQuery(query, params);
      // The partitions the `dt` filter keeps (queries without a time range read every one).
      const bound = (name: 'from' | 'to', open: string) => (query.params[name] === undefined ? open : (params[name] ?? query.params[name].default).slice(0, 10));
      const from = bound('from', '0000-00-00');
      const to = bound('to', '9999-99-99');
      const inRange = (key: string) => dtOf(key) >= from && dtOf(key) <= to;
      const agent = query.params.agent_id === undefined ? '' : (params.agent_id ?? query.params.agent_id.default);
      const groupAdmits = (file: string, group: unknown) => {
        if (agent === '') return true;
        const range = agentRange.get(`${file}#${String(group)}`);
        // A group with no statistics (or only nulls) is read: the model skips only what the statistics exclude.
        return range?.min === undefined || range.max === undefined || (range.min <= agent && agent <= range.max);
      };
      const named = new Set(COLUMNAR_COLUMNS.map((c) => c.name).filter((name) => new RegExp(`\\b${name}\\b`).test(sql)));
      const ndjsonBytes = await sizesOf(dir, objectKeys.filter(inRange));
      const parquetBytes = chunks.filter((c) => inRange(String(c.file_name)) && named.has(String(c.col).split('.')[0]!) && groupAdmits(String(c.file_name), c.row_group_id)).reduce((n, c) => n + Number(c.bytes), 0)
        + files.filter(inRange).reduce((n, f) => n + footers.get(f)!, 0);
      out.push({ name: query.name, ndjsonBytes, parquetBytes });
    }
    return out;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Verify and query figures over a generated log (1M records by default, or `--dir` / `--records`); `npm run bench` calls it too. */
export async function printAuditBench(argv: string[] = []): Promise<void> {
  let dir = flag(argv, '--dir');
  if (dir === undefined) {
    const records = Number(flag(argv, '--records') ?? 1_000_000);
    // The generated log is kept for the next run, one folder per size.
    dir = resolve(records === 1_000_000 ? `${DEFAULT_GENERATED_DIR}-bench` : `${DEFAULT_GENERATED_DIR}-bench-${records}`);
    if (!isCurrentGeneratedLog(dir)) {
      if (existsSync(dir)) {
        console.log(`audit: ${dir} was made by an older generator (no request numbers); making it again`);
        rmSync(dir, { recursive: true, force: true });
      }
      await generateAuditLog({ records, dir, days: 30, perObject: 1000, agents: 50, shards: 4, start: new Date('2026-10-01T00:00:00Z') });
    }
  }
  // The floor first and last, verify between: the ratio uses the mean, so a load that shifts during the run shows in both.
  // verify runs twice: on the main thread alone, and with the worker threads it uses by default on a
  // large log (one fewer than the cores, at least one here so the path is measured).
  const floorBefore = await benchVerifyFloor(resolve(dir));
  const single = await benchVerify(resolve(dir));
  const pooled = await benchVerify(resolve(dir), false, Math.max(1, verifyWorkerCount(undefined, MIN_OBJECTS_FOR_WORKERS)));
  const floorAfter = await benchVerifyFloor(resolve(dir));
  const floorCpu = (floorBefore.cpuSeconds + floorAfter.cpuSeconds) / 2;
  const verify = single;
  console.log(`audit verify: ${verify.records.toLocaleString('en-US')} records in ${verify.objects} objects${verify.columnarParts > 0 ? ` (with the manifests and file hashes of ${verify.columnarParts} Parquet parts, which the floor does not read)` : ''}; per core = records / CPU seconds of the whole process, worker threads included`);
  console.log(`  floor (read + gunzip + SHA-256 of the same ${floorBefore.objects} objects, ${(floorBefore.bytes / 1e6).toFixed(0)} MB): ${floorCpu.toFixed(2)} s CPU = ${Math.round(verify.records / floorCpu).toLocaleString('en-US')} records/s per core`);
  for (const run of [single, pooled]) {
    const ratio = run.cpuSeconds / floorCpu;
    console.log(`  ${run.workers === 0 ? 'main thread alone' : `${run.workers} worker thread${run.workers === 1 ? '' : 's'}`}: ${run.wallSeconds.toFixed(1)} s wall, ${run.cpuSeconds.toFixed(1)} s CPU   ${Math.round(run.recordsPerSecond).toLocaleString('en-US')} records/s wall   ${Math.round(run.recordsPerCpuSecond).toLocaleString('en-US')} records/s per core (CPU)   target >= 200,000/s per core: ${run.recordsPerCpuSecond >= 200_000 ? 'met' : 'NOT met'}   verify / floor ${ratio.toFixed(2)}x   target <= 4x: ${ratio <= 4 ? 'met' : 'NOT met'}   ${run.ok ? 'log whole' : 'LOG NOT WHOLE'}`);
  }
  const compaction = await benchCompaction(resolve(dir));
  // The generated log is kept between runs: its first run compacts it, later runs find it compacted.
  const compacted = compaction.records > 0 ? `${compaction.records.toLocaleString('en-US')} records compacted now in ${compaction.seconds.toFixed(1)} s (${Math.round(compaction.records / compaction.seconds).toLocaleString('en-US')} records/s)` : 'compacted by an earlier run';
  console.log(`audit columnar copy: ${compaction.parts} daily Parquet files, ${compacted}`);
  console.log(`  Parquet ${(compaction.parquetBytes / 1e6).toFixed(1)} MB vs NDJSON.gz ${(compaction.ndjsonBytes / 1e6).toFixed(1)} MB (${(compaction.parquetBytes / compaction.ndjsonBytes).toFixed(2)}x)`);
  for (const query of benchQueries()) {
    const before = await benchQuery(resolve(dir), query.name, query.sql, false);
    const after = await benchQuery(resolve(dir), query.name, query.sql, true);
    console.log(`audit query ${query.name}: ${after.rows} rows   NDJSON median ${before.medianMs.toFixed(0)} ms   Parquet median ${after.medianMs.toFixed(0)} ms (runs ${after.runsMs.map((t) => t.toFixed(0)).join(', ')}; CPU ${after.medianCpuMs.toFixed(0)} ms, NDJSON's ${before.medianCpuMs.toFixed(0)} ms)   ${(before.medianMs / after.medianMs).toFixed(1)}x faster   target <= 1000 ms over 10M records: ${after.medianMs <= 1000 ? 'met here' : 'NOT met'} (${verify.records.toLocaleString('en-US')} records)`);
  }
  // Every saved query over the copy at this size (the NDJSON medians above are the "before" of three of them).
  console.log(`audit saved queries over the columnar copy (${verify.records.toLocaleString('en-US')} records; actions-by-agent for one agent and one day, the others with their defaults: the whole log):`);
  for (const query of SAVED_QUERIES) {
    const after = await benchQuery(resolve(dir), query.name, renderSavedQuery(query, query.name === 'actions-by-agent' ? DAY : {}), true);
    console.log(`  ${query.name.padEnd(26)} ${String(after.rows).padStart(6)} rows   median ${after.medianMs.toFixed(0).padStart(5)} ms (runs ${after.runsMs.map((t) => t.toFixed(0)).join(', ')}; CPU ${after.medianCpuMs.toFixed(0)} ms)   <= 1000 ms: ${after.medianMs <= 1000 ? 'met here' : 'NOT met'}`);
  }
  console.log('audit bytes scanned per saved query (Athena model: whole gzip objects vs the named columns\' Parquet chunks in the row groups the agent_id statistics admit), before -> after:');
  for (const scan of await benchBytesScanned(resolve(dir))) {
    console.log(`  ${scan.name.padEnd(24)} ${(scan.ndjsonBytes / 1e6).toFixed(1).padStart(8)} MB -> ${(scan.parquetBytes / 1e6).toFixed(1).padStart(7)} MB  (${(scan.ndjsonBytes / Math.max(1, scan.parquetBytes)).toFixed(0)}x less)`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  await printAuditBench(process.argv.slice(2));
}
