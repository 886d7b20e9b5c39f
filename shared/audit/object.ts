/**
 * One audit object: the records of one shard batch, as NDJSON of canonical records, gzip, under the
 * deterministic key of format.ts.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { AUDIT_PREFIX, SEQUENCE_KEY_DIGITS, type AuditRecord } from './format.js';

export class AuditObjectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditObjectError';
  }
}

const SHARD_ID = /^[A-Za-z0-9._-]+$/;
const SEQUENCE = /^\d+$/;

export function paddedSequence(sequenceNumber: string): string {
  if (!SEQUENCE.test(sequenceNumber) || sequenceNumber.length > SEQUENCE_KEY_DIGITS) {
    throw new AuditObjectError(`stream sequence number "${sequenceNumber}" is not a decimal of at most ${SEQUENCE_KEY_DIGITS} digits`);
  }
  return sequenceNumber.padStart(SEQUENCE_KEY_DIGITS, '0');
}

/** `audit/dt=YYYY-MM-DD/hour=HH/shard=<shard>/`: the folder of a shard's objects for one hour. */
export function shardHourPrefix(shardId: string, streamCreatedAt: Date): string {
  if (!SHARD_ID.test(shardId)) throw new AuditObjectError(`shard id "${shardId}" may hold only letters, digits, ".", "_" and "-" (it is part of object keys)`);
  if (Number.isNaN(streamCreatedAt.getTime())) throw new AuditObjectError('the stream creation time of the batch is not a valid date');
  const iso = streamCreatedAt.toISOString();
  return `${AUDIT_PREFIX}dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/shard=${shardId}/`;
}

/**
 * The object key of a batch: partition from the FIRST record's stream creation time (UTC), then
 * shard and the zero-padded sequence range, so a redelivered batch maps to the same key.
 */
export function auditObjectKey(shardId: string, firstSequence: string, lastSequence: string, streamCreatedAt: Date): string {
  return `${shardHourPrefix(shardId, streamCreatedAt)}${paddedSequence(firstSequence)}-${paddedSequence(lastSequence)}.ndjson.gz`;
}

export interface AuditObject {
  key: string;
  /** gzip of `content`. */
  body: Uint8Array;
  /** NDJSON: one canonical record a line, each line ending in "\n". */
  content: string;
  /** SHA-256 (hex) of the UNCOMPRESSED content: what digests list and verify checks. */
  sha256: string;
  recordCount: number;
  firstSequence: string;
  lastSequence: string;
}

export function toNdjson(records: readonly AuditRecord[]): string {
  return records.map((record) => `${canonicalJson(record)}\n`).join('');
}

export function buildAuditObject(records: readonly AuditRecord[], streamCreatedAt: Date): AuditObject {
  const first = records[0];
  const last = records[records.length - 1];
  if (first === undefined || last === undefined) throw new AuditObjectError('an audit object needs at least one record');
  const content = toNdjson(records);
  return {
    key: auditObjectKey(first.shard_id, first.sequence_number, last.sequence_number, streamCreatedAt),
    // Fixed gzip settings: the same records give the same bytes (gzip writes no time or name by default in zlib).
    body: new Uint8Array(gzipSync(Buffer.from(content, 'utf8'), { level: 9 })),
    content,
    sha256: sha256Hex(content),
    recordCount: records.length,
    firstSequence: first.sequence_number,
    lastSequence: last.sequence_number,
  };
}

/**
 * The most an audit object may hold uncompressed. A batch is bounded by Lambda's 6 MB invocation
 * payload, so the writer's objects are far smaller; anything larger (a gzip bomb) is refused unread.
 */
export const MAX_OBJECT_CONTENT_BYTES = 64 * 1024 * 1024;
/** The most an audit object may hold as stored: gzip of at most MAX_OBJECT_CONTENT_BYTES, and a margin. */
export const MAX_STORED_OBJECT_BYTES = MAX_OBJECT_CONTENT_BYTES + 1024 * 1024;

/** The uncompressed text of an object; throws (naming why) when it is not gzip or too large. */
export function objectText(body: Uint8Array): string {
  return objectContent(body).toString('utf8');
}

/** zlib's smallest output chunk. */
const MIN_CHUNK_BYTES = 64;
/** The largest output chunk allocated up front from an object's own size field. */
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * The output chunk for gunzip: the size gzip's trailer gives (ISIZE, the uncompressed size modulo 2^32)
 * plus one, so a writer's object comes out of one inflate call into one buffer, not 16 KB chunks
 * joined by a copy. The field is the object's own word, so it only sizes the chunk (within bounds);
 * `maxOutputLength` is what limits the output.
 */
function outputChunk(body: Uint8Array): number {
  if (body.length < 18) return MIN_CHUNK_BYTES;
  const isize = (body[body.length - 4]! | (body[body.length - 3]! << 8) | (body[body.length - 2]! << 16)) + body[body.length - 1]! * 0x1000000;
  return Math.min(Math.max(isize + 1, MIN_CHUNK_BYTES), MAX_CHUNK_BYTES);
}

/** The uncompressed bytes of an object (what digests hash); throws (naming why) when it is not gzip or too large. */
export function objectContent(body: Uint8Array): Buffer {
  try {
    return gunzipSync(body, { maxOutputLength: MAX_OBJECT_CONTENT_BYTES, chunkSize: outputChunk(body) });
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) throw new AuditObjectError(`holds more than ${MAX_OBJECT_CONTENT_BYTES} bytes uncompressed, more than any batch the writer makes`);
    throw new AuditObjectError(`cannot be decompressed (${e.message})`);
  }
}

/** The records of a stored object (gzip NDJSON). */
export function parseAuditObject(body: Uint8Array): AuditRecord[] {
  const content = objectText(body);
  return content.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as AuditRecord);
}
