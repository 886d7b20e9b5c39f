import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FixtureLogWriter, type FixtureObject, type RecordFields } from '../../bench/audit-log-fixture.js';
import { events, fixtureLog, H10, H11, H12, NOW } from './audit-log-setup.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { signDigest, serializeDigest, writeDigestsUpTo, type AuditDigest } from '../../shared/audit/digest.js';
import { digestKey } from '../../shared/audit/digest-store.js';
import { AuditVerifyInputError, formatReport, reconcileEventItems, verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { MAX_DEFAULT_VERIFY_WORKERS, MIN_OBJECTS_FOR_WORKERS, verifyWorkerCount, VerifyWorkerError } from '../../shared/audit/verify-workers.js';
import { publicKeyFingerprint } from '../../shared/ports/signer.js';
import { parseFailureEntry, readLocalFailures } from '../../shared/audit/failures.js';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { toAuditRecordBody } from '../../shared/audit/record.js';

let dir: string;
let sink: LocalAuditSink;
let signer: Ed25519Signer;
let publicKeyPem: string;
let objects: FixtureObject[];

beforeEach(async () => {
  ({ dir, sink, signer, publicKeyPem, objects } = await fixtureLog('audit-verify-', [
    ['shard-a', H10, events('a1', 5)], ['shard-b', H10, events('b1', 3)], ['shard-a', H11, events('a2', 4)], ['shard-a', H12, events('a3', 6)], ['shard-b', H12, events('b2', 2)],
  ]));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pathOf = (key: string) => join(dir, ...key.split('/'));
const verify = (extra: Partial<Parameters<typeof verifyAuditLog>[0]> = {}) => verifyAuditLog({ sink, publicKeyPem, now: NOW, ...extra });

async function rewriteContent(object: FixtureObject, change: (lines: string[]) => string[]): Promise<void> {
  const lines = gunzipSync(await readFile(pathOf(object.key))).toString('utf8').split('\n').filter((l) => l !== '');
  await writeFile(pathOf(object.key), gzipSync(change(lines).map((l) => `${l}\n`).join('')));
}

function kinds(report: VerifyReport): string[] {
  return [...new Set(report.problems.map((p) => p.kind))].sort();
}

describe('verifyAuditLog on an untouched log', () => {
  it('passes, counting every digest, object and record', async () => {
    const report = await verify();
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, digests: 3, objects: 5, records: 20, pendingObjects: [] });
  });

  it('reports objects written after the newest digest as pending, not as problems', async () => {
    const writer = new FixtureLogWriter(sink);
    const late = await writer.write('shard-c', new Date('2026-11-20T13:00:00Z'), events('c1', 2));
    const report = await verify();
    expect(report.ok).toBe(true);
    expect(report.pendingObjects).toEqual([late.key]);
  });
});

describe('tamper suite: each change is found and named precisely', () => {
  it('a byte changed inside a record (object re-gzipped)', async () => {
    const target = objects[0]!;
    await rewriteContent(target, (lines) => lines.map((l, i) => (i === 2 ? l.replace('"agent_id":"agent-a"', '"agent_id":"agent-b"') : l)));
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(['object-hash', 'record-hash']);
    const recordProblem = report.problems.find((p) => p.kind === 'record-hash')!;
    expect(recordProblem).toMatchObject({ objectKey: target.key, line: 3, eventId: 'a1/2' });
    expect(recordProblem.message).toContain('line 3 (event_id a1/2): its hash does not match its content');
  });

  it('a byte changed in the stored gzip bytes', async () => {
    const target = objects[2]!;
    const bytes = await readFile(pathOf(target.key));
    bytes[bytes.length - 6] = bytes[bytes.length - 6]! ^ 0xff;
    await writeFile(pathOf(target.key), bytes);
    const report = await verify();
    expect(report.problems.map((p) => p.kind)).toContain('object-unreadable');
    expect(report.problems.find((p) => p.kind === 'object-unreadable')!.message).toContain(`object ${target.key} cannot be decompressed`);
  });

  it('a record removed', async () => {
    const target = objects[0]!;
    await rewriteContent(target, (lines) => lines.filter((_, i) => i !== 1));
    const report = await verify();
    expect(kinds(report)).toEqual(['object-count', 'object-hash', 'record-chain']);
    expect(report.problems.find((p) => p.kind === 'record-chain')).toMatchObject({ objectKey: target.key, line: 2, eventId: 'a1/2' });
    expect(report.problems.find((p) => p.kind === 'object-count')!.message).toContain('holds 4 records; digest digests/dt=2026-11-20/hour=10/digest.json lists 5: records were removed');
  });

  it('a record inserted (with a correct hash of its own)', async () => {
    const target = objects[2]!;
    await rewriteContent(target, (lines) => {
      const copy = JSON.parse(lines[1]!) as Record<string, unknown>;
      copy.event_id = 'forged';
      return [lines[0]!, JSON.stringify(copy), ...lines.slice(1)];
    });
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.kind === 'record-hash' && p.eventId === 'forged' && p.line === 2)).toBe(true);
    expect(report.problems.some((p) => p.kind === 'record-chain' && p.line === 3)).toBe(true);
    expect(report.problems.find((p) => p.kind === 'object-count')!.message).toContain('records were added');
  });

  it('records reordered', async () => {
    const target = objects[3]!;
    await rewriteContent(target, (lines) => [lines[0]!, lines[2]!, lines[1]!, ...lines.slice(3)]);
    const report = await verify();
    expect(report.problems.some((p) => p.kind === 'record-order' && p.line === 3 && p.eventId === 'a3/1')).toBe(true);
    expect(report.problems.some((p) => p.kind === 'record-chain' && p.line === 2 && p.eventId === 'a3/2')).toBe(true);
    expect(report.problems.some((p) => p.kind === 'object-hash')).toBe(true);
  });

  it('an object deleted', async () => {
    const target = objects[2]!;
    await unlink(pathOf(target.key));
    const report = await verify();
    expect(report.problems.find((p) => p.kind === 'object-missing')!.message).toBe(`object ${target.key} (listed by digest digests/dt=2026-11-20/hour=11/digest.json) is missing: it was deleted`);
    // The shard's chain shows the gap too: the next object of shard-a does not follow the one before.
    expect(report.problems.some((p) => p.kind === 'record-chain' && p.objectKey === objects[3]!.key && p.message.includes('are missing or were altered'))).toBe(true);
  });

  it('an object truncated', async () => {
    const target = objects[3]!;
    const bytes = await readFile(pathOf(target.key));
    await writeFile(pathOf(target.key), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const report = await verify();
    expect(report.problems.find((p) => p.objectKey === target.key)!.message).toMatch(/cannot be decompressed \(unexpected end of file\): it was truncated or altered/);
  });

  it('an object truncated to whole records (re-gzipped)', async () => {
    const target = objects[3]!;
    await rewriteContent(target, (lines) => lines.slice(0, 3));
    const report = await verify();
    expect(kinds(report)).toEqual(['object-count', 'object-hash', 'object-range']);
  });

  it('an object added that no digest lists', async () => {
    const writer = new FixtureLogWriter(sink);
    const extra = writer.batch('shard-z', new Date('2026-11-10T10:00:00Z'), events('z', 1));
    await sink.putObject(extra.key, extra.body, { sha256OfUncompressed: 'x', retainUntil: NOW });
    const report = await verify();
    expect(report.problems).toEqual([{ kind: 'object-extra', objectKey: extra.key, message: `object ${extra.key} is listed by no digest: it was added to the log after the fact` }]);
  });

  it('a digest deleted', async () => {
    await unlink(pathOf(digestKey(H11)));
    const report = await verify();
    expect(report.problems.map((p) => p.message)).toContain('digest digests/dt=2026-11-20/hour=11/digest.json is missing (digest digests/dt=2026-11-20/hour=12/digest.json chains to it): it was deleted');
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual(['digest-missing']);
    // Its object is no longer signed by anyone: pending now, a problem of its own once its hour ended over 2 h ago.
    expect(report.pendingObjects).toEqual([expect.stringMatching(/^audit\/dt=2026-11-20\/hour=11\//)]);
  });

  it('the newest digest deleted (the log truncated at its end)', async () => {
    await unlink(pathOf(digestKey(H12)));
    // Right after hour 12 its objects may still wait for their digest; hours later they may not.
    expect((await verify({ now: new Date('2026-11-20T13:05:00Z') })).problems).toEqual([]);
    const report = await verify({ now: new Date('2026-11-20T16:00:00Z') });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain('object-unsigned');
    expect(report.problems.find((p) => p.kind === 'object-unsigned')?.message).toMatch(/hour=12\/.* is listed by no digest although its hour ended 3 h ago: the digest that should list it is missing/);
  });

  it('a digest forged (content changed, signature kept)', async () => {
    const key = digestKey(H11);
    const digest = JSON.parse(await readFile(pathOf(key), 'utf8')) as AuditDigest;
    digest.objects[0]!.records = 99;
    await writeFile(pathOf(key), serializeDigest(digest));
    const report = await verify();
    expect(report.problems.map((p) => p.message)).toEqual(expect.arrayContaining([
      `digest ${key}: the signature does not verify with the given public key: the digest was altered or forged`,
      `digest ${key} is not the one digest digests/dt=2026-11-20/hour=12/digest.json chained to (SHA-256 differs): it was replaced, swapped or forged`,
    ]));
  });

  it('a digest forged and re-signed with another key', async () => {
    const key = digestKey(H11);
    const digest = JSON.parse(await readFile(pathOf(key), 'utf8')) as AuditDigest;
    const { signature: _s, signing: _k, ...unsigned } = digest;
    const forged = await signDigest({ ...unsigned, objects: [] }, Ed25519Signer.generate());
    await writeFile(pathOf(key), serializeDigest(forged));
    const report = await verify();
    expect(kinds(report)).toEqual(expect.arrayContaining(['digest-key', 'digest-signature', 'digest-chain']));
  });

  it('two digests swapped', async () => {
    const a = await readFile(pathOf(digestKey(H10)));
    const b = await readFile(pathOf(digestKey(H11)));
    await writeFile(pathOf(digestKey(H10)), b);
    await writeFile(pathOf(digestKey(H11)), a);
    const report = await verify();
    expect(report.problems.map((p) => p.message)).toContain(`digest ${digestKey(H10)} says it is for hour 2026-11-20T11:00:00.000Z, not 2026-11-20T10:00:00.000Z: digests were swapped or moved`);
    expect(report.problems.some((p) => p.kind === 'digest-chain')).toBe(true);
  });
});

describe('tamper suite: the trust anchor is outside the log (issue 9)', () => {
  it('the published key replaced and every digest re-signed with it: found against the anchor', async () => {
    const { publishPublicKey } = await import('../../shared/audit/digest.js');
    await publishPublicKey(sink, signer, NOW);
    const forger = Ed25519Signer.generate();
    // The forger rewrites the files in place (a directory has no versions): key and all three digests.
    await writeFile(pathOf('digests/public-key.pem'), await forger.publicKeyPem());
    let previous: { key: string; sha256: string; signature: string } | null = null;
    for (const hour of [H10, H11, H12]) {
      const key = digestKey(hour);
      const { signature: _s, signing: _k, previous: _p, ...unsigned } = JSON.parse(await readFile(pathOf(key), 'utf8')) as AuditDigest;
      const forged = await signDigest({ ...unsigned, previous }, forger);
      const bytes = serializeDigest(forged);
      await writeFile(pathOf(key), bytes);
      previous = { key, sha256: createHash('sha256').update(bytes).digest('hex'), signature: forged.signature };
    }
    // Trusting the key found in the log, everything checks out: that is why verify never does so by default.
    expect((await verify({ publicKeyPem: await forger.publicKeyPem() })).ok).toBe(true);
    const report = await verify({ anchorSource: 'local key keys/digest-ed25519.pem' });
    expect(report.ok).toBe(false);
    expect(report.publishedKey).toBe('differs');
    expect(report.anchor).toEqual({ source: 'local key keys/digest-ed25519.pem', algorithm: 'Ed25519', fingerprint: publicKeyFingerprint(publicKeyPem) });
    expect(report.problems.map((p) => p.message)).toEqual([
      `digests/public-key.pem is not the trust anchor's key (anchor fingerprint ${publicKeyFingerprint(publicKeyPem)}): a third party who trusts the key in the log would be misled; it was replaced, or the log is signed by another key`,
      `none of the 3 digests is signed by the trust anchor (public key SHA-256 ${publicKeyFingerprint(publicKeyPem)}); they name ${forger.keyId} (public key SHA-256 ${publicKeyFingerprint(await forger.publicKeyPem()).slice(0, 16)}…): the digests were re-signed with another key (and the published key replaced), or the anchor given is not this log's key`,
    ]);
    expect(formatReport(report)).toContain(`trust anchor: local key keys/digest-ed25519.pem (Ed25519, public key SHA-256 ${publicKeyFingerprint(publicKeyPem)})`);
    expect(formatReport(report)).toContain('published key digests/public-key.pem: DIFFERS from the trust anchor');
  });

  it('reports a published key that matches the anchor, and one that is absent', async () => {
    expect((await verify()).publishedKey).toBe('absent');
    const { publishPublicKey } = await import('../../shared/audit/digest.js');
    await publishPublicKey(sink, signer, NOW);
    const report = await verify();
    expect(report).toMatchObject({ ok: true, publishedKey: 'matches' });
    expect(formatReport(report)).toContain('published key digests/public-key.pem: matches the trust anchor');
  });
});

describe('tamper suite: every version is read (issue 9)', () => {
  it('an object overwritten as a new version: the locked original is verified, the new version named', async () => {
    const target = objects[1]!;
    const forged = gzipSync(gunzipSync(await readFile(pathOf(target.key))).toString('utf8').replace(/"agent_id":"agent-a"/g, '"agent_id":"agent-x"'));
    expect(await sink.putObjectVersion(target.key, forged)).toBe('000002');
    // A plain read now returns the forgery, as a GET in S3 does.
    expect(Buffer.from((await sink.getObject(target.key))!)).toEqual(forged);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.versionsChecked).toBe(true);
    expect(kinds(report)).toEqual(['object-versions']);
    expect(report.problems[0]!.message).toMatch(new RegExp(`^object ${target.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has 2 versions: the original 000001 \\(.+\\), verified, and later a new version 000002 at .+: it was overwritten or deleted after it was written`));
    expect(report.records).toBe(20);
  });

  it('a digest overwritten as a new version (re-signed with another key) and a delete marker on an object', async () => {
    const key = digestKey(H11);
    const digest = JSON.parse(await readFile(pathOf(key), 'utf8')) as AuditDigest;
    const { signature: _s, signing: _k, ...unsigned } = digest;
    await sink.putObjectVersion(key, serializeDigest(await signDigest({ ...unsigned, objects: [] }, Ed25519Signer.generate())));
    await sink.deleteObject(objects[0]!.key);
    expect(await sink.list('audit/')).not.toContain(objects[0]!.key);
    const report = await verify();
    expect(kinds(report)).toEqual(['digest-versions', 'object-versions']);
    expect(report.problems.find((p) => p.kind === 'digest-versions')).toMatchObject({ digestKey: key, message: expect.stringContaining('later a new version 000002') });
    expect(report.problems.find((p) => p.kind === 'object-versions')).toMatchObject({ objectKey: objects[0]!.key, message: expect.stringContaining('later a delete marker 000002') });
    // The originals are what was verified: every record is still counted.
    expect(report).toMatchObject({ digests: 3, objects: 5, records: 20 });
  });
});

describe('verifyAuditLog input errors (one line for the CLI)', () => {
  it('a wrong key is one finding, not one per digest', async () => {
    const other = await Ed25519Signer.generate().publicKeyPem();
    const report = await verify({ publicKeyPem: other });
    expect(report.ok).toBe(false);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]!.message).toMatch(/^none of the 3 digests is signed by the trust anchor/);
  });

  it('a missing log', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'audit-empty-'));
    await expect(verifyAuditLog({ sink: new LocalAuditSink(empty), publicKeyPem })).rejects.toMatchObject({ reason: 'missing-log' });
    await rm(empty, { recursive: true });
  });

  it('a bad date range', async () => {
    await expect(verify({ from: new Date('2026-11-21T00:00:00Z'), to: new Date('2026-11-20T00:00:00Z') })).rejects.toBeInstanceOf(AuditVerifyInputError);
    await expect(verify({ from: new Date('nonsense') })).rejects.toThrow('--from is not a valid date');
    await expect(verify({ from: new Date('2027-01-01T00:00:00Z') })).rejects.toMatchObject({ reason: 'bad-range' });
  });
});

