import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FixtureLogWriter } from '../../bench/audit-log-fixture.js';
import { Ed25519Signer, ED25519_KEY_FILE } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { publishPublicKey, signedBytes, writeDigestsUpTo, type AuditDigest } from '../../shared/audit/digest.js';
import { digestKey, PUBLIC_KEY_OBJECT } from '../../shared/audit/digest-store.js';
import { verifyAuditLog } from '../../shared/audit/verify.js';
import { PemSignatureVerifier } from '../../shared/ports/signer.js';

const GOLDEN_KEY = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFLP1eXf6J7wKYyn7TS0UEuyulpg9tLz0CWHEaxAqkGL\n-----END PRIVATE KEY-----\n';
const H10 = new Date('2026-11-20T10:00:00Z');

let dir: string;
let sink: LocalAuditSink;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-digest-'));
  sink = new LocalAuditSink(join(dir, 'bucket'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readDigest(hour: Date): Promise<{ text: string; digest: AuditDigest }> {
  const bytes = await sink.getObject(digestKey(hour));
  const text = Buffer.from(bytes!).toString('utf8');
  return { text, digest: JSON.parse(text) as AuditDigest };
}

describe('digest format (golden)', () => {
  it('lists each object with its content hash, count, shard and sequence range, chained and signed', async () => {
    const signer = Ed25519Signer.fromPrivateKeyPem(GOLDEN_KEY);
    await new FixtureLogWriter(sink).write('shard-a', H10, [{ event_id: 'e1' }, { event_id: 'e2' }]);
    const result = await writeDigestsUpTo(new Date('2026-11-20T12:00:00Z'), { sink, signer });
    expect(result).toEqual({ written: [digestKey(H10), digestKey(new Date('2026-11-20T11:00:00Z'))], refused: [], remainingHours: 0, lastDigestKey: digestKey(new Date('2026-11-20T11:00:00Z')) });
    const first = await readDigest(H10);
    expect(first.text).toMatchInlineSnapshot(`"{"format":"countersign-audit-digest/1","hour":"2026-11-20T10:00:00.000Z","objects":[{"first_sequence":"1007","key":"audit/dt=2026-11-20/hour=10/shard=shard-a/0000000000000000000000000000000000001007-0000000000000000000000000000000000001014.ndjson.gz","last_sequence":"1014","records":2,"sha256":"489e9312dac6f6636b40b0a4ee50e2e7943df5bdab8288b76487d5a0447574c1","shard_id":"shard-a"}],"previous":null,"signature":"2i4+pz8XRETCqP9S5tUY5Kk5Mt3VIoOC0fE6pOzU55U3Nt7mq1bjOkxSQaAkYDbHLTloccdyf/c2iN92l1BkCw==","signing":{"algorithm":"Ed25519","key_id":"ed25519:09c54bf45a4e859693f38d86fd6779d5c3227b61962379840c6eab4d5ac8e72d","public_key_sha256":"09c54bf45a4e859693f38d86fd6779d5c3227b61962379840c6eab4d5ac8e72d"}}"`);
  });
});

describe('the digest content', () => {
  it('hashes the uncompressed content, chains each hour to the one before, and verifies with the PEM key', async () => {
    const signer = Ed25519Signer.fromPrivateKeyPem(GOLDEN_KEY);
    const object = await new FixtureLogWriter(sink).write('shard-a', H10, [{ event_id: 'e1' }, { event_id: 'e2' }]);
    await writeDigestsUpTo(new Date('2026-11-20T12:30:00Z'), { sink, signer });
    const first = await readDigest(H10);
    const second = await readDigest(new Date('2026-11-20T11:00:00Z'));
    expect(first.digest.objects[0]!.sha256).toBe(createHash('sha256').update(object.content).digest('hex'));
    expect(second.digest.objects).toEqual([]);
    expect(second.digest.previous).toEqual({ key: digestKey(H10), sha256: createHash('sha256').update(first.text).digest('hex'), signature: first.digest.signature });
    const verifier = new PemSignatureVerifier(await signer.publicKeyPem());
    expect(verifier.verify(signedBytes(second.digest), Buffer.from(second.digest.signature, 'base64'))).toBe(true);
    expect(verifier.verify(signedBytes({ ...second.digest, objects: [first.digest.objects[0]!] }), Buffer.from(second.digest.signature, 'base64'))).toBe(false);
  });
});

describe('writeDigestsUpTo', () => {
  const signer = Ed25519Signer.generate();

  it('fills every missed hour (also empty ones) and writes nothing twice', async () => {
    await new FixtureLogWriter(sink).write('shard-a', H10, [{ event_id: 'e1' }]);
    const first = await writeDigestsUpTo(new Date('2026-11-20T11:10:00Z'), { sink, signer });
    expect(first.written).toEqual([digestKey(H10)]);
    const again = await writeDigestsUpTo(new Date('2026-11-20T11:20:00Z'), { sink, signer });
    expect(again.written).toEqual([]);
    // The schedule missed four runs: the next run writes the four hours, chained.
    const healed = await writeDigestsUpTo(new Date('2026-11-20T15:05:00Z'), { sink, signer });
    expect(healed.written).toEqual(['11', '12', '13', '14'].map((hh) => digestKey(new Date(`2026-11-20T${hh}:00:00Z`))));
    const report = await verifyAuditLog({ sink, publicKeyPem: await signer.publicKeyPem() });
    expect(report).toMatchObject({ ok: true, digests: 5, records: 1 });
  });

  it('is bounded per run and carries on where it stopped', async () => {
    await new FixtureLogWriter(sink).write('shard-a', H10, [{ event_id: 'e1' }]);
    const run = await writeDigestsUpTo(new Date('2026-11-20T20:05:00Z'), { sink, signer }, { maxHours: 3 });
    expect(run).toMatchObject({ remainingHours: 7 });
    expect(run.written).toHaveLength(3);
    const next = await writeDigestsUpTo(new Date('2026-11-20T20:05:00Z'), { sink, signer }, { maxHours: 100 });
    expect(next).toMatchObject({ remainingHours: 0 });
    expect(next.written).toHaveLength(7);
  });

  it('lists an object that lands in an hour after its digest in the next digest, exactly once', async () => {
    const writer = new FixtureLogWriter(sink);
    await writer.write('shard-a', H10, [{ event_id: 'e1' }]);
    // Clean shutdown at 10:40 digests the current hour; a batch of 10:xx arrives at 10:50.
    await writeDigestsUpTo(new Date('2026-11-20T10:40:00Z'), { sink, signer }, { includeCurrentHour: true });
    const late = await writer.write('shard-a', H10, [{ event_id: 'e2' }]);
    expect((await verifyAuditLog({ sink, publicKeyPem: await signer.publicKeyPem(), now: new Date('2026-11-20T10:55:00Z') })).pendingObjects).toEqual([late.key]);
    await writeDigestsUpTo(new Date('2026-11-20T12:00:00Z'), { sink, signer });
    expect((await readDigest(new Date('2026-11-20T11:00:00Z'))).digest.objects.map((o) => o.key)).toEqual([late.key]);
    const report = await verifyAuditLog({ sink, publicKeyPem: await signer.publicKeyPem(), now: new Date('2026-11-20T12:05:00Z') });
    expect(report).toMatchObject({ ok: true, pendingObjects: [], records: 2 });
  });
});

describe('Ed25519Signer and the published public key', () => {
  it('creates the key once, mode 0600, and loads the same key afterwards', async () => {
    const keyDir = join(dir, 'keys');
    const first = await Ed25519Signer.fromKeyDir(keyDir);
    expect((await stat(join(keyDir, ED25519_KEY_FILE))).mode & 0o777).toBe(0o600);
    const second = await Ed25519Signer.fromKeyDir(keyDir);
    expect(second.keyId).toBe(first.keyId);
    expect(await readFile(join(keyDir, ED25519_KEY_FILE), 'utf8')).toContain('BEGIN PRIVATE KEY');
  });

  it('publishes the public key beside the log and refuses to publish a different one', async () => {
    const signer = Ed25519Signer.generate();
    const retain = new Date('2030-01-01T00:00:00Z');
    expect(await publishPublicKey(sink, signer, retain)).toBe('written');
    expect(Buffer.from((await sink.getObject(PUBLIC_KEY_OBJECT))!).toString('utf8')).toBe(await signer.publicKeyPem());
    expect(await publishPublicKey(sink, signer, retain)).toBe('already-written');
    await expect(publishPublicKey(sink, Ed25519Signer.generate(), retain)).rejects.toThrow(/holds another public key than the digest signer's/);
  });

  it('the verifier also checks ECDSA P-256 signatures (what KMS makes) from the PEM alone', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from('digest bytes');
    const verifier = new PemSignatureVerifier(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(verifier.algorithm).toBe('ECDSA_SHA_256');
    expect(verifier.verify(data, cryptoSign('sha256', data, privateKey))).toBe(true);
    expect(verifier.verify(Buffer.from('other bytes'), cryptoSign('sha256', data, privateKey))).toBe(false);
    expect(verifier.verify(data, cryptoSign('sha256', data, privateKey), 'Ed25519')).toBe(false);
  });
});
