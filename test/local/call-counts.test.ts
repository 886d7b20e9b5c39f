import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallMeter, type MeteredCalls } from '../../local/call-meter.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { memoryLogger } from '../../local/log.js';
import { benchApprovals } from '../../bench/approval-bench.js';
import { benchLocalStack } from '../../bench/local-stack-bench.js';
import { eventually } from './support.js';

/**
 * The billable calls of one auto-decided action and of one approval, as the local stack's emulators
 * count them (real handlers, DynamoDB Local behind the metering hop, the synthesized workflow). The
 * counts are what `npm run bench` prices; a change that adds a call or a write unit on these paths
 * shows here. Only the request path is pinned: the audit writer's batches depend on the poller's timing.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const meter = new CallMeter();
let dataDir: string;
let stack: LocalStack;

function invocations(calls: MeteredCalls, functionName: string): number {
  return calls.lambda[`countersign-${functionName}`]?.invocations ?? 0;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-calls-'));
  stack = await startLocalStack({ port: 0, dataDir, log: memoryLogger(), slackRateLimit: false, slackPersistence: false, meter });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('billable calls per scenario on the local stack', () => {
  it('an auto-decided action: two PutEvents entries, one evaluate-action invocation, two single-item puts of its request (2 write units), no transaction, no update', async () => {
    meter.reset();
    await benchLocalStack(1, stack);
    const calls = await eventually(() => {
      const now = meter.snapshot();
      return invocations(now, 'evaluate-action') === 1 ? now : undefined;
    }, 'the evaluate-action invocation to end');
    expect(calls.putEvents).toEqual({ 'Action Requested': { entries: 1, chunks: 1 }, 'Action Decided': { entries: 1, chunks: 1 } });
    // The request item (its requested event's source) and the decided event item; nothing else of the request.
    const requestCalls = Object.fromEntries(Object.entries(calls.dynamoDb).filter(([operation]) => operation.endsWith(' REQ#')));
    expect(requestCalls).toEqual({ 'PutItem REQ#': { calls: 2, writeUnits: 2, readUnits: 0 } });
    expect(calls.stepFunctionsRequests).toEqual({});
    expect(calls.stateTransitions).toBe(0);
    // The process's CPU during the invocation is counted (the cost model stretches it to the deployed vCPU
    // share): some, and never more than a process can use in the invocation's wall time on this machine's cores.
    const usage = calls.lambda['countersign-evaluate-action']!;
    expect(usage.cpuMs).toBeGreaterThan(0);
    expect(usage.cpuMs).toBeLessThanOrEqual(usage.billedMs * availableParallelism());
  }, 60_000);

  it('an approval: one execution of 4 state transitions, one review posted, one tap, one task callback', async () => {
    meter.reset();
    await benchApprovals(1, 1, stack);
    const calls = await eventually(() => {
      const now = meter.snapshot();
      return invocations(now, 'record-outcome') === 1 ? now : undefined;
    }, 'the record-outcome invocation to end');
    expect(calls.putEvents).toEqual({ 'Action Requested': { entries: 1, chunks: 1 }, 'Action Decided': { entries: 1, chunks: 1 } });
    expect(calls.stepFunctionsRequests).toEqual({ StartExecution: 1, SendTaskSuccess: 1 });
    expect(calls.stateTransitions).toBe(4);
    for (const name of ['evaluate-action', 'request-review', 'slack-interactions', 'record-outcome']) expect(invocations(calls, name), name).toBe(1);
  }, 60_000);
});