describe('a range and reconciliation', () => {
  it('verifies only the hours asked for, checking the link to the digest before', async () => {
    const report = await verify({ from: H11, to: H12 });
    expect(report).toMatchObject({ ok: true, digests: 2, objects: 3, records: 12 });
  });

  it('--reconcile finds table events missing from the log, and events written twice', async () => {
    const report = await verify({ collectEventIds: true });
    const tableIds = [...report.eventIds!.keys(), 'a9/missing'];
    report.eventIds!.set('a1/0', 2);
    const problems = reconcileEventItems(tableIds, report.eventIds!, { wholeLog: true });
    expect(problems.map((p) => p.message)).toEqual(['event a9/missing is in the table but not in the audit log', 'event a1/0 appears 2 times in the audit log']);
  });
});

describe('objects made by the product writer (shared/audit/object.ts, chain.ts)', () => {
  it('verify accepts them: the writer and the verifier read format.ts alike', async () => {
    const { chainRecords } = await import('../../shared/audit/chain.js');
    const { buildAuditObject } = await import('../../shared/audit/object.js');
    const fresh = await mkdtemp(join(tmpdir(), 'audit-writer-format-'));
    const freshSink = new LocalAuditSink(fresh);
    const body = (i: number) => ({
      event_id: `w/${i}`, event_type: 'vote' as const, action_id: 'w', occurred_at: '2026-11-20T10:00:00.000Z', agent_id: 'agent-a', on_behalf_of: null, action: 'db.export',
      resource_type: 'Database', resource_id: 'customers', environment: 'prod', outcome: null, reason: null, reviewer_id: 'bob', vote: 'approve', comment: 'ok "quoted" \\ text',
      policy_ids: ['p1'], payload_sha256: null, request_seq: i, shard_id: 'shardId-0001', sequence_number: String(100 + i), redriven_at: null,
      valid_until: null, execution_status: null, started_at: null, finished_at: null, violation_rule: null, shadow_outcome: null, shadow_policy_ids: [], detail: '{"a":1}',
    });
    const records = chainRecords([body(1), body(2), body(3)], '0'.repeat(64));
    const object = buildAuditObject(records, H10);
    await freshSink.putObject(object.key, object.body, { sha256OfUncompressed: object.sha256, retainUntil: NOW });
    await writeDigestsUpTo(NOW, { sink: freshSink, signer });
    const report = await verifyAuditLog({ sink: freshSink, publicKeyPem });
    expect(report).toMatchObject({ ok: true, records: 3, objects: 1 });
    await rm(fresh, { recursive: true, force: true });
  });
});

