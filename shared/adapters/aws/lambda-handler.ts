import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';

export interface HandlerTools {
  logger: Logger;
  /**
   * @default - no handler subsegment (Lambda's active tracing still records the invocation); the decision
   * API leaves the X-Ray SDK out of its bundle, which would be a third of it
   */
  tracer?: Tracer;
  /** @default - the handler publishes no metrics */
  metrics?: Metrics;
}

/**
 * A handler with Powertools attached the way its documentation does it without Middy (which this project
 * does not ship): the logger's Lambda context; the tracer's `## <handler>` subsegment, annotated with the cold
 * start and the service, the error as metadata (what `captureLambdaHandler` does, by its manual recipe); and
 * the stored metrics published in `finally`, so a handler that throws still flushes what it recorded. The
 * response is not added to the trace: it can carry request text, and traces are not where that belongs.
 */
export function instrumented<E, R>(tools: HandlerTools, handler: (event: E, context: Context) => Promise<R>): (event: E, context: Context) => Promise<R> {
  return async (event, context) => {
    tools.logger.addContext(context);
    const tracer = tools.tracer;
    const segment = tracer?.isTracingEnabled() === true ? tracer.getSegment() : undefined;
    const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'index.handler'}`);
    if (tracer !== undefined && subsegment !== undefined) {
      tracer.setSegment(subsegment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
    }
    try {
      return await handler(event, context);
    } catch (error) {
      if (subsegment !== undefined) tracer?.addErrorAsMetadata(error as Error);
      throw error;
    } finally {
      subsegment?.close();
      if (segment !== undefined) tracer?.setSegment(segment);
      tools.metrics?.publishStoredMetrics();
    }
  };
}
