import { GetObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { S3AuditSink } from '../../shared/adapters/aws/s3-audit-sink.js';

const s3 = mockClient(S3Client);
const BUCKET = 'countersign-audit';
const KEY = `audit/dt=2026-11-22/hour=03/shard=shardId-1/${'1'.padStart(40, '0')}-${'9'.padStart(40, '0')}.ndjson.gz`;
const retainUntil = new Date('2027-11-22T03:00:00.000Z');
let waits: number[] = [];
const sink = () => new S3AuditSink(new S3Client({ region: 'eu-west-1' }), BUCKET, { sleep: async (ms) => { waits.push(ms); } });
const conflict = () => new S3ServiceException({ name: 'ConditionalRequestConflict', $fault: 'client', $metadata: { httpStatusCode: 409 }, message: 'A conflicting operation occurred' });
const preconditionFailed = () => new S3ServiceException({ name: 'PreconditionFailed', $fault: 'client', $metadata: { httpStatusCode: 412 }, message: 'At least one of the pre-conditions you specified did not hold' });

describe('S3AuditSink', () => {
  beforeEach(() => { s3.reset(); waits = []; });

  it('writes once, locked in compliance mode until the retention date, with a SHA-256 checksum and the content type', async () => {
    s3.on(PutObjectCommand).resolves({});
    const body = new Uint8Array([31, 139, 8]);
    expect(await sink().putObject(KEY, body, { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('written');
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET, Key: KEY, Body: body, IfNoneMatch: '*', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: retainUntil,
      ChecksumAlgorithm: 'SHA256', ContentType: 'application/x-ndjson', Metadata: { 'sha256-uncompressed': 'c'.repeat(64) },
    });
  });

  it('stores a .ndjson.gz object without Content-Encoding, so a download keeps the gzip bytes its name and digest promise', async () => {
    s3.on(PutObjectCommand).resolves({});
    await sink().putObject(KEY, new Uint8Array([31, 139, 8]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil });
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input.ContentType).toBe('application/x-ndjson');
    expect(input).not.toHaveProperty('ContentEncoding');
  });

  it('sends a digest (JSON, not gzip) with its own content type and no encoding', async () => {
    s3.on(PutObjectCommand).resolves({});
    await sink().putObject('digests/dt=2026-11-22/hour=03/digest.json', new Uint8Array([123, 125]), { sha256OfUncompressed: 'd'.repeat(64), retainUntil });
    const input = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ ContentType: 'application/json', IfNoneMatch: '*', ObjectLockMode: 'COMPLIANCE' });
    expect(input.ContentEncoding).toBeUndefined();
  });

  it('answers already-written on 412 Precondition Failed (the key exists: a redelivery)', async () => {
    s3.on(PutObjectCommand).rejects(preconditionFailed());
    expect(await sink().putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('already-written');
  });

  it('retries a 409 ConditionalRequestConflict: the retry finds the concurrent write landed (412) and answers already-written', async () => {
    s3.on(PutObjectCommand).rejectsOnce(conflict()).rejectsOnce(preconditionFailed());
    expect(await sink().putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('already-written');
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 2);
    expect(waits).toEqual([100]);
  });

  it('retries a 409 until the write goes through, backing off', async () => {
    s3.on(PutObjectCommand).rejectsOnce(conflict()).rejectsOnce(conflict()).resolves({});
    expect(await sink().putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).toBe('written');
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 3);
    expect(waits).toEqual([100, 200]);
  });

  it('gives up after four conflicting attempts with an error that names the key (the batch is then retried by Lambda)', async () => {
    s3.on(PutObjectCommand).rejects(conflict());
    await expect(sink().putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil }))
      .rejects.toMatchObject({ name: 'AuditWriteConflictError', key: KEY, message: expect.stringContaining('409 ConditionalRequestConflict to 4 conditional writes') });
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 4);
  });

  it('passes on any other failure, such as access denied', async () => {
    s3.on(PutObjectCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }));
    await expect(sink().putObject(KEY, new Uint8Array([1]), { sha256OfUncompressed: 'c'.repeat(64), retainUntil })).rejects.toThrow('Access Denied');
  });

  it('reads an object back, and undefined for a missing key', async () => {
    s3.on(GetObjectCommand, { Key: KEY }).resolves({ Body: { transformToByteArray: async () => new Uint8Array([5, 6, 7]) } as never });
    s3.on(GetObjectCommand, { Key: 'missing' }).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    expect(await sink().getObject(KEY)).toEqual(new Uint8Array([5, 6, 7]));
    expect(await sink().getObject('missing')).toBeUndefined();
  });

  it('lists every page under a prefix, in key order', async () => {
    s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [{ Key: 'audit/b' }, { Key: 'audit/a' }], IsTruncated: true, NextContinuationToken: 't1' });
    s3.on(ListObjectsV2Command, { ContinuationToken: 't1' }).resolves({ Contents: [{ Key: 'audit/c' }], IsTruncated: false });
    expect(await sink().list('audit/')).toEqual(['audit/a', 'audit/b', 'audit/c']);
    expect(s3).toHaveReceivedCommandWith(ListObjectsV2Command, { Bucket: BUCKET, Prefix: 'audit/' });
  });

  it('lists with the stored sizes the same pages give (ListObjectsV2 Size), for the digest writer to refuse a file before reading it', async () => {
    s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [{ Key: 'audit/b', Size: 3 * 1024 ** 3 }, { Key: 'audit/a', Size: 512 }], IsTruncated: true, NextContinuationToken: 't1' });
    s3.on(ListObjectsV2Command, { ContinuationToken: 't1' }).resolves({ Contents: [{ Key: 'audit/c', Size: 0 }], IsTruncated: false });
    expect(await sink().listSized('audit/')).toEqual([{ key: 'audit/a', size: 512 }, { key: 'audit/b', size: 3 * 1024 ** 3 }, { key: 'audit/c', size: 0 }]);
  });

  it('lists every version and delete marker across pages, oldest first within a key, the latest last on a tie', async () => {
    const t = (s: number) => new Date(Date.UTC(2026, 10, 22, 3, 0, s));
    s3.on(ListObjectVersionsCommand, { Bucket: BUCKET, Prefix: 'audit/', KeyMarker: undefined, VersionIdMarker: undefined }).resolves({
      // S3 lists a key's versions newest first.
      Versions: [{ Key: KEY, VersionId: 'v3', IsLatest: false, LastModified: t(9) }, { Key: KEY, VersionId: 'v2', IsLatest: false, LastModified: t(9) }, { Key: KEY, VersionId: 'v1', IsLatest: false, LastModified: t(1) }],
      DeleteMarkers: [{ Key: KEY, VersionId: 'd4', IsLatest: true, LastModified: t(9) }],
      IsTruncated: true, NextKeyMarker: KEY, NextVersionIdMarker: 'v1',
    });
    s3.on(ListObjectVersionsCommand, { Bucket: BUCKET, Prefix: 'audit/', KeyMarker: KEY, VersionIdMarker: 'v1' }).resolves({
      Versions: [{ Key: `${KEY}.other`, VersionId: 'o1', IsLatest: true, LastModified: t(0), Size: 3 * 1024 ** 3 }], IsTruncated: false,
    });
    expect((await sink().listVersions('audit/')).map((v) => `${v.key === KEY ? 'k' : 'o'}:${v.versionId}${v.isDeleteMarker ? ' (delete marker)' : ''}`)).toEqual(['k:v1', 'k:v2', 'k:v3', 'k:d4 (delete marker)', 'o:o1']);
    // The size verify reads to refuse a file larger than any the writers make, without a GET.
    expect((await sink().listVersions('audit/')).map((v) => v.size)).toEqual([undefined, undefined, undefined, undefined, 3 * 1024 ** 3]);
  });

  it('reads one version by id, and answers undefined for a delete marker (405) or an unknown version', async () => {
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: KEY, VersionId: 'v1' }).resolves({ Body: { transformToByteArray: async () => new Uint8Array([7]) } } as never);
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: KEY, VersionId: 'd2' }).rejects(new S3ServiceException({ name: 'MethodNotAllowed', $fault: 'client', $metadata: { httpStatusCode: 405 }, message: 'delete marker' }));
    s3.on(GetObjectCommand, { Bucket: BUCKET, Key: KEY, VersionId: 'zz' }).rejects(new S3ServiceException({ name: 'NoSuchVersion', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'no such version' }));
    expect(await sink().getObjectVersion(KEY, 'v1')).toEqual(new Uint8Array([7]));
    expect(await sink().getObjectVersion(KEY, 'd2')).toBeUndefined();
    expect(await sink().getObjectVersion(KEY, 'zz')).toBeUndefined();
  });
});