describe('tamper suite: holes visible from the log alone (issue 9)', () => {
  const numbered = (actionId: string, seqs: number[], extra: (seq: number) => Record<string, unknown> = () => ({})) =>
    seqs.map((seq) => ({ event_id: `${actionId}/e${seq}`, action_id: actionId, agent_id: 'agent-a', request_seq: seq, event_type: 'vote' as const, ...extra(seq) }));

  it('a request whose events skip a number (a record that never reached the log) is named with what is missing', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-n', H12, numbered('req-hole', [1, 2, 4, 5]));
    await writer.write('shard-n', H12, numbered('req-whole', [1, 2, 3]));
    await writeDigestsUpTo(NOW, { sink, signer });
    const report = await verify();
    expect(report.requestsChecked).toBe(2);
    expect(report.problems.map((p) => `[${p.kind}] ${p.message}`)).toEqual([
      '[request-sequence] request req-hole: the log holds its events 1-2, 4-5 but not 3: records were lost on the way to the log or removed from it',
    ]);
  });

  it('an event number twice, and a reviewed request with no outcome after its last deadline', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-n', H12, [
      ...numbered('req-twice', [1, 2, 2]).map((r, i) => ({ ...r, event_id: `req-twice/e${i}` })),
      { event_id: 'req-open/requested', action_id: 'req-open', event_type: 'requested', request_seq: 1 },
      { event_id: 'req-open/decided', action_id: 'req-open', event_type: 'decided', outcome: 'pending', request_seq: 2 },
      { event_id: 'req-open/review_requested', action_id: 'req-open', event_type: 'review_requested', request_seq: 3, detail: JSON.stringify({ expiresAt: '2026-11-20T11:30:00.000Z' }) },
      { event_id: 'req-live/decided', action_id: 'req-live', event_type: 'decided', outcome: 'pending', request_seq: 2 },
      { event_id: 'req-live/escalated', action_id: 'req-live', event_type: 'escalated', request_seq: 3, detail: JSON.stringify({ expiresAt: '2026-11-20T12:45:00.000Z' }) },
    ]);
    await writeDigestsUpTo(NOW, { sink, signer });
    const messages = (await verify()).problems.map((p) => `[${p.kind}] ${p.message}`);
    expect(messages).toEqual([
      'request req-live: the log holds its events 2-3 but not 1: records were lost on the way to the log or removed from it'.replace(/^/, '[request-sequence] '),
      '[request-outcome] request req-open was pending a review whose last deadline was 2026-11-20T11:30:00.000Z, but the log has no outcome for it: the outcome record was lost, or the workflow that records it is not running',
      '[request-sequence] request req-twice: event number 2 appears 2 times (req-twice/e1, req-twice/e2): records were doubled',
    ]);
    // req-live's review ends 12:45; within the hour's grace at 13:05 its outcome may still be on its way.
  });

  it('names doubled events by their ids, and survives a number an altered record made up', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-n', H12, [
      { event_id: 'req-d/requested', action_id: 'req-d', event_type: 'requested', request_seq: 1 },
      { event_id: 'req-d/decided', action_id: 'req-d', event_type: 'decided', outcome: 'allow', request_seq: 2 },
      { event_id: 'req-d/decided', action_id: 'req-d', event_type: 'decided', outcome: 'allow', request_seq: 2 },
      // A number of 15 digits (an altered record): the gap before it is reported whole, not walked number by number.
      { event_id: 'req-big/requested', action_id: 'req-big', event_type: 'requested', request_seq: 1 },
      { event_id: 'req-big/decided', action_id: 'req-big', event_type: 'decided', outcome: 'allow', request_seq: 999_999_999_999_999 },
    ]);
    await writeDigestsUpTo(NOW, { sink, signer });
    const messages = (await verify()).problems.map((p) => `[${p.kind}] ${p.message}`);
    expect(messages).toEqual([
      '[request-sequence] request req-big: the log holds its events 1, 999999999999999 but not 2-999999999999998: records were lost on the way to the log or removed from it',
      '[request-sequence] request req-d: event number 2 appears 2 times (req-d/decided, req-d/decided): records were doubled',
    ]);
  });

  it('a short gap is walked: the numbers pending redrive in it are told apart from the missing ones', async () => {
    const { RequestSequences } = await import('../../shared/audit/request-sequence.js');
    const sequences = new RequestSequences();
    for (const seq of [1, 5, 6, 9]) sequences.add({ eventId: `r/e${seq}`, eventType: 'vote', actionId: 'r', requestSeq: seq, outcome: null });
    const problems = sequences.problems({ now: NOW, pendingRedrive: new Set(['r#3', 'r#4', 'r#8']) });
    expect(problems.map((p) => p.message)).toEqual(['request r: the log holds its events 1, 5-6, 9 but not 2, 7 (3-4, 8 pending redrive): records were lost on the way to the log or removed from it']);
  });

  it('numbers executions and violations with their request, and a violation naming no request stands outside any numbering (issue 12)', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-x', H12, [
      { event_id: 'req-run/requested', action_id: 'req-run', event_type: 'requested', request_seq: 1 },
      { event_id: 'req-run/decided', action_id: 'req-run', event_type: 'decided', outcome: 'allowed', request_seq: 2, valid_until: '2026-11-20T12:15:00.000Z' },
      { event_id: 'req-run/executed', action_id: 'req-run', event_type: 'executed', outcome: 'allowed', request_seq: 3, execution_status: 'succeeded', started_at: '2026-11-20T12:01:00.000Z', finished_at: '2026-11-20T12:01:01.000Z' },
      { event_id: 'req-run/execution_violation/f1', action_id: 'req-run', event_type: 'execution_violation', outcome: 'allowed', request_seq: 4, violation_rule: 'already_executed' },
      // The same actionId as a request, but kept apart (execution/<fingerprint>) with no request number.
      { event_id: 'execution/f2/execution_violation', action_id: 'req-ghost', event_type: 'execution_violation', violation_rule: 'no_decision', request_seq: null },
    ]);
    await writeDigestsUpTo(NOW, { sink, signer });
    const report = await verify();
    expect(report.problems).toEqual([]);
    expect(report.requestsChecked).toBe(1);
  });

  it('is checked over the whole log only: a range says so', async () => {
    const report = await verify({ from: H11 });
    expect(report.requestsChecked).toBeNull();
    expect(formatReport(report)).toContain('request numbering and the failure destination: checked over the whole log only (no --from/--to)');
  });
});

