import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditSink, LocalAuditSinkError } from '../../shared/adapters/local/local-audit-sink.js';

const KEY = `audit/dt=2026-11-22/hour=03/shard=shardId-1/${'1'.padStart(40, '0')}-${'9'.padStart(40, '0')}.ndjson.gz`;
const retainUntil = new Date('2027-11-22T03:00:00.000Z');
let root: string;

beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'countersign-audit-')); });
afterEach(async () => { await rm(root, { recursive: true, force: true }); });

describe('LocalAuditSink', () => {
  it('stores the object under the bucket key layout, with its retention date beside it', async () => {
    const sink = new LocalAuditSink(root);
    expect(await sink.putObject(KEY, new Uint8Array([1, 2, 3]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('written');
    expect(new Uint8Array(await readFile(join(root, ...KEY.split('/'))))).toEqual(new Uint8Array([1, 2, 3]));
    expect(await sink.getObject(KEY)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await sink.retentionOf(KEY)).toEqual(retainUntil);
    expect(JSON.parse(await readFile(join(root, ...KEY.split('/')) + '.retention.json', 'utf8'))).toEqual({ retainUntil: retainUntil.toISOString(), sha256OfUncompressed: 'c'.repeat(64) });
  });

  it('refuses to overwrite an object or shorten its retention: a second put is already-written and changes nothing', async () => {
    const sink = new LocalAuditSink(root);
    await sink.putObject(KEY, new Uint8Array([1, 2, 3]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    expect(await sink.putObject(KEY, new Uint8Array([9, 9]), { sha256OfUncompressed: 'd'.repeat(64), retainUntil: new Date('2026-11-23T00:00:00.000Z') })).toBe('already-written');
    expect(await sink.getObject(KEY)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await sink.retentionOf(KEY)).toEqual(retainUntil);
    // No temporary files are left behind.
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('publishes an object whose earlier attempt crashed after writing only the retention sidecar, keeping the first retention', async () => {
    const sink = new LocalAuditSink(root);
    await sink.putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    // Simulate the crash: the object is gone, its sidecar stays (a test reaching under the sink; the sink itself never deletes).
    await rm(join(root, ...KEY.split('/')));
    expect(await sink.putObject(KEY, new Uint8Array([2]), { sha256OfUncompressed: 'd'.repeat(64), retainUntil: new Date('2028-01-01T00:00:00.000Z') })).toBe('written');
    expect(await sink.getObject(KEY)).toEqual(new Uint8Array([2]));
    expect(await sink.retentionOf(KEY)).toEqual(retainUntil);
  });

  it('destroys nothing: an overwrite or a delete adds a version on top of the first, as S3 under Object Lock', async () => {
    const sink = new LocalAuditSink(root);
    expect(Object.getOwnPropertyNames(LocalAuditSink.prototype).filter((n) => /remove|unlink|rm/i.test(n))).toEqual([]);
    await sink.putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    // The product's conditional write still refuses an existing key.
    expect(await sink.putObject(KEY, new Uint8Array([2]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('already-written');
    expect(await sink.putObjectVersion(KEY, new Uint8Array([3]))).toBe('000002');
    expect(await sink.getObject(KEY)).toEqual(new Uint8Array([3]));
    expect(await sink.deleteObject(KEY)).toBe('000003');
    expect(await sink.getObject(KEY)).toBeUndefined();
    expect(await sink.list('audit/')).toEqual([]);
    expect((await sink.listVersions('audit/')).map((v) => [v.versionId, v.isDeleteMarker])).toEqual([['000001', false], ['000002', false], ['000003', true]]);
    expect(await sink.getObjectVersion(KEY, '000001')).toEqual(new Uint8Array([1]));
    expect(await sink.getObjectVersion(KEY, '000002')).toEqual(new Uint8Array([3]));
    expect(await sink.getObjectVersion(KEY, '000003')).toBeUndefined();
    await expect(sink.putObject(`${KEY}.versions/000009`, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).rejects.toThrow('is not a usable object key');
  });

  it('lists keys under a prefix in order, without retention sidecars or temporary files', async () => {
    const sink = new LocalAuditSink(root);
    const other = KEY.replace('hour=03', 'hour=04');
    await sink.putObject(other, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    await sink.putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    await sink.putObject('digests/dt=2026-11-22/hour=03/digest.json', new Uint8Array([123, 125]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    expect(await sink.list('audit/')).toEqual([KEY, other]);
    expect(await sink.list('audit/dt=2026-11-22/hour=03/')).toEqual([KEY]);
    expect(await sink.list(`audit/dt=2026-11-22/hour=03/shard=shardId-1/${'1'.padStart(40, '0')}-`)).toEqual([KEY]);
    expect(await sink.list('')).toEqual([KEY, other, 'digests/dt=2026-11-22/hour=03/digest.json']);
    expect(await sink.list('nothing/')).toEqual([]);
    expect(await new LocalAuditSink(join(root, 'absent')).list('audit/')).toEqual([]);
  });

  it('answers undefined for a missing key and refuses keys that would leave the layout', async () => {
    const sink = new LocalAuditSink(root);
    expect(await sink.getObject(KEY)).toBeUndefined();
    for (const bad of ['../escape', '/abs', 'a//b', `${KEY}.retention.json`, '.tmp/x']) {
      await expect(sink.putObject(bad, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).rejects.toBeInstanceOf(LocalAuditSinkError);
    }
  });
});
