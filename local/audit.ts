import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { Ed25519Signer } from '../shared/adapters/local/ed25519-signer.js';
import { DynamoChainStore } from '../shared/adapters/aws/dynamo-chain-store.js';
import { publishPublicKey, writeDigestsUpTo, type DigestDeps } from '../shared/audit/digest.js';
import { compactClosedHours, listedByDigests } from '../shared/audit/columnar.js';
import { HyparquetColumnarWriter } from '../shared/adapters/parquet/hyparquet-columnar-writer.js';
import { readLocalFailures } from '../shared/audit/failures.js';
import { redriveFailures } from '../shared/audit/redrive.js';
import { describeStatement, reconcileAndRecord } from '../shared/audit/reconcile.js';
import { dynamoEventItemReader, scanEventItems } from '../shared/adapters/aws/dynamo-decision-store.js';
import { paddedSequence, shardHourPrefix } from '../shared/audit/object.js';
import { AUDIT_FAILURES_FILE, LOCAL_KEYS_DIR } from '../shared/audit/verify-sources.js';
import type { Logger } from './log.js';
import { StreamPoller, type StreamHandler } from './stream-poller.js';

/**
 * The audit trail of the local stack: the audit bucket as `<dataDir>/audit-bucket` (the key layout
 * of the S3 bucket, write-once, retention kept per object), the stream poller feeding the real
 * audit-writer handler, an Ed25519 digest key under `<dataDir>/keys/` (its public key published
 * beside the log), and signed digests on the hour and at a clean shutdown.
 */

export const AUDIT_BUCKET_DIR = 'audit-bucket';
export const AUDIT_KEYS_DIR = LOCAL_KEYS_DIR;
export const STREAM_CHECKPOINT_FILE = 'stream-checkpoint.json';
export { AUDIT_FAILURES_FILE };
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function localAuditDir(dataDir: string): string {
  return join(dataDir, AUDIT_BUCKET_DIR);
}

export interface LocalAuditOptions {
  dataDir: string;
  dynamoDb: DynamoDBClient;
  dynamoDbEndpoint: string;
  tableName: string;
  retentionDays: number;
  handler: StreamHandler;
  log: Logger;
  /** Stream poller tuning (tests). */
  pollIntervalMs?: number;
  batchWindowMs?: number;
  retryBackoffMs?: number;
  maxRetries?: number;
}

export interface LocalAudit {
  auditDir: string;
  poller: StreamPoller;
  /** Writes the digests of every finished hour not yet digested (the hourly timer calls it). */
  writeDigests(includeCurrentHour?: boolean): Promise<string[]>;
  /** Writes what went to the failure file into the log (at start, and before each hourly digest). */
  redrive(): Promise<number>;
  /** Copies the closed, digested hours not yet copied to the columnar (Parquet) copy; the hourly timer and the start call it. */
  compact(): Promise<string[]>;
  /** Drains the poller, then writes the digests up to and including the current hour. */
  stop(): Promise<void>;
}

async function streamArnOf(client: DynamoDBClient, tableName: string): Promise<string> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const arn = Table?.LatestStreamArn;
  if (arn === undefined || Table?.StreamSpecification?.StreamEnabled !== true) {
    throw new Error(`the table ${tableName} has no stream; the audit trail reads its stream (delete the data folder's dynamodb/ to recreate the table)`);
  }
  return arn;
}

/** The objects an invocation wrote: in the records' shard-hour folders, starting within the batch's sequence range. */
function auditedObjectsProbe(sink: LocalAuditSink) {
  return async (shardId: string, records: readonly DynamoDBRecord[]): Promise<string[]> => {
    const sequences = records.map((r) => r.dynamodb?.SequenceNumber).filter((s): s is string => s !== undefined).map(paddedSequence).sort();
    const first = sequences[0];
    const last = sequences.at(-1);
    if (first === undefined || last === undefined) return [];
    const prefixes = new Set(records.map((r) => shardHourPrefix(shardId, new Date((r.dynamodb?.ApproximateCreationDateTime ?? 0) * 1000))));
    const keys: string[] = [];
    for (const prefix of prefixes) {
      for (const key of await sink.list(prefix)) {
        const start = key.slice(prefix.length).split('-')[0] ?? '';
        if (start >= first && start <= last) keys.push(key);
      }
    }
    return keys.sort();
  };
}

