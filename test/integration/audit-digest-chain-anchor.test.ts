/**
 * The digest signs an object only if the audit writer's chain head for its shard vouches for it: the
 * real writer, DynamoChainStore on DynamoDB Local, a local audit directory, an Ed25519 signer, verify.
 */
import { marshall } from '@aws-sdk/util-dynamodb';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { chainRecords } from '../../shared/audit/chain.js';
import { whyNotVouched, writeDigestsUpTo, type AuditDigest, type DigestDeps } from '../../shared/audit/digest.js';
import { GENESIS_HASH } from '../../shared/audit/format.js';
import { buildAuditObject, parseAuditObject } from '../../shared/audit/object.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { verifyAuditLog } from '../../shared/audit/verify.js';
import { writeAuditBatch, type AuditStreamRecord, type AuditWriterDeps } from '../../shared/audit/writer.js';

const TABLE = 'countersign-digest-anchor-it';
const H03 = Date.parse('2026-11-22T03:10:00.000Z') / 1000;
let ddb: DynamoDbLocal;
const dirs: string[] = [];

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function streamRecord(shardId: string, seq: number): AuditStreamRecord {
  return {
    eventID: `e${seq}`,
    eventName: 'INSERT',
    eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/countersign/stream/2026-11-22T00:00:00.000',
    shardId,
    dynamodb: {
      ApproximateCreationDateTime: H03 + seq,
      SequenceNumber: String(1000 + seq),
      NewImage: marshall({ pk: `REQ#a${seq}`, sk: 'EVENT#decided', kind: 'event', eventId: `a${seq}/decided`, eventType: 'decided', occurredAt: new Date((H03 + seq) * 1000).toISOString(), actionId: `a${seq}`, outcome: 'allowed', reason: 'ok', policyIds: ['p'] }) as Record<string, unknown>,
    },
  };
}
const range = (shardId: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => streamRecord(shardId, from + i));

/** What someone with write access to the bucket, and no key, can make: records that hash and chain. */
function forgedObject(shardId: string, from: number, to: number, previousHash: string) {
  const bodies = Array.from({ length: to - from + 1 }, (_, i) => {
    const seq = from + i;
    return toAuditRecordBody(
      { pk: `REQ#f${seq}`, sk: 'EVENT#decided', kind: 'event', eventId: `f${seq}/decided`, eventType: 'decided', occurredAt: new Date((H03 + seq) * 1000).toISOString(), actionId: `f${seq}`, outcome: 'allowed', reason: 'forged', policyIds: ['p'] },
      { shardId, sequenceNumber: String(1000 + seq), streamCreatedAt: new Date((H03 + seq) * 1000).toISOString() },
    );
  });
  return buildAuditObject(chainRecords(bodies, previousHash), new Date((H03 + from) * 1000));
}

async function setup(name: string) {
  const dir = await mkdtemp(join(tmpdir(), `countersign-anchor-${name}-`));
  dirs.push(dir);
  const sink = new LocalAuditSink(dir);
  const signer = Ed25519Signer.generate();
  // One table, a shard namespace per test: the heads of one test are not another's.
  const chain = new DynamoChainStore(ddb.client, TABLE);
  const writer: AuditWriterDeps = { sink, chain, retentionDays: 30, now: () => new Date('2026-11-22T03:30:00Z') };
  const digestDeps: DigestDeps = { sink, signer, chain };
  const put = (object: ReturnType<typeof forgedObject>) => sink.putObject(object.key, object.body, { sha256OfUncompressed: object.sha256, retainUntil: new Date('2027-01-01T00:00:00Z') });
  const listed = async () => {
    const keys = (await sink.list('digests/')).filter((k) => k.endsWith('.json'));
    return (await Promise.all(keys.map(async (k) => (JSON.parse(Buffer.from((await sink.getObject(k))!).toString('utf8')) as AuditDigest).objects.map((o) => o.key)))).flat();
  };
  const verify = async (now: Date) => verifyAuditLog({ sink, publicKeyPem: await signer.publicKeyPem(), now, workers: 0 });
  return { sink, signer, chain, writer, digestDeps, put, listed, verify };
}

