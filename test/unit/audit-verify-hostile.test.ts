/**
 * Red-team findings: a log altered by someone with write access to the bucket (not the signing key),
 * and bytes a fuzzer would try. verify must name each change, never crash or hang on what the log holds.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FixtureObject } from '../../bench/audit-log-fixture.js';
import type { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import type { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { writeDigestsUpTo } from '../../shared/audit/digest.js';
import { digestKey } from '../../shared/audit/digest-store.js';
import { formatReport, verifyAuditLog, type VerifyReport } from '../../shared/audit/verify.js';
import { events, fixtureLog, H10, H11, H12, NOW } from './audit-log-setup.js';

let dir: string;
let sink: LocalAuditSink;
let publicKeyPem: string;
let signer: Ed25519Signer;
let objects: FixtureObject[];

beforeEach(async () => {
  ({ dir, sink, signer, publicKeyPem, objects } = await fixtureLog('audit-verify-hostile-', [['shard-a', H10, events('a1', 5)], ['shard-a', H11, events('a2', 4)], ['shard-a', H12, events('a3', 3)]]));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pathOf = (key: string) => join(dir, ...key.split('/'));
const verify = (extra: Partial<Parameters<typeof verifyAuditLog>[0]> = {}) => verifyAuditLog({ sink, publicKeyPem, now: NOW, workers: 0, ...extra });
const messages = (report: VerifyReport) => report.problems.map((p) => `[${p.kind}] ${p.message}`);

async function editDigest(hour: Date, change: (digest: Record<string, unknown>) => void): Promise<string> {
  const key = digestKey(hour);
  const digest = JSON.parse(await readFile(pathOf(key), 'utf8')) as Record<string, unknown>;
  change(digest);
  await writeFile(pathOf(key), JSON.stringify(digest));
  return key;
}

async function editLine(object: FixtureObject, index: number, change: (line: string) => string): Promise<void> {
  const lines = gunzipSync(await readFile(pathOf(object.key))).toString('utf8').split('\n').filter((l) => l !== '');
  lines[index] = change(lines[index]!);
  await writeFile(pathOf(object.key), gzipSync(lines.map((l) => `${l}\n`).join('')));
}

describe('verify on an untouched log', () => {
  it('is whole (the baseline the attacks below start from)', async () => {
    const report = await verify();
    expect(messages(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(12);
  });
});

describe('a digest with hostile fields (its signature fails, and verify goes on to name the rest)', () => {
  it.each([
    ['an object entry that is null', (d: Record<string, unknown>) => { (d.objects as unknown[]).unshift(null); }, 'objects[0] is not an object entry'],
    ['an object entry that is a number', (d: Record<string, unknown>) => { (d.objects as unknown[]).push(1); }, 'objects[1] is not an object entry'],
    ['an object entry whose key is a number', (d: Record<string, unknown>) => { (d.objects as Array<Record<string, unknown>>)[0]!.key = 5; }, 'objects[0] is not an object entry'],
    ['an object entry whose record count is text', (d: Record<string, unknown>) => { (d.objects as Array<Record<string, unknown>>)[0]!.records = '5'; }, 'objects[0] is not an object entry'],
    ['a previous digest whose key is a number', (d: Record<string, unknown>) => { d.previous = { key: 5, sha256: 'x', signature: 'y' }; }, 'previous is neither null nor a digest reference'],
    ['a previous digest that is an empty object', (d: Record<string, unknown>) => { d.previous = {}; }, 'previous is neither null nor a digest reference'],
  ])('%s', async (_name, change, what) => {
    const key = await editDigest(H11, change);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(messages(report)).toEqual(expect.arrayContaining([
      `[digest-unreadable] digest ${key} does not have the digest's fields: ${what} ({key, sha256, records, first_sequence, last_sequence} for an object; {key, sha256, signature} for previous): it was altered`,
      // The next digest chained to the stored bytes, so the change is named there too.
      `[digest-chain] digest ${key} is not the one digest ${digestKey(H12)} chained to (SHA-256 differs): it was replaced, swapped or forged`,
    ]));
    // The digest before it is not accused of being skipped: its successor is the unreadable one.
    expect(messages(report).filter((m) => m.includes(digestKey(H10)))).toEqual([]);
  });
});

describe('a record with no canonical JSON form', () => {
  it.each([
    ['a lone surrogate written as an escape (valid JSON, no canonical form)', (line: string) => line.replace('"agent_id":"agent-a"', '"agent_id":"\\ud800"'), 'its content has no canonical JSON form (value has no canonical JSON form: Lone surrogate is not allowed), so no hash can match it'],
    ['a value nested 100,000 deep', (line: string) => `${line.slice(0, -1)},"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 'its hash does not match its content'],
  ])('%s: named on its line, not a crash', async (_name, change, why) => {
    const target = objects[1]!;
    await editLine(target, 2, change);
    for (const workers of [0, 1]) {
      const report = await verify({ workers });
      expect(report.problems.filter((p) => p.kind === 'record-hash').map((p) => [p.objectKey, p.line, p.eventId])).toEqual([[target.key, 3, 'a2/2']]);
      expect(report.problems.map((p) => p.kind).sort()).toEqual(['object-hash', 'record-hash']);
      expect(report.records).toBe(12);
      expect(report.problems.find((p) => p.kind === 'record-hash')!.message).toBe(`object ${target.key} line 3 (event_id a2/2): ${why}: the record was altered`);
    }
  });
});

describe('a digest\'s previous reference that points outside the log', () => {
  it('a key that climbs out of the bucket is named, not read (it stopped verify with the store\'s key error)', async () => {
    const key = await editDigest(H11, (d) => { (d.previous as Record<string, unknown>).key = '../../etc/passwd'; });
    const report = await verify();
    expect(messages(report)).toEqual(expect.arrayContaining([
      `[digest-chain] digest ${key} points at ../../etc/passwd as previous, not at a digest of the hour before (${digestKey(H10)})`,
    ]));
  });

  it('a digest key that the store does not list (a symlink to a file elsewhere: a pipe or /dev/zero would hang it) is missing, not followed', async () => {
    const { symlink } = await import('node:fs/promises');
    const elsewhere = join(dir, 'elsewhere.json');
    await writeFile(elsewhere, await readFile(pathOf(digestKey(H10))));
    const fake = 'digests/dt=2026-11-20/hour=09/digest.json';
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'digests/dt=2026-11-20/hour=09'), { recursive: true });
    await symlink(elsewhere, pathOf(fake));
    const key = await editDigest(H10, (d) => { d.previous = { key: fake, sha256: 'f'.repeat(64), signature: 'x' }; });
    const report = await verify();
    expect(messages(report)).toEqual(expect.arrayContaining([
      `[digest-missing] digest ${fake} is missing (digest ${key} chains to it): it was deleted`,
    ]));
    expect(report.problems.filter((p) => p.kind === 'digest-chain' && p.digestKey === fake)).toEqual([]);
  });
});

describe('files larger than any the writers make (sparse files: no disk used)', () => {
  const GIB3 = 3 * 1024 ** 3;

  it('an object, a new object and the published key of 3 GiB are named, not read (they stopped verify: a file over 2 GiB cannot be read into one buffer)', async () => {
    const { mkdir, truncate } = await import('node:fs/promises');
    const target = objects[0]!.key;
    await truncate(pathOf(target), GIB3);
    const added = `audit/dt=2026-11-20/hour=12/shard=big/${'1'.padStart(40, '0')}-${'1'.padStart(40, '0')}.ndjson.gz`;
    await mkdir(join(dir, 'audit/dt=2026-11-20/hour=12/shard=big'), { recursive: true });
    await writeFile(pathOf(added), '');
    await truncate(pathOf(added), GIB3);
    await writeFile(pathOf('digests/public-key.pem'), '');
    await truncate(pathOf('digests/public-key.pem'), GIB3);
    const report = await verify();
    expect(messages(report)).toEqual([
      `[published-key] digests/public-key.pem is not a readable public key (anchor fingerprint ${report.anchor.fingerprint}): a third party who trusts the key in the log would be misled; it was replaced, or the log is signed by another key`,
      `[object-unreadable] ${target} is ${GIB3} bytes, more than any audit object the writer makes (at most 68157440): not read; it was added or replaced`,
      `[object-unreadable] ${added} is ${GIB3} bytes, more than any audit object the writer makes (at most 68157440): not read; it was added or replaced`,
      `[record-chain] object ${objects[1]!.key} line 1 (event_id a2/0): the first record of shard shard-a does not start the chain (prev_hash is not the genesis hash): earlier objects of this shard are missing`,
    ]);
  });

  it('a digest of 3 GiB is named, not read, and not called deleted', async () => {
    const { truncate } = await import('node:fs/promises');
    await truncate(pathOf(digestKey(H10)), GIB3);
    const report = await verify();
    expect(messages(report)).toEqual([
      `[digest-unreadable] ${digestKey(H10)} is ${GIB3} bytes, more than any file of the log (at most 1073741824): not read; it was added or replaced`,
      `[object-unsigned] object ${objects[0]!.key} is listed by no digest although its hour ended 2 h ago: the digest that should list it is missing (deleted, or the digest job is not running), or the digest writer refused it as not the audit writer's (the digest job's log says why)`,
    ]);
  });
});

describe('an object that gunzips to millions of lines that are no records', () => {
  it.each([
    // Problems a line: not JSON; or no hash that holds, no sequence number and not the object's shard.
    ['empty lines', '\n', 1],
    ['lines that are not JSON', 'x\n', 1],
    ['empty JSON objects', '{}\n', 3],
  ])('%s: the first 1,000 problems are checked, the rest of its lines counted (naming each took minutes)', async (_name, unit, perLine) => {
    const checked = Math.ceil(1000 / perLine);
    const target = objects[0]!;
    await writeFile(pathOf(target.key), gzipSync(unit.repeat(2_000_000)));
    for (const workers of [0, 1]) {
      const report = await verify({ workers });
      const own = report.problems.filter((p) => p.objectKey === target.key);
      expect([...new Set(own.filter((p) => p.line !== undefined).map((p) => p.line))]).toEqual(Array.from({ length: Math.ceil(20 / perLine) }, (_, i) => i + 1));
      expect(own.map((p) => p.message)).toEqual(expect.arrayContaining([
        `object ${target.key}: ${checked * perLine - 20} more record problems not shown, in lines 1-${checked}; lines ${checked + 1}-2000000 were counted, not checked (over 1000 problems: the object is not the writer's)`,
        `object ${target.key} holds 2000000 records; digest ${digestKey(H10)} lists 5: records were added`,
      ]));
      expect(report.ok).toBe(false);
    }
  });
});

describe('sequence numbers no stream makes (the writer keys objects by at most 40 digits)', () => {
  it.each([
    ['two million digits (read as a number it held verify for seconds, and printed megabytes)', '9'.repeat(2_000_000)],
    ['hexadecimal (BigInt read it as 16)', '0x10'],
    ['empty (BigInt read it as 0)', ''],
  ])('a record whose sequence_number is %s is unreadable on its line', async (_name, sequence) => {
    const target = objects[0]!;
    await editLine(target, 2, (line) => line.replace(/"sequence_number":"\d+"/, `"sequence_number":"${sequence}"`));
    const report = await verify();
    expect(messages(report)).toEqual([
      `[object-hash] object ${target.key}: SHA-256 of its content is not the one digest ${digestKey(H10)} lists: the object was altered after it was written`,
      `[record-hash] object ${target.key} line 3 (event_id a1/2): its hash does not match its content: the record was altered`,
      `[record-unreadable] object ${target.key} line 3 (event_id a1/2): sequence_number is not a decimal string of at most 40 digits`,
    ]);
  });

  it('a digest entry\'s sequence of two million digits is shown clipped', async () => {
    const key = await editDigest(H10, (d) => { (d.objects as Array<Record<string, unknown>>)[0]!.first_sequence = '9'.repeat(2_000_000); });
    const report = await verify();
    expect(messages(report)).toContain(`[object-range] object ${objects[0]!.key} spans sequences 1007-1035; digest ${key} lists ${'9'.repeat(200)}… (2000000 characters)-1035`);
  });
});

describe('the newest digest rewritten in another form of the same content (no later digest hashes its bytes)', () => {
  it.each([
    ['a key written twice: a reader that takes the first sees other objects; JSON.parse takes the last', (text: string) => `{"objects":[{"key":"forged"}],${text.slice(1)}`],
    ['indented', (text: string) => JSON.stringify(JSON.parse(text) as unknown, null, 2)],
  ])('%s: named, not whole', async (_name, change) => {
    const key = digestKey(H12);
    await writeFile(pathOf(key), change(await readFile(pathOf(key), 'utf8')));
    const report = await verify();
    expect(messages(report)).toEqual([
      `[digest-signature] digest ${key} is not stored as the writer stores it (the canonical JSON of what it says): its bytes were altered (whitespace, key order, or a key written twice, which another reader may read differently)`,
    ]);
  });

  it('a lone surrogate in a digest field (no canonical form: signing it threw) is named', async () => {
    const key = digestKey(H12);
    const text = await readFile(pathOf(key), 'utf8');
    await writeFile(pathOf(key), text.replace(/"key_id":"[^"]*"/, '"key_id":"\\ud800"'));
    const report = await verify();
    expect(messages(report)).toEqual([
      `[digest-unreadable] digest ${key} has no canonical JSON form (value has no canonical JSON form: Lone surrogate is not allowed): it was altered`,
    ]);
    // Its hour's object is then listed by no digest (checked; recent enough to be waiting for the next).
    expect(report.pendingObjects).toEqual([objects[2]!.key]);
  });
});

describe('a reconciliation statement rewritten', () => {
  async function statementKey(): Promise<string> {
    const { reconcileAndRecord } = await import('../../shared/audit/reconcile.js');
    const logged = objects.flatMap((o) => o.records.map((r) => ({ eventId: r.event_id, occurredAt: r.occurred_at })));
    return (await reconcileAndRecord({ sink, signer, tableName: 'decisions', retainUntil: NOW, tableEventItems: async () => logged }, { now: NOW })).key;
  }

  it.each([
    ['with a lone surrogate escape (signing it threw)', (text: string) => text.replace('"table":"decisions"', '"table":"\\ud800"'), 'has no canonical JSON form (value has no canonical JSON form: Lone surrogate is not allowed): it was altered'],
    ['with a key written twice (a reader that takes the first sees differences)', (text: string) => `{"differences":1,${text.slice(1)}`, 'is not stored as the writer stores it (the canonical JSON of what it says): its bytes were altered (whitespace, key order, or a key written twice, which another reader may read differently)'],
  ])('%s: named', async (_name, change, what) => {
    const key = await statementKey();
    expect(await readFile(pathOf(key), 'utf8')).toContain('"table":"decisions"');
    await writeFile(pathOf(key), change(await readFile(pathOf(key), 'utf8')));
    const report = await verify();
    expect(messages(report)).toEqual([`[reconcile-statement] reconciliation statement ${key} ${what}`]);
  });
});

describe('the report printed to a terminal', () => {
  it('shows a key\'s control characters as escapes: a key that clears the screen and prints "verified" cannot forge the report', async () => {
    const { mkdir } = await import('node:fs/promises');
    const evil = 'audit/dt=2026-11-20/hour=10/shard=x\u001b[2J\u001b[H/audit log verified: 3 digests, no problems\n\u202eok.ndjson.gz';
    await mkdir(join(dir, 'audit/dt=2026-11-20/hour=10/shard=x\u001b[2J\u001b[H'), { recursive: true });
    await writeFile(pathOf(evil), gzipSync('{}\n'));
    const text = formatReport(await verify());
    expect(text.split('\n')[0]).toBe('audit log NOT verified: 1 problem in 3 digests, 3 objects, 12 records');
    expect(text.split('\n').at(-1)).toBe('  [object-extra] audit/dt=2026-11-20/hour=10/shard=x\\u001b[2J\\u001b[H/audit log verified: 3 digests, no problems\\u000a\\u202eok.ndjson.gz under audit/ is not an audit object key: something else wrote into the log');
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
  });
});

describe('values of megabytes in a record or digest', () => {
  it('an event_id of 2 million characters is shown clipped in each message (the report was 3 times its size)', async () => {
    const target = objects[0]!;
    const eventId = 'e'.repeat(2_000_000);
    await editLine(target, 2, (line) => line.replace(/"event_id":"[^"]*"/, `"event_id":"${eventId}"`));
    const report = await verify();
    expect(messages(report)).toContain(`[record-hash] object ${target.key} line 3 (event_id ${'e'.repeat(200)}… (2000000 characters)): its hash does not match its content: the record was altered`);
    expect(formatReport(report).length).toBeLessThan(5_000);
    // The finding still carries the whole id, for a program that matches it.
    expect(report.problems.find((p) => p.kind === 'record-hash')!.eventId).toBe(eventId);
  });

  it('a digest\'s signing key id of 2 million characters is shown clipped', async () => {
    const key = await editDigest(H11, (d) => { (d.signing as Record<string, unknown>).key_id = 'k'.repeat(2_000_000); (d.signing as Record<string, unknown>).public_key_sha256 = 'f'.repeat(64); });
    const report = await verify();
    expect(messages(report)).toContain(`[digest-key] digest ${key} names signing key ${'k'.repeat(200)}… (2000000 characters) (public key SHA-256 ffffffffffffffff…), not the given key (${report.anchor.fingerprint.slice(0, 16)}…)`);
    expect(formatReport(report).length).toBeLessThan(5_000);
  });
});

describe('a line that parses to a record whose hash holds, but is not that record\'s canonical JSON', () => {
  // The hash is over the record's canonical JSON: a line with a key written twice (JSON.parse takes the
  // last, a reader that takes the first reads another value), or with whitespace, parses to the same
  // record and the same hash. The writer never writes such a line.
  const twice = (line: string) => line.replace('"agent_id":"agent-a"', '"agent_id":"agent-evil","agent_id":"agent-a"');
  const spaced = (line: string) => line.replace('"agent_id":', '"agent_id": ');

  it.each([['a key written twice', twice], ['whitespace', spaced]])('%s: named on its line', async (_name, change) => {
    const target = objects[1]!;
    await editLine(target, 1, change);
    const report = await verify();
    expect(messages(report)).toEqual([
      `[object-hash] object ${target.key}: SHA-256 of its content is not the one digest ${digestKey(H11)} lists: the object was altered after it was written`,
      `[record-hash] object ${target.key} line 2 (event_id a2/1): its line is not the canonical JSON of its record (whitespace, key order, an escape, or a key written twice, which another reader may read differently): the record was altered`,
    ]);
  });

  it('a key written twice in an object added before the next digest: never signed', async () => {
    const { FixtureLogWriter: Writer } = await import('../../bench/audit-log-fixture.js');
    const added = new Writer(sink).batch('shard-new', new Date('2026-11-20T13:00:00Z'), events('n1', 2));
    await sink.putObject(added.key, gzipSync(added.content.split('\n').map((line, i) => (i === 0 ? twice(line) : line)).join('\n')), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const stop = await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    expect(stop.refused).toEqual([`object ${added.key} line 1 is not the canonical JSON of its record; it is not signed`]);
  });
});

describe('the digest writer on an object added with hostile records', () => {
  it('a record with a lone surrogate escape: the object is refused and the digest still written (it stopped the digest job)', async () => {
    const { FixtureLogWriter: Writer } = await import('../../bench/audit-log-fixture.js');
    const added = new Writer(sink).batch('shard-new', new Date('2026-11-20T13:00:00Z'), events('n1', 1));
    await sink.putObject(added.key, gzipSync(added.content.replace('"agent_id":"agent-a"', '"agent_id":"\\ud800"')), { sha256OfUncompressed: 'x', retainUntil: NOW });
    const stop = await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    expect(stop.refused).toEqual([`object ${added.key} line 1 has no canonical JSON form (value has no canonical JSON form: Lone surrogate is not allowed); it is not signed`]);
    expect(await sink.getObject(digestKey(new Date('2026-11-20T13:00:00Z')))).toBeDefined();
  });
});

describe('the digest writer on an object of 3 GiB (a sparse file: no disk used)', () => {
  it('refuses it from the listing\'s size without reading it, and still writes the digest (reading it stopped the digest job: over 2 GiB fits no buffer)', async () => {
    const { mkdir, truncate } = await import('node:fs/promises');
    const added = `audit/dt=2026-11-20/hour=13/shard=big/${'1'.padStart(40, '0')}-${'1'.padStart(40, '0')}.ndjson.gz`;
    await mkdir(join(dir, 'audit/dt=2026-11-20/hour=13/shard=big'), { recursive: true });
    await writeFile(pathOf(added), '');
    await truncate(pathOf(added), 3 * 1024 ** 3);
    expect(await sink.listSized('audit/dt=2026-11-20/hour=13/')).toEqual([{ key: added, size: 3 * 1024 ** 3 }]);
    const stop = await writeDigestsUpTo(new Date('2026-11-20T13:10:00Z'), { sink, signer }, { includeCurrentHour: true });
    expect(stop.refused).toEqual([`object ${added} is ${3 * 1024 ** 3} bytes, more than any audit object the writer makes (at most 68157440); it is not read or signed`]);
    expect(await sink.getObject(digestKey(new Date('2026-11-20T13:00:00Z')))).toBeDefined();
  });
});

describe('a digest dated far from the log', () => {
  async function copyDigestTo(key: string): Promise<void> {
    const { mkdir, copyFile } = await import('node:fs/promises');
    await mkdir(join(dir, ...key.split('/').slice(0, -1)), { recursive: true });
    await copyFile(pathOf(digestKey(H12)), pathOf(key));
  }

  it('one in an hour after the verifier\'s clock is named and not walked to (a copy dated 2099 made verify name every hour up to it, in quadratic time)', async () => {
    const future = 'digests/dt=2099-01-01/hour=00/digest.json';
    await copyDigestTo(future);
    const report = await verify();
    expect(messages(report)).toEqual([`[digest-misplaced] digest ${future} is in the partition of hour 2099-01-01T00:00Z, after the verifier's clock: no writer writes into the future; it was added`]);
  });

  it('one dated a year before the log: the hours between are one finding, not one each', async () => {
    const past = 'digests/dt=2025-11-20/hour=10/digest.json';
    await copyDigestTo(past);
    const report = await verify();
    expect(messages(report)).toEqual(expect.arrayContaining([
      `[digest-missing] no digest for the 8759 hours 2025-11-20T11:00Z .. 2026-11-20T09:00Z (${'digests/dt=2025-11-20/hour=11/digest.json'} .. ${'digests/dt=2026-11-20/hour=09/digest.json'}): they were deleted or never written`,
    ]));
    expect(report.problems.filter((p) => p.kind === 'digest-missing')).toHaveLength(1);
  });
});
