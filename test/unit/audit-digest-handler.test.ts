import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { signedBytes, type AuditDigest } from '../../shared/audit/digest.js';
import { PemSignatureVerifier } from '../../shared/ports/signer.js';
import { openS3AuditLog } from '../../shared/audit/verify-sources.js';
import { verifyAuditLog } from '../../shared/audit/verify.js';
import { RECONCILIATION_TABLE_ATTRIBUTES } from '../../infra/constructs/audit-trail.js';
import { chainRecords } from '../../shared/audit/chain.js';
import { GENESIS_HASH } from '../../shared/audit/format.js';
import { buildAuditObject } from '../../shared/audit/object.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';

const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/digest';
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const s3 = mockClient(S3Client);
const kms = mockClient(KMSClient);
const ddb = mockClient(DynamoDBClient);

/** An audit object of hour 11 as the writer builds it, records chained from the genesis hash. */
function auditObject(shardId: string, from: number, to: number) {
  const at = (seq: number) => new Date(Date.parse('2026-11-20T11:10:00Z') + seq * 1000).toISOString();
  const records = chainRecords(Array.from({ length: to - from + 1 }, (_, i) => toAuditRecordBody(
    { pk: `REQ#a${from + i}`, sk: 'EVENT#decided', kind: 'event', eventId: `a${from + i}/decided`, eventType: 'decided', occurredAt: at(from + i), actionId: `a${from + i}`, outcome: 'allowed', reason: 'ok', policyIds: ['p'] },
    { shardId, sequenceNumber: String(1000 + from + i), streamCreatedAt: at(from + i) },
  )), GENESIS_HASH);
  return { ...buildAuditObject(records, new Date(at(from))), lastHash: records.at(-1)!.hash };
}

