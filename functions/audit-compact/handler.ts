import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { HyparquetColumnarWriter } from '../../shared/adapters/parquet/hyparquet-columnar-writer.js';
import { compactClosedHours, listedByDigests, type CompactionDeps } from '../../shared/audit/columnar.js';
import { auditCompactConfig } from '../../shared/config.js';

const DAY_MS = 86_400_000;
const config = auditCompactConfig();
const logger = new Logger({ serviceName: 'audit-compact' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'audit-compact' });
const tracer = new Tracer({ serviceName: 'audit-compact' });
const deps: CompactionDeps = {
  store: new S3AuditSink(tracer.captureAWSv3Client(new S3Client({})), config.bucket),
  writer: new HyparquetColumnarWriter(),
  // Locked as long as the objects they copy (a copy that outlived its sources would prove nothing more).
  retainUntil: (now) => new Date(now.getTime() + config.retentionDays * DAY_MS),
};

/**
 * EventBridge Scheduler invokes this daily at 00:20 UTC, after the digest (the payload is not used): the same
 * compaction as the local stack (shared/audit/columnar.ts) over the hours the digests have closed.
 * A missed run heals on the next one (it copies every closed hour that no part holds yet).
 */
export const handler = instrumented({ logger, tracer, metrics }, async (_event: unknown, _context: Context) => {
  const result = await compactClosedHours(deps, await listedByDigests(deps.store), new Date());
  logger.info('audit columnar copy', { written: result.written, records: result.records });
  // Objects that are not what their digest lists: not copied, and verify names them.
  if (result.refused.length > 0) logger.error('audit objects not copied to Parquet', { refused: result.refused });
  metrics.addMetric('AuditColumnarPartsWritten', MetricUnit.Count, result.written.length);
  metrics.addMetric('AuditColumnarRecords', MetricUnit.Count, result.records);
  metrics.addMetric('AuditColumnarRefused', MetricUnit.Count, result.refused.length);
  return { written: result.written.length, records: result.records, refused: result.refused.length };
});
