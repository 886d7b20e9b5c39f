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
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { FixtureLogWriter, type RecordFields } from '../bench/audit-log-fixture.js';
import { Ed25519Signer } from '../shared/adapters/local/ed25519-signer.js';
import { LocalAuditSink } from '../shared/adapters/local/local-audit-sink.js';
import { DIGEST_FORMAT, publishPublicKey, serializeDigest, signDigest, type DigestObjectEntry, type DigestReference } from '../shared/audit/digest.js';
import { digestKey } from '../shared/audit/digest-store.js';
import { sha256Hex } from '../shared/domain/canonical-json.js';
import type { Signer } from '../shared/ports/signer.js';

export interface GenerateOptions {
  records: number;
  dir: string;
  days: number;
  perObject: number;
  agents: number;
  shards: number;
  start: Date;
  /** Signs the digests. @default a new Ed25519 key */
  signer?: Signer;
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
    // Numbered as the product numbers a request's events, so verify's per-request check has its real work.
    request_seq: (index % LIFECYCLE.length) + 1,
  };
}

/**
 * The generator's format version, written beside a generated log (`<dir>.generator`): a log kept from an
 * older generator (version 1 had no `request_seq`, which spared verify its per-request check) is made again.
 */
export const GENERATOR_VERSION = 2;
export const generatorMarkFile = (dir: string): string => `${dir}.generator`;
export function isCurrentGeneratedLog(dir: string): boolean {
  try {
    return existsSync(dir) && (JSON.parse(readFileSync(generatorMarkFile(dir), 'utf8')) as { version?: unknown }).version === GENERATOR_VERSION;
  } catch {
    return false;
  }
}

const RETAIN_UNTIL = new Date('2030-01-01T00:00:00Z');
/** The audit writer's gzip level (shared/audit/object.ts): the generated objects are as large as the product's. */
const GZIP_LEVEL = 9;
/** Objects being gzipped at once (node:zlib's async gzip runs on libuv's thread pool, beside the chaining). */
const IN_FLIGHT = 4;
const gzipAsync = promisify(gzip);

/**
 * Writes the log and its digests; returns the public key PEM.
 *
 * Fast enough for 10M records: each record is serialized once (its hash spliced into its line), objects
 * are gzipped on the thread pool while the next ones are chained, and each hour's digest is built from
 * the entries the generator already knows instead of reading every object back. The digests are the
 * ones `writeDigestsUpTo` writes over the same objects, byte for byte (test/unit/generate-audit-log.test.ts).
 */
export async function generateAuditLog(options: GenerateOptions): Promise<string> {
  const sink = new LocalAuditSink(options.dir);
  const writer = new FixtureLogWriter(sink, RETAIN_UNTIL, GZIP_LEVEL, false);
  const hours = options.days * 24;
  const perHour = Math.ceil(options.records / hours);
  const entriesByHour: DigestObjectEntry[][] = [];
  const writing = new Set<Promise<unknown>>();
  let index = 0;
  for (let h = 0; h < hours; h++) {
    const hour = new Date(options.start.getTime() + h * HOUR_MS);
    const entries: DigestObjectEntry[] = [];
    entriesByHour.push(entries);
    const inHour = Math.min(perHour, options.records - index);
    for (let done = 0; done < inHour;) {
      const size = Math.min(options.perObject, inHour - done);
      const shard = `shard-${Math.floor(done / options.perObject) % options.shards}`;
      const fields: RecordFields[] = [];
      for (let k = 0; k < size; k++) fields.push(generatedRecord(index + k, new Date(hour.getTime() + Math.floor(((done + k) / inHour) * HOUR_MS)), options.agents));
      const object = writer.chain(shard, hour, fields);
      const sha256 = createHash('sha256').update(object.content).digest('hex');
      entries.push({ key: object.key, sha256, records: object.records.length, shard_id: shard, first_sequence: object.records[0]!.sequence_number, last_sequence: object.records.at(-1)!.sequence_number });
      const put = gzipAsync(object.content, { level: GZIP_LEVEL }).then((body) => sink.putObject(object.key, body, { sha256OfUncompressed: sha256, retainUntil: RETAIN_UNTIL }));
      writing.add(put);
      void put.finally(() => writing.delete(put)).catch(() => undefined);
      if (writing.size >= IN_FLIGHT) await Promise.race(writing);
      index += size;
      done += size;
    }
    options.onProgress?.(index);
  }
  await Promise.all(writing);
  const digestStarted = Date.now();
  const signer = options.signer ?? Ed25519Signer.generate();
  await publishPublicKey(sink, signer, RETAIN_UNTIL);
  // One digest per hour, empty hours included, each chained to the one before: what writeDigestsUpTo
  // writes for a log whose objects all landed in their own hour (no late objects).
  let previous: DigestReference | null = null;
  for (const [h, entries] of entriesByHour.entries()) {
    const hour = new Date(options.start.getTime() + h * HOUR_MS);
    const digest = await signDigest({ format: DIGEST_FORMAT, hour: hour.toISOString(), objects: entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), previous }, signer);
    const key = digestKey(hour);
    const bytes = serializeDigest(digest);
    await sink.putObject(key, bytes, { sha256OfUncompressed: sha256Hex(bytes), retainUntil: RETAIN_UNTIL });
    previous = { key, sha256: sha256Hex(bytes), signature: digest.signature };
  }
  options.onDigests?.((Date.now() - digestStarted) / 1000);
  writeFileSync(generatorMarkFile(options.dir), JSON.stringify({ version: GENERATOR_VERSION, records: options.records }));
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
