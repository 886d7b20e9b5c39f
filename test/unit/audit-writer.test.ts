import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { chainRecords, recordHash } from '../../shared/audit/chain.js';
import { GENESIS_HASH, type AuditRecord } from '../../shared/audit/format.js';
import { auditObjectKey, buildAuditObject, parseAuditObject } from '../../shared/audit/object.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { redriveFailures } from '../../shared/audit/redrive.js';
import type { FailedBatch } from '../../shared/audit/failures.js';
import { marshallOptions, toItem } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { decideRequest } from '../../shared/domain/intake.js';
import { actionRequested } from '../support/requests.js';
import { shardIdOf, writeAuditBatch, type AuditStreamRecord, type AuditWriterDeps } from '../../shared/audit/writer.js';
import { ChainHeadConflictError, type AuditSink, type ChainHead, type ChainStore, type PutAuditObjectOptions } from '../../shared/ports/audit.js';

class MemorySink implements AuditSink {
  readonly objects = new Map<string, { body: Uint8Array; options: PutAuditObjectOptions }>();
  async putObject(key: string, body: Uint8Array, options: PutAuditObjectOptions) {
    if (this.objects.has(key)) return 'already-written' as const;
    this.objects.set(key, { body, options });
    return 'written' as const;
  }
  async getObject(key: string) { return this.objects.get(key)?.body; }
  async list(prefix: string) { return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort(); }
  /** Every record in the log of a shard, in key order. */
  records(): AuditRecord[] { return [...this.objects.keys()].sort().flatMap((k) => parseAuditObject(this.objects.get(k)!.body)); }
}

class MemoryChain implements ChainStore {
  readonly heads = new Map<string, ChainHead>();
  async get(shardId: string) { return this.heads.get(shardId); }
  async advance(shardId: string, expected: ChainHead | undefined, next: ChainHead) {
    const current = this.heads.get(shardId);
    if (current?.lastSequence !== expected?.lastSequence) throw new ChainHeadConflictError(shardId, expected);
    this.heads.set(shardId, next);
  }
}

const SHARD = 'shardId-0001';
const START = Date.parse('2026-11-22T03:59:58.000Z') / 1000;

function streamRecord(seq: number, extra: Record<string, unknown> = {}, kind = 'event'): AuditStreamRecord {
  return {
    eventID: `e${seq}`,
    eventName: 'INSERT',
    eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/countersign/stream/2026-11-22T00:00:00.000',
    shardId: SHARD,
    dynamodb: {
      ApproximateCreationDateTime: START + seq,
      SequenceNumber: String(1000 + seq),
      NewImage: marshall({ pk: `REQ#a${seq}`, sk: 'EVENT#decided', kind, eventId: `a${seq}/decided`, eventType: 'decided', occurredAt: new Date((START + seq) * 1000).toISOString(), actionId: `a${seq}`, outcome: 'allowed', reason: 'ok', policyIds: ['p'], ...extra }) as Record<string, unknown>,
    },
  };
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => streamRecord(from + i));

function deps(overrides: Partial<AuditWriterDeps> = {}) {
  const sink = new MemorySink();
  const chain = new MemoryChain();
  return { sink, chain, deps: { sink, chain, retentionDays: 365, now: () => new Date('2026-11-22T04:00:00.000Z'), ...overrides } as AuditWriterDeps };
}

function expectWholeChain(records: AuditRecord[], sequences: number[]) {
  expect(records.map((r) => Number(r.sequence_number) - 1000)).toEqual(sequences);
  let prev = GENESIS_HASH;
  for (const r of records) {
    const { hash, ...unhashed } = r;
    expect(r.prev_hash).toBe(prev);
    expect(hash).toBe(recordHash(unhashed));
    prev = hash;
  }
}

