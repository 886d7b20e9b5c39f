/**
 * The audit writer: one stream batch of one shard → one write-once object, chained onto the shard's
 * head, then the head moves (the commit point).
 *
 * Exactly once, from at-least-once delivery:
 * - records at or below the head's sequence were written before (duplicate deliveries, retries) and
 *   are skipped;
 * - the object key is deterministic (shard + first/last sequence + the first record's stream time);
 * - a crash after the object write but before the head moved leaves an object that starts right
 *   after the head. Before writing, the writer lists `<shard hour folder>/<first fresh sequence>-`:
 *   an object found there is adopted (the head moves to its last record) and only what follows it is
 *   written. This holds even when the retry's batch has other boundaries than the crashed one.
 *
 * Shard: a plain Lambda DynamoDB stream event does not name its shard (record `eventID`s are random;
 * one invocation is one shard's batch with `ParallelizationFactor` 1). With a tumbling window on the
 * event source mapping (`TumblingWindowInSeconds` > 0), Lambda adds the event-level `shardId`: the
 * handler passes it as the `shardId` option. The local poller sets `shardId` on each record. With
 * neither, the writer refuses the batch rather than guess: one chain for several concurrently open
 * shards would interleave them, and its "at or below the head" rule would drop a lagging shard's
 * records.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ChainHeadConflictError, type AuditSink, type ChainHead, type ChainStore } from '../ports/audit.js';
import { canonicalJson } from '../domain/canonical-json.js';
import { AUDIT_EVENT_MARK } from '../domain/request-items.js';
import { chainRecords, compareSequence, recordHash } from './chain.js';
import { GENESIS_HASH, type AuditRecord } from './format.js';
import { buildAuditObject, paddedSequence, parseAuditObject, shardHourPrefix, type AuditObject } from './object.js';
import { toAuditRecordBody, unmappableRecord, type AuditRecordBody } from './record.js';

/** The parts of a DynamoDB stream record (Lambda's `DynamoDBRecord` shape) the writer reads. */
export interface AuditStreamRecord {
  eventID?: string;
  eventName?: string;
  eventSourceARN?: string;
  /** Not in Lambda's shape: the local poller adds it. */
  shardId?: string;
  dynamodb?: {
    ApproximateCreationDateTime?: number;
    SequenceNumber?: string;
    NewImage?: Record<string, unknown>;
  };
}

export interface AuditWriterDeps {
  sink: AuditSink;
  chain: ChainStore;
  /** Object-lock retention of each object, from its write time. */
  retentionDays: number;
  now: () => Date;
  /** Test seam: runs between the object write and the head advance. */
  afterObjectWrite?: (object: AuditObject) => Promise<void>;
}

export interface ShardBatchResult {
  shardId: string;
  /** `written`: a new object; `recovered`: only an object left by an earlier attempt was adopted; `duplicate`: nothing new. */
  status: 'written' | 'recovered' | 'duplicate';
  objectKeys: string[];
  recordsWritten: number;
  recordsSkipped: number;
  head: ChainHead | undefined;
}

export class AuditWriterError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuditWriterError';
  }
}

interface Positioned {
  sequenceNumber: string;
  streamCreatedAt: Date;
  image: Record<string, unknown> | undefined;
  raw: Record<string, unknown>;
  unmarshallError?: string;
}

function stringAttr(image: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = image?.[name];
  if (typeof value === 'object' && value !== null && 'S' in value) {
    const s = (value as { S?: unknown }).S;
    return typeof s === 'string' ? s : undefined;
  }
  return undefined;
}

/**
 * Only new event items, and new request items that are their `requested` event's source (marked
 * `auditEvent: 'requested'`, request-items.ts), are audit records: never a request item's later changes, the review item (it holds a
 * task token) or chain heads. The same filter as the event source mapping's (audit-trail.ts).
 */
export function isAuditEvent(record: AuditStreamRecord): boolean {
  if (record.eventName !== 'INSERT') return false;
  const image = record.dynamodb?.NewImage;
  const kind = stringAttr(image, 'kind');
  return kind === 'event' || (kind === 'request' && stringAttr(image, AUDIT_EVENT_MARK.attribute) === AUDIT_EVENT_MARK.value);
}

export function shardIdOf(record: AuditStreamRecord, override?: string): string {
  if (override !== undefined && override !== '') return override;
  if (record.shardId !== undefined && record.shardId !== '') return record.shardId;
  throw new AuditWriterError(
    `stream record ${record.eventID ?? '(no eventID)'} of ${record.eventSourceARN ?? 'an unknown stream'} comes with no shard id, so its chain is unknown: `
    + 'give the event source mapping a tumbling window (TumblingWindowInSeconds > 0, which makes Lambda send the event-level shardId), or set shardId on each record (the local poller does)',
  );
}

