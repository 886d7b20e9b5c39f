import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record as StreamRecord,
  type AttributeValue as StreamAttributeValue,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './dynamodb-local.js';
import { lambdaContext, lambdaFunctionError } from './lambda-runtime.js';
import { OUTCOME_TONES, type Logger } from './log.js';
import { isAuditEvent, type AuditStreamRecord } from '../shared/audit/writer.js';

/**
 * Lambda's DynamoDB event source mapping, for DynamoDB Local: reads the table's stream with the
 * real DynamoDB Streams API (DescribeStream, GetShardIterator, GetRecords), drops what the event
 * source filter drops (only INSERTs of event items and of request items marked `auditEvent: 'requested'`
 * reach the function, as in AWS), and
 * invokes the handler with Lambda's `DynamoDBStreamEvent`, one shard per invocation, with the
 * event-level `shardId` a tumbling window adds. Semantics as in Lambda:
 * - a thrown error, or `batchItemFailures`, retries from the first failed record, with backoff;
 * - after `maxRetries`, the batch is bisected; a single record that still fails goes to the
 *   on-failure destination (`audit-failures.jsonl`, the whole invocation payload kept) and is passed;
 * - the checkpoint of each shard moves only after success, and is written atomically (temp + rename);
 * - a closed shard's children are read only after the parent is drained.
 */

export type StreamHandler = (event: DynamoDBStreamEvent, context: Context) => Promise<unknown>;

export type AuditedObjectsProbe = (shardId: string, records: readonly DynamoDBRecord[]) => Promise<string[]>;

export interface StreamPollerOptions {
  endpoint: string;
  streamArn: string;
  handler: StreamHandler;
  checkpointFile: string;
  failureFile: string;
  log: Logger;
  functionName?: string;
  /** @default 1000 (the mapping's BatchSize) */
  batchSize?: number;
  /** @default 1000 ms (the mapping's MaximumBatchingWindowInSeconds) */
  batchWindowMs?: number;
  /** Pause between polls of an idle stream. @default 250 ms */
  pollIntervalMs?: number;
  /** @default 3 */
  maxRetries?: number;
  /** First backoff; doubles each retry. @default 200 ms */
  retryBackoffMs?: number;
  /**
   * How long `drain` may take; then records still failing are left unacknowledged (the next start
   * reads them again from the checkpoint) instead of waiting out every retry. @default 15 s
   */
  drainTimeoutMs?: number;
  /** The objects a successful invocation wrote (for the "audited" lines). */
  auditedObjects?: AuditedObjectsProbe;
}

interface ShardCheckpoint {
  sequenceNumber?: string;
  finished?: boolean;
}

interface CheckpointFile {
  version: 1;
  streams: Record<string, { shards: Record<string, ShardCheckpoint> }>;
}