describe('audit-digest handler (the scheduled hourly run)', () => {
  it('publishes the KMS public key and writes the missing hour\'s digest, signed by KMS, to the bucket', async () => {
    vi.stubEnv('COUNTERSIGN_AUDIT_BUCKET', 'audit-bucket');
    vi.stubEnv('COUNTERSIGN_DIGEST_KEY_ID', KEY);
    vi.stubEnv('COUNTERSIGN_TABLE_NAME', 'decisions');
    ddb.on(ScanCommand).resolves({ Items: [] });
    vi.useFakeTimers({ now: new Date('2026-11-20T11:05:00Z'), toFake: ['Date'] });
    const stored = new Map<string, Uint8Array>();
    s3.on(ListObjectsV2Command).callsFake((input: { Prefix: string }) => ({ Contents: [...stored.keys()].filter((k) => k.startsWith(input.Prefix)).map((Key) => ({ Key })) }));
    // Versioned under Object Lock: one version per key here, none overwritten.
    s3.on(ListObjectVersionsCommand).callsFake((input: { Prefix: string }) => ({
      Versions: [...stored.keys()].filter((k) => k.startsWith(input.Prefix)).map((Key) => ({ Key, VersionId: `v-${Key}`, IsLatest: true, LastModified: new Date('2026-11-20T11:05:00Z') })),
    }));
    s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: Uint8Array }) => {
      stored.set(input.Key, input.Body);
      return {};
    });
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
      const body = stored.get(input.Key);
      if (body === undefined) throw new NoSuchKey({ message: 'no such key', $metadata: {} });
      return { Body: { transformToByteArray: async () => body } };
    });
    kms.on(GetPublicKeyCommand).resolves({ KeyId: KEY, KeySpec: 'ECC_NIST_P256', PublicKey: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) });
    kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({ Signature: new Uint8Array(cryptoSign('sha256', input.Message, privateKey)) }));

    const { handler } = await import('../../functions/audit-digest/handler.js');
    const result = await handler({}, { functionName: 'audit-digest' } as Context);
    vi.useRealTimers();

    // The first run of the day also reconciles the table with the log, and signs the statement.
    expect(result).toEqual({ written: 1, remainingHours: 0, reconciled: { key: 'reconciliations/dt=2026-11-20/reconciliation-100500000Z.json', differences: 0 } });
    expect(ddb).toHaveReceivedCommandWith(ScanCommand, { TableName: 'decisions', Select: 'SPECIFIC_ATTRIBUTES', ProjectionExpression: '#kind, #eventId, #occurredAt, #key, #receivedAt, #mark' });
    // Every attribute the Scan names (projection and filter) is one the role's dynamodb:Attributes condition allows.
    const scan = ddb.commandCalls(ScanCommand)[0]!.args[0].input;
    expect(Object.values(scan.ExpressionAttributeNames ?? {}).every((name) => (RECONCILIATION_TABLE_ATTRIBUTES as readonly string[]).includes(name))).toBe(true);
    expect(JSON.parse(Buffer.from(stored.get('reconciliations/dt=2026-11-20/reconciliation-100500000Z.json')!).toString('utf8'))).toMatchObject({
      window: { from: '2026-11-18T11:05:00.000Z', to: '2026-11-20T10:05:00.000Z' }, table: 'decisions', differences: 0, signing: { algorithm: 'ECDSA_SHA_256', key_id: KEY },
    });
    expect(kms).toHaveReceivedCommandWith(SignCommand, { KeyId: KEY, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' });
    const digest = JSON.parse(Buffer.from(stored.get('digests/dt=2026-11-20/hour=10/digest.json')!).toString('utf8')) as AuditDigest;
    expect(digest).toMatchObject({ hour: '2026-11-20T10:00:00.000Z', objects: [], previous: null, signing: { algorithm: 'ECDSA_SHA_256', key_id: KEY } });
    const pem = Buffer.from(stored.get('digests/public-key.pem')!).toString('utf8');
    expect(new PemSignatureVerifier(pem).verify(signedBytes(digest), Buffer.from(digest.signature, 'base64'))).toBe(true);
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Bucket: 'audit-bucket', Key: 'digests/dt=2026-11-20/hour=10/digest.json' });
    // `verify --bucket` reads the same log through the SDK and checks the KMS signature from the PEM.
    const report = await verifyAuditLog({ sink: openS3AuditLog(new S3Client({}), 'audit-bucket'), publicKeyPem: pem });
    expect(report).toMatchObject({ ok: true, digests: 1, objects: 0, versionsChecked: true, publishedKey: 'matches', reconciliation: { statements: 1 } });
    // Hour 11 holds the writer's object (its shard's chain head is at its last record) and an object of a
    // shard with no chain head: only the first is signed, after a consistent GetItem of each shard's head.
    const genuine = auditObject('shard-real', 1, 3);
    const forged = auditObject('shard-forged', 1, 2);
    for (const object of [genuine, forged]) stored.set(object.key, object.body);
    ddb.on(GetItemCommand).callsFake((input: { Key: Record<string, { S: string }> }) => (input.Key.pk!.S === 'AUDIT#SHARD#shard-real'
      ? { Item: marshall({ pk: 'AUDIT#SHARD#shard-real', sk: 'HEAD', kind: 'audit-chain', lastSequence: genuine.lastSequence, lastHash: genuine.lastHash }) }
      : {}));
    // A second run the same day does not reconcile again.
    vi.useFakeTimers({ now: new Date('2026-11-20T12:05:00Z'), toFake: ['Date'] });
    const again = await handler({}, { functionName: 'audit-digest' } as Context);
    vi.useRealTimers();
    expect(again).toEqual({ written: 1, remainingHours: 0 });
    expect(ddb).toHaveReceivedCommandWith(GetItemCommand, { TableName: 'decisions', Key: marshall({ pk: 'AUDIT#SHARD#shard-forged', sk: 'HEAD' }), ConsistentRead: true });
    const hour11 = JSON.parse(Buffer.from(stored.get('digests/dt=2026-11-20/hour=11/digest.json')!).toString('utf8')) as AuditDigest;
    expect(hour11.objects.map((o) => o.key)).toEqual([genuine.key]);
  });
});
