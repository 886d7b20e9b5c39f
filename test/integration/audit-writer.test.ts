import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-dynamodb-streams';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoChainStore } from '../../shared/adapters/aws/dynamo-chain-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { LocalAuditSink } from '../../shared/adapters/local/local-audit-sink.js';
import { parseAuditObject } from '../../shared/audit/object.js';
import { writeAuditBatch, type AuditStreamRecord } from '../../shared/audit/writer.js';
import { decideRequest } from '../../shared/domain/intake.js';
import { ChainHeadConflictError } from '../../shared/ports/audit.js';
import { ensureDecisionTable, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { actionRequested } from '../support/requests.js';

const TABLE = 'countersign-audit-it';
const TOKEN = 'AAAA-secret-task-token-of-the-review-item';
let ddb: DynamoDbLocal;
let streams: DynamoDBStreamsClient;
let dir: string;

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  streams = new DynamoDBStreamsClient({ endpoint: ddb.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  dir = await mkdtemp(join(tmpdir(), 'countersign-audit-it-'));
});

afterAll(async () => {
  streams?.destroy();
  await ddb?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Everything on the table's stream so far, per shard, in Lambda's record shape (plus shardId, as the poller sends). */
async function streamRecordsByShard(): Promise<Map<string, AuditStreamRecord[]>> {
  const { Table } = await ddb.client.send(new DescribeTableCommand({ TableName: TABLE }));
  const streamArn = Table!.LatestStreamArn!;
  const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
  const byShard = new Map<string, AuditStreamRecord[]>();
  for (const shard of StreamDescription?.Shards ?? []) {
    const { ShardIterator } = await streams.send(new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
    let iterator = ShardIterator;
    const records: AuditStreamRecord[] = [];
    for (let i = 0; iterator !== undefined && i < 20; i++) {
      const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
      for (const r of page.Records ?? []) {
        records.push({
          eventID: r.eventID, eventName: r.eventName, eventSourceARN: streamArn, shardId: shard.ShardId,
          dynamodb: { ApproximateCreationDateTime: r.dynamodb!.ApproximateCreationDateTime!.getTime() / 1000, SequenceNumber: r.dynamodb!.SequenceNumber, NewImage: r.dynamodb!.NewImage as Record<string, unknown> },
        });
      }
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
    byShard.set(shard.ShardId!, records);
  }
  return byShard;
}

describe('DynamoChainStore on DynamoDB Local', () => {
  it('creates a head once, advances it only from the expected head, and refuses a stale advance', async () => {
    const chain = new DynamoChainStore(ddb.client, TABLE);
    expect(await chain.get('shard-a')).toBeUndefined();
    const first = { lastSequence: '100', lastHash: 'a'.repeat(64) };
    await chain.advance('shard-a', undefined, first);
    await expect(chain.advance('shard-a', undefined, first)).rejects.toBeInstanceOf(ChainHeadConflictError);
    const second = { lastSequence: '200', lastHash: 'b'.repeat(64) };
    await chain.advance('shard-a', first, second);
    await expect(chain.advance('shard-a', first, { lastSequence: '300', lastHash: 'c'.repeat(64) })).rejects.toThrow(/moved \(expected sequence 100\)/);
    expect(await chain.get('shard-a')).toEqual(second);
    expect(await chain.get('shard-b')).toBeUndefined();
  });
});

describe('audit writer on DynamoDB Local with a local audit directory', () => {
  it('writes the event items the stores wrote, from the real stream, once, and never the review item\'s task token', async () => {
    const decisions = new DynamoDecisionStore(ddb.client, TABLE);
    const reviews = new DynamoReviewStore(ddb.client, TABLE);
    const policy = { decide: () => ({ kind: 'approval' as const, policyIds: ['data.export.prod'], reason: 'needs approval', approval: { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 }, validity: { validFor: 'PT15M', validForSeconds: 900 } }) };
    const record = decideRequest(actionRequested({ action: 'db.export' }), policy, new Date().toISOString());
    expect((await decisions.recordRequest(record)).status).toBe('created');
    const opened = await reviews.openReview({ actionId: record.key, candidateReviewId: 'rev-it-1', phase: 'initial', taskToken: TOKEN, at: new Date().toISOString(), deadlineAt: new Date(Date.now() + 1_800_000).toISOString() });
    await reviews.recordReviewEvent(opened.snapshot, 'review_requested', new Date().toISOString(), { channel: 'C1', messageTs: '1.1', approvers: 'data-owners', quorum: 1 });

    const sink = new LocalAuditSink(dir);
    const deps = { sink, chain: new DynamoChainStore(ddb.client, TABLE), retentionDays: 30, now: () => new Date() };
    const byShard = await streamRecordsByShard();
    const all = [...byShard.values()].flat();
    // The stream carries the review item with its token: the writer must leave it out.
    expect(JSON.stringify(all)).toContain(TOKEN);
    for (const records of byShard.values()) await writeAuditBatch(records, deps);

    const keys = await sink.list('audit/');
    const logged = (await Promise.all(keys.map(async (k) => parseAuditObject((await sink.getObject(k))!)))).flat();
    expect(logged.map((r) => r.event_type).sort()).toEqual(['decided', 'requested', 'review_requested']);
    expect(logged.every((r) => r.action_id === record.key)).toBe(true);
    for (const key of keys) expect((await readFile(join(dir, ...key.split('/')))).includes(Buffer.from(TOKEN))).toBe(false);
    expect(JSON.stringify(logged)).not.toContain(TOKEN);
    expect(await sink.retentionOf(keys[0]!)).toBeInstanceOf(Date);

    // Redelivery of the whole stream (now also carrying the chain heads): nothing new, nothing doubled.
    for (const records of (await streamRecordsByShard()).values()) {
      for (const result of await writeAuditBatch(records, deps)) expect(result.recordsWritten).toBe(0);
    }
    expect(await sink.list('audit/')).toEqual(keys);
    const files = await readdir(dir, { recursive: true });
    expect(files.filter((f) => f.endsWith('.ndjson.gz'))).toHaveLength(keys.length);
  });
});
