import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { FUNCTION_MEMORY_MB, priceCalls, PRICES, totalDollars } from '../../bench/cost-model.js';
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
      lambda: { 'countersign-evaluate-action': { invocations: 2, billedMs: 200, records: 0 } },
      dynamoDb: { TransactWriteItems: { calls: 2, writeUnits: 12, readUnits: 0 } },
      stepFunctionsRequests: {},
      stateTransitions: 8,
      s3Puts: 0,
      s3PutBytes: 0,
    }, 2);
    // Per run: 1 chunk, 1 request, 0.1 s at 1 GB, 6 write units, 4 transitions.
    const expected = PRICES.eventBridgeCustomEventPer64KbChunk + PRICES.lambdaRequest + 0.1 * PRICES.lambdaArmGbSecond
      + 6 * PRICES.dynamoDbWriteRequestUnit + 4 * PRICES.stepFunctionsStateTransition;
    expect(totalDollars(items)).toBeCloseTo(expected, 12);
    expect(() => priceCalls({ putEvents: {}, lambda: { 'countersign-unknown': { invocations: 1, billedMs: 1, records: 0 } }, dynamoDb: {}, stepFunctionsRequests: {}, stateTransitions: 0, s3Puts: 0, s3PutBytes: 0 }, 1))
      .toThrow('no memory size is known for countersign-unknown: add it to FUNCTION_MEMORY_MB');
  });
});
