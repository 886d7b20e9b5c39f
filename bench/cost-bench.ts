import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CallMeter, type MeteredCalls } from '../local/call-meter.js';
import { startLocalStack, type LocalStack } from '../local/local-stack.js';
import { silentLogger } from '../local/log.js';
import { benchApprovals } from './approval-bench.js';
import { benchDirectoryFile } from './bench-stack.js';
import { formatLineItems, priceCalls, PRICES, totalDollars, type LineItem } from './cost-model.js';
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
}

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
    return { autoDecided, approvals: approved };
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
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
      const puts = (cost.calls.s3Puts / writer.invocations) * fullBatches;
      const atFull = (puts * PRICES.s3PutRequest + fullBatches * PRICES.lambdaRequest) / cost.runs * scale;
      const asMeasured = (cost.calls.s3Puts * PRICES.s3PutRequest + writer.invocations * PRICES.lambdaRequest) / cost.runs * scale;
      lines.push(`  audit batches here: ${(writer.records / writer.invocations).toFixed(1)} stream records each (local poll window 1 s); in full AWS batches of 1,000 the S3 PUT + audit-writer request lines are $${atFull.toFixed(4)} instead of $${asMeasured.toFixed(4)}`);
      const adjusted = total - asMeasured + atFull;
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