function readCheckpoints(file: string): CheckpointFile {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as CheckpointFile;
    if (parsed.version === 1 && typeof parsed.streams === 'object' && parsed.streams !== null) return parsed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the stream checkpoint ${file} cannot be read (${(error as Error).message}); delete it to read the stream from its start (the writer skips what it already wrote)`);
  }
  return { version: 1, streams: {} };
}

function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** The streams client's AttributeValue (binary as bytes) as Lambda's JSON event carries it (binary as base64). */
function lambdaAttribute(value: StreamAttributeValue): Record<string, unknown> {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.M !== undefined) return { M: lambdaImage(value.M) };
  if (value.L !== undefined) return { L: value.L.map(lambdaAttribute) };
  const plain = { ...value } as Record<string, unknown>;
  delete plain.$unknown;
  return plain;
}

function lambdaImage(image: Record<string, StreamAttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(image).map(([name, value]) => [name, lambdaAttribute(value)]));
}

/**
 * DynamoDB Local pads sequence numbers with zeros to 21 digits ("000000000000000000002"); DynamoDB
 * Streams in AWS gives plain decimals without leading zeros, and so does the Lambda event built here.
 * (The checkpoint keeps the stream's own form, which GetShardIterator expects back.)
 */
export function lambdaSequenceNumber(sequence: string): string {
  return /^\d+$/.test(sequence) ? sequence.replace(/^0+(?=\d)/, '') : sequence;
}

/** An object key as a person reads it on the terminal: the shard's tail, sequence numbers without their padding. */
export function shortKey(key: string): string {
  return key
    .replace(/shard=[^/]*([^/]{8})\//, 'shard=…$1/')
    .replace(/\b0{8,}(\d+)/g, '$1');
}

/** One record of the Streams API in the shape Lambda passes it (`ApproximateCreationDateTime` in whole seconds). */
export function toLambdaRecord(record: StreamRecord, streamArn: string): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const created = stream.ApproximateCreationDateTime;
  const dynamodb: Record<string, unknown> = {
    ApproximateCreationDateTime: created === undefined ? undefined : Math.floor(new Date(created).getTime() / 1000),
    Keys: stream.Keys === undefined ? undefined : lambdaImage(stream.Keys),
    SequenceNumber: stream.SequenceNumber === undefined ? undefined : lambdaSequenceNumber(stream.SequenceNumber),
    SizeBytes: stream.SizeBytes,
    StreamViewType: stream.StreamViewType,
  };
  if (stream.NewImage !== undefined) dynamodb.NewImage = lambdaImage(stream.NewImage);
  if (stream.OldImage !== undefined) dynamodb.OldImage = lambdaImage(stream.OldImage);
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion ?? '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion ?? LOCAL_REGION,
    dynamodb,
    eventSourceARN: streamArn,
  } as DynamoDBRecord;
}

/**
 * The event source mapping's filters (audit-trail.ts), either of: `{ eventName: ['INSERT'], dynamodb: { NewImage:
 * { kind: { S: ['event'] } } } }`, or a request item that is its `requested` event's source: `{ eventName: ['INSERT'],
 * dynamodb: { NewImage: { kind: { S: ['request'] }, auditEvent: { S: ['requested'] } } } }`.
 */
export function passesAuditFilter(record: StreamRecord): boolean {
  // The writer's own rule (shared/audit/writer.ts), so the local filter cannot drift from it.
  return isAuditEvent(record as AuditStreamRecord);
}

function sequenceOf(record: StreamRecord): string {
  const sequence = record.dynamodb?.SequenceNumber;
  if (sequence === undefined) throw new Error(`stream record ${record.eventID ?? '?'} has no SequenceNumber`);
  return sequence;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type InvokeOutcome = { ok: true } | { ok: false; firstFailed: number; error: string };

export class StreamPoller {
  private readonly client: DynamoDBStreamsClient;
  private readonly checkpoints: CheckpointFile;
  private readonly iterators = new Map<string, string>();
  private running: Promise<void> | undefined;
  private stopRequested = false;
  /** Drain: poll until every open shard answers with no records, then stop. */
  private drainRequested = false;
  private wake: (() => void) | undefined;
  private readonly logged = new Set<string>();
  /** Per shard, the last record whose vote or outcome line was printed (a retried batch prints nothing twice). */
  private readonly reviewStepsTold = new Map<string, bigint>();
  /** Records handed to the function (after the filter), and invocations. */
  readonly stats = { records: 0, invocations: 0, failures: 0 };

  constructor(private readonly options: StreamPollerOptions) {
    this.client = new DynamoDBStreamsClient({ endpoint: options.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
    this.checkpoints = readCheckpoints(options.checkpointFile);
  }

  private get shards(): Record<string, ShardCheckpoint> {
    const stream = (this.checkpoints.streams[this.options.streamArn] ??= { shards: {} });
    return stream.shards;
  }

  private saveCheckpoint(shardId: string, update: ShardCheckpoint): void {
    this.shards[shardId] = { ...this.shards[shardId], ...update };
    writeAtomically(this.options.checkpointFile, `${JSON.stringify(this.checkpoints, null, 2)}\n`);
  }

  start(): void {
    this.running ??= this.loop().catch((error: unknown) => {
      this.options.log.error(`the stream poller stopped: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
    });
  }

  /** Reads what the stream holds now, hands it to the function, then stops. */
  async drain(): Promise<void> {
    this.drainRequested = true;
    this.wake?.();
    const limit = setTimeout(() => {
      this.options.log.warn('the stream poller did not drain in time; what is not yet written is read again at the next start');
      this.stopRequested = true;
    }, this.options.drainTimeoutMs ?? 15_000);
    limit.unref();
    try {
      await this.running;
    } finally {
      clearTimeout(limit);
      this.client.destroy();
    }
  }

  /** Stops at the next batch boundary without draining. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.wake?.();
    await this.running;
    this.client.destroy();
  }

  private async loop(): Promise<void> {
    let consecutiveErrors = 0;
    while (!this.stopRequested) {
      let delivered = 0;
      try {
        delivered = await this.pollOnce();
        if (consecutiveErrors > 0) this.options.log.info('stream poll works again');
        consecutiveErrors = 0;
      } catch (error) {
        consecutiveErrors++;
        if (this.drainRequested && consecutiveErrors >= 3) {
          this.options.log.error(`the stream poller could not drain the stream: ${(error as Error).message}`);
          return;
        }
        // One line per outage, not one per poll.
        if (consecutiveErrors === 1) this.options.log.warn(`stream poll failed (retrying): ${(error as Error).message}`);
      }
      if (this.drainRequested && delivered === 0 && consecutiveErrors === 0) return;
      if (delivered === 0) {
        const pause = (this.options.pollIntervalMs ?? 250) * Math.min(2 ** consecutiveErrors, 20);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pause);
          this.wake = () => { clearTimeout(timer); resolve(); };
        });
        this.wake = undefined;
      }
    }
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await this.client.send(new DescribeStreamCommand({ StreamArn: this.options.streamArn, ExclusiveStartShardId: start }));
      shards.push(...(StreamDescription?.Shards ?? []));
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start !== undefined);
    return shards;
  }

  /** One pass over the readable shards; the number of stream records read. */
  private async pollOnce(): Promise<number> {
    const shards = await this.describeShards();
    const known = new Set(shards.map((s) => s.ShardId));
    let read = 0;
    for (const shard of shards) {
      const shardId = shard.ShardId;
      if (shardId === undefined || this.stopRequested) continue;
      if (this.shards[shardId]?.finished === true) continue;
      const parent = shard.ParentShardId;
      // Children wait until their parent (if the stream still has it) is drained: order per key.
      if (parent !== undefined && known.has(parent) && this.shards[parent]?.finished !== true) continue;
      read += await this.pollShard(shardId);
    }
    return read;
  }

  private async iteratorFor(shardId: string): Promise<string | undefined> {
    const cached = this.iterators.get(shardId);
    if (cached !== undefined) return cached;
    const after = this.shards[shardId]?.sequenceNumber;
    const { ShardIterator } = await this.client.send(new GetShardIteratorCommand({
      StreamArn: this.options.streamArn,
      ShardId: shardId,
      ...(after === undefined ? { ShardIteratorType: 'TRIM_HORIZON' } : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }),
    }));
    return ShardIterator;
  }

  /** Reads a batch of one shard (up to batchSize records or the batch window) and delivers it. */
  private async pollShard(shardId: string): Promise<number> {
    const batchSize = this.options.batchSize ?? 1000;
    const windowEnds = Date.now() + (this.options.batchWindowMs ?? 1000);
    let iterator: string | undefined = await this.iteratorFor(shardId);
    const records: StreamRecord[] = [];
    let closed = iterator === undefined;
    while (iterator !== undefined && records.length < batchSize) {
      let page;
      try {
        page = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: batchSize - records.length }));
      } catch (error) {
        // An iterator expires after 15 minutes, or the data under it was trimmed: start again from the checkpoint.
        if (error instanceof ExpiredIteratorException || error instanceof TrimmedDataAccessException) {
          this.iterators.delete(shardId);
          if (records.length === 0) return 0;
          break;
        }
        throw error;
      }
      records.push(...(page.Records ?? []));
      iterator = page.NextShardIterator;
      if (iterator === undefined) closed = true;
      // More is waiting only if this page came back with records; stop at the batch window.
      if ((page.Records ?? []).length === 0 || Date.now() >= windowEnds) break;
    }
    if (records.length > 0) {
      const delivered = await this.deliverAll(shardId, records);
      if (!delivered) {
        // Interrupted by a stop: read again from the checkpoint next time.
        this.iterators.delete(shardId);
        return records.length;
      }
    }
    if (iterator !== undefined) this.iterators.set(shardId, iterator);
    else this.iterators.delete(shardId);
    if (closed) {
      this.saveCheckpoint(shardId, { finished: true });
      this.options.log.info(`stream shard ${shardId} is closed and drained; its children follow`);
    }
    return records.length;
  }

  /** The filter, then the function; the checkpoint moves to the batch's last record on success. */
  private async deliverAll(shardId: string, records: StreamRecord[]): Promise<boolean> {
    const passing = records.filter(passesAuditFilter);
    // The steps happened in the table whatever becomes of the audit write: tell them now, once each.
    for (const record of passing) {
      const sequence = BigInt(sequenceOf(record));
      const last = this.reviewStepsTold.get(shardId);
      if (last !== undefined && sequence <= last) continue;
      this.reviewStepsTold.set(shardId, sequence);
      this.logReviewStep(toLambdaRecord(record, this.options.streamArn));
    }
    if (passing.length > 0 && !(await this.deliver(shardId, passing))) return false;
    this.saveCheckpoint(shardId, { sequenceNumber: sequenceOf(records.at(-1)!) });
    return true;
  }

  private eventFor(shardId: string, records: readonly StreamRecord[]): DynamoDBStreamEvent & { shardId: string; eventSourceARN: string } {
    return {
      Records: records.map((record) => toLambdaRecord(record, this.options.streamArn)),
      shardId,
      eventSourceARN: this.options.streamArn,
    };
  }

  private async invoke(shardId: string, records: readonly StreamRecord[]): Promise<InvokeOutcome> {
    const event = this.eventFor(shardId, records);
    this.stats.invocations++;
    let result: unknown;
    try {
      result = await this.options.handler(event, lambdaContext(this.options.functionName ?? 'countersign-audit-writer', 300_000));
    } catch (error) {
      const reported = lambdaFunctionError(error);
      return { ok: false, firstFailed: 0, error: `${reported.errorType}: ${reported.errorMessage}` };
    }
    const failures = (result as { batchItemFailures?: { itemIdentifier?: string }[] } | null | undefined)?.batchItemFailures ?? [];
    if (failures.length === 0) {
      this.stats.records += records.length;
      await this.logAudited(shardId, event.Records);
      return { ok: true };
    }
    // Lambda resumes from the lowest failed sequence number; an identifier it cannot match fails the whole batch.
    const sequences = records.map((record) => lambdaSequenceNumber(sequenceOf(record)));
    let firstFailed = records.length;
    for (const failure of failures) {
      const index = failure.itemIdentifier === undefined ? -1 : sequences.indexOf(failure.itemIdentifier);
      firstFailed = Math.min(firstFailed, index < 0 ? 0 : index);
    }
    if (firstFailed > 0) await this.logAudited(shardId, event.Records.slice(0, firstFailed));
    return { ok: false, firstFailed, error: `${failures.length} record(s) reported in batchItemFailures` };
  }

  /** Delivers records until they succeed or go to the failure file; false when a stop interrupted. */
  private async deliver(shardId: string, records: StreamRecord[]): Promise<boolean> {
    const maxRetries = this.options.maxRetries ?? 3;
    const backoff = this.options.retryBackoffMs ?? 200;
    let pending = records;
    let attempt = 0;
    for (;;) {
      const outcome = await this.invoke(shardId, pending);
      if (outcome.ok) {
        this.saveCheckpoint(shardId, { sequenceNumber: sequenceOf(pending.at(-1)!) });
        return true;
      }
      if (outcome.firstFailed > 0) {
        this.saveCheckpoint(shardId, { sequenceNumber: sequenceOf(pending[outcome.firstFailed - 1]!) });
        pending = pending.slice(outcome.firstFailed);
      }
      attempt++;
      if (this.stopRequested) return false;
      if (attempt <= maxRetries) {
        this.options.log.warn(`audit-writer failed on ${pending.length} record(s) of ${shardId} (${outcome.error}); retry ${attempt} of ${maxRetries} in ${backoff * 2 ** (attempt - 1)} ms`);
        await sleep(backoff * 2 ** (attempt - 1));
        continue;
      }
      if (pending.length > 1) {
        // BisectBatchOnFunctionError: each half gets its own retries.
        const middle = Math.ceil(pending.length / 2);
        this.options.log.warn(`audit-writer still fails on ${pending.length} record(s) of ${shardId}; bisecting`);
        if (!(await this.deliver(shardId, pending.slice(0, middle)))) return false;
        return this.deliver(shardId, pending.slice(middle));
      }
      this.sendToFailureDestination(shardId, pending, outcome.error, attempt);
      this.saveCheckpoint(shardId, { sequenceNumber: sequenceOf(pending.at(-1)!) });
      return true;
    }
  }

  /** The on-failure destination, keeping the payload (as an S3 destination does). */
  private sendToFailureDestination(shardId: string, records: readonly StreamRecord[], error: string, attempts: number): void {
    this.stats.failures += records.length;
    const first = sequenceOf(records[0]!);
    const last = sequenceOf(records.at(-1)!);
    const entry = {
      requestContext: { condition: 'RetryAttemptsExhausted', functionArn: this.options.functionName ?? 'countersign-audit-writer', approximateInvokeCount: attempts },
      responseContext: { functionError: error },
      timestamp: new Date().toISOString(),
      DDBStreamBatchInfo: { shardId, startSequenceNumber: first, endSequenceNumber: last, batchSize: records.length, streamArn: this.options.streamArn },
      payload: this.eventFor(shardId, records),
    };
    appendFileSync(this.options.failureFile, `${JSON.stringify(entry)}\n`);
    this.options.log.step('failed', shardId, `audit-writer gave up on records ${first}..${last} (${error}); the payload is in ${this.options.failureFile}`, 'error');
  }

  /**
   * Votes and review outcomes are steps of a request too, from Slack and the votes API alike: the
   * stream sees them all, in the order they were recorded.
   */
  private logReviewStep(record: DynamoDBRecord): void {
    const image = record.dynamodb?.NewImage;
    const type = image?.eventType?.S;
    const actionId = image?.actionId?.S ?? 'unknown';
    if (type === 'outcome') {
      const outcome = image?.outcome?.S ?? 'unknown';
      const reason = image?.reason?.S ?? '';
      this.options.log.step('outcome', actionId, `${outcome}${reason === '' ? '' : ` - ${reason}`}`, OUTCOME_TONES[outcome] ?? 'plain');
      return;
    }
    if (type !== 'vote' && type !== 'vote_refused') return;
    const who = image?.reviewerId?.S ?? 'someone';
    const vote = image?.vote?.S ?? 'a vote';
    if (type === 'vote') {
      const closes = image?.closesRequest?.S;
      this.options.log.step('vote', actionId, `${who}: ${vote}${closes === undefined ? ', counted' : `, counted; closes it: ${closes}`}`, vote === 'approve' ? 'ok' : 'error');
    } else {
      this.options.log.step('vote', actionId, `${who}: ${vote} refused (${image?.rule?.S ?? 'rule'}): ${image?.message?.S ?? ''}`.trimEnd(), 'warn');
    }
  }

  private async logAudited(shardId: string, records: readonly DynamoDBRecord[]): Promise<void> {
    if (this.options.auditedObjects === undefined || records.length === 0) return;
    try {
      const keys = (await this.options.auditedObjects(shardId, records)).filter((key) => !this.logged.has(key));
      if (keys.length === 0) return;
      for (const key of keys) this.logged.add(key);
      const where = keys.length === 1 ? shortKey(keys[0]!) : `${keys.length} objects (${shortKey(keys[0]!)} ...)`;
      // One line per request, as the other steps are: which of its events the log now holds, and where.
      const byAction = new Map<string, string[]>();
      for (const record of records) {
        const image = record.dynamodb?.NewImage;
        const actionId = image?.actionId?.S ?? image?.pk?.S ?? 'unknown';
        const types = byAction.get(actionId) ?? [];
        types.push(image?.eventType?.S ?? 'unmappable');
        byAction.set(actionId, types);
      }
      for (const [actionId, types] of byAction) {
        this.options.log.step('audited', actionId, `${types.join(', ')} in ${where}`, 'dim');
      }
    } catch (error) {
      this.options.log.warn(`could not list the audit objects just written: ${(error as Error).message}`);
    }
  }
}