describe('the digest signs only objects the audit writer\'s chain head vouches for (DynamoDB Local)', () => {
  it('refuses a forged object of a brand-new shard that chains from the genesis hash, signs the writer\'s objects, and verify names the forged one', async () => {
    const t = await setup('forged');
    const genuine = await writeAuditBatch(range('shardId-f-real', 1, 3), t.writer);
    const forged = forgedObject('shardId-f-new', 10, 12, GENESIS_HASH);
    expect(await t.put(forged)).toBe('written');

    const result = await writeDigestsUpTo(new Date('2026-11-22T04:05:00Z'), t.digestDeps);
    expect(result.written).toEqual(['digests/dt=2026-11-22/hour=03/digest.json']);
    expect(result.refused).toEqual([
      `object ${forged.key}: the audit writer's chain head for shard shardId-f-new does not reach sequence 1012 (there is none): it was not written by the audit writer, or its head has not moved yet; it is not signed (a later digest takes it again while it is within the last 24 hours)`,
    ]);
    expect(await t.listed()).toEqual(genuine[0]!.objectKeys);

    // Hours later, still no head for the shard: still refused, and verify names the object as unsigned.
    const later = await writeDigestsUpTo(new Date('2026-11-22T07:05:00Z'), t.digestDeps);
    expect(later.refused).toHaveLength(1);
    expect(await t.listed()).toEqual(genuine[0]!.objectKeys);
    const report = await t.verify(new Date('2026-11-22T07:06:00Z'));
    expect(report.problems.map((p) => [p.kind, p.objectKey])).toEqual([['object-unsigned', forged.key]]);
    expect(report.problems[0]!.message).toMatch(/or the digest writer refused it as not the audit writer's \(the digest job's log says why\)$/);
  });

  it('without the chain store (the old wiring) the same forged object is signed and verify finds the log whole: the gap this closes', async () => {
    const t = await setup('gap');
    await writeAuditBatch(range('shardId-g-real', 1, 3), t.writer);
    const forged = forgedObject('shardId-g-new', 10, 12, GENESIS_HASH);
    await t.put(forged);
    const { chain: _none, ...unanchored } = t.digestDeps;
    expect((await writeDigestsUpTo(new Date('2026-11-22T04:05:00Z'), unanchored)).refused).toEqual([]);
    expect(await t.listed()).toContain(forged.key);
    expect((await t.verify(new Date('2026-11-22T04:06:00Z'))).problems).toEqual([]);
  });

  it('refuses an object of a known shard past its head, and one that ends at the head with another last hash', async () => {
    const t = await setup('known');
    const [genuine] = await writeAuditBatch(range('shardId-k', 1, 3), t.writer);
    const head = (await t.chain.get('shardId-k'))!;
    expect(head.lastSequence).toBe('1003');
    // Past the head, chained onto the head's hash (anyone can read it from the last object).
    const beyond = forgedObject('shardId-k', 4, 5, head.lastHash);
    // Ends exactly at the head's sequence, but is not the writer's records: the hash differs.
    const atHead = forgedObject('shardId-k', 2, 3, GENESIS_HASH);
    await t.put(beyond);
    await t.put(atHead);

    const result = await writeDigestsUpTo(new Date('2026-11-22T04:05:00Z'), t.digestDeps);
    const lastHashOf = async (key: string) => parseAuditObject((await t.sink.getObject(key))!).at(-1)!.hash;
    expect(result.refused.sort()).toEqual([
      `object ${atHead.key}: its last record (sequence 1003) is not the one the audit writer's chain head for shard shardId-k holds (hash ${await lastHashOf(atHead.key)} is not the head's ${head.lastHash}): it was not written by the audit writer, or its head has not moved yet; it is not signed (a later digest takes it again while it is within the last 24 hours)`,
      `object ${beyond.key}: the audit writer's chain head for shard shardId-k does not reach sequence 1005 (it is at 1003): it was not written by the audit writer, or its head has not moved yet; it is not signed (a later digest takes it again while it is within the last 24 hours)`,
    ].sort());
    expect(await t.listed()).toEqual(genuine!.objectKeys);
  });

  it('signs the writer\'s objects of several shards and batches, behind the head and at it', async () => {
    const t = await setup('genuine');
    const first = await writeAuditBatch(range('shardId-a', 1, 2), t.writer);
    const second = await writeAuditBatch(range('shardId-a', 3, 5), t.writer);
    const other = await writeAuditBatch(range('shardId-b', 1, 4), t.writer);
    const keys = [first, second, other].flatMap((r) => r[0]!.objectKeys);
    expect(keys).toHaveLength(3);
    const result = await writeDigestsUpTo(new Date('2026-11-22T04:05:00Z'), t.digestDeps);
    expect(result.refused).toEqual([]);
    expect((await t.listed()).sort()).toEqual(keys.sort());
    expect((await t.verify(new Date('2026-11-22T04:06:00Z'))).problems).toEqual([]);
  });

  it('a digest run between the writer\'s object write and its head advance refuses the object for now, and a later run signs it', async () => {
    const t = await setup('crash');
    await writeAuditBatch(range('shardId-c', 1, 2), t.writer);
    let during: Awaited<ReturnType<typeof writeDigestsUpTo>> | undefined;
    // The digest runs exactly in the window: the object is in the log, the head still at 1002.
    const racing: AuditWriterDeps = { ...t.writer, afterObjectWrite: async () => { during = await writeDigestsUpTo(new Date('2026-11-22T04:05:00Z'), t.digestDeps); } };
    const [result] = await writeAuditBatch(range('shardId-c', 3, 4), racing);
    const windowed = result!.objectKeys[0]!;
    expect(during!.written).toEqual(['digests/dt=2026-11-22/hour=03/digest.json']);
    expect(during!.refused).toEqual([
      `object ${windowed}: the audit writer's chain head for shard shardId-c does not reach sequence 1004 (it is at 1002): it was not written by the audit writer, or its head has not moved yet; it is not signed (a later digest takes it again while it is within the last 24 hours)`,
    ]);
    expect(await t.listed()).not.toContain(windowed);
    expect((await t.chain.get('shardId-c'))!.lastSequence).toBe('1004');

    // The next hourly run looks back over the late window: the head now vouches for the object.
    const next = await writeDigestsUpTo(new Date('2026-11-22T05:05:00Z'), t.digestDeps);
    expect(next.refused).toEqual([]);
    expect(next.written).toEqual(['digests/dt=2026-11-22/hour=04/digest.json']);
    const hour04 = JSON.parse(Buffer.from((await t.sink.getObject('digests/dt=2026-11-22/hour=04/digest.json'))!).toString('utf8')) as AuditDigest;
    expect(hour04.objects.map((o) => o.key)).toEqual([windowed]);
    expect((await t.verify(new Date('2026-11-22T05:06:00Z'))).problems).toEqual([]);
  });
});