describe('signed reconciliation statements beside the digests (issue 9)', () => {
  const deps = (table: Array<{ eventId: string; occurredAt: string }>) => ({ sink, signer, tableName: 'decisions', retainUntil: NOW, tableEventItems: async () => table });
  const logged = () => objects.flatMap((o) => o.records.map((r) => ({ eventId: r.event_id, occurredAt: r.occurred_at })));

  it('verify checks each statement\'s signature with the anchor and reports the newest one', async () => {
    const { reconcileAndRecord } = await import('../../shared/audit/reconcile.js');
    const clean = await reconcileAndRecord(deps(logged()), { now: NOW });
    expect(clean.statement).toMatchObject({ tableEventItems: 20, logRecords: 20, differences: 0 });
    const report = await verify();
    expect(report.ok).toBe(true);
    expect(report.reconciliation).toEqual({ statements: 1, newest: `${clean.key}: table decisions and the log agree over the start .. 2026-11-20T13:05:00.000Z (20 event items, each in the log exactly once)` });

    // A later statement finds an event item of the table that is not in the log: the newest says so, and that is a finding.
    const later = await reconcileAndRecord(deps([...logged(), { eventId: 'a9/lost', occurredAt: '2026-11-20T12:30:00.000Z' }]), { now: new Date(NOW.getTime() + 1000) });
    expect(later.statement).toMatchObject({ differences: 1, missing: { count: 1, eventIds: ['a9/lost'] } });
    expect((await verify()).problems.map((p) => `[${p.kind}] ${p.message}`)).toEqual([
      `[reconcile-statement] the newest reconciliation statement says ${later.key}: table decisions and the log differ over the start .. 2026-11-20T13:05:01.000Z: 1 missing from the log (a9/lost)`,
    ]);

    // A statement rewritten to say all is well no longer verifies.
    const forged = JSON.parse(await readFile(pathOf(later.key), 'utf8')) as Record<string, unknown>;
    await writeFile(pathOf(later.key), JSON.stringify({ ...forged, differences: 0, missing: { count: 0, eventIds: [] } }));
    expect((await verify()).problems.map((p) => p.message)).toEqual([`reconciliation statement ${later.key} does not verify with the trust anchor: it was altered or forged`]);
  });
});

