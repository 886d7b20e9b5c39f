import type { MeteredCalls } from '../local/call-meter.js';

/**
 * List prices, us-east-1, on-demand, no free tier, as of 2026-12-07. Sources (the pages and what of
 * them the project's doc search could confirm):
 * - EventBridge: https://aws.amazon.com/eventbridge/pricing/ (custom events; "each 64 KB chunk of a
 *   payload is billed as one event": confirmed) and the entry-size rule,
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html (confirmed).
 * - Lambda: https://aws.amazon.com/lambda/pricing/ (arm64 duration per GB-second, requests per million).
 * - DynamoDB: https://aws.amazon.com/dynamodb/pricing/on-demand/ (request units: 1 KB per write unit,
 *   4 KB per strongly consistent read unit, transactional requests twice: confirmed; streams read by a
 *   Lambda trigger are not charged).
 * - Step Functions: https://aws.amazon.com/step-functions/pricing/ (Standard: per state transition).
 * - S3: https://aws.amazon.com/s3/pricing/ (Standard: PUT requests, storage per GB-month).
 * The numbers themselves are rendered client-side on those pages and were not in the stored text the
 * doc search reads: they are the published us-east-1 list prices as of the date above, to be re-read
 * from the pages (or the Price List API) when this table is next touched.
 */
export const PRICES = {
  asOf: '2026-12-07',
  region: 'us-east-1',
  eventBridgeCustomEventPer64KbChunk: 1.0 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaArmGbSecond: 0.0000133334,
  dynamoDbWriteRequestUnit: 0.625 / 1e6,
  dynamoDbReadRequestUnit: 0.125 / 1e6,
  stepFunctionsStateTransition: 0.025 / 1e3,
  s3PutRequest: 0.005 / 1e3,
  s3StandardGbMonth: 0.023,
} as const;

/**
 * Lambda's CPU share: "at 1,769 MB, a function has the equivalent of one vCPU", in proportion below
 * (AWS Lambda developer guide, configuration-memory). The local stack runs a handler on a whole core, so
 * a CPU millisecond measured here takes 1,769 / memory milliseconds in Lambda below 1,769 MB.
 */
export const LAMBDA_MB_PER_VCPU = 1769;

/** How much longer CPU work takes in Lambda at `memoryMb` than on one whole core. */
export function cpuStretch(memoryMb: number): number {
  return Math.max(1, LAMBDA_MB_PER_VCPU / memoryMb);
}

/**
 * Memory of each function as the CDK app deploys it (infra/constructs; test/infra/cost-model.test.ts
 * holds this table to the synthesized template), by the local stack's function name.
 */
export const FUNCTION_MEMORY_MB: Readonly<Record<string, number>> = {
  'countersign-evaluate-action': 512,
  'countersign-request-review': 512,
  'countersign-record-outcome': 512,
  'countersign-slack-interactions': 1024,
  'countersign-teams-interactions': 1024,
  'countersign-review-api': 512,
  'countersign-decision-api': 256,
  'countersign-record-execution': 512,
  'countersign-issue-credentials': 256,
  'countersign-audit-writer': 1024,
};

export interface LineItem {
  service: string;
  what: string;
  /** Units per scenario (per action or per approval). */
  quantity: number;
  unit: string;
  /** Dollars per scenario. */
  dollars: number;
}

export class CostModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CostModelError';
  }
}

/** The item families of the decision table (infra's ITEM_FAMILIES), named for the cost table. */
const ITEM_FAMILY_NAMES: Record<string, string> = { 'REQ#': 'request items', 'AGENT#': 'agent state', 'REVIEW#': 'review items', 'AUDIT#SHARD#': 'audit chain heads' };

/** `PutItem REQ#` (the meter's key) as `PutItem, request items`. */
function labelledOperation(metered: string): string {
  const [operation, family] = metered.split(' ');
  const name = family === undefined ? undefined : ITEM_FAMILY_NAMES[family] ?? family;
  return name === undefined || name === '-' ? operation! : `${operation}, ${name}`;
}

/**
 * The metered calls of `count` runs of a scenario as dollars per run, one line per billable item.
 * Lambda bills duration × memory; the memory is the deployed one, the duration the local one (a
 * loaded 2-core machine: pessimistic) with its CPU part stretched to the deployed memory's vCPU share
 * (`cpuStretch`). The CPU measured is the local process's during each invocation, emulators included, so
 * the stretch is an upper bound.
 */
