import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CallMeter, type MeteredCalls } from '../local/call-meter.js';
import { startLocalStack, type LocalStack } from '../local/local-stack.js';
import { silentLogger } from '../local/log.js';
import { benchApprovals } from './approval-bench.js';
import { benchRequestDetail } from './bench-request.js';
import { benchDirectoryFile } from './bench-stack.js';
import { marshall } from '@aws-sdk/util-dynamodb';
import { marshallOptions, toItem } from '../shared/adapters/aws/dynamo-decision-store.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { writeAuditBatch, type AuditStreamRecord } from '../shared/audit/writer.js';
import { decideRequest } from '../shared/domain/intake.js';
import { decidedEventItem } from '../shared/domain/request-items.js';
import type { ChainHead, ChainStore } from '../shared/ports/audit.js';
import type { PolicyEngine } from '../shared/ports/index.js';
import { cpuStretch, formatLineItems, FUNCTION_MEMORY_MB, priceCalls, PRICES, totalDollars, type LineItem } from './cost-model.js';
import { measureEvaluateActionCpu, type HandlerCpu } from './handler-cpu.js';
import { benchLocalStack } from './local-stack-bench.js';

/**
 * What an auto-decided action and an approval cost in AWS: each scenario runs on a local stack whose
 * emulators count every billable call (local/call-meter.ts), and the counts are priced at list prices
 * (bench/cost-model.ts). Its own process and stack: the metering hop in front of DynamoDB Local must
 * not sit in the latency figures of the other parts of `npm run bench`.
 */

export interface ScenarioCost {
  runs: number;
  calls: MeteredCalls;
  items: LineItem[];
  /** Dollars per run. */
  total: number;
  /** Per invocation, the local stack's process CPU of the functions whose own CPU was measured apart. */
  processCpuMs: Record<string, number>;
}

export interface CostBenchResult {
  autoDecided: ScenarioCost;
  approvals: ScenarioCost;
  /** The audit writer's own CPU per record in a full batch (`auditWriterMsPerRecord`). */
  writerMsPerRecord?: number;
  /** evaluate-action's own CPU per invocation, in a process of its own (handler-cpu.ts). */
  evaluateCpu?: HandlerCpu;
}

/** A policy that allows the bench's request (bench-request.ts) with a validity. */
const ALLOW: PolicyEngine = { decide: () => ({ kind: 'allow', policyIds: ['db.query.any'], reason: 'permitted by db.query.any', validity: { validFor: 'PT15M', validForSeconds: 900 } }) };

/** Audit objects written under the bucket directory: key → bytes. */
function objectsIn(dir: string | undefined): Map<string, number> {
  const objects = new Map<string, number>();
  if (dir === undefined) return objects;
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) objects.set(path, statSync(path).size);
    }
  };
  walk(dir);
  return objects;
}

/** Resolves once nothing was metered for `quietMs` (the stream poller has written the scenario's audit records). */
function settled(meter: CallMeter, quietMs = 1_500): Promise<void> {
  return new Promise((resolve) => {
    let timer = setTimeout(done, quietMs);
    const stop = meter.onChange(() => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    });
    function done() {
      stop();
      resolve();
    }
  });
}

/** Resolves once `check` holds for what the meter has counted. */
function until(meter: CallMeter, check: (calls: MeteredCalls) => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (check(meter.snapshot())) return resolve();
    const stop = meter.onChange(() => {
      if (!check(meter.snapshot())) return;
      stop();
      resolve();
    });
  });
}

/**
 * One action at a time, each to the end of its evaluate-action invocation: in Lambda each invocation
 * has its environment to itself, so a duration measured while others share the process would bill
 * their queueing too.
 */
async function autoDecidedOneByOne(stack: LocalStack, meter: CallMeter, actions: number): Promise<void> {
  for (let i = 1; i <= actions; i++) {
    await benchLocalStack(1, stack);
    await until(meter, (calls) => (calls.lambda[EVALUATE]?.invocations ?? 0) >= i);
  }
}

const EVALUATE = 'countersign-evaluate-action';

/**
 * `cpuMs`: a function's own CPU per invocation measured apart (handler-cpu.ts), in place of the local
 * stack's process CPU during its invocations (an upper bound: the emulators serving its calls share the process).
 */