describe('tamper suite: records lost to the failure destination (issue 9)', () => {
  it('a record that went there and was never redriven: not whole, named with where it is', async () => {
    const writer = new FixtureLogWriter(sink);
    // The request's other records came through another shard's chain; shard-x's batch never did.
    await writer.write('shard-y', H12, numbered3('x1', [1, 2, 4]));
    await writeDigestsUpTo(NOW, { sink, signer });
    const report = await verify({ failures: [failedBatch('1007', 'x1/e3')] });
    expect(report.failureDestination).toEqual({ batches: 1, eventItems: 1, pending: 1 });
    expect(report.problems.map((p) => `[${p.kind}] ${p.message}`)).toEqual([
      '[record-pending-redrive] audit-failures.jsonl line 1: 1 event item(s) of shard shard-x (sequences 1007-1007, first x1/e3) went to the failure destination at 2026-11-20T12:10:00.000Z and are not in the log yet: the log is not whole until they are redriven (the local stack\'s next start, or the hourly redrive in AWS)',
    ]);
    // The hole in x1's numbering is the same record: reported once, as pending.
  });

  it('once redriven into the late chain, the same record makes the log whole', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-y', H12, numbered3('x1', [1, 2, 4]));
    // The late chain's first record takes the fixture's first sequence, 1007: the failed one.
    // What the redrive writes: the record the writer makes of the failed item, in the late chain, marked late.
    const failed = failedBatch('1007', 'x1/e3');
    await writer.write('late.shard-x', H12, [redrivenFields(failed)]);
    await writeDigestsUpTo(NOW, { sink, signer });
    const report = await verify({ failures: [failed] });
    expect(report.problems).toEqual([]);
    expect(report.failureDestination).toEqual({ batches: 1, eventItems: 1, pending: 0 });
  });

  it('a record in the late chain that is not the failed one (forged at the redrive\'s key, or the destination edited) is named', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-y', H12, numbered3('x1', [1, 2, 4]));
    await writer.write('late.shard-x', H12, [{ event_id: 'x1/e3', action_id: 'x1', request_seq: 3, event_type: 'vote', vote: 'approve', reviewer_id: 'mallory' }]);
    await writeDigestsUpTo(NOW, { sink, signer });
    const report = await verify({ failures: [failedBatch('1007', 'x1/e3')] });
    expect(report.problems.map((p) => p.kind)).toEqual(['record-redrive-mismatch']);
    expect(report.problems[0]!.message).toMatch(/line 1: the redriven record of shard shard-x sequence 1007 is not what audit-failures\.jsonl line 1 holds: the log's copy or the failure destination was altered/);
  });
});

/** A batch of shard-x that went to the failure destination: one vote, x1's third event. */
function failedBatch(sequence: string, eventId: string) {
  return parseFailureEntry({
    DDBStreamBatchInfo: { shardId: 'shard-x', startSequenceNumber: sequence, endSequenceNumber: sequence },
    timestamp: '2026-11-20T12:10:00.000Z',
    payload: { Records: [{ eventName: 'INSERT', dynamodb: { SequenceNumber: sequence, ApproximateCreationDateTime: 1763640000, NewImage: marshall({ kind: 'event', eventId, eventType: 'vote', actionId: 'x1', requestSeq: 3 }) } }] },
  }, 'audit-failures.jsonl line 1');
}