describe('chain and object', () => {
  const body = (seq: string) => toAuditRecordBody({ eventId: `x/${seq}`, eventType: 'reminded', occurredAt: '2026-11-22T03:00:00.000Z' }, { shardId: SHARD, sequenceNumber: seq, streamCreatedAt: '2026-11-22T03:00:00.000Z' });

  it('chains each record onto the previous hash, and a change anywhere changes every later hash', () => {
    const chained = chainRecords([body('1'), body('2'), body('3')], GENESIS_HASH);
    expect(chained[0]!.prev_hash).toBe(GENESIS_HASH);
    expect(chained[1]!.prev_hash).toBe(chained[0]!.hash);
    expect(chained[2]!.prev_hash).toBe(chained[1]!.hash);
    const fromOtherHead = chainRecords([body('1'), body('2'), body('3')], 'a'.repeat(64));
    expect(fromOtherHead.map((r) => r.hash).every((h, i) => h !== chained[i]!.hash)).toBe(true);
  });

  it('gives a deterministic key from shard, sequence range and the first record\'s stream hour', () => {
    const at = new Date('2026-11-22T23:59:59.900Z');
    expect(auditObjectKey(SHARD, '7', '123', at)).toBe(`audit/dt=2026-11-22/hour=23/shard=${SHARD}/${'7'.padStart(40, '0')}-${'123'.padStart(40, '0')}.ndjson.gz`);
    expect(() => auditObjectKey('../x', '1', '2', at)).toThrow(/shard id/);
    expect(() => auditObjectKey(SHARD, '1'.repeat(41), '2', at)).toThrow(/at most 40 digits/);
    const records = chainRecords([body('1'), body('2')], GENESIS_HASH);
    const a = buildAuditObject(records, at);
    const b = buildAuditObject(records, at);
    expect(a.key).toBe(b.key);
    expect(Buffer.from(a.body).equals(Buffer.from(b.body))).toBe(true);
    expect(parseAuditObject(a.body)).toEqual(records);
  });
});

