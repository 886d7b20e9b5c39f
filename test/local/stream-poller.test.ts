import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { StreamPoller, type StreamHandler } from '../../local/stream-poller.js';
import { eventually } from './support.js';

/**
 * The stream poller's event source mapping semantics against DynamoDB Local's real stream, with a
 * recording handler: the filter, Lambda's event shape, partial batch failures, retries, bisection,
 * the failure destination, and the checkpoint across pollers.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

type ShardEvent = DynamoDBStreamEvent & { shardId?: string; eventSourceARN?: string };

let dynamoDb: DynamoDbLocal;
let dir: string;

beforeAll(async () => {
  dynamoDb = await startDynamoDbLocal();
  dir = mkdtempSync(join(tmpdir(), 'countersign-poller-'));
});

afterAll(async () => {
  await dynamoDb?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function table(name: string): Promise<string> {
  await ensureDecisionTable(dynamoDb.client, name);
  const { Table } = await dynamoDb.client.send(new DescribeTableCommand({ TableName: name }));
  return Table!.LatestStreamArn!;
}

async function put(tableName: string, sk: string, kind: string): Promise<void> {
  await dynamoDb.client.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'A#1' }, sk: { S: sk }, kind: { S: kind }, data: { B: new Uint8Array([1, 2, 3]) } } }));
}

function poller(name: string, streamArn: string, handler: StreamHandler, extra: Partial<ConstructorParameters<typeof StreamPoller>[0]> = {}) {
  const log = memoryLogger();
  const instance = new StreamPoller({
    endpoint: dynamoDb.endpoint,
    streamArn,
    handler,
    checkpointFile: join(dir, `${name}-checkpoint.json`),
    failureFile: join(dir, `${name}-failures.jsonl`),
    log,
    pollIntervalMs: 50,
    batchWindowMs: 50,
    retryBackoffMs: 5,
    ...extra,
  });
  return { instance, log };
}

const sks = (event: ShardEvent) => event.Records.map((r) => r.dynamodb?.NewImage?.sk?.S);

describe('the stream poller', () => {
  it('passes only new event items and new request items marked as their requested event, in Lambda shape, and resumes from its checkpoint', async () => {
    const arn = await table('poller-filter');
    await put('poller-filter', 'EVENT#1', 'event');
    await put('poller-filter', 'REQUEST', 'request');
    // A request item marked as the source of its requested event (issue 15) passes; its later changes do not.
    await dynamoDb.client.send(new PutItemCommand({ TableName: 'poller-filter', Item: { pk: { S: 'A#2' }, sk: { S: 'REQUEST#marked' }, kind: { S: 'request' }, auditEvent: { S: 'requested' } } }));
    await dynamoDb.client.send(new PutItemCommand({ TableName: 'poller-filter', Item: { pk: { S: 'A#3' }, sk: { S: 'REQUEST#other-mark' }, kind: { S: 'request' }, auditEvent: { S: 'decided' } } }));
    await put('poller-filter', 'EVENT#2', 'event');
    await dynamoDb.client.send(new UpdateItemCommand({ TableName: 'poller-filter', Key: { pk: { S: 'A#1' }, sk: { S: 'EVENT#1' } }, UpdateExpression: 'SET note = :n', ExpressionAttributeValues: { ':n': { S: 'x' } } }));
    await dynamoDb.client.send(new UpdateItemCommand({ TableName: 'poller-filter', Key: { pk: { S: 'A#2' }, sk: { S: 'REQUEST#marked' } }, UpdateExpression: 'SET outcome = :o', ExpressionAttributeValues: { ':o': { S: 'approved' } } }));
    const events: ShardEvent[] = [];
    const first = poller('filter', arn, async (event) => { events.push(event as ShardEvent); return { batchItemFailures: [] }; });
    first.instance.start();
    await eventually(() => (events.flatMap(sks).length >= 3 ? true : undefined), 'three records');
    await first.instance.drain();
    expect(events.flatMap(sks)).toEqual(['EVENT#1', 'REQUEST#marked', 'EVENT#2']);
    const [record] = events[0]!.Records;
    expect(events[0]!.shardId).toMatch(/^shardId-/);
    expect(events[0]!.eventSourceARN).toBe(arn);
    expect(record!.eventName).toBe('INSERT');
    expect(record!.eventSource).toBe('aws:dynamodb');
    expect(record!.dynamodb!.SequenceNumber).toMatch(/^[1-9]\d*$/);
    const seconds = record!.dynamodb!.ApproximateCreationDateTime!;
    expect(Math.abs(seconds - Date.now() / 1000)).toBeLessThan(120);
    expect(record!.dynamodb!.NewImage!.data).toEqual({ B: Buffer.from([1, 2, 3]).toString('base64') });

    await put('poller-filter', 'EVENT#3', 'event');
    const later: ShardEvent[] = [];
    const second = poller('filter', arn, async (event) => { later.push(event as ShardEvent); return { batchItemFailures: [] }; });
    second.instance.start();
    await eventually(() => (later.flatMap(sks).length >= 1 ? true : undefined), 'the new record');
    await second.instance.drain();
    expect(later.flatMap(sks)).toEqual(['EVENT#3']);
  });

  it('retries from the first record in batchItemFailures', async () => {
    const arn = await table('poller-partial');
    for (const n of [1, 2, 3]) await put('poller-partial', `EVENT#${n}`, 'event');
    const calls: (string | undefined)[][] = [];
    let failed = false;
    const { instance } = poller('partial', arn, async (event) => {
      const e = event as ShardEvent;
      calls.push(sks(e));
      const second = e.Records[1];
      if (!failed && second !== undefined) {
        failed = true;
        return { batchItemFailures: [{ itemIdentifier: second.dynamodb!.SequenceNumber! }] };
      }
      return { batchItemFailures: [] };
    }, { batchWindowMs: 500 });
    instance.start();
    await eventually(() => (calls.flat().includes('EVENT#3') && calls.length >= 2 ? true : undefined), 'the retry');
    await instance.drain();
    expect(calls[0]).toEqual(['EVENT#1', 'EVENT#2', 'EVENT#3']);
    expect(calls[1]).toEqual(['EVENT#2', 'EVENT#3']);
    expect(calls).toHaveLength(2);
  });

  it('after the retries, bisects, and sends what still fails to the failure file with its payload', async () => {
    const arn = await table('poller-failing');
    for (const n of [1, 2, 3]) await put('poller-failing', `EVENT#${n}`, 'event');
    const calls: (string | undefined)[][] = [];
    const { instance, log } = poller('failing', arn, async (event) => {
      const names = sks(event as ShardEvent);
      calls.push(names);
      if (names.includes('EVENT#2')) throw new Error('cannot write EVENT#2');
      return { batchItemFailures: [] };
    }, { batchWindowMs: 500, maxRetries: 1 });
    instance.start();
    const failureFile = join(dir, 'failing-failures.jsonl');
    await eventually(() => (existsSync(failureFile) ? true : undefined), 'the failure file');
    await instance.drain();
    const failures = readFileSync(failureFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { payload: ShardEvent; responseContext: { functionError: string } });
    expect(failures).toHaveLength(1);
    expect(sks(failures[0]!.payload)).toEqual(['EVENT#2']);
    expect(failures[0]!.responseContext.functionError).toMatch(/cannot write EVENT#2/);
    // EVENT#1 and EVENT#3 got through; nothing was delivered twice after success.
    expect(calls.filter((c) => c.length === 1 && c[0] === 'EVENT#1')).toHaveLength(1);
    expect(calls.flat().filter((name) => name === 'EVENT#3').length).toBeGreaterThan(0);
    expect(calls.at(-1)).toEqual(['EVENT#3']);
    expect(log.lines.some((line) => line.includes('bisecting'))).toBe(true);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'failing-checkpoint.json'), 'utf8')) as { streams: Record<string, { shards: Record<string, { sequenceNumber?: string }> }> };
    expect(Object.values(checkpoint.streams[arn]!.shards)[0]!.sequenceNumber).toBeDefined();
  });
});
