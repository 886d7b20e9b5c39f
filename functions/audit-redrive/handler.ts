import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { readS3Failures } from '../../shared/audit/failures.js';
import { redriveFailures, type RedriveDeps } from '../../shared/audit/redrive.js';
import { dynamoEventItemReader } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { auditRedriveConfig } from '../../shared/config.js';

const config = auditRedriveConfig();
const logger = new Logger({ serviceName: 'audit-redrive' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'audit-redrive' });
const tracer = new Tracer({ serviceName: 'audit-redrive' });
const s3 = tracer.captureAWSv3Client(new S3Client({}));
const failures = new S3AuditSink(s3, config.failureBucket);
const dynamoDb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const deps: RedriveDeps = {
  sink: new S3AuditSink(s3, config.bucket),
  chain: new DynamoChainStore(dynamoDb, config.tableName),
  retentionDays: config.retentionDays,
  now: () => new Date(),
  readEventItem: dynamoEventItemReader(dynamoDb, config.tableName),
};

/**
 * EventBridge Scheduler invokes this hourly (the payload is not used): every batch in the failure
 * bucket is written into the log (chain `late.<shard>`), what an earlier run wrote is skipped. A shard
 * that still fails is reported (metric AuditBatchesNotRedriven, alarmed) and tried again next hour.
 */
export const handler = instrumented({ logger, tracer, metrics }, async (_event: unknown, _context: Context) => {
  const result = await redriveFailures(await readS3Failures(failures, config.failureBucket), deps);
  logger.info('audit redrive', { ...result });
  // A payload that differs from the table, or names an item it does not hold: the failure bucket was edited.
  if (result.altered.length > 0) logger.error('failure bucket batches differ from the table', { altered: result.altered });
  metrics.addMetric('AuditFailuresAltered', MetricUnit.Count, result.altered.length);
  metrics.addMetric('AuditRecordsRedriven', MetricUnit.Count, result.recordsWritten);
  metrics.addMetric('AuditBatchesNotRedriven', MetricUnit.Count, result.failed.length + result.withoutPayload.length + result.altered.length);
  return { redriven: result.redriven, recordsWritten: result.recordsWritten, failed: result.failed.length, withoutPayload: result.withoutPayload.length };
});