/** What the redrive writes of a failed batch's record: the record the writer makes of it, in the late chain, marked late. */
function redrivenFields(failed: ReturnType<typeof failedBatch>) {
  const body = toAuditRecordBody(unmarshall(failed.records[0]!.dynamodb!.NewImage as never), { shardId: 'late.shard-x', sequenceNumber: '1007', streamCreatedAt: new Date(1763640000 * 1000).toISOString() });
  const { sequence_number: _seq, ...fields } = { ...body, redriven_at: '2026-11-20T12:30:00.000Z' };
  return fields;
}

function numbered3(actionId: string, seqs: number[]) {
  return seqs.map((seq) => ({ event_id: `${actionId}/e${seq}`, action_id: actionId, agent_id: 'agent-a', request_seq: seq, event_type: 'vote' as const }));
}

describe('a clean stop signs everything, every time (a digest per stop, chained)', () => {
  const H13 = new Date('2026-11-20T13:00:00Z');

  it('two stops in one hour: digest.json, then digest-2.json with what came after; nothing unsigned, the chain whole', async () => {
    const writer = new FixtureLogWriter(sink);
    const first = await writer.write('shard-s', H13, events('s1', 2));
    expect((await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true })).written).toEqual([digestKey(H13)]);
    const second = await writer.write('shard-s', H13, events('s2', 3));
    expect((await writeDigestsUpTo(new Date('2026-11-20T13:20:00Z'), { sink, signer }, { includeCurrentHour: true })).written).toEqual([digestKey(H13, 2)]);
    // A third stop with nothing new writes nothing.
    expect((await writeDigestsUpTo(new Date('2026-11-20T13:30:00Z'), { sink, signer }, { includeCurrentHour: true })).written).toEqual([]);
    const d2 = JSON.parse(await readFile(pathOf(digestKey(H13, 2)), 'utf8')) as AuditDigest;
    expect(d2.objects.map((o) => o.key)).toEqual([second.key]);
    expect(d2.previous?.key).toBe(digestKey(H13));
    const report = await verify({ now: new Date('2026-11-20T13:30:00Z') });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, digests: 5, pendingObjects: [] });
    expect(first.key).not.toBe(second.key);

    // The next hour's digest chains to the hour's last one and sweeps what came after the last stop.
    const third = await writer.write('shard-s', H13, events('s3', 1));
    expect((await writeDigestsUpTo(new Date('2026-11-20T15:05:00Z'), { sink, signer })).written).toEqual([digestKey(new Date('2026-11-20T14:00:00Z'))]);
    const d14 = JSON.parse(await readFile(pathOf(digestKey(new Date('2026-11-20T14:00:00Z'))), 'utf8')) as AuditDigest;
    expect(d14.previous?.key).toBe(digestKey(H13, 2));
    expect(d14.objects.map((o) => o.key)).toEqual([third.key]);
    expect((await verify({ now: new Date('2026-11-20T15:05:00Z') })).ok).toBe(true);
  });

  it('an hour\'s later digest deleted, or one slipped in beside the chain, is found', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-s', H13, events('s1', 2));
    await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    await writer.write('shard-s', H13, events('s2', 3));
    await writeDigestsUpTo(new Date('2026-11-20T13:20:00Z'), { sink, signer }, { includeCurrentHour: true });
    await writer.write('shard-s', H13, events('s3', 1));
    await writeDigestsUpTo(new Date('2026-11-20T13:30:00Z'), { sink, signer }, { includeCurrentHour: true });
    const now = new Date('2026-11-20T13:40:00Z');

    await unlink(pathOf(digestKey(H13, 2)));
    expect((await verify({ now })).problems.map((p) => p.message)).toContain(`digest ${digestKey(H13, 2)} is missing (digest ${digestKey(H13, 3)} chains to it): it was deleted`);

    // Slipped in: a validly signed digest-4 chained to digest.json instead of digest-3 (a fork).
    const { signature: _s, signing: _k, ...unsigned } = JSON.parse(await readFile(pathOf(digestKey(H13, 3)), 'utf8')) as AuditDigest;
    const base = JSON.parse(await readFile(pathOf(digestKey(H13)), 'utf8')) as AuditDigest;
    const forked = await signDigest({ ...unsigned, objects: [], previous: { key: digestKey(H13), sha256: createHash('sha256').update(serializeDigest(base)).digest('hex'), signature: base.signature } }, signer);
    await writeFile(pathOf(digestKey(H13, 4)), serializeDigest(forked));
    const messages = (await verify({ now })).problems.map((p) => p.message);
    expect(messages).toContain(`digest ${digestKey(H13, 4)} points at ${digestKey(H13)} as previous, not at the hour's digest before it (${digestKey(H13, 3)})`);
  });
});

