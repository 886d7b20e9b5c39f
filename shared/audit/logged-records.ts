/**
 * The replay's reader of the audit log's objects (issue 16), over any `AuditSink`: the local bucket
 * directory, or the S3 audit bucket with the auditor's read permissions (ListBucket, GetObject). Only the
 * days the range covers are listed (the `dt=` partitions), plus the day after it: a request's `decided`
 * record may sit in the next object when its batch crossed midnight.
 */
import type { AuditSink } from '../ports/audit.js';
import type { LoggedRecord, LoggedRecordSource, ReplayRange } from '../policy/replay.js';
import { AUDIT_PREFIX } from './format.js';
import { AuditObjectError, parseAuditObject } from './object.js';

const DAY_MS = 86_400_000;

/** The `audit/dt=YYYY-MM-DD/` prefixes to list for a range; the whole log when it has no start. */
export function dayPrefixes(range: ReplayRange, now: Date): string[] {
  if (range.from === undefined) return [AUDIT_PREFIX];
  const first = Date.parse(range.from.slice(0, 10));
  const last = Date.parse((range.to ?? now.toISOString()).slice(0, 10)) + DAY_MS;
  const prefixes: string[] = [];
  for (let day = first; day <= last; day += DAY_MS) prefixes.push(`${AUDIT_PREFIX}dt=${new Date(day).toISOString().slice(0, 10)}/`);
  return prefixes;
}

export class AuditObjectRecordSource implements LoggedRecordSource {
  constructor(
    private readonly sink: Pick<AuditSink, 'list' | 'getObject'>,
    readonly description: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async *records(range: ReplayRange): AsyncIterable<LoggedRecord> {
    for (const prefix of dayPrefixes(range, this.now())) {
      for (const key of await this.sink.list(prefix)) {
        if (!key.endsWith('.ndjson.gz')) continue;
        const body = await this.sink.getObject(key);
        if (body === undefined) continue; // deleted between the listing and the read: nothing to replay in it
        let records;
        try {
          records = parseAuditObject(body);
        } catch (error) {
          if (error instanceof AuditObjectError || error instanceof SyntaxError) throw new AuditObjectError(`audit object ${key}: ${error.message}`);
          throw error;
        }
        yield* records.filter((record) => record.event_type === 'requested' || record.event_type === 'decided');
      }
    }
  }
}