describe('whyNotVouched (sequences as decimal numbers)', () => {
  const entry = { key: 'k', sha256: 's', records: 1, shard_id: 'shard-1', first_sequence: '7', last_sequence: '00012' };
  it.each([
    ['a head at the same sequence written with leading zeros, same hash', { lastSequence: '12', lastHash: 'h' }, 'h', undefined],
    ['a head further on (9 digits past 10 as numbers, not as text)', { lastSequence: '100', lastHash: 'x' }, 'h', undefined],
    ['a head behind, by numeric order', { lastSequence: '9', lastHash: 'x' }, 'h', 'the audit writer\'s chain head for shard shard-1 does not reach sequence 12 (it is at 9)'],
    ['no head', undefined, 'h', 'the audit writer\'s chain head for shard shard-1 does not reach sequence 12 (there is none)'],
    ['a head with no decimal sequence', { lastSequence: 'abc', lastHash: 'h' }, 'h', 'the audit writer\'s chain head for shard shard-1 has no decimal sequence ("abc")'],
  ])('%s', (_name, head, lastHash, why) => {
    expect(whyNotVouched(entry, lastHash, head)).toBe(why);
  });
  it('refuses an object whose last sequence is not a decimal number, rather than stop the digest job', () => {
    expect(whyNotVouched({ ...entry, last_sequence: '12e3' }, 'h', { lastSequence: '99999', lastHash: 'h' })).toBe('its last sequence "12e3" is not a decimal stream sequence number (at most 40 digits)');
    // A million digits is refused unread as a number (it would be slow), and shown clipped.
    const why = whyNotVouched({ ...entry, last_sequence: '9'.repeat(1_000_000) }, 'h', { lastSequence: '1', lastHash: 'h' });
    expect(why).toMatch(/^its last sequence "9{200}… \(1000000 characters\)" is not a decimal stream sequence number/);
  });
});