describe('objects that are not the writer\'s (review findings)', () => {
  it('a line that is not JSON, with a hash that matches its text, is unreadable to verify and never signed', async () => {
    // The hash is unkeyed: anyone can make one match. What proves a record is the JSON and the chain.
    const body = `{"event_id":"evil/1","prev_hash":"${'0'.repeat(64)}","sequence_number":"1","shard_id":"evil","x":}`;
    const hash = createHash('sha256').update(body).digest('hex');
    const line = `${body.slice(0, body.indexOf(',"prev_hash"'))},"hash":"${hash}"${body.slice(body.indexOf(',"prev_hash"'))}`;
    const key = `audit/dt=2026-11-20/hour=13/shard=evil/${'1'.padStart(40, '0')}-${'1'.padStart(40, '0')}.ndjson.gz`;
    await sink.putObject(key, gzipSync(`${line}\n`), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const stop = await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    expect(stop.refused).toEqual([`object ${key} line 1 is not an audit record; it is not signed`]);
    const report = await verify({ now: new Date('2026-11-20T13:10:00Z') });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toContain('record-unreadable');
    expect(report.pendingObjects).toEqual([key]);
  });

  // verify hashes a canonical line's own bytes (no re-serialising): a line whose bytes are not the
  // canonical JSON of the record it parses to must not pass on a hash made over its text.
  it.each([
    ['a key twice (a reader takes the second)', (line: string) => line.replace('"agent_id":"agent-a"', '"agent_id":"agent-a","agent_id":"agent-evil"')],
    ['keys out of order', (line: string) => `{"event_id":${JSON.stringify((JSON.parse(line) as { event_id: string }).event_id)},${line.slice(1).replace(/,?"event_id":"[^"]*"/, '')}`],
    ['whitespace between tokens', (line: string) => line.replace('"agent_id":', '"agent_id": ')],
    ['an escape canonical JSON does not write', (line: string) => line.replace('"agent_id":"agent-a"', '"agent_id":"agent\\u002da"')],
    ['a float where the record has an integer', (line: string) => line.replace('"request_seq":null', '"request_seq":1.0')],
  ])('a line that is not canonical, with a hash that matches its text: %s', async (_name, change) => {
    const target = objects[0]!;
    const last = target.records.length;
    await rewriteContent(target, (lines) => lines.map((line, i) => {
      if (i !== last - 1) return line;
      const changed = change(line);
      expect(changed).not.toBe(line);
      expect(() => JSON.parse(changed) as unknown).not.toThrow();
      const at = changed.indexOf(',"hash":"');
      const without = changed.slice(0, at) + changed.slice(at + 74);
      return `${changed.slice(0, at)},"hash":"${createHash('sha256').update(without).digest('hex')}"${changed.slice(at + 74)}`;
    }));
    const report = await verify();
    expect(report.problems.filter((p) => p.kind === 'record-hash').map((p) => [p.objectKey, p.line])).toEqual([[target.key, last]]);
    // And the chain to the shard's next object no longer holds (that object's first prev_hash is the original hash).
    expect(kinds(report)).toEqual(['object-hash', 'record-chain', 'record-hash']);
  });

  it('a gzip bomb is an unreadable object, not a crash, for verify and for the digest writer', async () => {
    const key = `audit/dt=2026-11-20/hour=13/shard=bomb/${'1'.padStart(40, '0')}-${'1'.padStart(40, '0')}.ndjson.gz`;
    await sink.putObject(key, gzipSync(Buffer.alloc(70 * 1024 * 1024), { level: 1 }), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const stop = await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    expect(stop.refused).toEqual([`object ${key} holds more than 67108864 bytes uncompressed, more than any batch the writer makes; it cannot be digested`]);
    const report = await verify({ now: new Date('2026-11-20T13:10:00Z') });
    expect(report.problems.map((p) => p.message)).toContain(`object ${key} holds more than 67108864 bytes uncompressed, more than any batch the writer makes: it was truncated or altered`);
  });
});

describe('what is in the folder but not an object (review findings)', () => {
  it('a symlink, a stray version-store folder, and an object in a future hour are named', async () => {
    const { mkdir, symlink } = await import('node:fs/promises');
    const target = join(dir, 'elsewhere.gz');
    await writeFile(target, gzipSync('{}\n'));
    const link = `audit/dt=2026-11-20/hour=12/shard=evil4/${'1'.padStart(40, '0')}-${'2'.padStart(40, '0')}.ndjson.gz`;
    await mkdir(join(dir, 'audit/dt=2026-11-20/hour=12/shard=evil4'), { recursive: true });
    await symlink(target, pathOf(link));
    await mkdir(join(dir, 'audit/dt=2026-11-20/hour=12/shard=evil.versions'), { recursive: true });
    await writeFile(join(dir, 'audit/dt=2026-11-20/hour=12/shard=evil.versions/x.ndjson.gz'), gzipSync('{}\n'));
    const future = `audit/dt=2099-01-01/hour=00/shard=evil/${'1'.padStart(40, '0')}-${'1'.padStart(40, '0')}.ndjson.gz`;
    await sink.putObject(future, gzipSync('{}\n'), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const messages = (await verify()).problems.map((p) => p.message);
    expect(messages).toEqual(expect.arrayContaining([
      `${link} under audit/ is not an object (a symlink, a pipe, or a folder named like a version store with no object beside it): something else wrote into the log, and a query's glob may read it`,
      'audit/dt=2026-11-20/hour=12/shard=evil.versions/ under audit/ is not an object (a symlink, a pipe, or a folder named like a version store with no object beside it): something else wrote into the log, and a query\'s glob may read it',
      `object ${future} is in the partition of hour 2099-01-01T00:00Z, after the verifier's clock: no writer writes into the future; it was added`,
    ]));
  });

  it('a folder in a version store and a pipe for the failure file do not crash or hang it', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'digests/public-key.pem.versions/000002'), { recursive: true });
    expect((await verify()).ok).toBe(true);
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(dir, 'failures.fifo')]);
    await expect(readLocalFailures(join(dir, 'failures.fifo'))).rejects.toThrow(/failures\.fifo is not a regular file/);
  });
});

