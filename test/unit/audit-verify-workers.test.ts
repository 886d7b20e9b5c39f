import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FixtureLogWriter, type FixtureObject, type RecordFields } from '../../bench/audit-log-fixture.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { writeDigestsUpTo } from '../../shared/audit/digest.js';
import { parseFailureEntry } from '../../shared/audit/failures.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { MAX_DEFAULT_VERIFY_WORKERS, MIN_OBJECTS_FOR_WORKERS, verifyWorkerCount, VerifyWorkerError } from '../../shared/audit/verify-workers.js';

// verify checks objects on the main thread or in worker threads (`workers`). Each object's check is
// the same function either way; these tests prove the reports are the same, finding for finding, on
// a log with every kind of record finding, request numbering, non-ASCII text and a redriven record.
const H10 = new Date('2026-11-20T10:00:00Z');
const H11 = new Date('2026-11-20T11:00:00Z');
const H12 = new Date('2026-11-20T12:00:00Z');
const NOW = new Date('2026-11-20T13:05:00Z');

let dir: string;
let sink: LocalAuditSink;
let signer: Ed25519Signer;
let publicKeyPem: string;
let objects: FixtureObject[];

/** A request's events, numbered; text beyond ASCII in the reason and comment. */
const request = (actionId: string, seqs: number[]): RecordFields[] => seqs.map((seq) => ({
  event_id: `${actionId}/e${seq}`, action_id: actionId, agent_id: 'agent-ü', request_seq: seq, event_type: seq === 1 ? 'requested' : 'vote',
  reason: 'naïve “quoted” reason ✓', comment: 'line\nbreak and a "quote"',
}));

const failedBatch = (sequence: string, eventId: string) => parseFailureEntry({
  DDBStreamBatchInfo: { shardId: 'shard-x', startSequenceNumber: sequence, endSequenceNumber: sequence },
  timestamp: '2026-11-20T12:10:00.000Z',
  payload: { Records: [{ eventName: 'INSERT', dynamodb: { SequenceNumber: sequence, ApproximateCreationDateTime: 1763640000, NewImage: marshall({ kind: 'event', eventId, eventType: 'vote', actionId: 'x1', requestSeq: 3 }) } }] },
}, 'audit-failures.jsonl line 1');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-verify-workers-'));
  sink = new LocalAuditSink(dir);
  signer = Ed25519Signer.generate();
  publicKeyPem = await signer.publicKeyPem();
  const writer = new FixtureLogWriter(sink);
  await writer.write('shard-a', H10, request('a1', [1, 2, 3, 4, 5]));
  await writer.write('shard-b', H10, request('b1', [1, 2, 3]));
  await writer.write('shard-a', H11, request('a2', [1, 2, 3, 4]));
  await writer.write('shard-a', H12, request('a3', [1, 2, 3, 4, 5, 6]));
  await writer.write('shard-b', H12, request('b2', [1, 2, 3]));
  await writer.write('shard-c', H12, request('c1', [1, 2, 3, 4]));
  // A failed record, redriven into the late chain as the writer makes it.
  await writer.write('shard-y', H12, request('x1', [1, 2, 4]));
  const failed = failedBatch('1007', 'x1/e3');
  const body = toAuditRecordBody(unmarshall(failed.records[0]!.dynamodb!.NewImage as never), { shardId: 'late.shard-x', sequenceNumber: '1007', streamCreatedAt: new Date(1763640000 * 1000).toISOString() });
  const { sequence_number: _seq, ...fields } = { ...body, redriven_at: '2026-11-20T12:30:00.000Z' };
  await writer.write('late.shard-x', H12, [fields]);
  objects = writer.objects;
  await writeDigestsUpTo(NOW, { sink, signer });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pathOf = (key: string) => join(dir, ...key.split('/'));

async function rewrite(object: FixtureObject, change: (content: Buffer) => Buffer): Promise<void> {
  await writeFile(pathOf(object.key), gzipSync(change(gunzipSync(await readFile(pathOf(object.key))))));
}

function rewriteLines(object: FixtureObject, change: (lines: string[]) => string[]): Promise<void> {
  return rewrite(object, (content) => Buffer.from(change(content.toString('utf8').split('\n').filter((l) => l !== '')).map((l) => `${l}\n`).join(''), 'utf8'));
}