function positioned(record: AuditStreamRecord): Positioned {
  const stream = record.dynamodb;
  const sequenceNumber = stream?.SequenceNumber;
  if (sequenceNumber === undefined) throw new AuditWriterError(`stream record ${record.eventID ?? '(no eventID)'} has no SequenceNumber`);
  paddedSequence(sequenceNumber);
  const seconds = stream?.ApproximateCreationDateTime;
  if (seconds === undefined || !Number.isFinite(seconds)) {
    throw new AuditWriterError(`stream record ${record.eventID ?? sequenceNumber} has no ApproximateCreationDateTime (the object key's partition)`);
  }
  // Lambda and DynamoDB Streams give seconds (with a fraction); a value in milliseconds is accepted too.
  const streamCreatedAt = new Date(seconds > 1e11 ? seconds : seconds * 1000);
  const raw = stream?.NewImage ?? {};
  try {
    return { sequenceNumber, streamCreatedAt, raw, image: unmarshall(raw as Record<string, AttributeValue>, { wrapNumbers: false }) as Record<string, unknown> };
  } catch (error) {
    return { sequenceNumber, streamCreatedAt, raw, image: undefined, unmarshallError: (error as Error).message };
  }
}

/**
 * A redrive (redrive.ts): the records went to the failure destination and the shard's chain moved on
 * without them, so they go into their own chain `late.<shard>`, marked with the redrive time, in the
 * partition of that time (the next digest lists them; their stream time may be days old).
 */
export interface LateWrite {
  redrivenAt: Date;
}

function bodyOf(record: Positioned, shardId: string, late: LateWrite | undefined): AuditRecordBody {
  const position = {
    shardId, sequenceNumber: record.sequenceNumber, streamCreatedAt: record.streamCreatedAt.toISOString(),
    ...(late === undefined ? {} : { redrivenAt: late.redrivenAt.toISOString() }),
  };
  if (record.image === undefined) {
    // Kept as the stream gave it (AttributeValue form): nothing is dropped.
    const strings = Object.fromEntries(Object.keys(record.raw).flatMap((name) => {
      const value = stringAttr(record.raw, name);
      return value === undefined ? [] : [[name, value]];
    }));
    return unmappableRecord(record.raw, position, `the stream image could not be read: ${record.unmarshallError ?? 'unknown error'}`, strings);
  }
  return toAuditRecordBody(record.image, position);
}

function retainUntil(deps: AuditWriterDeps): Date {
  return new Date(deps.now().getTime() + deps.retentionDays * 86_400_000);
}

/** The head after an object: its last record. */
async function headOfObject(sink: AuditSink, key: string): Promise<ChainHead> {
  const body = await sink.getObject(key);
  if (body === undefined) throw new AuditWriterError(`audit object ${key} was reported as written but cannot be read`);
  const last = parseAuditObject(body).at(-1);
  if (last === undefined) throw new AuditWriterError(`audit object ${key} holds no records`);
  return { lastSequence: last.sequence_number, lastHash: last.hash };
}

async function advance(deps: AuditWriterDeps, shardId: string, from: ChainHead | undefined, to: ChainHead): Promise<ChainHead> {
  await deps.chain.advance(shardId, from, to);
  return to;
}

async function writeShardBatch(shardId: string, records: Positioned[], deps: AuditWriterDeps, late: LateWrite | undefined): Promise<ShardBatchResult> {
  const sorted = [...new Map(records.map((r) => [r.sequenceNumber, r])).values()].sort((a, b) => compareSequence(a.sequenceNumber, b.sequenceNumber));
  let head = await deps.chain.get(shardId);
  const objectKeys: string[] = [];
  let adopted = false;
  let written = 0;
  for (;;) {
    const after = head?.lastSequence;
    const fresh = after === undefined ? sorted : sorted.filter((r) => compareSequence(r.sequenceNumber, after) > 0);
    const first = fresh[0];
    if (first === undefined) {
      return { shardId, status: written > 0 ? 'written' : adopted ? 'recovered' : 'duplicate', objectKeys, recordsWritten: written, recordsSkipped: sorted.length - written, head };
    }
    // An object that starts at the first fresh record was written by an attempt that crashed before
    // moving the head. A late object's partition is its redrive's hour: the crashed attempt may have run
    // in the hour before this one.
    const partitionTime = late?.redrivenAt ?? first.streamCreatedAt;
    const hours = late === undefined ? [partitionTime] : [partitionTime, new Date(partitionTime.getTime() - 3_600_000)];
    let orphan: string | undefined;
    for (const hour of hours) orphan ??= (await deps.sink.list(`${shardHourPrefix(shardId, hour)}${paddedSequence(first.sequenceNumber)}-`))[0];
    if (orphan !== undefined) {
      const refused = await whyNotAdoptable(deps.sink, orphan, fresh, head, shardId, late);
      if (refused !== undefined) {
        // Not this writer's work: someone wrote at the key the writer was about to use. Adopting it would
        // skip the batch's real records; failing makes them go to the failure destination and the redrive.
        throw new AuditWriterError(`object ${orphan} sits at the writer's next key for shard ${shardId} but is not this batch's records (${refused}): it was not written by this writer; the batch is refused rather than skipped`);
      }
      head = await advance(deps, shardId, head, await headOfObject(deps.sink, orphan));
      objectKeys.push(orphan);
      adopted = true;
      continue;
    }
    const object = buildAuditObject(chainRecords(fresh.map((r) => bodyOf(r, shardId, late)), head?.lastHash ?? GENESIS_HASH), partitionTime);
    const outcome = await deps.sink.putObject(object.key, object.body, { sha256OfUncompressed: object.sha256, retainUntil: retainUntil(deps) });
    await deps.afterObjectWrite?.(object);
    const last = outcome === 'written' ? { lastSequence: object.lastSequence, lastHash: parseLastHash(object) } : await headOfObject(deps.sink, object.key);
    head = await advance(deps, shardId, head, last);
    objectKeys.push(object.key);
    if (outcome === 'written') written += object.recordCount;
    else adopted = true;
  }
}

