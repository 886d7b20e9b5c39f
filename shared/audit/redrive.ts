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
import { LATE_CHAIN_PREFIX } from './format.js';
import type { FailedBatch } from './failures.js';
import { writeAuditBatch, type AuditWriterDeps } from './writer.js';

export interface RedriveResult {
  /** Batches whose records are all in the log now (written now or before). */
  redriven: number;
  recordsWritten: number;
  /** Batches the destination kept no payload for: they cannot be redriven from it. */
  withoutPayload: string[];
  /** Shards whose redrive failed this time, with why. */
  failed: Array<{ shardId: string; source: string; error: string }>;
}

export async function redriveFailures(batches: readonly FailedBatch[], deps: AuditWriterDeps): Promise<RedriveResult> {
  const result: RedriveResult = { redriven: 0, recordsWritten: 0, withoutPayload: [], failed: [] };
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
        const written = await writeAuditBatch(batch.records, deps, { shardId: `${LATE_CHAIN_PREFIX}${shardId}`, late: { redrivenAt: deps.now() } });
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