/** Both ways, with everything verify can collect; the reports must be equal. */
async function bothWays(): Promise<VerifyReport> {
  const options = { sink, publicKeyPem, now: NOW, collectEventIds: true, failures: [failedBatch('1007', 'x1/e3')] };
  const single = await verifyAuditLog({ ...options, workers: 0 });
  const pooled = await verifyAuditLog({ ...options, workers: 2 });
  expect(pooled).toEqual(single);
  return single;
}

describe('verify with worker threads', () => {
  it('an untouched log: whole both ways, with every record, request and event id counted alike', async () => {
    const report = await bothWays();
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, objects: 8, records: 29, requestsChecked: 7, failureDestination: { batches: 1, eventItems: 1, pending: 0 } });
    expect(report.eventIds!.get('a1/e1')).toBe(1);
  });

  it('finds the same tampering as the main thread, finding for finding', async () => {
    // A byte changed in a record (re-gzipped): record hash, chain, object hash.
    await rewrite(objects[0]!, (content) => Buffer.from(content.toString('utf8').replace('"agent_id":"agent-ü"', '"agent_id":"agent-ö"'), 'utf8'));
    // A record removed: count, chain, and a hole in b1's numbering.
    await rewriteLines(objects[1]!, (lines) => lines.filter((_, i) => i !== 1));
    // A line that is not canonical, with a hash over its own text.
    await rewriteLines(objects[2]!, (lines) => lines.map((line, i) => {
      if (i !== 0) return line;
      const changed = line.replace('"agent_id":', '"agent_id": ');
      const at = changed.indexOf(',"hash":"');
      const without = changed.slice(0, at) + changed.slice(at + 74);
      return `${changed.slice(0, at)},"hash":"${createHash('sha256').update(without).digest('hex')}"${changed.slice(at + 74)}`;
    }));
    // A byte that is not UTF-8 inside a record's text.
    await rewrite(objects[3]!, (content) => {
      const copy = Buffer.from(content);
      copy[copy.indexOf('naïve') + 2] = 0xff;
      return copy;
    });
    // Records reordered, and the last line cut short.
    await rewriteLines(objects[4]!, (lines) => [lines[1]!, lines[0]!, lines[2]!.slice(0, -10)]);
    await rewrite(objects[4]!, (content) => content.subarray(0, content.length - 1));
    // The redriven record changed after the fact.
    await rewrite(objects[7]!, (content) => Buffer.from(content.toString('utf8').replace('"vote":null', '"vote":"approve"'), 'utf8'));
    const report = await bothWays();
    expect(report.ok).toBe(false);
    const kinds = new Set(report.problems.map((p) => p.kind));
    for (const kind of ['object-hash', 'object-count', 'record-hash', 'record-chain', 'record-order', 'record-unreadable', 'request-sequence', 'record-redrive-mismatch'] as const) expect(kinds, kind).toContain(kind);
    // Each tampered object is named; the untouched one is not.
    const named = new Set(report.problems.map((p) => p.objectKey));
    for (const index of [0, 1, 2, 3, 4, 7]) expect(named, objects[index]!.key).toContain(objects[index]!.key);
    expect(named).not.toContain(objects[6]!.key);
  });
});

describe('how many workers', () => {
  it('none for a small log, one fewer than the cores for a large one (capped), and the option as given', () => {
    expect(verifyWorkerCount(undefined, MIN_OBJECTS_FOR_WORKERS - 1, 16)).toBe(0);
    expect(verifyWorkerCount(undefined, MIN_OBJECTS_FOR_WORKERS, 2)).toBe(1);
    expect(verifyWorkerCount(undefined, MIN_OBJECTS_FOR_WORKERS, 1)).toBe(0);
    expect(verifyWorkerCount(undefined, 10_000, 64)).toBe(MAX_DEFAULT_VERIFY_WORKERS);
    expect(verifyWorkerCount(3, 1, 2)).toBe(3);
    expect(verifyWorkerCount(0, 10_000, 64)).toBe(0);
    expect(() => verifyWorkerCount(-1, 10, 2)).toThrow(VerifyWorkerError);
    expect(() => verifyWorkerCount(1.5, 10, 2)).toThrow('the number of verify workers must be a whole number of at least 0, not 1.5');
  });
});