describe('writeAuditBatch', () => {
  it('writes one object per batch with the whole chain, and moves the head', async () => {
    const { sink, chain, deps: d } = deps();
    const [result] = await writeAuditBatch(range(1, 5), d);
    expect(result).toMatchObject({ shardId: SHARD, status: 'written', recordsWritten: 5, recordsSkipped: 0 });
    expect(sink.objects.size).toBe(1);
    const [key] = sink.objects.keys();
    expect(key).toBe(auditObjectKey(SHARD, '1001', '1005', new Date((START + 1) * 1000)));
    expect(sink.objects.get(key!)!.options.retainUntil.toISOString()).toBe('2027-11-22T04:00:00.000Z');
    expectWholeChain(sink.records(), [1, 2, 3, 4, 5]);
    expect(chain.heads.get(SHARD)).toEqual({ lastSequence: '1005', lastHash: sink.records().at(-1)!.hash });
    // The next batch continues the same chain.
    await writeAuditBatch(range(6, 8), d);
    expectWholeChain(sink.records(), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('takes only new event items: never the request item, the review item with its task token, chain heads or updates', async () => {
    const { sink, deps: d } = deps();
    const review = streamRecord(2, { taskToken: 'SECRET' }, 'review');
    const head = streamRecord(3, {}, 'audit-chain');
    const modify = { ...streamRecord(4), eventName: 'MODIFY' };
    await writeAuditBatch([streamRecord(1), review, head, modify, streamRecord(5)], d);
    expect(sink.records().map((r) => r.sequence_number)).toEqual(['1001', '1005']);
    expect(JSON.stringify(sink.records())).not.toContain('SECRET');
  });

  it('writes nothing twice when the same batch is delivered again', async () => {
    const { sink, deps: d } = deps();
    await writeAuditBatch(range(1, 5), d);
    const [again] = await writeAuditBatch(range(1, 5), d);
    expect(again).toMatchObject({ status: 'duplicate', recordsWritten: 0, recordsSkipped: 5 });
    expect(sink.objects.size).toBe(1);
  });

  it('writes only the new part of an overlapping, re-batched retry, in order', async () => {
    const { sink, deps: d } = deps();
    await writeAuditBatch(range(1, 5), d);
    const [result] = await writeAuditBatch([...range(3, 9)].reverse(), d);
    expect(result).toMatchObject({ status: 'written', recordsWritten: 4, recordsSkipped: 3 });
    expectWholeChain(sink.records(), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it.each([
    ['the same batch', range(1, 5)],
    ['a larger batch from the same start', range(1, 9)],
    ['a smaller batch (bisected)', range(1, 3)],
  ])('recovers from a crash between the object write and the head advance: redelivery of %s', async (_name, retry) => {
    const { sink, chain, deps: d } = deps();
    await writeAuditBatch(range(1, 2), d);
    const crashing = { ...d, afterObjectWrite: async () => { throw new Error('injected crash after the object write'); } };
    await expect(writeAuditBatch(range(1, 5), crashing)).rejects.toThrow(/injected crash/);
    expect(chain.heads.get(SHARD)?.lastSequence).toBe('1002');
    await writeAuditBatch(retry, d);
    await writeAuditBatch(range(1, 10), d);
    expectWholeChain(sink.records(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(chain.heads.get(SHARD)?.lastSequence).toBe('1010');
  });

  it('recovers the head from the stored object when the put answers already-written', async () => {
    const { sink, chain, deps: d } = deps();
    await writeAuditBatch(range(1, 3), d);
    // A lost head (as if the put of another attempt landed after this one listed): only the put sees the object.
    chain.heads.clear();
    const blindSink: AuditSink = { putObject: (k, b, o) => sink.putObject(k, b, o), getObject: (k) => sink.getObject(k), list: async () => [] };
    const [result] = await writeAuditBatch(range(1, 3), { ...d, sink: blindSink });
    expect(result).toMatchObject({ status: 'recovered', recordsWritten: 0 });
    expect(chain.heads.get(SHARD)).toEqual({ lastSequence: '1003', lastHash: sink.records().at(-1)!.hash });
  });

  it('keeps an item it cannot map as unmappable, in the chain, with its raw image', async () => {
    const { sink, deps: d } = deps();
    await writeAuditBatch([streamRecord(1), streamRecord(2, { eventType: 'warp' }), streamRecord(3, { big: { N: '1' } })], d);
    const [, odd] = sink.records();
    expect(odd).toMatchObject({ event_type: 'unmappable', event_id: 'a2/decided', reason: 'unknown eventType "warp"' });
    expect(JSON.parse(odd!.detail!)).toMatchObject({ eventType: 'warp', actionId: 'a2' });
    // A number DynamoDB holds more precisely than JavaScript can: kept in the stream's own form.
    const precise = { ...streamRecord(4), dynamodb: { ...streamRecord(4).dynamodb, NewImage: { ...streamRecord(4).dynamodb!.NewImage, amount: { N: '12345678901234567890.123' } } } };
    await writeAuditBatch([precise], d);
    const last = sink.records().at(-1)!;
    expect(last).toMatchObject({ event_type: 'unmappable', event_id: 'a4/decided' });
    expect(last.detail).toContain('12345678901234567890.123');
    expectWholeChain(sink.records(), [1, 2, 3, 4]);
  });

  it('refuses to adopt an object someone else put at its next key: the batch fails instead of being skipped', async () => {
    const { sink, chain, deps: d } = deps();
    await writeAuditBatch(range(1, 3), d);
    const head = chain.heads.get(SHARD)!;
    // A squatter writes, at the key the next batch starts at, a forged record chained onto the head,
    // with a last sequence far ahead: adopting it would skip every real record up to there.
    const forged = chainRecords([{ ...toAuditRecordBody({ eventId: 'squat/requested', eventType: 'decided', occurredAt: '2026-11-22T04:00:00.000Z', outcome: 'allowed', policyIds: [] }, { shardId: SHARD, sequenceNumber: '1004', streamCreatedAt: '2026-11-22T04:00:02.000Z' }) }], head.lastHash);
    const squat = buildAuditObject([{ ...forged[0]!, sequence_number: '1004' }], new Date((START + 4) * 1000));
    const key = auditObjectKey(SHARD, '1004', '999999', new Date((START + 4) * 1000));
    await sink.putObject(key, squat.body, { sha256OfUncompressed: squat.sha256, retainUntil: new Date() });
    await expect(writeAuditBatch(range(4, 6), d)).rejects.toThrow(new RegExp(`object ${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} sits at the writer's next key for shard ${SHARD} but is not this batch's records \\(line 1 \\(sequence 1004\\) differs from the batch's record\\)`));
    expect(chain.heads.get(SHARD)).toEqual(head);
  });

  it('fails the batch when another writer moved the head, writing nothing more', async () => {
    const { deps: d, chain } = deps();
    const racing = { ...d, afterObjectWrite: async () => { chain.heads.set(SHARD, { lastSequence: '1999', lastHash: 'b'.repeat(64) }); } };
    await expect(writeAuditBatch(range(1, 2), racing)).rejects.toBeInstanceOf(ChainHeadConflictError);
  });

  it('names the chain by the given shard id (Lambda\'s tumbling-window shardId) or the one the poller sets, and refuses to guess', async () => {
    expect(shardIdOf(streamRecord(1))).toBe(SHARD);
    const { shardId: _drop, ...lambdaShape } = streamRecord(1);
    expect(shardIdOf(lambdaShape, 'shardId-from-window')).toBe('shardId-from-window');
    expect(() => shardIdOf(lambdaShape)).toThrow(/TumblingWindowInSeconds/);
    const { sink, deps: d } = deps();
    await expect(writeAuditBatch([lambdaShape], d)).rejects.toThrow(/no shard id/);
    expect(sink.objects.size).toBe(0);
    await writeAuditBatch([lambdaShape], d, { shardId: 'shardId-from-window' });
    expect([...sink.objects.keys()][0]).toContain('/shard=shardId-from-window/');
  });
});

describe('redriving a request item (issue 15: the source of its requested event)', () => {
  const record = decideRequest(actionRequested({ action: 'db.query' }), { decide: () => ({ kind: 'allow' as const, policyIds: ['p'], reason: 'ok', validity: { validFor: 'PT15M', validForSeconds: 900 } }) } as never, '2026-11-22T03:59:59.000Z');
  const inserted = marshall(toItem(record), marshallOptions) as Record<string, AttributeValue>;
  const batch = (image: Record<string, AttributeValue>): FailedBatch => ({
    source: 'audit-failures.jsonl line 1', shardId: SHARD, startSequenceNumber: '1001', endSequenceNumber: '1001', failedAt: '2026-11-22T04:00:00.000Z', hasPayload: true,
    records: [{ ...streamRecord(1), dynamodb: { ApproximateCreationDateTime: START + 1, SequenceNumber: '1001', NewImage: image as never } }],
  });

  it('takes the item as a review and an execution later left it as unaltered, and writes the requested record the INSERT meant', async () => {
    const later = marshall({ ...unmarshall(inserted), outcome: 'approved', reason: 'quorum reached', eventSeq: 5, voteCount: 1, reviewers: [{ id: 'bob', vote: 'approve' }], execution: { status: 'succeeded' } }, marshallOptions);
    const { sink, deps: writerDeps } = deps();
    const result = await redriveFailures([batch(inserted)], { ...writerDeps, readEventItem: async () => later });
    expect(result.altered).toEqual([]);
    const [written] = sink.records();
    expect(written).toMatchObject({ event_type: 'requested', event_id: `${record.key}/requested`, request_seq: 1, shard_id: `late.${SHARD}` });
    expect({ ...written, detail: null }).toMatchObject({ ...toAuditRecordBody(unmarshall(inserted), { shardId: `late.${SHARD}`, sequenceNumber: '1001', streamCreatedAt: new Date((START + 1) * 1000).toISOString(), redrivenAt: '2026-11-22T04:00:00.000Z' }), detail: null });
  });

  it('reports a failure document whose request was edited as altered, and writes the table\'s request', async () => {
    const request = JSON.parse(unmarshall(inserted).requestJson as string) as { parameters?: unknown };
    const edited = marshall({ ...unmarshall(inserted), requestJson: JSON.stringify({ ...request, parameters: { sql: 'drop table customers' } }) }, marshallOptions);
    const { sink, deps: writerDeps } = deps();
    const result = await redriveFailures([batch(edited as Record<string, AttributeValue>)], { ...writerDeps, readEventItem: async () => inserted });
    expect(result.altered).toEqual([{ source: 'audit-failures.jsonl line 1', key: `REQ#${record.key}/REQUEST`, why: 'differs from the table' }]);
    expect(sink.records()[0]!.detail).not.toContain('drop table');
  });
});
