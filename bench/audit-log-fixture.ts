/**
 * A small audit-log writer for tests, the bench and the generator: records chained per shard and
 * NDJSON.gz objects exactly as format.ts lays them out, written through an `AuditSink`.
 * (The product's writer is shared/audit/writer.ts, fed by the table stream.)
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { AuditSink } from '../shared/ports/audit.js';
import { AUDIT_COLUMNS, AUDIT_PREFIX, GENESIS_HASH, SEQUENCE_KEY_DIGITS, type AuditRecord } from '../shared/audit/format.js';

const SORTED_KEYS = AUDIT_COLUMNS.map((column) => column.name).sort();
/** `"key":` of each sorted key, split around `hash` (a record's line is its unhashed line with `"hash":"…"` spliced in). */
const BEFORE_HASH = SORTED_KEYS.filter((key) => key < 'hash').map((key) => [key, `${JSON.stringify(key)}:`] as const);
const AFTER_HASH = SORTED_KEYS.filter((key) => key > 'hash').map((key) => [key, `${JSON.stringify(key)}:`] as const);

function entries(record: Partial<AuditRecord>, keys: ReadonlyArray<readonly [string, string]>): string {
  const fields = record as Record<string, unknown>;
  let out = '';
  for (const [key, prefix] of keys) {
    const value = fields[key];
    // As JSON.stringify of an object: a key whose value is undefined is left out.
    if (value !== undefined) out += `${out === '' ? '' : ','}${prefix}${JSON.stringify(value)}`;
  }
  return out;
}

function joined(...parts: string[]): string {
  return `{${parts.filter((part) => part !== '').join(',')}}`;
}

/**
 * Canonical JSON of a flat record (strings, nulls, string lists): JSON.stringify with sorted keys,
 * written key by key (no sorted copy of the record).
 */
export function flatCanonical(record: Partial<AuditRecord>): string {
  const hash = record.hash === undefined ? '' : `"hash":${JSON.stringify(record.hash)}`;
  return joined(entries(record, BEFORE_HASH), hash, entries(record, AFTER_HASH));
}

/** The record's hash (SHA-256 of its canonical line without `hash`) and its canonical line with it, serialized once. */
export function hashedLine(unhashed: Omit<AuditRecord, 'hash'>): { hash: string; line: string } {
  const before = entries(unhashed, BEFORE_HASH);
  const after = entries(unhashed, AFTER_HASH);
  const hash = createHash('sha256').update(joined(before, after)).digest('hex');
  return { hash, line: joined(before, `"hash":"${hash}"`, after) };
}

export type RecordFields = Partial<Omit<AuditRecord, 'sequence_number' | 'prev_hash' | 'hash'>> & { event_id: string };

export function baseRecord(fields: RecordFields, shardId: string, sequenceNumber: string, prevHash: string): AuditRecord {
  return chainedRecord(fields, shardId, sequenceNumber, prevHash).record;
}

/** The record and its canonical line (what an object holds, one per line). */
function chainedRecord(fields: RecordFields, shardId: string, sequenceNumber: string, prevHash: string): { record: AuditRecord; line: string } {
  // The issue 12 columns (valid_until, execution_status, started_at, finished_at, violation_rule) are in a
  // line only when a test sets them, as in lines written before they existed: the table reads them as null.
  const unhashed = {
    event_type: 'requested', action_id: null, occurred_at: '2026-11-20T10:00:00.000Z', agent_id: null, on_behalf_of: null, action: null,
    resource_type: null, resource_id: null, environment: null, outcome: null, reason: null, reviewer_id: null, vote: null, comment: null,
    policy_ids: [], payload_sha256: null, request_seq: null, redriven_at: null, detail: null,
    ...fields,
    shard_id: fields.shard_id ?? shardId, sequence_number: sequenceNumber, prev_hash: prevHash,
  } as Omit<AuditRecord, 'hash'>;
  const { hash, line } = hashedLine(unhashed);
  return { record: { ...unhashed, hash }, line };
}

export interface FixtureObject {
  key: string;
  body: Uint8Array;
  content: string;
  records: AuditRecord[];
}

export function objectKeyFor(shardId: string, first: string, last: string, hour: Date): string {
  const iso = hour.toISOString();
  const pad = (s: string) => s.padStart(SEQUENCE_KEY_DIGITS, '0');
  return `${AUDIT_PREFIX}dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/shard=${shardId}/${pad(first)}-${pad(last)}.ndjson.gz`;
}

export function fixtureObject(records: AuditRecord[], hour: Date, level = 6): FixtureObject {
  const object = fixtureLayout(records, hour, records.map(flatCanonical));
  return { ...object, body: gzipSync(object.content, { level }) };
}

function fixtureLayout(records: AuditRecord[], hour: Date, lines: readonly string[]): Omit<FixtureObject, 'body'> {
  const first = records[0]!;
  const last = records[records.length - 1]!;
  return { key: objectKeyFor(first.shard_id, first.sequence_number, last.sequence_number, hour), content: lines.map((line) => `${line}\n`).join(''), records };
}

/** Chains batches per shard (in the order given) and writes one object per batch. */
export class FixtureLogWriter {
  private readonly heads = new Map<string, { hash: string; sequence: bigint }>();
  readonly objects: FixtureObject[] = [];

  constructor(private readonly sink: AuditSink, private readonly retainUntil = new Date('2030-01-01T00:00:00Z'), private readonly gzipLevel = 6, private readonly keepObjects = true) {}

  batch(shardId: string, hour: Date, fields: RecordFields[]): FixtureObject {
    const object = this.chain(shardId, hour, fields);
    const withBody = { ...object, body: gzipSync(object.content, { level: this.gzipLevel }) };
    if (this.keepObjects) this.objects.push(withBody);
    return withBody;
  }

  /** Chains the batch onto its shard and lays out its object, without gzipping it (the caller does). */
  chain(shardId: string, hour: Date, fields: RecordFields[]): Omit<FixtureObject, 'body'> {
    const head = this.heads.get(shardId) ?? { hash: GENESIS_HASH, sequence: 1000n };
    let prev = head.hash;
    let sequence = head.sequence;
    const records: AuditRecord[] = [];
    const lines: string[] = [];
    for (const f of fields) {
      sequence += 7n;
      const { record, line } = chainedRecord(f, shardId, sequence.toString(), prev);
      prev = record.hash;
      records.push(record);
      lines.push(line);
    }
    this.heads.set(shardId, { hash: prev, sequence });
    return fixtureLayout(records, hour, lines);
  }

  async write(shardId: string, hour: Date, fields: RecordFields[]): Promise<FixtureObject> {
    const object = this.batch(shardId, hour, fields);
    await this.sink.putObject(object.key, object.body, { sha256OfUncompressed: createHash('sha256').update(object.content).digest('hex'), retainUntil: this.retainUntil });
    return object;
  }
}