export function priceCalls(calls: MeteredCalls, count: number): LineItem[] {
  if (!(count > 0)) throw new CostModelError(`a scenario needs at least one run to be priced, got ${count}`);
  const items: LineItem[] = [];
  const per = (n: number) => n / count;
  for (const [detailType, usage] of Object.entries(calls.putEvents)) {
    items.push({ service: 'EventBridge', what: `PutEvents "${detailType}"`, quantity: per(usage.chunks), unit: '64 KB chunks', dollars: per(usage.chunks) * PRICES.eventBridgeCustomEventPer64KbChunk });
  }
  for (const [functionName, usage] of Object.entries(calls.lambda)) {
    const memory = FUNCTION_MEMORY_MB[functionName];
    if (memory === undefined) throw new CostModelError(`no memory size is known for ${functionName}: add it to FUNCTION_MEMORY_MB`);
    const name = functionName.replace(/^countersign-/, '');
    const cpuMs = Math.min(usage.cpuMs, usage.billedMs);
    const stretch = cpuStretch(memory);
    const lambdaMs = usage.billedMs + cpuMs * (stretch - 1);
    const gbSeconds = (lambdaMs / 1000) * (memory / 1024);
    const each = (ms: number) => (ms / usage.invocations).toFixed(1);
    const how = stretch === 1 ? `${each(usage.billedMs)} ms each` : `${each(lambdaMs)} ms each: ${each(usage.billedMs)} measured, its ${each(cpuMs)} ms of CPU ×${stretch.toFixed(2)}`;
    items.push({ service: 'Lambda', what: `${name} requests`, quantity: per(usage.invocations), unit: 'invocations', dollars: per(usage.invocations) * PRICES.lambdaRequest });
    items.push({ service: 'Lambda', what: `${name} duration (${memory} MB, ${how})`, quantity: per(gbSeconds), unit: 'GB-s', dollars: per(gbSeconds) * PRICES.lambdaArmGbSecond });
  }
  for (const [metered, usage] of Object.entries(calls.dynamoDb)) {
    const operation = labelledOperation(metered);
    if (usage.writeUnits > 0) items.push({ service: 'DynamoDB', what: `${operation} (${per(usage.calls).toFixed(2)} calls)`, quantity: per(usage.writeUnits), unit: 'write units', dollars: per(usage.writeUnits) * PRICES.dynamoDbWriteRequestUnit });
    if (usage.readUnits > 0) items.push({ service: 'DynamoDB', what: `${operation} (${per(usage.calls).toFixed(2)} calls)`, quantity: per(usage.readUnits), unit: 'read units', dollars: per(usage.readUnits) * PRICES.dynamoDbReadRequestUnit });
  }
  if (calls.stateTransitions > 0) {
    items.push({ service: 'Step Functions', what: 'Standard state transitions', quantity: per(calls.stateTransitions), unit: 'transitions', dollars: per(calls.stateTransitions) * PRICES.stepFunctionsStateTransition });
  }
  if (calls.s3Puts > 0) {
    items.push({ service: 'S3', what: 'audit object PUTs', quantity: per(calls.s3Puts), unit: 'PUTs', dollars: per(calls.s3Puts) * PRICES.s3PutRequest });
    const gb = calls.s3PutBytes / 1024 ** 3;
    items.push({ service: 'S3', what: 'audit bytes stored, per month kept', quantity: per(calls.s3PutBytes), unit: 'bytes', dollars: per(gb) * PRICES.s3StandardGbMonth });
  }
  return items;
}

export function totalDollars(items: readonly LineItem[]): number {
  return items.reduce((sum, item) => sum + item.dollars, 0);
}

/** Lines for the terminal: dollars per `scale` runs (1M actions, 1,000 approvals), largest first. */
export function formatLineItems(items: readonly LineItem[], scale: number): string[] {
  return [...items]
    .sort((a, b) => b.dollars - a.dollars)
    .map((item) => `    ${`$${(item.dollars * scale).toFixed(4)}`.padStart(10)}  ${item.service.padEnd(14)} ${item.what}: ${formatQuantity(item.quantity)} ${item.unit} each`);
}

function formatQuantity(n: number): string {
  if (n >= 1000) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(n === Math.round(n) ? 0 : 3);
}