describe('reconciliation that does not forget (review findings)', () => {
  it('a missing item stays a difference after its time leaves the window, and a record with a time outside it is still extra', async () => {
    const { reconcileAndRecord } = await import('../../shared/audit/reconcile.js');
    const logged = objects.flatMap((o) => o.records.map((r) => ({ eventId: r.event_id, occurredAt: r.occurred_at })));
    const lost = { eventId: 'a9/lost', occurredAt: '2026-11-20T10:30:00.000Z' };
    const deps = { sink, signer, tableName: 'decisions', retainUntil: NOW, tableEventItems: async () => [...logged, lost] };
    const first = await reconcileAndRecord(deps, { now: NOW, from: new Date('2026-11-20T10:00:00Z') });
    expect(first.statement.missing.eventIds).toEqual(['a9/lost']);
    // Two days later the window no longer holds 10:30, but the loss is carried.
    const later = await reconcileAndRecord(deps, { now: new Date('2026-11-22T13:05:00Z'), from: new Date('2026-11-20T12:00:00Z') });
    expect(later.statement.missing.eventIds).toEqual(['a9/lost']);
    // A forged record whose time is far outside the window is not in the table: extra all the same.
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-f', H12, [{ event_id: 'forged/1', occurred_at: '2099-01-01T00:00:00.000Z' }]);
    const third = await reconcileAndRecord(deps, { now: new Date('2026-11-22T13:06:00Z'), from: new Date('2026-11-20T12:00:00Z') });
    expect(third.statement).toMatchObject({ missing: { eventIds: ['a9/lost'] }, extra: { eventIds: ['forged/1'] } });
    // A later statement anyone could write (unsigned, or not a statement at all) does not make the loss forgotten.
    const { reconciliationKey } = await import('../../shared/audit/reconcile.js');
    const forged = { ...third.statement, window: { from: null, to: '2026-11-23T00:00:00.000Z' }, differences: 0, missing: { count: 0, eventIds: [] }, signature: 'AAAA' };
    await sink.putObject(reconciliationKey(new Date('2026-11-23T00:00:00Z')), Buffer.from(JSON.stringify(forged)), { sha256OfUncompressed: 'x', retainUntil: NOW });
    await sink.putObject(reconciliationKey(new Date('2026-11-23T00:00:01Z')), Buffer.from(JSON.stringify({ ...forged, window: { to: '2026-11-23T00:00:01.000Z' }, missing: 'x' })), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const fourth = await reconcileAndRecord(deps, { now: new Date('2026-11-22T13:07:00Z'), from: new Date('2026-11-20T12:00:00Z') });
    expect(fourth.statement.missing.eventIds).toEqual(['a9/lost']);
  });
});

describe('a log truncated at its end (review findings)', () => {
  it('with the hourly digest job\'s age limit, a newest digest hours old is a finding; without it (a stopped local stack), not', async () => {
    const later = new Date('2026-11-20T20:05:00Z');
    // The newest digest is for 12:00; the last hour ended at 20:00.
    expect((await verify({ now: later, maxDigestAgeHours: 3 })).problems.map((p) => p.message)).toContain(
      'the newest digest is for hour 2026-11-20T12:00Z, 7 h before the end of the last hour: the digests after it were deleted, or the digest job is not running',
    );
    expect((await verify({ now: later })).ok).toBe(true);
    expect((await verify({ now: NOW, maxDigestAgeHours: 3 })).ok).toBe(true);
  });
});

// verify checks objects on the main thread or in worker threads (`workers`). Each object's check is the
// same function either way; the reports must be the same, finding for finding, on a log with every kind
// of record finding, request numbering, text beyond ASCII, bytes that are not UTF-8 and a redriven record.
describe('worker threads: the same report as the main thread', () => {
  /** A request's events, numbered; text beyond ASCII in the agent, reason and comment. */
  const request = (actionId: string, seqs: number[]): RecordFields[] => seqs.map((seq) => ({
    event_id: `${actionId}/e${seq}`, action_id: actionId, agent_id: 'agent-ü', request_seq: seq, event_type: seq === 1 ? 'requested' : 'vote',
    reason: 'naïve “quoted” reason ✓', comment: 'line\nbreak and a "quote"',
  }));
  let numbered: FixtureObject[];
  // Written in the next hour and signed by its digest (so each is checked against a digest's entry).
  const H13 = new Date('2026-11-20T13:00:00Z');
  const LATER = new Date('2026-11-20T13:10:00Z');

  beforeEach(async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-c', H13, request('c1', [1, 2, 3, 4, 5]));
    await writer.write('shard-c', H13, request('c2', [1, 2, 3]));
    await writer.write('shard-d', H13, request('d1', [1, 2, 3, 4]));
    await writer.write('shard-y', H13, request('x1', [1, 2, 4]));
    await writer.write('late.shard-x', H13, [redrivenFields(failedBatch('1007', 'x1/e3'))]);
    numbered = writer.objects;
    await writeDigestsUpTo(LATER, { sink, signer }, { includeCurrentHour: true });
  });

  async function rewriteBytes(object: FixtureObject, change: (content: Buffer) => Buffer): Promise<void> {
    await writeFile(pathOf(object.key), gzipSync(change(gunzipSync(await readFile(pathOf(object.key))))));
  }

  /** Both ways, with everything verify collects. */
  async function bothWays(): Promise<VerifyReport> {
    const options = { collectEventIds: true, failures: [failedBatch('1007', 'x1/e3')] };
    const single = await verify({ ...options, now: LATER, workers: 0 });
    expect(await verify({ ...options, now: LATER, workers: 2 })).toEqual(single);
    return single;
  }

  it('an untouched log: whole both ways, every record, request and event id counted alike', async () => {
    const report = await bothWays();
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, objects: 10, records: 36, pendingObjects: [], requestsChecked: 4, failureDestination: { batches: 1, eventItems: 1, pending: 0 } });
    expect(report.eventIds!.get('c1/e1')).toBe(1);
  });

  it('tampering: the same findings', async () => {
    // A byte changed in a record (re-gzipped), beyond ASCII: record hash, chain, object hash.
    await rewriteBytes(numbered[0]!, (content) => Buffer.from(content.toString('utf8').replace('"agent_id":"agent-ü"', '"agent_id":"agent-ö"'), 'utf8'));
    // A record removed: count, chain, and a hole in c2's numbering.
    await rewriteContent(numbered[1]!, (lines) => lines.filter((_, i) => i !== 1));
    // A byte that is not UTF-8 inside a record's text.
    await rewriteBytes(numbered[2]!, (content) => {
      const copy = Buffer.from(content);
      copy[copy.indexOf('naïve') + 2] = 0xff;
      return copy;
    });
    // Records reordered, the last line cut short and left without its newline.
    await rewriteContent(objects[3]!, (lines) => [lines[1]!, lines[0]!, ...lines.slice(2)]);
    await rewriteBytes(objects[4]!, (content) => content.subarray(0, content.length - 10));
    // The redriven record changed after the fact.
    await rewriteBytes(numbered[4]!, (content) => Buffer.from(content.toString('utf8').replace('"vote":null', '"vote":"approve"'), 'utf8'));
    const report = await bothWays();
    expect(report.ok).toBe(false);
    const found = new Set(report.problems.map((p) => p.kind));
    for (const kind of ['object-hash', 'object-count', 'record-hash', 'record-chain', 'record-order', 'record-unreadable', 'request-sequence', 'record-redrive-mismatch'] as const) expect(found, kind).toContain(kind);
    const named = new Set(report.problems.map((p) => p.objectKey));
    for (const object of [numbered[0]!, numbered[1]!, numbered[2]!, objects[3]!, objects[4]!, numbered[4]!]) expect(named, object.key).toContain(object.key);
    expect(named).not.toContain(numbered[3]!.key);
  });

  it('how many: none for a small log, one fewer than the cores for a large one (capped), the option as given', () => {
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
