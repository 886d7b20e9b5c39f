import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { KmsSigner } from '../../shared/adapters/aws/kms-signer.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { publishPublicKey, writeDigestsUpTo, type DigestDeps } from '../../shared/audit/digest.js';
import { auditDigestConfig } from '../../shared/config.js';

const DAY_MS = 86_400_000;
const config = auditDigestConfig();
const logger = new Logger({ serviceName: 'audit-digest' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'audit-digest' });
const tracer = new Tracer({ serviceName: 'audit-digest' });
const deps: DigestDeps = {
  sink: new S3AuditSink(tracer.captureAWSv3Client(new S3Client({})), config.bucket),
  signer: new KmsSigner(tracer.captureAWSv3Client(new KMSClient({})), config.digestKeyId),
  retainUntil: (now) => new Date(now.getTime() + config.retentionDays * DAY_MS),
};

/**
 * EventBridge Scheduler invokes this hourly (the payload is not used). Each run digests every hour
 * since the last digest, so a missed run heals on the next one.
 */
export const handler = async (_event: unknown, context: Context) => {
  logger.addContext(context);
  const now = new Date();
  await publishPublicKey(deps.sink, deps.signer, deps.retainUntil!(now));
  const result = await writeDigestsUpTo(now, deps);
  logger.info('audit digests', { written: result.written, remainingHours: result.remainingHours, lastDigestKey: result.lastDigestKey });
  metrics.addMetric('AuditDigestsWritten', MetricUnit.Count, result.written.length);
  metrics.addMetric('AuditDigestHoursBehind', MetricUnit.Count, result.remainingHours);
  metrics.publishStoredMetrics();
  return { written: result.written.length, remainingHours: result.remainingHours };
};
