import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CallMeter, type MeteredCalls } from '../local/call-meter.js';
import { startLocalStack, type LocalStack } from '../local/local-stack.js';
import { silentLogger } from '../local/log.js';
import { benchApprovals } from './approval-bench.js';
import { benchDirectoryFile } from './bench-stack.js';
import { marshall } from '@aws-sdk/util-dynamodb';
import { marshallOptions, toItem } from '../shared/adapters/aws/dynamo-decision-store.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { writeAuditBatch, type AuditStreamRecord } from '../shared/audit/writer.js';
import { decideRequest } from '../shared/domain/intake.js';
import { decidedEventItem } from '../shared/domain/request-items.js';
import type { ChainHead, ChainStore } from '../shared/ports/audit.js';
import type { PolicyEngine } from '../shared/ports/index.js';
import { formatLineItems, FUNCTION_MEMORY_MB, priceCalls, PRICES, totalDollars, type LineItem } from './cost-model.js';
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
}

export interface CostBenchResult {
  autoDecided: ScenarioCost;
  approvals: ScenarioCost;
  /** The audit writer's own CPU per record in a full batch (`auditWriterMsPerRecord`). */
  writerMsPerRecord?: number;
}

/** The auto-decided scenario's request (local-stack-bench.ts), and a policy that allows it with a validity. */
const BENCH_REQUEST = {
  specVersion: '1', agent: { id: 'billing-agent' }, action: 'db.query', resource: { type: 'Database', id: 'customers' }, environment: 'prod',
  parameters: { sql: 'select * from customers where id = 1' }, justification: 'benchmark',
};
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

async function metered(stack: LocalStack, meter: CallMeter, runs: number, scenario: () => Promise<unknown>): Promise<ScenarioCost> {
  await settled(meter);
  const before = objectsIn(stack.auditDir);
  meter.reset();
  await scenario();
  await settled(meter);
  for (const [path, bytes] of objectsIn(stack.auditDir)) if (!before.has(path)) meter.recordS3Put(bytes);
  const calls = meter.reset();
  const items = priceCalls(calls, runs);
  return { runs, calls, items, total: totalDollars(items) };
}

export async function benchCost(options: { actions?: number; approvals?: number; warmUp?: number } = {}): Promise<CostBenchResult> {
  const meter = new CallMeter();
  const dataDir = mkdtempSync(join(tmpdir(), 'countersign-cost-'));
  const stack = await startLocalStack({ port: 0, dataDir, log: silentLogger, slackRateLimit: false, slackPersistence: false, meter, directoryFile: benchDirectoryFile(mkdtempSync(join(tmpdir(), 'countersign-cost-directory-'))) });
  try {
    // Warm: the first calls of each handler pay module work a steady stream of requests does not.
    await benchLocalStack(options.warmUp ?? 20, stack);
    await benchApprovals(Math.max(1, Math.ceil((options.warmUp ?? 20) / 10)), 1, stack);
    const actions = options.actions ?? 300;
    const approvals = options.approvals ?? 50;
    const autoDecided = await metered(stack, meter, actions, () => autoDecidedOneByOne(stack, meter, actions));
    const approved = await metered(stack, meter, approvals, () => benchApprovals(approvals, 1, stack));
    return { autoDecided, approvals: approved, writerMsPerRecord: await auditWriterMsPerRecord() };
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
      const record = decideRequest({ id: `e-${n}`, source: 'agent.billing-agent', detailType: 'Action Requested', detail: { ...BENCH_REQUEST, actionId: `cost-${n}` } }, ALLOW, new Date().toISOString());
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
      const memoryGb = (FUNCTION_MEMORY_MB['countersign-audit-writer'] ?? 1024) / 1024;
      const msPerInvocation = writer.billedMs / writer.invocations;
      const durationAsMeasured = (writer.billedMs / 1000) * memoryGb * PRICES.lambdaArmGbSecond / cost.runs * scale;
      const durationAtFull = ((fullBatches * msPerInvocation + writer.records * (result.writerMsPerRecord ?? 0)) / 1000) * memoryGb * PRICES.lambdaArmGbSecond / cost.runs * scale;
      lines.push(`  audit batches here: ${(writer.records / writer.invocations).toFixed(1)} stream records each (local poll window 1 s); in full AWS batches of 1,000 the S3 PUT, audit-writer request and chain-head lines are $${atFull.toFixed(4)} instead of $${asMeasured.toFixed(4)}, and audit-writer duration $${durationAtFull.toFixed(4)} instead of $${durationAsMeasured.toFixed(4)} (${msPerInvocation.toFixed(1)} ms per batch + ${(result.writerMsPerRecord ?? 0).toFixed(3)} ms CPU per record)`);
      const adjusted = total - asMeasured + atFull - durationAsMeasured + durationAtFull;
      lines.push(`  $${adjusted.toFixed(2)} per ${per} with full audit batches   target <= $${target.toFixed(2)}: ${adjusted <= target ? 'met' : 'NOT met'}`);
    }
  };
  scenario('cost of auto-decided actions (db.query, allowed by policy)', result.autoDecided, 1e6, '1M auto-decided actions', 4);
  scenario('cost of approvals (db.schema.update, one Slack approval)', result.approvals, 1e3, '1,000 approvals', 0.5);
  lines.push('  not counted: CloudWatch Logs ingestion, X-Ray traces, KMS (digests are hourly, not per request), data transfer');
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  console.log(formatCostBench(await benchCost(quick ? { actions: 10, approvals: 2, warmUp: 5 } : {})));
}
