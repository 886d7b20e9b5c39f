import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { scanEventItems } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { KmsSigner } from '../../shared/adapters/aws/kms-signer.js';
import { instrumented } from '../../shared/adapters/aws/lambda-handler.js';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';
import { publishPublicKey, writeDigestsUpTo, type DigestDeps } from '../../shared/audit/digest.js';
import { listKeys } from '../../shared/audit/digest-store.js';
import { describeStatement, reconcileAndRecord, RECONCILIATION_PREFIX } from '../../shared/audit/reconcile.js';
import { auditDigestConfig } from '../../shared/config.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const config = auditDigestConfig();
const logger = new Logger({ serviceName: 'audit-digest' });
const metrics = new Metrics({ namespace: 'Countersign', serviceName: 'audit-digest' });
const tracer = new Tracer({ serviceName: 'audit-digest' });
const dynamoDb = tracer.captureAWSv3Client(new DynamoDBClient({}));
const deps: DigestDeps = {
  sink: new S3AuditSink(tracer.captureAWSv3Client(new S3Client({})), config.bucket),
  signer: new KmsSigner(tracer.captureAWSv3Client(new KMSClient({})), config.digestKeyId),
  retainUntil: (now) => new Date(now.getTime() + config.retentionDays * DAY_MS),
  // An object is signed only if the audit writer's chain head for its shard vouches for it.
  chain: new DynamoChainStore(dynamoDb, config.tableName),
};

/**
 * EventBridge Scheduler invokes this hourly (the payload is not used). Each run digests every hour
 * since the last digest, so a missed run heals on the next one.
 */
export const handler = instrumented({ logger, tracer, metrics }, async (_event: unknown, _context: Context) => {
  const now = new Date();
  await publishPublicKey(deps.sink, deps.signer, deps.retainUntil!(now));
  const result = await writeDigestsUpTo(now, deps);
  logger.info('audit digests', { written: result.written, remainingHours: result.remainingHours, lastDigestKey: result.lastDigestKey });
  // Objects in the log that are not the writer's (not JSON records, hashes that do not hold, past their shard's chain head): left unsigned.
  if (result.refused.length > 0) logger.error('audit objects not signed', { refused: result.refused });
  metrics.addMetric('AuditObjectsRefused', MetricUnit.Count, result.refused.length);
  metrics.addMetric('AuditDigestsWritten', MetricUnit.Count, result.written.length);
  metrics.addMetric('AuditDigestHoursBehind', MetricUnit.Count, result.remainingHours);
  const reconciled = await reconcileDaily(now);
  return { written: result.written.length, remainingHours: result.remainingHours, ...(reconciled === undefined ? {} : { reconciled }) };
});

/**
 * Once a day (the first run of the UTC day): the table and the log compared over the last two days,
 * signed and written beside the digests; differences are a metric with an alarm.
 */
async function reconcileDaily(now: Date): Promise<{ key: string; differences: number } | undefined> {
  if ((await listKeys(deps.sink, `${RECONCILIATION_PREFIX}dt=${now.toISOString().slice(0, 10)}/`)).length > 0) return undefined;
  const { key, statement } = await reconcileAndRecord({
    sink: deps.sink, signer: deps.signer, tableName: config.tableName, retainUntil: deps.retainUntil!(now),
    tableEventItems: () => scanEventItems(dynamoDb, config.tableName),
  }, { now, from: new Date(now.getTime() - 2 * DAY_MS), settleMs: HOUR_MS });
  if (statement.differences === 0) logger.info('audit reconciliation', { key, line: describeStatement(key, statement) });
  else logger.error('audit reconciliation found differences', { key, line: describeStatement(key, statement), missing: statement.missing, extra: statement.extra, duplicate: statement.duplicate });
  metrics.addMetric('AuditReconcileDifferences', MetricUnit.Count, statement.differences);
  return { key, differences: statement.differences };
}
