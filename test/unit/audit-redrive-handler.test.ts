import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { parseAuditObject } from '../../shared/audit/object.js';

const s3 = mockClient(S3Client);
const ddb = mockClient(DynamoDBClient);

/** One failure document as Lambda's S3 on-failure destination writes it for a DynamoDB stream batch. */
function failureDocument(shardId: string, items: Array<{ seq: string; eventId: string; requestSeq: number }>) {
  return {
    version: '1.0',
    timestamp: '2026-11-20T10:07:00.000Z',
    requestContext: { requestId: 'r-1', functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:audit-writer', condition: 'RetryAttemptsExhausted', approximateInvokeCount: 21 },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    DDBStreamBatchInfo: { shardId, startSequenceNumber: items[0]!.seq, endSequenceNumber: items.at(-1)!.seq, batchSize: items.length, streamArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x' },
    payload: {
      Records: items.map((item) => ({
        eventID: `e-${item.seq}`,
        eventName: 'INSERT',
        dynamodb: {
          ApproximateCreationDateTime: 1763633100,
          SequenceNumber: item.seq,
          NewImage: marshall({
            pk: 'REQ#act-1', sk: `EVENT#${item.eventId}`, kind: 'event', eventId: `act-1/${item.eventId}`, eventType: item.eventId, occurredAt: '2026-11-20T10:05:00.000Z',
            actionId: 'act-1', requestSeq: item.requestSeq, outcome: 'allowed', policyIds: [],
          }),
        },
      })),
    },
  };
}

describe('audit-redrive handler (the scheduled hourly run)', () => {
  it('writes the failure bucket\'s batches into the late chain of their shard once, marked late, and skips them the next hour', async () => {
    vi.stubEnv('COUNTERSIGN_TABLE_NAME', 'decisions');
    vi.stubEnv('COUNTERSIGN_AUDIT_BUCKET', 'audit-bucket');
    vi.stubEnv('COUNTERSIGN_AUDIT_FAILURE_BUCKET', 'failure-bucket');
    vi.useFakeTimers({ now: new Date('2026-11-20T11:05:00Z'), toFake: ['Date'] });
    const failures = new Map([['2026/11/20/failure-1.json', JSON.stringify(failureDocument('shardId-1', [{ seq: '200', eventId: 'requested', requestSeq: 1 }, { seq: '210', eventId: 'decided', requestSeq: 2 }]))]]);
    const stored = new Map<string, Uint8Array>();
    const heads = new Map<string, Record<string, unknown>>();
    s3.on(ListObjectsV2Command).callsFake((input: { Bucket: string; Prefix: string }) => ({
      Contents: [...(input.Bucket === 'failure-bucket' ? failures.keys() : stored.keys())].filter((k) => k.startsWith(input.Prefix ?? '')).map((Key) => ({ Key })),
    }));
    // The failure bucket is versioned, not locked: someone deleted the document (a delete marker on top).
    s3.on(ListObjectVersionsCommand).callsFake((input: { Bucket: string }) => (input.Bucket !== 'failure-bucket' ? {} : {
      Versions: [...failures.keys()].map((Key) => ({ Key, VersionId: 'v1', IsLatest: false, LastModified: new Date('2026-11-20T10:07:00Z') })),
      DeleteMarkers: [...failures.keys()].map((Key) => ({ Key, VersionId: 'd2', IsLatest: true, LastModified: new Date('2026-11-20T10:30:00Z') })),
    }));
    s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string; VersionId?: string }) => {
      if (input.Bucket === 'failure-bucket' && input.VersionId !== 'v1') throw new NoSuchKey({ message: 'deleted', $metadata: {} });
      const body = input.Bucket === 'failure-bucket' ? (failures.has(input.Key) ? Buffer.from(failures.get(input.Key)!) : undefined) : stored.get(input.Key);
      if (body === undefined) throw new NoSuchKey({ message: 'no such key', $metadata: {} });
      return { Body: { transformToByteArray: async () => new Uint8Array(body) } };
    });
    s3.on(PutObjectCommand).callsFake((input: { Bucket: string; Key: string; Body: Uint8Array }) => {
      expect(input.Bucket).toBe('audit-bucket');
      stored.set(input.Key, input.Body);
      return {};
    });
    // The table: the chain heads, and the event items themselves (the redrive takes their content from here).
    const doc = JSON.parse(failures.get('2026/11/20/failure-1.json')!) as { payload: { Records: Array<{ dynamodb: { NewImage: Record<string, { S?: string }> } }> } };
    const table = new Map(doc.payload.Records.map((r) => [`${r.dynamodb.NewImage.pk!.S}|${r.dynamodb.NewImage.sk!.S}`, r.dynamodb.NewImage]));
    // Someone edited the failure document after Lambda wrote it: the table's item is what gets written.
    failures.set('2026/11/20/failure-1.json', failures.get('2026/11/20/failure-1.json')!.replaceAll('"allowed"', '"approved by nobody"'));
    ddb.on(GetItemCommand).callsFake((input: { Key: { pk: { S: string }; sk: { S: string } } }) => {
      if (input.Key.pk.S.startsWith('AUDIT#SHARD#')) return { Item: heads.has(input.Key.pk.S) ? marshall(heads.get(input.Key.pk.S)!) : undefined };
      return { Item: table.get(`${input.Key.pk.S}|${input.Key.sk.S}`) };
    });
    ddb.on(PutItemCommand).callsFake((input: { Item: { pk: { S: string }; lastSequence: { S: string }; lastHash: { S: string } } }) => {
      heads.set(input.Item.pk.S, { pk: input.Item.pk.S, lastSequence: input.Item.lastSequence.S, lastHash: input.Item.lastHash.S });
      return {};
    });

    const { handler } = await import('../../functions/audit-redrive/handler.js');
    const first = await handler({}, { functionName: 'audit-redrive' } as Context);
    const second = await handler({}, { functionName: 'audit-redrive' } as Context);
    vi.useRealTimers();

    expect(first).toEqual({ redriven: 1, recordsWritten: 2, failed: 0, withoutPayload: 0 });
    expect(second).toEqual({ redriven: 1, recordsWritten: 0, failed: 0, withoutPayload: 0 });
    const keys = [...stored.keys()];
    // The partition is the redrive's hour; the chain is the shard's late chain.
    expect(keys).toEqual([`audit/dt=2026-11-20/hour=11/shard=late.shardId-1/${'200'.padStart(40, '0')}-${'210'.padStart(40, '0')}.ndjson.gz`]);
    const records = parseAuditObject(stored.get(keys[0]!)!);
    expect(records.map((r) => [r.event_id, r.request_seq, r.shard_id, r.redriven_at])).toEqual([
      ['act-1/requested', 1, 'late.shardId-1', '2026-11-20T11:05:00.000Z'],
      ['act-1/decided', 2, 'late.shardId-1', '2026-11-20T11:05:00.000Z'],
    ]);
    expect(heads.get('AUDIT#SHARD#late.shardId-1')).toMatchObject({ lastSequence: '210' });
    expect(records.map((r) => r.outcome)).toEqual([null, 'allowed']);
    expect(JSON.stringify(records)).not.toContain('approved by nobody');
  });
});