async function metered(stack: LocalStack, meter: CallMeter, runs: number, scenario: () => Promise<unknown>, cpuMs: Record<string, number> = {}): Promise<ScenarioCost> {
  await settled(meter);
  const before = objectsIn(stack.auditDir);
  meter.reset();
  await scenario();
  await settled(meter);
  for (const [path, bytes] of objectsIn(stack.auditDir)) if (!before.has(path)) meter.recordS3Put(bytes);
  const calls = meter.reset();
  const processCpuMs: Record<string, number> = {};
  for (const [functionName, perInvocation] of Object.entries(cpuMs)) {
    const usage = calls.lambda[functionName];
    if (usage === undefined) continue;
    processCpuMs[functionName] = usage.cpuMs / usage.invocations;
    usage.cpuMs = perInvocation * usage.invocations;
  }
  const items = priceCalls(calls, runs);
  return { runs, calls, items, total: totalDollars(items), processCpuMs };
}

export async function benchCost(options: { actions?: number; approvals?: number; warmUp?: number; cpuInvocations?: number } = {}): Promise<CostBenchResult> {
  const meter = new CallMeter();
  const dataDir = mkdtempSync(join(tmpdir(), 'countersign-cost-'));
  const stack = await startLocalStack({ port: 0, dataDir, log: silentLogger, slackRateLimit: false, slackPersistence: false, meter, directoryFile: benchDirectoryFile(mkdtempSync(join(tmpdir(), 'countersign-cost-directory-'))) });
  try {
    // Warm: the first calls of each handler pay module work a steady stream of requests does not.
    await benchLocalStack(options.warmUp ?? 20, stack);
    await benchApprovals(Math.max(1, Math.ceil((options.warmUp ?? 20) / 10)), 1, stack);
    const actions = options.actions ?? 300;
    const approvals = options.approvals ?? 50;
    // Before the scenarios: its writes reach the stack's stream, and `metered` starts once that is quiet.
    const evaluateCpu = await measureEvaluateActionCpu(options.cpuInvocations ?? 200);
    const autoDecided = await metered(stack, meter, actions, () => autoDecidedOneByOne(stack, meter, actions), { [EVALUATE]: evaluateCpu.cpuMsPerInvocation });
    const approved = await metered(stack, meter, approvals, () => benchApprovals(approvals, 1, stack));
    return { autoDecided, approvals: approved, writerMsPerRecord: await auditWriterMsPerRecord(), evaluateCpu };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The audit writer's own work per record in a full batch (1,000 stream records of auto-decided requests,
 * request item and decided event, in one shard): CPU ms per record, measured on this machine with a
 * local sink and an in-memory chain head, so the per-batch I/O (S3 PUT, chain head) is not in it.
 */
export async function auditWriterMsPerRecord(records = 1000): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-cost-writer-'));
  try {
    let head: ChainHead | undefined;
    const chain: ChainStore = { get: async () => head, advance: async (_shard, _expected, next) => { head = next; } };
    const deps = { sink: new LocalAuditSink(dir), chain, retentionDays: 1, now: () => new Date() };
    const batch = (from: number): AuditStreamRecord[] => Array.from({ length: records }, (_, i) => {
      const n = from + i;
      const record = decideRequest({ id: `e-${n}`, source: 'agent.billing-agent', detailType: 'Action Requested', detail: benchRequestDetail(`cost-${n}`, n) }, ALLOW, new Date().toISOString());
      const image = n % 2 === 0 ? toItem(record) : decidedEventItem(record);
      return { eventName: 'INSERT', shardId: 'shard-cost', dynamodb: { ApproximateCreationDateTime: Date.now() / 1000, SequenceNumber: String(1000 + n), NewImage: marshall(image, marshallOptions) as Record<string, unknown> } };
    });
    await writeAuditBatch(batch(0), deps); // warm
    const input = batch(records);
    const started = process.cpuUsage();
    await writeAuditBatch(input, deps);
    const used = process.cpuUsage(started);
    return (used.user + used.system) / 1000 / records;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatCostBench(result: CostBenchResult): string {
  const lines: string[] = [];
  const scenario = (title: string, cost: ScenarioCost, scale: number, per: string, target: number) => {
    const total = cost.total * scale;
    lines.push(`${title} (${cost.runs} metered on the local stack; list prices ${PRICES.region} as of ${PRICES.asOf})`);
    lines.push(`  $${total.toFixed(2)} per ${per}   target <= $${target.toFixed(2)}: ${total <= target ? 'met' : 'NOT met'}`);
    lines.push(...formatLineItems(cost.items, scale));
    const writer = cost.calls.lambda['countersign-audit-writer'];
    if (writer !== undefined && writer.invocations > 0 && writer.records > 0) {
      // The local poller hands over what arrived within about a second; AWS's mapping waits up to 60 s for 1,000 records.
      const fullBatches = writer.records / 1000;
      const perBatch = fullBatches / writer.invocations;
      // Per batch: the S3 PUTs, the invocation, and the shard's chain head (one GetItem, one PutItem).
      const head = (operation: string) => cost.calls.dynamoDb[`${operation} AUDIT#SHARD#`] ?? { calls: 0, writeUnits: 0, readUnits: 0 };
      const headDollars = head('PutItem').writeUnits * PRICES.dynamoDbWriteRequestUnit + head('GetItem').readUnits * PRICES.dynamoDbReadRequestUnit;
      const asMeasured = (cost.calls.s3Puts * PRICES.s3PutRequest + writer.invocations * PRICES.lambdaRequest + headDollars) / cost.runs * scale;
      const atFull = asMeasured * perBatch;
      // Duration: the measured per-invocation time is nearly all per-batch I/O at these small batches; in a
      // full batch that is shared by 1,000 records, and each record adds the writer's own CPU (measured above).
      const memoryMb = FUNCTION_MEMORY_MB['countersign-audit-writer'] ?? 1024;
      const stretch = cpuStretch(memoryMb);
      // As priced above: measured, with its CPU part stretched to the deployed memory's vCPU share.
      const lambdaMs = writer.billedMs + Math.min(writer.cpuMs, writer.billedMs) * (stretch - 1);
      const msPerInvocation = lambdaMs / writer.invocations;
      const dollarsOf = (ms: number) => (ms / 1000) * (memoryMb / 1024) * PRICES.lambdaArmGbSecond / cost.runs * scale;
      const durationAsMeasured = dollarsOf(lambdaMs);
      const cpuPerRecord = (result.writerMsPerRecord ?? 0) * stretch;
      const durationAtFull = dollarsOf(fullBatches * msPerInvocation + writer.records * cpuPerRecord);
      lines.push(`  audit batches here: ${(writer.records / writer.invocations).toFixed(1)} stream records each (local poll window 1 s); in full AWS batches of 1,000 the S3 PUT, audit-writer request and chain-head lines are $${atFull.toFixed(4)} instead of $${asMeasured.toFixed(4)}, and audit-writer duration $${durationAtFull.toFixed(4)} instead of $${durationAsMeasured.toFixed(4)} (${msPerInvocation.toFixed(1)} ms per batch + ${cpuPerRecord.toFixed(3)} ms CPU per record at ${memoryMb} MB)`);
      const adjusted = total - asMeasured + atFull - durationAsMeasured + durationAtFull;
      lines.push(`  $${adjusted.toFixed(2)} per ${per} with full audit batches   target <= $${target.toFixed(2)}: ${adjusted <= target ? 'met' : 'NOT met'}`);
    }
  };
  scenario('cost of auto-decided actions (db.query, allowed by policy)', result.autoDecided, 1e6, '1M auto-decided actions', 4);
  const cpu = result.evaluateCpu;
  const stackCpu = result.autoDecided.processCpuMs[EVALUATE];
  if (cpu !== undefined) {
    const memory = FUNCTION_MEMORY_MB[EVALUATE] ?? 0;
    lines.push(`  evaluate-action's own CPU, measured in a process of its own (${cpu.invocations} invocations against this stack): ${cpu.cpuMsPerInvocation.toFixed(2)} ms per invocation of ${cpu.wallMsPerInvocation.toFixed(1)} ms wall; priced ×${cpuStretch(memory).toFixed(2)} at ${memory} MB (its vCPU share), in place of the stack process's ${stackCpu === undefined ? '?' : stackCpu.toFixed(1)} ms during each invocation (the emulators serving its calls included)`);
  }
  scenario('cost of approvals (db.schema.update, one Slack approval)', result.approvals, 1e3, '1,000 approvals', 0.5);
  lines.push('  not counted: CloudWatch Logs ingestion, X-Ray traces, KMS (digests are hourly, not per request), data transfer');
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  console.log(formatCostBench(await benchCost(quick ? { actions: 10, approvals: 2, warmUp: 5, cpuInvocations: 10 } : {})));
}
