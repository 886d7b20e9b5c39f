import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseRecord, flatCanonical, hashedLine } from '../../bench/audit-log-fixture.js';
import { generateAuditLog, generatedRecord, isCurrentGeneratedLog } from '../../scripts/generate-audit-log.js';
import { Ed25519Signer } from '../../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { recordHash } from '../../shared/audit/chain.js';
import { writeDigestsUpTo } from '../../shared/audit/digest.js';
import { listKeys } from '../../shared/audit/digest-store.js';
import { AUDIT_PREFIX, DIGEST_PREFIX } from '../../shared/audit/format.js';
import { verifyAuditLog } from '../../shared/audit/verify.js';
import { canonicalJson } from '../../shared/domain/canonical-json.js';

// The generator writes each record's line in one pass and signs the digests from what it wrote (it no
// longer reads every object back): the lines must be the product's canonical JSON, and the digests the
// ones the product's digest writer makes over the same objects, byte for byte.
const START = new Date('2026-10-01T00:00:00Z');
const HOURS = 30;
const signer = Ed25519Signer.generate();
let dir: string;
let productDir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'generate-audit-log-'));
  productDir = await mkdtemp(join(tmpdir(), 'generate-audit-log-product-'));
  // 2,000 records over 30 hours: 67 an hour in objects of 25, 25 and 17 over 3 shards.
  await generateAuditLog({ records: 2_000, dir, days: 1.25, perObject: 25, agents: 4, shards: 3, start: START, signer });
  // The same objects in another bucket, signed there by the product's digest writer.
  const generated = new LocalAuditSink(dir);
  const product = new LocalAuditSink(productDir);
  for (const key of await listKeys(generated, AUDIT_PREFIX)) {
    await product.putObject(key, (await generated.getObject(key))!, { sha256OfUncompressed: 'x', retainUntil: new Date('2030-01-01T00:00:00Z') });
  }
  await writeDigestsUpTo(new Date(START.getTime() + HOURS * 3_600_000), { sink: product, signer, retainUntil: () => new Date('2030-01-01T00:00:00Z') }, { maxHours: HOURS + 1 });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(productDir, { recursive: true, force: true });
});

describe('generated record lines', () => {
  it('are the canonical JSON of the record, and its hash is the chain hash of the record without it', () => {
    const at = new Date('2026-10-01T05:06:07.089Z');
    for (let i = 0; i < 50; i++) {
      const record = baseRecord({ ...generatedRecord(i, at, 7), ...(i % 7 === 0 ? { execution_status: 'failed', comment: 'a "quoted"\nline \u2028' } : {}) }, 'shard-1', String(1000 + i), 'f'.repeat(64));
      const { hash: _hash, ...unhashed } = record;
      expect(flatCanonical(record)).toBe(canonicalJson(record));
      expect(hashedLine(unhashed)).toEqual({ hash: recordHash(unhashed), line: canonicalJson(record) });
    }
  });

  it('leave out a field that is undefined, as JSON.stringify does', () => {
    expect(flatCanonical({ event_id: 'e', action: undefined, agent_id: 'a' })).toBe('{"agent_id":"a","event_id":"e"}');
  });
});

describe('generateAuditLog', () => {
  it('writes one digest per hour, byte for byte what writeDigestsUpTo writes over the same objects', async () => {
    // (The generator also publishes the public key, which writeDigestsUpTo does not.)
    const digests = (await listKeys(new LocalAuditSink(dir), DIGEST_PREFIX)).filter((key) => key.endsWith('.json'));
    const productDigests = (await listKeys(new LocalAuditSink(productDir), DIGEST_PREFIX)).filter((key) => key.endsWith('.json'));
    expect(digests.filter((key) => key.endsWith('/digest.json'))).toHaveLength(HOURS);
    expect(digests).toEqual(productDigests);
    for (const key of digests) {
      expect((await readFile(join(dir, ...key.split('/')))).toString('utf8'), key).toBe((await readFile(join(productDir, ...key.split('/')))).toString('utf8'));
    }
  });

  it('makes a log that verify finds whole', async () => {
    const report = await verifyAuditLog({ sink: new LocalAuditSink(dir), publicKeyPem: await signer.publicKeyPem(), now: new Date('2026-10-03T00:00:00Z') });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, records: 2_000, objects: 90 });
    // Numbered as the product numbers a request's events (verify's per-request check runs on every record).
    expect(generatedRecord(7, new Date(0), 5).request_seq).toBe(3);
    expect(isCurrentGeneratedLog(dir)).toBe(true);
  });
});