/**
 * Why an object found at the writer's next key cannot be the work of an earlier attempt of this batch,
 * or undefined when it can: it must chain onto the head, each record's hash must hold, and its records
 * must be this batch's fresh records, in order, with the same content (a late record's `redriven_at`
 * may differ: it is the earlier attempt's time). Records past the end of this batch (an earlier attempt
 * with a larger batch, before a bisection) are checked for their chain only.
 */
async function whyNotAdoptable(sink: AuditSink, key: string, fresh: readonly Positioned[], head: ChainHead | undefined, shardId: string, late: LateWrite | undefined): Promise<string | undefined> {
  const body = await sink.getObject(key);
  if (body === undefined) return 'it cannot be read';
  let records: AuditRecord[];
  try {
    records = parseAuditObject(body);
  } catch (error) {
    return `it is not gzip NDJSON: it ${(error as Error).message}`;
  }
  if (records.length === 0) return 'it holds no records';
  const comparable = (record: Record<string, unknown>) => {
    const { hash: _h, prev_hash: _p, redriven_at: _r, ...rest } = record;
    return canonicalJson(rest);
  };
  let prev = head?.lastHash ?? GENESIS_HASH;
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!;
    if (typeof record !== 'object' || record === null) return `line ${index + 1} is not a record`;
    if (record.prev_hash !== prev) return `line ${index + 1} does not chain onto ${index === 0 ? 'the shard\'s head' : 'the line before'}`;
    const { hash, ...unhashed } = record;
    if (recordHash(unhashed) !== hash) return `line ${index + 1}'s hash does not match its content`;
    prev = hash;
    const expected = fresh[index];
    if (expected === undefined) continue;
    if (record.sequence_number !== expected.sequenceNumber) return `line ${index + 1} is sequence ${String(record.sequence_number)}, the batch's is ${expected.sequenceNumber}`;
    if (comparable(record as unknown as Record<string, unknown>) !== comparable(bodyOf(expected, shardId, late) as unknown as Record<string, unknown>)) return `line ${index + 1} (sequence ${expected.sequenceNumber}) differs from the batch's record`;
  }
  return undefined;
}

function parseLastHash(object: AuditObject): string {
  const lastLine = object.content.trimEnd().split('\n').at(-1);
  if (lastLine === undefined) throw new AuditWriterError(`audit object ${object.key} has no records`);
  return (JSON.parse(lastLine) as { hash: string }).hash;
}

/**
 * Writes the audit records of a stream batch: new event items only, grouped by shard, one object per
 * shard, each shard chained onto its head. Throws when a shard's write fails (the whole batch is then
 * retried; what was written is skipped the next time).
 */
export async function writeAuditBatch(records: readonly AuditStreamRecord[], deps: AuditWriterDeps, options: { shardId?: string; late?: LateWrite } = {}): Promise<ShardBatchResult[]> {
  const byShard = new Map<string, Positioned[]>();
  for (const record of records) {
    if (!isAuditEvent(record)) continue;
    const shardId = shardIdOf(record, options.shardId);
    const list = byShard.get(shardId) ?? [];
    list.push(positioned(record));
    byShard.set(shardId, list);
  }
  const results: ShardBatchResult[] = [];
  for (const [shardId, shardRecords] of byShard) {
    try {
      results.push(await writeShardBatch(shardId, shardRecords, deps, options.late));
    } catch (error) {
      if (error instanceof ChainHeadConflictError) throw error;
      throw new AuditWriterError(`writing the audit records of shard ${shardId} failed: ${(error as Error).message}`, { cause: error });
    }
  }
  return results;
}