export async function startLocalAudit(options: LocalAuditOptions): Promise<LocalAudit> {
  const { dataDir, log } = options;
  const auditDir = localAuditDir(dataDir);
  mkdirSync(auditDir, { recursive: true });
  const sink = new LocalAuditSink(auditDir);
  const signer = await Ed25519Signer.fromKeyDir(join(dataDir, AUDIT_KEYS_DIR));
  const retainUntil = (now: Date) => new Date(now.getTime() + options.retentionDays * DAY_MS);
  await publishPublicKey(sink, signer, retainUntil(new Date()));
  const chain = new DynamoChainStore(options.dynamoDb, options.tableName);
  // The same check as the AWS digest function: an object is signed only if its shard's chain head vouches for it.
  const digestDeps: DigestDeps = { sink, signer, retainUntil, chain };

  const poller = new StreamPoller({
    endpoint: options.dynamoDbEndpoint,
    streamArn: await streamArnOf(options.dynamoDb, options.tableName),
    handler: options.handler,
    checkpointFile: join(dataDir, STREAM_CHECKPOINT_FILE),
    failureFile: join(dataDir, AUDIT_FAILURES_FILE),
    log,
    functionName: 'countersign-audit-writer',
    auditedObjects: auditedObjectsProbe(sink),
    ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
    ...(options.batchWindowMs === undefined ? {} : { batchWindowMs: options.batchWindowMs }),
    ...(options.retryBackoffMs === undefined ? {} : { retryBackoffMs: options.retryBackoffMs }),
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
  });

  // Digest and redrive runs one at a time (the timer's, the start's and the shutdown's).
  let digestQueue: Promise<unknown> = Promise.resolve();
  const failureFile = join(dataDir, AUDIT_FAILURES_FILE);
  const redriveDeps = {
    sink,
    chain,
    retentionDays: options.retentionDays,
    now: () => new Date(),
    readEventItem: dynamoEventItemReader(options.dynamoDb, options.tableName),
  };
  const redrive = (): Promise<number> => {
    const run = digestQueue.then(async () => {
      const batches = await readLocalFailures(failureFile);
      if (batches.length === 0) return 0;
      const result = await redriveFailures(batches, redriveDeps);
      if (result.recordsWritten > 0) log.step('redriven', 'audit', `${result.recordsWritten} record(s) from ${AUDIT_FAILURES_FILE} written to the log, late (chain late.<shard>)`, 'dim');
      for (const failure of result.failed) log.warn(`the redrive of ${failure.source} (shard ${failure.shardId}) failed: ${failure.error}; it is tried again at the next hour and the next start`);
      for (const altered of result.altered) log.error(`${altered.source}: ${altered.key} ${altered.why}: ${altered.why === 'not in the table' ? 'not written to the log' : 'the table\'s item was written'} (the failure file was edited)`);
      for (const source of result.withoutPayload) log.warn(`${source} has no payload to redrive; compare the log with the table (npm run audit -- verify --reconcile)`);
      return result.recordsWritten;
    });
    digestQueue = run.catch(() => undefined);
    return run;
  };
  const writeDigests = (includeCurrentHour = false): Promise<string[]> => {
    const run = digestQueue.then(async () => {
      const result = await writeDigestsUpTo(new Date(), digestDeps, { includeCurrentHour });
      for (const key of result.written) log.step('digest', 'audit', `signed ${key}`, 'dim');
      for (const why of result.refused) log.error(`audit digest: ${why} (something other than the audit writer wrote into the log, or the writer has not moved its chain head yet and the next digest takes it again; verify names it while it is unsigned)`);
      return result.written;
    });
    digestQueue = run.catch(() => undefined);
    return run;
  };

  // The columnar copy: after the digests, so that the hours it copies are signed.
  // The same writer as the audit-compact Lambda (one file format, whichever path made it).
  const columnarWriter = new HyparquetColumnarWriter();
  const compact = (): Promise<string[]> => {
    const run = digestQueue.then(async () => {
      const result = await compactClosedHours({ store: sink, writer: columnarWriter, retainUntil }, await listedByDigests(sink), new Date());
      if (result.written.length > 0) log.step('columnar', 'audit', `${result.records} record(s) of ${result.written.length} closed hour(s) copied to Parquet (${result.written.at(-1)})`, 'dim');
      for (const why of result.refused) log.error(`audit columnar copy: ${why}`);
      return result.written;
    });
    digestQueue = run.catch(() => undefined);
    return run;
  };

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const scheduleNextHour = () => {
    if (stopped) return;
    const now = Date.now();
    // A second past the hour, so the hour that just ended is complete.
    const delay = Math.ceil((now + 1) / HOUR_MS) * HOUR_MS - now + 1_000;
    timer = setTimeout(() => {
      redrive().catch((error: unknown) => log.error(`the audit redrive failed: ${(error as Error).message}`));
      writeDigests().catch((error: unknown) => log.error(`the hourly audit digest failed: ${(error as Error).message}`)).finally(scheduleNextHour);
      compact().catch((error: unknown) => log.error(`the hourly columnar copy failed: ${(error as Error).message}; it is tried again at the next hour`));
    }, delay);
    timer.unref();
  };

  // Records that went to the failure file are written now that the cause is gone (the table answers).
  await redrive().catch((error: unknown) => log.warn(`the audit redrive at start failed: ${(error as Error).message}; it is tried again at the next hour`));
  // Hours missed while the stack was not running are digested now (the digest chain has no gaps).
  await writeDigests().catch((error: unknown) => log.warn(`audit digests of past hours not written: ${(error as Error).message}`));
  poller.start();
  scheduleNextHour();
  // Hours closed while the stack was not running: copied in the background (queries read NDJSON until then).
  compact().catch((error: unknown) => log.warn(`the columnar copy at start failed: ${(error as Error).message}; it is tried again at the next hour`));

  let stopping: Promise<void> | undefined;
  return {
    auditDir,
    poller,
    writeDigests,
    redrive,
    compact,
    stop: () => {
      stopping ??= (async () => {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
        await poller.drain();
        try {
          await writeDigests(true);
        } catch (error) {
          log.error(`the audit digest at shutdown failed: ${(error as Error).message}`);
        }
        // The table and the whole log, compared and recorded as a signed statement.
        try {
          const { key, statement } = await reconcileAndRecord({
            sink, signer, tableName: options.tableName, retainUntil: retainUntil(new Date()),
            tableEventItems: () => scanEventItems(options.dynamoDb, options.tableName),
          }, { now: new Date() });
          if (statement.differences === 0) log.step('reconciled', 'audit', describeStatement(key, statement), 'dim');
          else log.warn(`${describeStatement(key, statement)}; failed batches in ${AUDIT_FAILURES_FILE}, if any, are redriven at the next start`);
        } catch (error) {
          log.warn(`the reconciliation of the table with the audit log at shutdown failed: ${(error as Error).message}`);
        }
      })();
      return stopping;
    },
  };
}
