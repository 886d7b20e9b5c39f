/**
 * Nothing is skipped for good: the stream batches the writer gave up on (failures.ts) are written into
 * the log once the cause is gone, by the same writer code, into the chain `late.<shard>` of their
 * shard, each record marked with `redriven_at`. Runs at the local stack's start and hourly in AWS.
 *
 * Idempotent without bookkeeping: a shard's failed batches are redriven in sequence order, and the
 * late chain's head skips what an earlier run wrote (the writer's own rule). A shard whose redrive
 * fails stops there (its later batches wait for the next run, so the late chain stays in order);
 * other shards go on.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { canonicalJson } from '../domain/canonical-json.js';
import { LATE_CHAIN_PREFIX } from './format.js';
import type { FailedBatch } from './failures.js';
import { toAuditRecordBody } from './record.js';
import { isAuditEvent, writeAuditBatch, type AuditStreamRecord, type AuditWriterDeps } from './writer.js';

/** The table's event item by its key, as DynamoDB returns it (AttributeValue form); undefined when absent. */
export type EventItemReader = (pk: string, sk: string) => Promise<Record<string, AttributeValue> | undefined>;

export interface RedriveDeps extends AuditWriterDeps {
  /**
   * The failure destination is not locked, and may have been edited: each record's content is taken
   * from the table (event items are immutable), never from the payload. A record the table does not
   * hold is not written.
   */
  readEventItem: EventItemReader;
}

export interface RedriveResult {
  /** Batches whose records are all in the log now (written now or before). */
  redriven: number;
  recordsWritten: number;
  /** Batches the destination kept no payload for: they cannot be redriven from it. */
  withoutPayload: string[];
  /** Shards whose redrive failed this time, with why. */
  failed: Array<{ shardId: string; source: string; error: string }>;
  /** Records whose payload differs from the table's item (the table's was written), or that the table does not hold (not written). */
  altered: Array<{ source: string; key: string; why: 'differs from the table' | 'not in the table' }>;
}

/** The batch's records with their images from the table: the payload says which items, the table what they hold. */
async function fromTable(batch: FailedBatch, readEventItem: EventItemReader, altered: RedriveResult['altered']): Promise<AuditStreamRecord[]> {
  const records: AuditStreamRecord[] = [];
  for (const record of batch.records) {
    if (!isAuditEvent(record)) continue;
    const image = (record.dynamodb?.NewImage ?? {}) as Record<string, AttributeValue>;
    let keys: { pk?: unknown; sk?: unknown };
    try {
      keys = unmarshall({ ...(image.pk === undefined ? {} : { pk: image.pk }), ...(image.sk === undefined ? {} : { sk: image.sk }) });
    } catch {
      keys = {};
    }
    const where = `${String(keys.pk)}/${String(keys.sk)}`;
    const item = typeof keys.pk === 'string' && typeof keys.sk === 'string' ? await readEventItem(keys.pk, keys.sk) : undefined;
    if (item === undefined) {
      altered.push({ source: batch.source, key: where, why: 'not in the table' });
      continue;
    }
    if (!sameSource(item, image)) altered.push({ source: batch.source, key: where, why: 'differs from the table' });
    records.push({ ...record, dynamodb: { ...record.dynamodb, NewImage: item } });
  }
  return records;
}

/**
 * Whether the failed record's image is what the table holds. An event item never changes, so the images are
 * compared whole. A request item (the source of its `requested` event, request-items.ts) is changed by what
 * follows (a review, a vote, an execution), so for it the records made from each are compared: only the
 * request's own fields, which nothing changes, make that record.
 */
function sameSource(item: Record<string, AttributeValue>, image: Record<string, AttributeValue>): boolean {
  if (item.kind?.S === 'request' && image.kind?.S === 'request') {
    const recordOf = (source: Record<string, AttributeValue>) => {
      try {
        return canonicalJson(toAuditRecordBody(unmarshall(source, { wrapNumbers: false }) as Record<string, unknown>, SAME_POSITION));
      } catch {
        return undefined;
      }
    };
    const fromItem = recordOf(item);
    return fromItem !== undefined && fromItem === recordOf(image);
  }
  return JSON.stringify(sortedImage(item)) === JSON.stringify(sortedImage(image));
}

/** Any one position: the comparison is of the records' content, which the position does not change. */
const SAME_POSITION = { shardId: '-', sequenceNumber: '0', streamCreatedAt: '1970-01-01T00:00:00.000Z' } as const;

function sortedImage(image: Record<string, unknown>): unknown {
  try {
    const plain = unmarshall(image as Record<string, AttributeValue>, { wrapNumbers: true }) as Record<string, unknown>;
    return Object.fromEntries(Object.keys(plain).sort().map((k) => [k, plain[k]]));
  } catch {
    return image;
  }
}

export async function redriveFailures(batches: readonly FailedBatch[], deps: RedriveDeps): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: 0, recordsWritten: 0, withoutPayload: [], failed: [], altered: [] };
  const byShard = new Map<string, FailedBatch[]>();
  for (const batch of batches) {
    if (!batch.hasPayload) {
      result.withoutPayload.push(batch.source);
      continue;
    }
    byShard.set(batch.shardId, [...(byShard.get(batch.shardId) ?? []), batch]);
  }
  for (const [shardId, list] of byShard) {
    list.sort((a, b) => compareDecimal(a.startSequenceNumber, b.startSequenceNumber));
    for (const batch of list) {
      try {
        const records = await fromTable(batch, deps.readEventItem, result.altered);
        const written = await writeAuditBatch(records, deps, { shardId: `${LATE_CHAIN_PREFIX}${shardId}`, late: { redrivenAt: deps.now() } });
        result.recordsWritten += written.reduce((n, shard) => n + shard.recordsWritten, 0);
        result.redriven++;
      } catch (error) {
        result.failed.push({ shardId, source: batch.source, error: (error as Error).message });
        break;
      }
    }
  }
  return result;
}

function compareDecimal(a: string, b: string): number {
  const x = BigInt(/^\d+$/.test(a) ? a : '0');
  const y = BigInt(/^\d+$/.test(b) ? b : '0');
  return x < y ? -1 : x > y ? 1 : 0;
}
