/**
 * Generates an audit log of N records (default 10,000,000) in the local layout, with signed digests,
 * for the bench and for trying `verify` and `query` at scale:
 *
 *   npx tsx scripts/generate-audit-log.ts [--records N] [--dir PATH] [--days D] [--per-object R] [--agents A]
 *
 * Default dir: .countersign/generated-audit-log (git-ignored). Records are spread evenly over D days
 * (default 30) from 2026-10-01T00:00Z, 4 shards, R records per object (default 1000).
 */
import { resolve } from 'node:path';
import { rm } from 'node:fs/promises';
import { FixtureLogWriter, type RecordFields } from '../bench/audit-log-fixture.js';
import { Ed25519Signer } from '../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { publishPublicKey, writeDigestsUpTo } from '../shared/audit/digest.js';

export interface GenerateOptions {
  records: number;
  dir: string;
  days: number;
  perObject: number;
  agents: number;
  shards: number;
  start: Date;
  onProgress?: (written: number) => void;
  onDigests?: (seconds: number) => void;
}

export const DEFAULT_GENERATED_DIR = '.countersign/generated-audit-log';
const HOUR_MS = 3_600_000;
const LIFECYCLE = ['requested', 'decided', 'review_requested', 'vote', 'outcome'] as const;

export function generatedRecord(index: number, occurredAt: Date, agents: number): RecordFields {
  const actionNo = Math.floor(index / LIFECYCLE.length);
  const type = LIFECYCLE[index % LIFECYCLE.length]!;
  const agent = `agent-${actionNo % agents}`;
  return {
    event_id: `act-${actionNo}/${type}`,
    event_type: type,
    action_id: `act-${actionNo}`,
    occurred_at: occurredAt.toISOString(),
    agent_id: agent,
    on_behalf_of: `user-${actionNo % 97}`,
    action: actionNo % 3 === 0 ? 'db.export' : 'iam.attach_policy',
    resource_type: 'Database',
    resource_id: `db-${actionNo % 13}`,
    environment: actionNo % 2 === 0 ? 'prod' : 'staging',
    outcome: type === 'decided' ? 'pending' : type === 'outcome' ? (actionNo % 5 === 0 ? 'rejected' : 'approved') : null,
    reason: type === 'decided' ? 'needs approval from data-owners' : null,
    reviewer_id: type === 'vote' ? `reviewer-${actionNo % 11}` : null,
    vote: type === 'vote' ? (actionNo % 5 === 0 ? 'deny' : 'approve') : null,
    comment: null,
    policy_ids: type === 'decided' || type === 'outcome' ? ['data.export.prod'] : [],
    payload_sha256: 'ab'.repeat(32),
  };
}

/** Writes the log and its digests; returns the public key PEM. */
export async function generateAuditLog(options: GenerateOptions): Promise<string> {
  const sink = new LocalAuditSink(options.dir);
  const writer = new FixtureLogWriter(sink, new Date('2030-01-01T00:00:00Z'), 1, false);
  const hours = options.days * 24;
  const perHour = Math.ceil(options.records / hours);
  let index = 0;
  for (let h = 0; h < hours && index < options.records; h++) {
    const hour = new Date(options.start.getTime() + h * HOUR_MS);
    const inHour = Math.min(perHour, options.records - index);
    for (let done = 0; done < inHour;) {
      const size = Math.min(options.perObject, inHour - done);
      const shard = `shard-${Math.floor(done / options.perObject) % options.shards}`;
      const fields: RecordFields[] = [];
      for (let k = 0; k < size; k++) fields.push(generatedRecord(index + k, new Date(hour.getTime() + Math.floor(((done + k) / inHour) * HOUR_MS)), options.agents));
      await writer.write(shard, hour, fields);
      index += size;
      done += size;
    }
    options.onProgress?.(index);
  }
  const digestStarted = Date.now();
  const signer = Ed25519Signer.generate();
  await publishPublicKey(sink, signer, new Date('2030-01-01T00:00:00Z'));
  await writeDigestsUpTo(new Date(options.start.getTime() + hours * HOUR_MS), { sink, signer, retainUntil: () => new Date('2030-01-01T00:00:00Z') }, { maxHours: hours + 1 });
  options.onDigests?.((Date.now() - digestStarted) / 1000);
  return signer.publicKeyPem();
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  const argv = process.argv.slice(2);
  const dir = resolve(flag(argv, '--dir') ?? DEFAULT_GENERATED_DIR);
  const records = Number(flag(argv, '--records') ?? 10_000_000);
  await rm(dir, { recursive: true, force: true });
  const started = Date.now();
  let reported = 0;
  await generateAuditLog({
    records, dir, days: Number(flag(argv, '--days') ?? 30), perObject: Number(flag(argv, '--per-object') ?? 1000), agents: Number(flag(argv, '--agents') ?? 50),
    shards: 4, start: new Date('2026-10-01T00:00:00Z'),
    onProgress: (n) => {
      if (n >= reported + 1_000_000) process.stderr.write(`generated ${(reported = n).toLocaleString('en-US')} records\n`);
    },
    onDigests: (s) => process.stderr.write(`digests written in ${s.toFixed(1)} s\n`),
  });
  process.stderr.write(`wrote ${records.toLocaleString('en-US')} records and digests to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
