import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';

/**
 * Powertools attached as its docs describe without Middy: metrics flushed even when the handler throws,
 * and the tracer's handler subsegment (what captureLambdaHandler does), closed on every path.
 */

const context = { functionName: 'f', awsRequestId: 'r-1', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:f', functionVersion: '$LATEST', memoryLimitInMB: '256' } as unknown as Context;

function tools() {
  const logger = new Logger({ serviceName: 'test' });
  const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'test' });
  const tracer = new Tracer({ serviceName: 'test' });
  const subsegment = { close: vi.fn() };
  const facade = { addNewSubsegment: vi.fn(() => subsegment) };
  vi.spyOn(tracer, 'isTracingEnabled').mockReturnValue(true);
  vi.spyOn(tracer, 'getSegment').mockReturnValue(facade as never);
  const setSegment = vi.spyOn(tracer, 'setSegment').mockImplementation(() => undefined);
  const addError = vi.spyOn(tracer, 'addErrorAsMetadata').mockImplementation(() => undefined);
  vi.spyOn(tracer, 'annotateColdStart').mockImplementation(() => undefined);
  vi.spyOn(tracer, 'addServiceNameAnnotation').mockImplementation(() => undefined);
  const publish = vi.spyOn(metrics, 'publishStoredMetrics').mockImplementation(() => metrics);
  return { logger, metrics, tracer, subsegment, facade, setSegment, addError, publish };
}

describe('instrumented', () => {
  it('publishes the metrics recorded before a throw, records the error on the handler subsegment, closes it, and rethrows', async () => {
    const t = tools();
    const failure = new Error('DynamoDB throttled');
    const handler = instrumented(t, async () => {
      t.metrics.addMetric('RequestsDecided', MetricUnit.Count, 1);
      throw failure;
    });
    await expect(handler({}, context)).rejects.toBe(failure);
    expect(t.publish).toHaveBeenCalledTimes(1);
    expect(t.addError).toHaveBeenCalledWith(failure);
    expect(t.facade.addNewSubsegment).toHaveBeenCalledWith(expect.stringMatching(/^## /));
    expect(t.subsegment.close).toHaveBeenCalledTimes(1);
    expect(t.setSegment.mock.calls.map(([segment]) => segment)).toEqual([t.subsegment, t.facade]);
  });

  it('on success returns the result, publishes once, and restores the facade segment', async () => {
    const t = tools();
    const handler = instrumented(t, async (event: { n: number }) => event.n + 1);
    expect(await handler({ n: 1 }, context)).toBe(2);
    expect(t.publish).toHaveBeenCalledTimes(1);
    expect(t.addError).not.toHaveBeenCalled();
    expect(t.subsegment.close).toHaveBeenCalledTimes(1);
    expect(t.setSegment).toHaveBeenLastCalledWith(t.facade);
  });

  it('without a tracer (the decision API) still adds the Lambda context to the logger and publishes the metrics on a throw', async () => {
    const t = tools();
    const addContext = vi.spyOn(t.logger, 'addContext');
    const failure = new Error('GetItem failed');
    const handler = instrumented({ logger: t.logger, metrics: t.metrics }, async () => {
      throw failure;
    });
    await expect(handler({}, context)).rejects.toBe(failure);
    expect(addContext).toHaveBeenCalledWith(context);
    expect(t.publish).toHaveBeenCalledTimes(1);
    expect(t.facade.addNewSubsegment).not.toHaveBeenCalled();
  });
});

describe('every function', () => {
  it('exports its handler wrapped by instrumented(), the audit writer, redrive and digest included', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const functions = readdirSync(new URL('../../functions/', import.meta.url));
    expect(functions).toEqual(expect.arrayContaining(['audit-writer', 'audit-redrive', 'audit-digest', 'evaluate-action']));
    for (const name of functions) {
      const source = readFileSync(new URL(`../../functions/${name}/handler.ts`, import.meta.url), 'utf8');
      // The decision API, one GetItem on a polled path, leaves the X-Ray SDK (a third of its bundle) out.
      if (name === 'decision-api') expect(source, name).toMatch(/export const handler = instrumented\(\{ logger \}/);
      else expect(source, name).toMatch(/export const handler = instrumented\(\{ logger, tracer(, metrics)? \}/);
    }
  });
});
