import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import { failedEventItems, FailureEntryError, parseFailureEntry, readLocalFailures } from '../../shared/audit/failures.js';

const info = { shardId: 'shardId-7', startSequenceNumber: '0100', endSequenceNumber: '0300', batchSize: 3, streamArn: 'arn:x' };
const record = (seq: string, image: Record<string, unknown>, eventName = 'INSERT') => ({ eventName, dynamodb: { SequenceNumber: seq, ApproximateCreationDateTime: 1, NewImage: marshall(image) } });

describe('the failure destination, read back', () => {
  it('takes the batch from the payload, as an object or as JSON text, and lists its event items only', () => {
    const records = [
      record('0100', { kind: 'event', eventId: 'a/requested', eventType: 'requested', actionId: 'a', requestSeq: 1 }),
      record('0200', { kind: 'request', key: 'a' }),
      record('0300', { kind: 'event', eventId: 'invalid/ev-1/decided', eventType: 'decided', actionId: null, requestSeq: 2 }),
    ];
    for (const payload of [{ Records: records }, JSON.stringify({ Records: records })]) {
      const batch = parseFailureEntry({ DDBStreamBatchInfo: info, timestamp: '2026-11-20T10:00:00.000Z', payload }, 'f line 1');
      expect(batch).toMatchObject({ shardId: 'shardId-7', failedAt: '2026-11-20T10:00:00.000Z', hasPayload: true });
      expect(failedEventItems(batch)).toEqual([
        { shardId: 'shardId-7', sequence: '100', eventId: 'a/requested', requestSeqKey: 'a#1', comparable: expect.stringContaining('"event_id":"a/requested"') },
        { shardId: 'shardId-7', sequence: '300', eventId: 'invalid/ev-1/decided', requestSeqKey: 'invalid/ev-1#2', comparable: expect.stringContaining('"event_id":"invalid/ev-1/decided"') },
      ]);
    }
  });

  it('keeps a batch without payload (an SQS or SNS destination) as one that cannot be redriven', () => {
    expect(parseFailureEntry({ DDBStreamBatchInfo: info }, 's3://b/k')).toMatchObject({ hasPayload: false, records: [], failedAt: 'an unknown time' });
  });

  it('names what is wrong with a document that is not a stream failure record', async () => {
    expect(() => parseFailureEntry([], 'x')).toThrow(new FailureEntryError('x is not a JSON object'));
    expect(() => parseFailureEntry({ requestContext: {} }, 'x')).toThrow('x has no DDBStreamBatchInfo with shardId, startSequenceNumber and endSequenceNumber');
    expect(() => parseFailureEntry({ DDBStreamBatchInfo: info, payload: '{nope' }, 'x')).toThrow('x: its payload is text that is not JSON');
    const dir = await mkdtemp(join(tmpdir(), 'failures-'));
    try {
      expect(await readLocalFailures(join(dir, 'absent.jsonl'))).toEqual([]);
      await writeFile(join(dir, 'f.jsonl'), `${JSON.stringify({ DDBStreamBatchInfo: info })}\n\nnot json\n`);
      await expect(readLocalFailures(join(dir, 'f.jsonl'))).rejects.toThrow(/f\.jsonl line 3 is not JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
