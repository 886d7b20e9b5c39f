import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { writeAuditBatch, type AuditWriterDeps } from '../../shared/audit/writer.js';
import { auditWriterConfig } from '../../shared/config.js';

const config = auditWriterConfig();
const logger = new Logger({ serviceName: 'audit-writer' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'audit-writer' });
const tracer = new Tracer({ serviceName: 'audit-writer' });
const deps: AuditWriterDeps = {
  sink: config.target.kind === 'local' ? new LocalAuditSink(config.target.dir) : new S3AuditSink(tracer.captureAWSv3Client(new S3Client({})), config.target.bucket),
  chain: new DynamoChainStore(tracer.captureAWSv3Client(new DynamoDBClient({})), config.tableName),
  retentionDays: config.retentionDays,
  now: () => new Date(),
};
const processor = new BatchProcessor(EventType.DynamoDBStreams);

/**
 * Lambda's stream events name their shard only when the event source mapping has a tumbling window:
 * the window adds the event-level `shardId` (the chain's id) and requires a `state` in the response.
 */
type AuditStreamEvent = DynamoDBStreamEvent & { shardId?: string; window?: { start: string; end: string } };

/**
 * A shard's records must be written in order, as one object: the batch is written as a whole
 * first, and the processor only reports the result. If the write failed, every record is reported
 * failed, so the processor throws a full-batch failure and Lambda retries the batch from its first
 * record (bisecting, within the maximum record age) instead of moving past records not yet written.
 * Records already committed by the failed attempt sit at or below the chain head and are skipped on retry.
 */
export const handler = instrumented({ logger, tracer, metrics }, async (event: AuditStreamEvent, context: Context) => {
  const windowState = event.window === undefined ? {} : { state: {} };
  // A window's final invocation may carry no records.
  if (event.Records.length === 0) return { batchItemFailures: [], ...windowState };
  let failure: Error | undefined;
  try {
    for (const result of await writeAuditBatch(event.Records, deps, event.shardId === undefined ? {} : { shardId: event.shardId })) {
      logger.info('audit batch', { ...result });
      metrics.addMetric('AuditRecordsWritten', MetricUnit.Count, result.recordsWritten);
      metrics.addMetric('AuditRecordsSkipped', MetricUnit.Count, result.recordsSkipped);
    }
  } catch (error) {
    failure = error as Error;
    logger.error('audit batch not written; the whole batch is retried', { error: failure, records: event.Records.length });
  }
  const response = await processPartialResponse(event, async (_record: DynamoDBRecord) => {
    if (failure !== undefined) throw failure;
  }, processor, { context, processInParallel: false });
  return { ...response, ...windowState };
});
