import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { mockClient } from 'aws-sdk-client-mock';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { auditWriterConfig, ConfigError } from '../../shared/config.js';

const ddb = mockClient(DynamoDBClient);
let dir: string;
let handler: (event: DynamoDBStreamEvent & { shardId?: string }, context: Context) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }>; state?: Record<string, string> }>;
const context = { functionName: 'audit-writer', awsRequestId: 'req-1' } as Context;

function event(from: number, to: number): DynamoDBStreamEvent & { shardId: string; window: { start: string; end: string }; state: Record<string, string> } {
  return {
    shardId: 'shardId-00000001795310000000-0a1b2c3d',
    window: { start: '2026-11-22T03:00:00Z', end: '2026-11-22T03:15:00Z' },
    state: {},
    Records: Array.from({ length: to - from + 1 }, (_, i) => ({
      eventID: `e${from + i}`,
      eventName: 'INSERT' as const,
      eventSource: 'aws:dynamodb',
      eventSourceARN: 'arn:aws:dynamodb:eu-west-1:123456789012:table/countersign/stream/2026-11-22T00:00:00.000',
      dynamodb: {
        ApproximateCreationDateTime: 1795316400 + i,
        SequenceNumber: String(500 + from + i),
        NewImage: marshall({ pk: `REQ#a${from + i}`, sk: 'EVENT#decided', kind: 'event', eventId: `a${from + i}/decided`, eventType: 'decided', occurredAt: '2026-11-22T03:00:00.000Z', outcome: 'allowed', reason: 'ok', policyIds: [] }) as never,
      },
    })),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'countersign-audit-handler-'));
  process.env.COUNTERSIGN_TABLE_NAME = 'countersign';
  process.env.COUNTERSIGN_AUDIT_DIR = dir;
  ({ handler } = await import('../../functions/audit-writer/handler.js'));
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
beforeEach(() => ddb.reset());

describe('audit-writer handler', () => {
  it('writes the batch as the tumbling window\'s shard and reports no failures, with the window state Lambda requires', async () => {
    ddb.on(GetItemCommand).resolves({});
    ddb.on(PutItemCommand).resolves({});
    expect(await handler(event(1, 3), context)).toEqual({ batchItemFailures: [], state: {} });
    expect(await new LocalAuditSink(dir).list('audit/dt=2026-11-22/hour=03/shard=shardId-00000001795310000000-0a1b2c3d/')).toHaveLength(1);
    expect(ddb).toHaveReceivedCommandWith(PutItemCommand, { TableName: 'countersign', ConditionExpression: 'attribute_not_exists(pk)' });
  });

  it('fails the whole batch when the write fails, so Lambda retries it from its first record', async () => {
    ddb.on(GetItemCommand).resolves({ Item: marshall({ lastSequence: '503', lastHash: 'a'.repeat(64) }) });
    ddb.on(PutItemCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));
    await expect(handler(event(4, 6), context)).rejects.toBeInstanceOf(FullBatchFailureError);
  });

  it('fails the batch, writing nothing, when Lambda names no shard (no tumbling window on the mapping)', async () => {
    const { shardId: _s, window: _w, state: _st, ...plain } = event(7, 8);
    await expect(handler(plain, context)).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(ddb.calls()).toHaveLength(0);
  });

  it('answers a window\'s final invocation without records', async () => {
    expect(await handler({ ...event(1, 1), Records: [] }, context)).toEqual({ batchItemFailures: [], state: {} });
  });
});

describe('auditWriterConfig', () => {
  it('reads the bucket, or the local directory instead, and the retention in days (default 365)', () => {
    expect(auditWriterConfig({ COUNTERSIGN_TABLE_NAME: 't', COUNTERSIGN_AUDIT_BUCKET: 'b' })).toEqual({ tableName: 't', target: { kind: 's3', bucket: 'b' }, retentionDays: 365 });
    expect(auditWriterConfig({ COUNTERSIGN_TABLE_NAME: 't', COUNTERSIGN_AUDIT_BUCKET: 'b', COUNTERSIGN_AUDIT_DIR: '/d', COUNTERSIGN_AUDIT_RETENTION_DAYS: '7' })).toEqual({ tableName: 't', target: { kind: 'local', dir: '/d' }, retentionDays: 7 });
  });

  it('fails fast naming what is missing or wrong', () => {
    expect(() => auditWriterConfig({ COUNTERSIGN_TABLE_NAME: 't' })).toThrow(/COUNTERSIGN_AUDIT_BUCKET.*COUNTERSIGN_AUDIT_DIR/);
    expect(() => auditWriterConfig({ COUNTERSIGN_AUDIT_BUCKET: 'b' })).toThrow(/COUNTERSIGN_TABLE_NAME/);
    expect(() => auditWriterConfig({ COUNTERSIGN_TABLE_NAME: 't', COUNTERSIGN_AUDIT_BUCKET: 'b', COUNTERSIGN_AUDIT_RETENTION_DAYS: '1.5' })).toThrow(ConfigError);
  });
});
