/**
 * The audit writer's on-failure destination, read back: the stream batches Lambda (or the local
 * poller) gave up on. In AWS an S3 destination holds one JSON object per failed batch: the invocation
 * record (`requestContext`, `responseContext`, `DDBStreamBatchInfo`, `timestamp`) and, for an S3
 * destination, the batch itself (`payload`: the function's event, `Records` in Lambda's DynamoDB
 * stream shape). Locally the poller appends the same document as one line of `audit-failures.jsonl`.
 *
 * `verify` reports every event item of these batches that is not in the log yet; the redrive
 * (redrive.ts) writes them into the log.
 */
import { readFile, stat } from 'node:fs/promises';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { listKeys, getIfExists, type AuditObjectReader } from './digest-store.js';
import { canonicalJson } from '../domain/canonical-json.js';
import { toAuditRecordBody } from './record.js';
import { requestKeyOf } from './request-sequence.js';
import { isAuditEvent, type AuditStreamRecord } from './writer.js';

export interface FailedBatch {
  /** Where it is: `audit-failures.jsonl line 3`, `s3://bucket/key`. */
  source: string;
  shardId: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  /** When it was sent to the destination. */
  failedAt: string;
  /** The batch's stream records (Lambda's shape); empty when the destination kept no payload. */
  records: AuditStreamRecord[];
  /** False when the document carried no payload (an SQS or SNS destination, or one over their size limit). */
  hasPayload: boolean;
}

/** One event item of a failed batch, as `verify` looks for it in the log. */
export interface FailedEventItem {
  shardId: string;
  /** Decimal, without leading zeros. */
  sequence: string;
  eventId: string | null;
  /** `<request>#<requestSeq>`, when the item carries its sequence number. */
  requestSeqKey: string | null;
  /** The record the writer makes of it, as `comparableRecord` gives it: what the log must hold for it. */
  comparable: string;
}

/** A record without what a redrive changes (its chain, its chain's name, `redriven_at`), as canonical JSON. */
export function comparableRecord(record: Record<string, unknown>): string {
  const { hash: _h, prev_hash: _p, redriven_at: _r, shard_id: _s, ...rest } = record;
  return canonicalJson(rest);
}

export class FailureEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailureEntryError';
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A failure document (parsed JSON) → the batch; throws FailureEntryError naming what is missing. */
export function parseFailureEntry(document: unknown, source: string): FailedBatch {
  if (!isObject(document)) throw new FailureEntryError(`${source} is not a JSON object`);
  const info = document.DDBStreamBatchInfo;
  if (!isObject(info) || typeof info.shardId !== 'string' || typeof info.startSequenceNumber !== 'string' || typeof info.endSequenceNumber !== 'string') {
    throw new FailureEntryError(`${source} has no DDBStreamBatchInfo with shardId, startSequenceNumber and endSequenceNumber: it is not a DynamoDB stream failure record`);
  }
  // The payload is the function's event; a destination may keep it as an object or as JSON text.
  let payload: unknown = document.payload ?? document.requestPayload;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      throw new FailureEntryError(`${source}: its payload is text that is not JSON`);
    }
  }
  const records = isObject(payload) && Array.isArray(payload.Records) ? (payload.Records as AuditStreamRecord[]) : [];
  return {
    source,
    shardId: info.shardId,
    startSequenceNumber: info.startSequenceNumber,
    endSequenceNumber: info.endSequenceNumber,
    failedAt: typeof document.timestamp === 'string' ? document.timestamp : 'an unknown time',
    records,
    hasPayload: isObject(payload) && Array.isArray(payload.Records),
  };
}

/** The event items of a batch (the writer's filter), with what identifies them in the log. */
export function failedEventItems(batch: FailedBatch): FailedEventItem[] {
  const items: FailedEventItem[] = [];
  for (const record of batch.records) {
    if (!isAuditEvent(record) || record.dynamodb?.SequenceNumber === undefined || !/^\d+$/.test(record.dynamodb.SequenceNumber)) continue;
    let image: Json = {};
    try {
      image = unmarshall((record.dynamodb.NewImage ?? {}) as Record<string, AttributeValue>) as Json;
    } catch {
      // An image that cannot be read is still looked for by its position.
    }
    const seconds = record.dynamodb.ApproximateCreationDateTime ?? 0;
    const body = toAuditRecordBody(image, { shardId: batch.shardId, sequenceNumber: record.dynamodb.SequenceNumber, streamCreatedAt: new Date(seconds > 1e11 ? seconds : seconds * 1000).toISOString() });
    // As the record names it: a request item's own eventId is the bus event's, its record's is `<key>/requested`.
    const mapped = body.event_type !== 'unmappable';
    const eventId = mapped ? body.event_id : typeof image.eventId === 'string' ? image.eventId : null;
    const eventType = mapped ? body.event_type : typeof image.eventType === 'string' ? image.eventType : '';
    const seq = mapped ? body.request_seq : image.requestSeq;
    const requestSeqKey = eventId !== null && typeof seq === 'number'
      ? `${requestKeyOf({ actionId: typeof image.actionId === 'string' ? image.actionId : null, eventId, eventType })}#${seq}`
      : null;
    items.push({ shardId: batch.shardId, sequence: BigInt(record.dynamodb.SequenceNumber).toString(), eventId, requestSeqKey, comparable: comparableRecord(body as unknown as Record<string, unknown>) });
  }
  return items;
}

/** The local destination: one failure document a line. Absent file: no failures. */
export async function readLocalFailures(file: string): Promise<FailedBatch[]> {
  let text: string;
  try {
    // Not a pipe or a device: reading one would wait for ever.
    if (!(await stat(file)).isFile()) throw new FailureEntryError(`${file} is not a regular file`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const batches: FailedBatch[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.trim() === '') continue;
    batches.push(parseFailureText(line, `${file} line ${index + 1}`));
  }
  return batches;
}

/** One failure document's text → its batch; FailureEntryError naming the source when it is not JSON. */
function parseFailureText(text: string, source: string): FailedBatch {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new FailureEntryError(`${source} is not JSON (${(error as Error).message})`);
  }
  return parseFailureEntry(document, source);
}

/**
 * The S3 destination: every object in the failure bucket is one failure document. The bucket is
 * versioned but not locked: every version is read (a delete marker does not hide a failed batch).
 */
export async function readS3Failures(bucket: AuditObjectReader, bucketName: string): Promise<FailedBatch[]> {
  const batches: FailedBatch[] = [];
  const versions = bucket.listVersions === undefined ? undefined : (await bucket.listVersions('')).filter((v) => !v.isDeleteMarker);
  const entries = versions === undefined
    ? (await listKeys(bucket, '')).map((key) => ({ key, versionId: undefined as string | undefined }))
    : versions.map((v) => ({ key: v.key, versionId: v.versionId as string | undefined }));
  const seen = new Set<string>();
  for (const { key, versionId } of entries) {
    const source = `s3://${bucketName}/${key}${versionId === undefined ? '' : ` (version ${versionId})`}`;
    const bytes = versionId !== undefined && bucket.getObjectVersion !== undefined ? await bucket.getObjectVersion(key, versionId) : await getIfExists(bucket, key);
    if (bytes === undefined) continue;
    const text = Buffer.from(bytes).toString('utf8');
    if (seen.has(text)) continue;
    seen.add(text);
    batches.push(parseFailureText(text, source));
  }
  return batches;
}
