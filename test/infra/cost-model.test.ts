import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { cpuStretch, FUNCTION_MEMORY_MB, priceCalls, PRICES, totalDollars } from '../../bench/cost-model.js';
import type { MeteredCalls } from '../../local/call-meter.js';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { testApp } from '../support/cdk-app.js';

const template = Template.fromStack(new CountersignStack(testApp(), 'Countersign-test', { stage: 'test' }));

/** MemorySize of each deployed function, by its Powertools service name. */
function deployedMemory(): Record<string, number> {
  const functions = template.findResources('AWS::Lambda::Function') as Record<string, { Properties: { MemorySize?: number; Environment?: { Variables?: Record<string, unknown> } } }>;
  const memory: Record<string, number> = {};
  for (const { Properties } of Object.values(functions)) {
    const service = Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME;
    if (typeof service === 'string') memory[service] = Properties.MemorySize ?? 128;
  }
  return memory;
}

describe('the cost model', () => {
  it('prices each function at the memory the stack deploys it with', () => {
    const deployed = deployedMemory();
    for (const service of ['evaluate-action', 'request-review', 'record-outcome', 'slack-interactions', 'audit-writer', 'decision-api', 'review-api', 'record-execution', 'issue-credentials']) {
      expect(deployed[service], `${service} is deployed`).toBeDefined();
    }
    for (const [service, memory] of Object.entries(deployed)) {
      const priced = FUNCTION_MEMORY_MB[`countersign-${service}`];
      if (priced !== undefined) expect(priced, service).toBe(memory);
    }
  });

  it('turns counted calls into line items at the table\'s prices', () => {
    const items = priceCalls({
      putEvents: { 'Action Requested': { entries: 2, chunks: 2 } },
      lambda: { 'countersign-evaluate-action': { invocations: 2, billedMs: 200, records: 0, cpuMs: 0 } },
      dynamoDb: { TransactWriteItems: { calls: 2, writeUnits: 12, readUnits: 0 } },
      stepFunctionsRequests: {},
      stateTransitions: 8,
      s3Puts: 0,
      s3PutBytes: 0,
    }, 2);
    // Per run: 1 chunk, 1 request, 0.1 s at the deployed memory, 6 write units, 4 transitions.
    const gb = FUNCTION_MEMORY_MB['countersign-evaluate-action']! / 1024;
    const expected = PRICES.eventBridgeCustomEventPer64KbChunk + PRICES.lambdaRequest + 0.1 * gb * PRICES.lambdaArmGbSecond
      + 6 * PRICES.dynamoDbWriteRequestUnit + 4 * PRICES.stepFunctionsStateTransition;
    expect(totalDollars(items)).toBeCloseTo(expected, 12);
    expect(() => priceCalls({ putEvents: {}, lambda: { 'countersign-unknown': { invocations: 1, billedMs: 1, records: 0, cpuMs: 0 } }, dynamoDb: {}, stepFunctionsRequests: {}, stateTransitions: 0, s3Puts: 0, s3PutBytes: 0 }, 1))
      .toThrow('no memory size is known for countersign-unknown: add it to FUNCTION_MEMORY_MB');
  });

  it('stretches the CPU part of a duration to the vCPU share of the deployed memory, never the I/O part', () => {
    expect(cpuStretch(1769)).toBe(1);
    expect(cpuStretch(3008)).toBe(1);
    expect(cpuStretch(512)).toBeCloseTo(1769 / 512, 12);
    const calls = (functionName: string, billedMs: number, cpuMs: number): MeteredCalls => ({
      putEvents: {}, lambda: { [functionName]: { invocations: 2, billedMs, records: 0, cpuMs } }, dynamoDb: {}, stepFunctionsRequests: {}, stateTransitions: 0, s3Puts: 0, s3PutBytes: 0,
    });
    const duration = (items: ReturnType<typeof priceCalls>) => items.find((item) => item.what.includes('duration'))!;
    const memory = FUNCTION_MEMORY_MB['countersign-evaluate-action']!;
    // 2 invocations, 60 ms measured of which 10 ms CPU: per run 30 ms + 5 ms × (stretch - 1), at the deployed memory.
    const stretched = duration(priceCalls(calls('countersign-evaluate-action', 60, 10), 2));
    const ms = 30 + 5 * (cpuStretch(memory) - 1);
    expect(stretched.quantity).toBeCloseTo((ms / 1000) * (memory / 1024), 12);
    expect(stretched.dollars).toBeCloseTo((ms / 1000) * (memory / 1024) * PRICES.lambdaArmGbSecond, 15);
    expect(stretched.what).toContain(`${(ms / 1).toFixed(1)} ms each: 30.0 measured, its 5.0 ms of CPU ×${cpuStretch(memory).toFixed(2)}`);
    // No CPU measured: the duration as measured.
    expect(duration(priceCalls(calls('countersign-evaluate-action', 60, 0), 2)).quantity).toBeCloseTo(0.03 * (memory / 1024), 12);
    // A process's CPU above the wall time (threads) counts as the wall time at most.
    expect(duration(priceCalls(calls('countersign-evaluate-action', 60, 600), 2)).quantity).toBeCloseTo((30 * cpuStretch(memory) / 1000) * (memory / 1024), 12);
  });
});
