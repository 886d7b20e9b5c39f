/**
 * Audit-log figures: verify records/s (per core: CPU time) and DuckDB query time for one agent and
 * one day, over a generated log (scripts/generate-audit-log.ts).
 *
 *   npx tsx bench/audit-bench.ts [--dir PATH] [--records N]
 *
 * Without --dir, generates a log of N records (default 1,000,000) under .countersign/ first.
 */
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { hash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { getIfExists, listKeys, PUBLIC_KEY_OBJECT } from '../shared/audit/digest-store.js';
import { AUDIT_PREFIX } from '../shared/audit/format.js';
import { openAuditQuery } from '../shared/audit/query.js';
import { renderSavedQuery, savedQuery } from '../shared/audit/queries.js';
import { verifyAuditLog } from '../shared/audit/verify.js';
import { DuckDbColumnarEngine } from '../shared/adapters/local/duckdb-columnar-engine.js';
import { DEFAULT_GENERATED_DIR, generateAuditLog } from '../scripts/generate-audit-log.js';

export interface VerifyBench {
  records: number;
  objects: number;
  wallSeconds: number;
  cpuSeconds: number;
  recordsPerSecond: number;
  recordsPerCpuSecond: number;
  ok: boolean;
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
    const content = gunzipSync(body);
    bytes += content.length;
    hash('sha256', content, 'hex');
  }
  const used = process.cpuUsage(cpu);
  return { objects: keys.length, bytes, wallSeconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

export async function benchVerify(dir: string, columnar = false): Promise<VerifyBench> {
  const sink = new LocalAuditSink(dir);
  const pem = await getIfExists(sink, PUBLIC_KEY_OBJECT);
  if (pem === undefined) throw new Error(`${dir} has no ${PUBLIC_KEY_OBJECT}: generate the log with scripts/generate-audit-log.ts`);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const report = await verifyAuditLog({ sink, publicKeyPem: Buffer.from(pem).toString('utf8'), ...(columnar ? { columnar: new DuckDbColumnarEngine() } : {}) });
  const wallSeconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { records: report.records, objects: report.objects, wallSeconds, cpuSeconds, recordsPerSecond: report.records / wallSeconds, recordsPerCpuSecond: report.records / cpuSeconds, ok: report.ok };
}

export interface QueryBench {
  name: string;
  rows: number;
  /** Median of the runs, each on a fresh engine (no cache between runs). */
  medianMs: number;
  runsMs: number[];
}

export async function benchQuery(dir: string, name: string, sql: string, runs = 3): Promise<QueryBench> {
  const times: number[] = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const engine = await openAuditQuery(dir);
    rows = (await engine.run(sql)).rows.length;
    engine.close();
    times.push(performance.now() - started);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { name, rows, medianMs: sorted[Math.floor(sorted.length / 2)]!, runsMs: times };
}

export async function benchAuditQueries(dir: string): Promise<QueryBench[]> {
  const day = { agent_id: 'agent-7', from: '2026-10-15 00:00:00', to: '2026-10-16 00:00:00' };
  return [
    await benchQuery(dir, 'one agent, one day (plain SQL)', `SELECT * FROM audit_events WHERE agent_id = 'agent-7' AND dt = '2026-10-15'`),
    await benchQuery(dir, 'saved actions-by-agent, one day', renderSavedQuery(savedQuery('actions-by-agent'), day)),
    await benchQuery(dir, 'count(*) over the whole log', 'SELECT count(*) FROM audit_events'),
  ];
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
    if (!existsSync(dir)) await generateAuditLog({ records, dir, days: 30, perObject: 1000, agents: 50, shards: 4, start: new Date('2026-10-01T00:00:00Z') });
  }
  // The floor first and last, verify between: the ratio uses the mean, so a load that shifts during the run shows in both.
  const floorBefore = await benchVerifyFloor(resolve(dir));
  const verify = await benchVerify(resolve(dir));
  const floorAfter = await benchVerifyFloor(resolve(dir));
  const floorCpu = (floorBefore.cpuSeconds + floorAfter.cpuSeconds) / 2;
  const ratio = verify.cpuSeconds / floorCpu;
  console.log(`audit verify: ${verify.records.toLocaleString('en-US')} records in ${verify.objects} objects, ${verify.wallSeconds.toFixed(1)} s wall, ${verify.cpuSeconds.toFixed(1)} s CPU`);
  console.log(`  ${Math.round(verify.recordsPerSecond).toLocaleString('en-US')} records/s wall   ${Math.round(verify.recordsPerCpuSecond).toLocaleString('en-US')} records/s per core (CPU)   target >= 200,000/s per core: ${verify.recordsPerCpuSecond >= 200_000 ? 'met' : 'NOT met'}   ${verify.ok ? 'log whole' : 'LOG NOT WHOLE'}`);
  console.log(`  floor (read + gunzip + SHA-256 of the same ${floorBefore.objects} objects, ${(floorBefore.bytes / 1e6).toFixed(0)} MB): ${floorCpu.toFixed(2)} s CPU = ${Math.round(verify.records / floorCpu).toLocaleString('en-US')} records/s per core   verify / floor ${ratio.toFixed(2)}x   target <= 4x: ${ratio <= 4 ? 'met' : 'NOT met'}`);
  for (const q of await benchAuditQueries(resolve(dir))) {
    console.log(`audit query ${q.name}: ${q.rows} rows, median ${q.medianMs.toFixed(0)} ms (runs ${q.runsMs.map((t) => t.toFixed(0)).join(', ')})${q.name.startsWith('one agent') ? `   target <= 1000 ms: ${q.medianMs <= 1000 ? 'met' : 'NOT met'}` : ''}`);
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  await printAuditBench(process.argv.slice(2));
}
