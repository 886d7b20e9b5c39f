/**
 * `verify`: proves the audit log whole. Walks the digests newest to oldest (signature, chain),
 * then every object (exists, SHA-256 of the uncompressed content, record count, sequence range),
 * every record (its hash, the chain within the object) and the per-shard chain across objects, and
 * finds objects listed by no digest and listed objects that are gone.
 */
import { hash as oneShotHash } from 'node:crypto';
import { PemSignatureVerifier, publicKeyFingerprint } from '../ports/signer.js';
import { DEFAULT_LATE_WINDOW_HOURS, serializeDigest, signedBytes, type AuditDigest, type DigestObjectEntry } from './digest.js';
import { canonicalOrReason } from '../domain/canonical-json.js';
import type { ObjectVersion } from '../ports/audit.js';
import { compareDigestKeys, digestKey, getIfExists, HOUR_MS, listKeys, parseDigestKey, parseObjectKey, PUBLIC_KEY_OBJECT, type AuditObjectReader } from './digest-store.js';
import { AUDIT_PREFIX, COLUMNAR_PREFIX, DIGEST_PREFIX, GENESIS_HASH, LATE_CHAIN_PREFIX } from './format.js';
import { comparableRecord, failedEventItems, type FailedBatch, type FailedEventItem } from './failures.js';
import { checkColumnarCopy, type ColumnarProblem } from './columnar.js';
import { MAX_STORED_OBJECT_BYTES } from './object.js';
import type { ColumnarEngine } from '../ports/columnar.js';
import { checkObject, clipped, type ObjectCheck, type ObjectCheckOptions, type ObjectSummary, type WantedRecord } from './verify-object.js';
import { ObjectCheckPool, verifyWorkerCount } from './verify-workers.js';
import { describeStatement, readStatement, RECONCILIATION_PREFIX, type ReconciliationStatement } from './reconcile.js';
import { RequestSequences } from './request-sequence.js';

/** A run of hours with no digest longer than this is one finding (its first and last hour), not one an hour. */
const MAX_LISTED_MISSING_HOURS = 24;

/** See `VerifyOptions.maxUnsignedAgeHours`. */
export const DEFAULT_MAX_UNSIGNED_AGE_HOURS = 2;

/** A problem `verify` can name in one line to a user: the CLI exits 2 with it. */
export class AuditVerifyInputError extends Error {
  constructor(message: string, readonly reason: 'missing-log' | 'wrong-key' | 'bad-range') {
    super(message);
    this.name = 'AuditVerifyInputError';
  }
}

export type ProblemKind =
  | 'digest-unreadable' | 'digest-misplaced' | 'digest-signature' | 'digest-key' | 'digest-chain' | 'digest-missing'
  | 'object-missing' | 'object-unreadable' | 'object-hash' | 'object-count' | 'object-range' | 'object-extra' | 'object-listed-twice'
  | 'object-unsigned' | 'object-versions' | 'digest-versions' | 'published-key'
  | 'record-unreadable' | 'record-hash' | 'record-chain' | 'record-order' | 'record-shard'
  | 'request-sequence' | 'request-outcome' | 'record-pending-redrive' | 'record-redrive-mismatch'
  | 'reconcile-missing' | 'reconcile-duplicate' | 'reconcile-extra' | 'reconcile-statement'
  | ColumnarProblem['kind'];

export interface VerifyProblem {
  kind: ProblemKind;
  message: string;
  digestKey?: string;
  objectKey?: string;
  /** 1-based line in the object's uncompressed NDJSON. */
  line?: number;
  eventId?: string;
}

export interface VerifyProgress {
  phase: 'digests' | 'objects';
  done: number;
  total: number;
  records: number;
}

export interface VerifyOptions {
  sink: AuditObjectReader;
  /** The trust anchor: the key the digests must be signed with. Never take it from the log being checked. */
  publicKeyPem: string;
  /** Where the anchor came from, for the report (e.g. `KMS key arn:…`, `local key .countersign/keys/…`). */
  anchorSource?: string;
  /** Only digests (and object partitions) from this hour on. */
  from?: Date;
  /** Only digests (and object partitions) up to this hour. */
  to?: Date;
  onProgress?: (progress: VerifyProgress) => void;
  /** Collect every record's event_id (for `reconcileEventItems`). @default false */
  collectEventIds?: boolean;
  /** Must match the digest writer's. @default 24 */
  lateWindowHours?: number;
  /**
   * An object no digest lists is fine while its hour is recent (the next digest lists it). Once its
   * hour ended longer ago than this, the digest that should list it is missing: deleted (the newest
   * digests are the ones a truncation removes) or never written. @default 2
   */
  maxUnsignedAgeHours?: number;
  /**
   * In AWS a digest is written every hour: a newest digest older than this many hours means the later
   * ones were deleted, or the digest job stopped. Undefined: not checked (a local stack may simply be
   * stopped). @default undefined
   */
  maxDigestAgeHours?: number;
  /** The verifier's clock, for `maxUnsignedAgeHours`. @default the current time */
  now?: Date;
  /**
   * The writer's on-failure destination, read (failures.ts). Each of its event items must be in the
   * log (redriven into `late.<shard>`); one that is not yet is a finding. Undefined: not checked.
   */
  failures?: readonly FailedBatch[];
  /**
   * Compares each Parquet file of the columnar copy with its source objects, row for row (DuckDB in
   * the CLI). Undefined: the manifests are still checked against the digests and the files' hashes.
   */
  columnar?: ColumnarEngine;
  /**
   * Worker threads that check objects (gunzip, hashes, records) while the main thread reads: 0 checks
   * on the main thread. @default one fewer than the cores (os.availableParallelism), at most 8; 0 for
   * a log of fewer than 64 objects
   */
  workers?: number;
}

export interface VerifyReport {
  ok: boolean;
  digests: number;
  objects: number;
  records: number;
  newestDigest: string | undefined;
  oldestDigest: string | undefined;
  /** Objects written after the newest digest that no digest lists yet: checked, but not yet signed. */
  pendingObjects: string[];
  problems: VerifyProblem[];
  /** event_id -> occurrences, when `collectEventIds`. */
  eventIds?: Map<string, number>;
  /** The key the digests were checked against. */
  anchor: { source: string; algorithm: string; fingerprint: string };
  /** Whether `digests/public-key.pem` (its current version) is the anchor's key. */
  publishedKey: 'matches' | 'differs' | 'absent' | 'unreadable';
  /** Whether every version of every key was read (a versioned store). */
  versionsChecked: boolean;
  /** Requests whose event numbers were checked (whole-log runs only), or null. */
  requestsChecked: number | null;
  /** The failure destination: null when not given; else its batches and the event items not yet in the log. */
  failureDestination: { batches: number; eventItems: number; pending: number } | null;
  /** The signed reconciliation statements beside the digests: how many, and the newest one's result. */
  reconciliation: { statements: number; newest: string | undefined };
  /** The columnar (Parquet) copy: parts checked, the records they hold, and whether rows were compared. */
  columnar: { parts: number; records: number; rowsCompared: boolean };
}

// One-shot hashing: about twice as fast as createHash for a record-sized input.
function sha256(data: string | Uint8Array): string {
  return oneShotHash('sha256', data, 'hex');
}

interface ReadDigest {
  key: string;
  hour: Date;
  digest: AuditDigest;
  sha256: string;
}

function isDigest(value: unknown): value is AuditDigest {
  const d = value as AuditDigest;
  return typeof d === 'object' && d !== null && typeof d.hour === 'string' && Array.isArray(d.objects) && typeof d.signature === 'string' && typeof d.signing === 'object' && d.signing !== null && (d.previous === null || typeof d.previous === 'object');
}

/**
 * What of a digest's lists `verify` reads is not the writer's shape (an object entry, the previous
 * digest's reference), or undefined. The signature check names the change too; this keeps a hostile
 * value from reaching the checks that read it.
 */
function digestFieldProblem(digest: AuditDigest): string | undefined {
  const index = (digest.objects as unknown[]).findIndex((entry) => {
    const e = entry as Partial<Record<keyof DigestObjectEntry, unknown>> | null;
    return typeof e !== 'object' || e === null || Array.isArray(e) || typeof e.key !== 'string' || typeof e.sha256 !== 'string' || typeof e.records !== 'number'
      || typeof e.first_sequence !== 'string' || typeof e.last_sequence !== 'string';
  });
  if (index >= 0) return `objects[${index}] is not an object entry`;
  const previous = digest.previous as Partial<Record<'key' | 'sha256' | 'signature', unknown>> | null;
  if (previous !== null && (Array.isArray(previous) || typeof previous.key !== 'string' || typeof previous.sha256 !== 'string' || typeof previous.signature !== 'string')) return 'previous is neither null nor a digest reference';
  return undefined;
}

function hourText(hour: Date): string {
  return `${hour.toISOString().slice(0, 13)}:00Z`;
}

export async function verifyAuditLog(options: VerifyOptions): Promise<VerifyReport> {
  const { sink, from, to } = options;
  if (from !== undefined && Number.isNaN(from.getTime())) throw new AuditVerifyInputError('--from is not a valid date (use ISO 8601, e.g. 2026-11-22T03:00Z)', 'bad-range');
  if (to !== undefined && Number.isNaN(to.getTime())) throw new AuditVerifyInputError('--to is not a valid date (use ISO 8601, e.g. 2026-11-22T03:00Z)', 'bad-range');
  if (from !== undefined && to !== undefined && from > to) throw new AuditVerifyInputError(`--from ${from.toISOString()} is after --to ${to.toISOString()}`, 'bad-range');
  let verifier: PemSignatureVerifier;
  try {
    verifier = new PemSignatureVerifier(options.publicKeyPem);
  } catch (error) {
    throw new AuditVerifyInputError(`the public key cannot be used: ${(error as Error).message}`, 'wrong-key');
  }
  const fromHour = from === undefined ? undefined : Math.floor(from.getTime() / HOUR_MS) * HOUR_MS;
  const inRange = (hour: Date) => (fromHour === undefined || hour.getTime() >= fromHour) && (to === undefined || hour.getTime() <= to.getTime());
  const problems: VerifyProblem[] = [];

  // A versioned store (S3 under Object Lock) keeps what an overwrite or a delete put on top of a
  // locked object: every key is read at its oldest version (the one written with If-None-Match), and
  // any later version or delete marker is a finding.
  const versions = await listAllVersions(sink);
  const oversized = new Set<string>();
  const read = (key: string): Promise<Uint8Array | undefined> => {
    const oldest = versions?.get(key)?.find((v) => !v.isDeleteMarker);
    // A file larger than anything the writers make (added, or put on top of a key) is named, not read:
    // read whole it would exhaust the verifier's memory, or exceed what one buffer can hold.
    if (oldest?.size !== undefined && oldest.size > maxStoredBytes(key)) {
      if (!oversized.has(key)) problems.push(oversizedProblem(key, oldest.size));
      oversized.add(key);
      return Promise.resolve(undefined);
    }
    if (oldest === undefined || versions!.get(key)!.length === 1 || sink.getObjectVersion === undefined) return getIfExists(sink, key);
    return sink.getObjectVersion(key, oldest.versionId);
  };
  const keysUnder = async (prefix: string) => (versions === undefined
    ? listKeys(sink, prefix)
    : [...versions.keys()].filter((key) => key.startsWith(prefix) && versions.get(key)!.some((v) => !v.isDeleteMarker)).sort());
  const digestKeys = (await keysUnder(DIGEST_PREFIX)).filter((key) => key.endsWith('.json'));
  const objectKeys = await keysUnder(AUDIT_PREFIX);
  if (digestKeys.length === 0 && objectKeys.length === 0) throw new AuditVerifyInputError('no audit log here: no digests and no objects (check --dir or --bucket)', 'missing-log');
  for (const stray of (await sink.strays?.(AUDIT_PREFIX)) ?? []) {
    problems.push({ kind: 'object-extra', objectKey: stray, message: `${stray} under ${AUDIT_PREFIX} is not an object (a symlink, a pipe, or a folder named like a version store with no object beside it): something else wrote into the log, and a query's glob may read it` });
  }
  for (const [key, list] of versions ?? []) {
    if (list.length > 1 || list.some((v) => v.isDeleteMarker)) problems.push(versionProblem(key, list));
  }
  const publishedKey = await publishedKeyState(sink, verifier.fingerprint, versions?.get(PUBLIC_KEY_OBJECT)?.at(-1)?.size);
  const reconciliation = await checkStatements(await keysUnder(RECONCILIATION_PREFIX), read, verifier, problems);
  if (publishedKey === 'differs' || publishedKey === 'unreadable') {
    problems.push({ kind: 'published-key', digestKey: PUBLIC_KEY_OBJECT, message: `${PUBLIC_KEY_OBJECT} is ${publishedKey === 'differs' ? 'not the trust anchor\'s key' : 'not a readable public key'} (anchor fingerprint ${verifier.fingerprint}): a third party who trusts the key in the log would be misled; it was replaced, or the log is signed by another key` });
  }

  // Digests, newest to oldest.
  const parsed: ReadDigest[] = [];
  const keyed = digestKeys.map((key) => ({ key, hour: parseDigestKey(key)?.hour, n: parseDigestKey(key)?.n ?? 1 }));
  for (const { key } of keyed.filter((p) => p.hour === undefined)) problems.push({ kind: 'digest-misplaced', digestKey: key, message: `${key} is not a digest key (digests/dt=YYYY-MM-DD/hour=HH/digest.json, or digest-N.json for an hour's later digests)` });
  // As for objects: nothing is written into an hour that has not begun. Such a digest is named and left
  // out (it would stretch the hours checked for a digest up to it, and hide a stale newest digest).
  const clock = (options.now ?? new Date()).getTime();
  for (const { key, hour } of keyed.filter((p) => p.hour !== undefined && p.hour.getTime() > clock)) {
    problems.push({ kind: 'digest-misplaced', digestKey: key, message: `digest ${key} is in the partition of hour ${hourText(hour!)}, after the verifier's clock: no writer writes into the future; it was added` });
  }
  const placed = keyed.filter((p) => p.hour === undefined || p.hour.getTime() <= clock);
  // Newest first: by hour, then by number within the hour.
  const walk = placed.filter((p): p is { key: string; hour: Date; n: number } => p.hour !== undefined && inRange(p.hour)).sort((a, b) => compareDigestKeys(b, a));
  if (walk.length === 0 && digestKeys.length > 0 && (from !== undefined || to !== undefined)) throw new AuditVerifyInputError(`no digests between ${from?.toISOString() ?? 'the start'} and ${to?.toISOString() ?? 'now'}`, 'bad-range');
  let signedByOthers = 0;
  let done = 0;
  for (const { key, hour } of walk) {
    options.onProgress?.({ phase: 'digests', done: done++, total: walk.length, records: 0 });
    const bytes = await read(key);
    if (bytes === undefined) {
      if (!oversized.has(key)) problems.push({ kind: 'digest-missing', digestKey: key, message: `digest ${key} was listed but cannot be read` });
      continue;
    }
    let digest: unknown;
    try {
      digest = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (error) {
      problems.push({ kind: 'digest-unreadable', digestKey: key, message: `digest ${key} is not JSON (${(error as Error).message}): it was altered` });
      continue;
    }
    if (!isDigest(digest)) {
      problems.push({ kind: 'digest-unreadable', digestKey: key, message: `digest ${key} does not have the digest's fields (hour, objects, previous, signing, signature)` });
      continue;
    }
    const fieldProblem = digestFieldProblem(digest);
    if (fieldProblem !== undefined) {
      problems.push({ kind: 'digest-unreadable', digestKey: key, message: `digest ${key} does not have the digest's fields: ${fieldProblem} ({key, sha256, records, first_sequence, last_sequence} for an object; {key, sha256, signature} for previous): it was altered` });
      continue;
    }
    if (digest.hour !== hour.toISOString()) {
      problems.push({ kind: 'digest-misplaced', digestKey: key, message: `digest ${key} says it is for hour ${clipped(digest.hour)}, not ${hour.toISOString()}: digests were swapped or moved` });
    }
    if (digest.signing.public_key_sha256 !== verifier.fingerprint) {
      signedByOthers++;
      problems.push({ kind: 'digest-key', digestKey: key, message: `digest ${key} names signing key ${clipped(String(digest.signing.key_id))} (public key SHA-256 ${String(digest.signing.public_key_sha256).slice(0, 16)}…), not the given key (${verifier.fingerprint.slice(0, 16)}…)` });
    }
    const forms = canonicalOrReason(() => ({ signed: signedBytes(digest), stored: serializeDigest(digest) }));
    if ('reason' in forms) {
      problems.push({ kind: 'digest-unreadable', digestKey: key, message: `digest ${key} has no canonical JSON form (${forms.reason}): it was altered` });
      continue;
    }
    const { signed, stored } = forms.value;
    let signature: Buffer;
    try {
      signature = Buffer.from(digest.signature, 'base64');
    } catch {
      signature = Buffer.alloc(0);
    }
    if (!verifier.verify(signed, signature, digest.signing.algorithm)) {
      problems.push({ kind: 'digest-signature', digestKey: key, message: `digest ${key}: the signature does not verify with the given public key: the digest was altered or forged` });
    } else if (!stored.equals(bytes)) {
      // The signature covers what the digest says, not its bytes; the writer stores exactly the canonical
      // form, and only the next digest hashes the bytes: the newest one has no such check but this.
      problems.push({ kind: 'digest-signature', digestKey: key, message: `digest ${key} is not stored as the writer stores it (the canonical JSON of what it says): its bytes were altered (whitespace, key order, or a key written twice, which another reader may read differently)` });
    }
    parsed.push({ key, hour, digest, sha256: sha256(bytes) });
  }
  if (walk.length > 0 && signedByOthers === walk.length) {
    // Not one digest is the anchor's: one finding instead of two per digest. The log cannot tell a
    // forger who replaced the key and re-signed everything from an anchor that is not this log's.
    const named = new Set(parsed.map((d) => `${clipped(String(d.digest.signing.key_id))} (public key SHA-256 ${String(d.digest.signing.public_key_sha256).slice(0, 16)}…)`));
    for (let index = problems.length - 1; index >= 0; index--) {
      if (problems[index]!.kind === 'digest-key' || problems[index]!.kind === 'digest-signature') problems.splice(index, 1);
    }
    problems.push({
      kind: 'digest-key',
      message: `none of the ${walk.length} digests is signed by the trust anchor (public key SHA-256 ${verifier.fingerprint}); they name ${[...named].join(', ')}: the digests were re-signed with another key (and the published key replaced), or the anchor given is not this log's key`,
    });
  }

  // The digest chain: each digest's `previous` is the one before it: the hour's previous number, or a
  // digest of the hour before (its last: a digest no later one chains to is found below).
  const byKey = new Map(parsed.map((d) => [d.key, d]));
  const listedDigests = new Set(digestKeys);
  const numberOf = new Map(placed.map((p) => [p.key, p.n]));
  for (let index = 0; index < parsed.length; index++) {
    const current = parsed[index]!;
    const older = parsed[index + 1];
    const previous = current.digest.previous;
    const n = numberOf.get(current.key) ?? 1;
    const hourBefore = new Date(current.hour.getTime() - HOUR_MS);
    if (previous === null) {
      const olderExists = placed.some((p) => p.hour !== undefined && compareDigestKeys({ hour: p.hour, n: p.n }, { hour: current.hour, n }) < 0);
      if (olderExists) problems.push({ kind: 'digest-chain', digestKey: current.key, message: `digest ${current.key} starts a new chain (previous is null) although older digests exist` });
      continue;
    }
    const pointsAt = parseDigestKey(previous.key);
    const expected = n > 1 ? digestKey(current.hour, n - 1) : digestKey(hourBefore);
    if (n > 1 ? previous.key !== expected : pointsAt?.hour.getTime() !== hourBefore.getTime()) {
      problems.push({ kind: 'digest-chain', digestKey: current.key, message: `digest ${current.key} points at ${previous.key} as previous, not at ${n > 1 ? `the hour's digest before it (${expected})` : `a digest of the hour before (${expected})`}` });
    }
    let target = byKey.get(previous.key);
    if (target === undefined && (older === undefined || older.key !== previous.key)) {
      // Not a digest key: named above, never read (it may climb out of the log, or name any object).
      if (pointsAt === undefined) continue;
      // Outside the range (or never read): fetch it to check the link, if the store lists it (a
      // directory's symlink or pipe at a digest key is no digest: following it could read anything).
      const bytes = listedDigests.has(previous.key) ? await read(previous.key) : undefined;
      if (bytes === undefined) {
        if (!oversized.has(previous.key)) problems.push({ kind: 'digest-missing', digestKey: previous.key, message: `digest ${previous.key} is missing (digest ${current.key} chains to it): it was deleted` });
        continue;
      }
      try {
        target = { key: previous.key, hour: current.hour, digest: JSON.parse(Buffer.from(bytes).toString('utf8')) as AuditDigest, sha256: sha256(bytes) };
      } catch {
        target = { key: previous.key, hour: current.hour, digest: { signature: '' } as AuditDigest, sha256: sha256(bytes) };
      }
    }
    if (target === undefined) continue;
    if (previous.sha256 !== target.sha256) {
      problems.push({ kind: 'digest-chain', digestKey: previous.key, message: `digest ${previous.key} is not the one digest ${current.key} chained to (SHA-256 differs): it was replaced, swapped or forged` });
    } else if (previous.signature !== target.digest.signature) {
      problems.push({ kind: 'digest-chain', digestKey: current.key, message: `digest ${current.key} records a different signature for ${previous.key} than it carries` });
    }
  }
  const newestOverall = placed.filter((p) => p.hour !== undefined).map((p) => p.hour!.getTime()).reduce((a, b) => Math.max(a, b), -Infinity);
  if (options.maxDigestAgeHours !== undefined && to === undefined && Number.isFinite(newestOverall)) {
    const behind = Math.floor(((options.now ?? new Date()).getTime() - (newestOverall + HOUR_MS)) / HOUR_MS);
    if (behind > options.maxDigestAgeHours) {
      problems.push({ kind: 'digest-missing', message: `the newest digest is for hour ${hourText(new Date(newestOverall))}, ${behind} h before the end of the last hour: the digests after it were deleted, or the digest job is not running` });
    }
  }
  // A digest that no later one chains to was skipped: the chain forked, or a digest was slipped in.
  // (After a missing or unreadable digest the one before it has no successor: that is the missing or
  // unreadable digest's finding.)
  const chainedTo = new Set(parsed.map((d) => d.digest.previous?.key));
  const missingAfter = problems.filter((p) => (p.kind === 'digest-missing' || p.kind === 'digest-unreadable') && p.digestKey !== undefined).map((p) => parseDigestKey(p.digestKey!)).filter((k) => k !== undefined);
  for (const d of parsed.slice(1)) {
    const at = { hour: d.hour, n: numberOf.get(d.key) ?? 1 };
    if (missingAfter.some((k) => compareDigestKeys(k, at) > 0)) continue;
    if (!chainedTo.has(d.key)) problems.push({ kind: 'digest-chain', digestKey: d.key, message: `digest ${d.key} is chained to by no later digest: a later digest skips it (it was slipped in, or the chain forked)` });
  }
  // Hours with no digest at all between the oldest and newest digest in range: from one digest's hour to
  // the next, so a digest dated years away costs one finding, not a walk through every hour between.
  if (walk.length > 1) {
    const reported = new Set(problems.filter((p) => p.kind === 'digest-missing').map((p) => p.digestKey));
    const hours = [...new Set(walk.map((w) => w.hour.getTime()))].sort((a, b) => a - b);
    for (let index = 1; index < hours.length; index++) {
      const first = hours[index - 1]! + HOUR_MS;
      const last = hours[index]! - HOUR_MS;
      if (last < first) continue;
      const count = (last - first) / HOUR_MS + 1;
      if (count > MAX_LISTED_MISSING_HOURS) {
        problems.push({ kind: 'digest-missing', digestKey: digestKey(new Date(first)), message: `no digest for the ${count} hours ${hourText(new Date(first))} .. ${hourText(new Date(last))} (${digestKey(new Date(first))} .. ${digestKey(new Date(last))}): they were deleted or never written` });
        continue;
      }
      for (let t = first; t <= last; t += HOUR_MS) {
        const missingKey = digestKey(new Date(t));
        if (!reported.has(missingKey)) problems.push({ kind: 'digest-missing', digestKey: missingKey, message: `no digest for hour ${hourText(new Date(t))} (${missingKey}): it was deleted or never written` });
      }
    }
  }

  // Objects: every listed one, and every unlisted one in range.
  const listed = new Map<string, { entry: DigestObjectEntry; digestKey: string }>();
  for (const d of parsed) {
    for (const entry of d.digest.objects) {
      const seen = listed.get(entry.key);
      if (seen !== undefined) problems.push({ kind: 'object-listed-twice', objectKey: entry.key, digestKey: d.key, message: `object ${entry.key} is listed by both ${seen.digestKey} and ${d.key}` });
      else listed.set(entry.key, { entry, digestKey: d.key });
    }
  }
  const existing = new Set(objectKeys);
  const newestHour = walk[0]?.hour.getTime();
  const lateWindow = (options.lateWindowHours ?? DEFAULT_LATE_WINDOW_HOURS) * HOUR_MS;
  const pendingObjects: string[] = [];
  const toRead: string[] = [];
  for (const key of objectKeys) {
    const parsedKey = parseObjectKey(key);
    if (parsedKey === undefined) {
      problems.push({ kind: 'object-extra', objectKey: key, message: `${key} under ${AUDIT_PREFIX} is not an audit object key: something else wrote into the log` });
      continue;
    }
    if (parsedKey.hour.getTime() > (options.now ?? new Date()).getTime()) {
      problems.push({ kind: 'object-extra', objectKey: key, message: `object ${key} is in the partition of hour ${hourText(parsedKey.hour)}, after the verifier's clock: no writer writes into the future; it was added` });
      continue;
    }
    if (listed.has(key)) {
      toRead.push(key);
      continue;
    }
    if (!inRange(parsedKey.hour)) continue;
    if (newestHour === undefined || parsedKey.hour.getTime() >= newestHour - lateWindow) {
      // Written after the newest digest (or into a partition a later digest will still sweep).
      const endedAgo = (options.now ?? new Date()).getTime() - (parsedKey.hour.getTime() + HOUR_MS);
      if (endedAgo > (options.maxUnsignedAgeHours ?? DEFAULT_MAX_UNSIGNED_AGE_HOURS) * HOUR_MS) {
        problems.push({ kind: 'object-unsigned', objectKey: key, message: `object ${key} is listed by no digest although its hour ended ${Math.floor(endedAgo / HOUR_MS)} h ago: the digest that should list it is missing (deleted, or the digest job is not running), or the digest writer refused it as not the audit writer's (the digest job's log says why)` });
      } else {
        pendingObjects.push(key);
      }
      toRead.push(key);
    } else {
      problems.push({ kind: 'object-extra', objectKey: key, message: `object ${key} is listed by no digest: it was added to the log after the fact` });
    }
  }
  for (const [key, { digestKey }] of listed) {
    if (!existing.has(key)) problems.push({ kind: 'object-missing', objectKey: key, digestKey, message: `object ${key} (listed by digest ${digestKey}) is missing: it was deleted` });
  }

  const eventIds = options.collectEventIds === true ? new Map<string, number>() : undefined;
  // Per-request numbering and the failure destination: over the whole log only (a range reads only
  // some partitions; redriven records sit in the partition of their redrive).
  const wholeLog = from === undefined && to === undefined;
  const sequences = wholeLog ? new RequestSequences() : undefined;
  const failed = wholeLog && options.failures !== undefined ? options.failures.map((batch) => ({ batch, items: failedEventItems(batch) })) : [];
  const wanted = new Map<string, { item: FailedEventItem; source: string }>(failed.flatMap(({ batch, items }) => items.map((item) => [`${item.shardId}#${item.sequence}`, { item, source: batch.source }] as const)));
  /** A record the failure destination holds, found in the log: it must be the failed one. */
  const onWanted = (found: WantedRecord) => {
    const failure = wanted.get(found.id);
    if (failure === undefined) return;
    wanted.delete(found.id);
    // A redriven record must be the failed one: the same content, whoever wrote the late chain's object.
    let comparable: string | undefined;
    try {
      comparable = comparableRecord(JSON.parse(found.line) as Record<string, unknown>);
    } catch {
      comparable = undefined;
    }
    if (found.late && comparable !== failure.item.comparable) {
      const { where } = found;
      problems.push({
        kind: 'record-redrive-mismatch', ...where, ...(failure.item.eventId === null ? {} : { eventId: failure.item.eventId }),
        message: `object ${where.objectKey} line ${where.line}: the redriven record of shard ${failure.item.shardId} sequence ${failure.item.sequence} is not what ${failure.source} holds: the log's copy or the failure destination was altered (the table's item is the truth: compare with --reconcile)`,
      });
    }
  };
  const summaries: ObjectSummary[] = [];
  let records = 0;
  done = 0;
  const checkOptions: ObjectCheckOptions = { collectEventIds: eventIds !== undefined, collectFacts: sequences !== undefined, wanted: new Set(wanted.keys()), lateChainPrefix: LATE_CHAIN_PREFIX };
  const workers = verifyWorkerCount(options.workers, toRead.length);
  const pool = workers > 0 ? new ObjectCheckPool(workers, checkOptions) : undefined;
  // Reads run a few objects ahead of the checks (S3 latency, disk); with workers, checks run ahead too
  // (a few objects each), and their results are taken in the objects' order.
  const ahead = pool === undefined ? 4 : 4 + 2 * workers;
  const checks = new Map<number, Promise<{ body: 'missing' } | ObjectCheck>>();
  const checkAt = (i: number) => {
    const key = toRead[i];
    if (key === undefined || checks.has(i)) return;
    const info = listed.get(key);
    const pending = read(key).then((body) => {
      if (body === undefined) return { body: 'missing' as const };
      return pool === undefined ? checkObject(key, body, info?.entry, info?.digestKey, checkOptions) : pool.check({ key, body, entry: info?.entry, digestKey: info?.digestKey });
    });
    // Handled when awaited below; this keeps an early failure from being an unhandled rejection.
    pending.catch(() => undefined);
    checks.set(i, pending);
  };
  try {
    for (let i = 0; i < toRead.length; i++) {
      const key = toRead[i]!;
      if (done % 64 === 0) options.onProgress?.({ phase: 'objects', done, total: toRead.length, records });
      done++;
      for (let j = i; j <= i + ahead; j++) checkAt(j);
      const result = await checks.get(i)!;
      checks.delete(i);
      if ('body' in result) {
        const info = listed.get(key);
        if (!oversized.has(key)) problems.push({ kind: 'object-missing', objectKey: key, ...(info === undefined ? {} : { digestKey: info.digestKey }), message: `object ${key} was listed but cannot be read` });
        continue;
      }
      problems.push(...result.problems);
      if (eventIds !== undefined) for (const eventId of result.eventIds ?? []) eventIds.set(eventId, (eventIds.get(eventId) ?? 0) + 1);
      if (sequences !== undefined) for (const fact of result.facts) sequences.add(fact);
      for (const found of result.wanted) onWanted(found);
      records += result.records;
      if (result.summary !== undefined) summaries.push(result.summary);
    }
  } finally {
    await pool?.close();
  }
  options.onProgress?.({ phase: 'objects', done, total: toRead.length, records });

  // The chain across objects, per shard, in sequence order.
  const byShard = new Map<string, ObjectSummary[]>();
  for (const summary of summaries) byShard.set(summary.shardId, [...(byShard.get(summary.shardId) ?? []), summary]);
  for (const [shardId, list] of byShard) {
    list.sort((a, b) => (a.firstSequence < b.firstSequence ? -1 : a.firstSequence > b.firstSequence ? 1 : 0));
    for (let index = 0; index < list.length; index++) {
      const current = list[index]!;
      const before = list[index - 1];
      if (before === undefined) {
        if (from === undefined && current.firstPrevHash !== GENESIS_HASH) {
          problems.push({ kind: 'record-chain', objectKey: current.key, line: 1, eventId: current.firstEventId, message: `object ${current.key} line 1 (event_id ${current.firstEventId}): the first record of shard ${shardId} does not start the chain (prev_hash is not the genesis hash): earlier objects of this shard are missing` });
        }
        continue;
      }
      if (current.firstSequence <= before.lastSequence) {
        problems.push({ kind: 'record-order', objectKey: current.key, message: `object ${current.key} overlaps ${before.key} in shard ${shardId} (sequence ${current.firstSequence} <= ${before.lastSequence}): records doubled` });
      }
      if (current.firstPrevHash !== before.lastHash) {
        problems.push({ kind: 'record-chain', objectKey: current.key, line: 1, eventId: current.firstEventId, message: `object ${current.key} line 1 (event_id ${current.firstEventId}): prev_hash is not the last hash of ${before.key}, the shard's previous object: records between sequences ${before.lastSequence} and ${current.firstSequence} are missing or were altered` });
      }
    }
  }

  // The columnar copy: made from the signed objects, and holding exactly their records.
  const listedEntries = new Map([...listed].map(([key, { entry }]) => [key, entry] as const));
  const columnar = await checkColumnarCopy(await keysUnder(COLUMNAR_PREFIX), read, listedEntries, inRange, options.columnar);
  problems.push(...columnar.problems);

  // The failure destination: what went there and is not in the log yet.
  const pendingRedrive = new Set<string>();
  let pendingItems = 0;
  for (const { batch, items } of failed) {
    const missing = items.filter((item) => wanted.has(`${item.shardId}#${item.sequence}`));
    if (!batch.hasPayload) {
      problems.push({ kind: 'record-pending-redrive', message: `${batch.source}: a batch of shard ${batch.shardId} (sequences ${batch.startSequenceNumber}-${batch.endSequenceNumber}) failed at ${batch.failedAt} and the destination kept no payload: its records cannot be redriven from it; compare with the table (--reconcile)` });
      continue;
    }
    if (missing.length === 0) continue;
    pendingItems += missing.length;
    for (const item of missing) if (item.requestSeqKey !== null) pendingRedrive.add(item.requestSeqKey);
    problems.push({
      kind: 'record-pending-redrive',
      message: `${batch.source}: ${missing.length} event item(s) of shard ${batch.shardId} (sequences ${missing[0]!.sequence}-${missing.at(-1)!.sequence}${missing[0]!.eventId === null ? '' : `, first ${missing[0]!.eventId}`}) went to the failure destination at ${batch.failedAt} and are not in the log yet: the log is not whole until they are redriven (the local stack's next start, or the hourly redrive in AWS)`,
    });
  }
  if (sequences !== undefined) problems.push(...sequences.problems({ now: options.now ?? new Date(), pendingRedrive }));

  return {
    ok: problems.length === 0,
    digests: parsed.length,
    objects: toRead.length,
    records,
    newestDigest: walk[0]?.key,
    oldestDigest: walk[walk.length - 1]?.key,
    pendingObjects,
    problems,
    ...(eventIds === undefined ? {} : { eventIds }),
    anchor: { source: options.anchorSource ?? 'the given public key', algorithm: verifier.algorithm, fingerprint: verifier.fingerprint },
    publishedKey,
    versionsChecked: versions !== undefined,
    requestsChecked: sequences?.size ?? null,
    reconciliation,
    columnar: { parts: columnar.parts, records: columnar.records, rowsCompared: columnar.rowsCompared },
    failureDestination: wholeLog && options.failures !== undefined
      ? { batches: options.failures.length, eventItems: failed.reduce((n, { items }) => n + items.length, 0), pending: pendingItems }
      : null,
  };
}

/** Each statement signed by the anchor; the newest one's differences are a finding (the table and the log disagree now). */
async function checkStatements(keys: readonly string[], read: (key: string) => Promise<Uint8Array | undefined>, verifier: PemSignatureVerifier, problems: VerifyProblem[]): Promise<VerifyReport['reconciliation']> {
  let newest: { key: string; statement: ReconciliationStatement } | undefined;
  for (const key of keys) {
    const checked = readStatement(await read(key), verifier);
    if ('problem' in checked) {
      problems.push({ kind: 'reconcile-statement', message: `reconciliation statement ${key} ${checked.problem}` });
      continue;
    }
    if (newest === undefined || checked.statement.window.to > newest.statement.window.to) newest = { key, statement: checked.statement };
  }
  if (newest !== undefined && newest.statement.differences > 0) problems.push({ kind: 'reconcile-statement', message: `the newest reconciliation statement says ${describeStatement(newest.key, newest.statement)}` });
  return { statements: keys.length, newest: newest === undefined ? undefined : describeStatement(newest.key, newest.statement) };
}

/** Every version under the log's prefixes, by key (oldest first); undefined for a store without versions. */
async function listAllVersions(sink: AuditObjectReader): Promise<Map<string, ObjectVersion[]> | undefined> {
  if (sink.listVersions === undefined || sink.getObjectVersion === undefined) return undefined;
  const byKey = new Map<string, ObjectVersion[]>();
  for (const prefix of [AUDIT_PREFIX, DIGEST_PREFIX, RECONCILIATION_PREFIX, COLUMNAR_PREFIX]) {
    for (const version of await sink.listVersions(prefix)) byKey.set(version.key, [...(byKey.get(version.key) ?? []), version]);
  }
  return byKey;
}

function versionProblem(key: string, list: readonly ObjectVersion[]): VerifyProblem {
  const [first, ...later] = list;
  const describe = (v: ObjectVersion) => `${v.isDeleteMarker ? 'a delete marker' : 'a new version'} ${v.versionId} at ${v.lastModified.toISOString()}`;
  const isDigest = key.startsWith(DIGEST_PREFIX);
  const what = first === undefined || first.isDeleteMarker
    ? `has no version but ${list.map(describe).join(', ')}`
    : `has ${list.length} versions: the original ${first.versionId} (${first.lastModified.toISOString()}), verified, and later ${later.map(describe).join(', ')}`;
  return {
    kind: isDigest ? 'digest-versions' : 'object-versions',
    ...(isDigest ? { digestKey: key } : { objectKey: key }),
    message: `${isDigest ? 'digest' : 'object'} ${key} ${what}: it was overwritten or deleted after it was written (a plain GET returns the newest version, not the locked original)`,
  };
}

/** The most a stored file may hold: an audit object is gzip of at most MAX_OBJECT_CONTENT_BYTES (MAX_STORED_OBJECT_BYTES); the rest (digests, statements, Parquet) has no writer's bound below this. */
const MAX_STORED_FILE_BYTES = 1024 * 1024 * 1024;
/** A public key PEM is under a kilobyte. */
const MAX_PUBLISHED_KEY_BYTES = 64 * 1024;

function maxStoredBytes(key: string): number {
  return key.startsWith(AUDIT_PREFIX) ? MAX_STORED_OBJECT_BYTES : MAX_STORED_FILE_BYTES;
}

function oversizedProblem(key: string, size: number): VerifyProblem {
  const isDigest = key.startsWith(DIGEST_PREFIX);
  return {
    kind: isDigest ? 'digest-unreadable' : 'object-unreadable',
    ...(isDigest ? { digestKey: key } : { objectKey: key }),
    message: `${key} is ${size} bytes, more than ${key.startsWith(AUDIT_PREFIX) ? 'any audit object the writer makes' : 'any file of the log'} (at most ${maxStoredBytes(key)}): not read; it was added or replaced`,
  };
}

async function publishedKeyState(sink: AuditObjectReader, fingerprint: string, size: number | undefined): Promise<VerifyReport['publishedKey']> {
  if (size !== undefined && size > MAX_PUBLISHED_KEY_BYTES) return 'unreadable';
  const bytes = await getIfExists(sink, PUBLIC_KEY_OBJECT);
  if (bytes === undefined) return 'absent';
  try {
    return publicKeyFingerprint(Buffer.from(bytes).toString('utf8')) === fingerprint ? 'matches' : 'differs';
  } catch {
    return 'unreadable';
  }
}

/**
 * `--reconcile`: every event item of the table (kind = event) appears in the log exactly once, and
 * (over the whole log) the log holds no event the table does not.
 */
export function reconcileEventItems(tableEventIds: Iterable<string>, logEventIds: Map<string, number>, options: { wholeLog: boolean }): VerifyProblem[] {
  const problems: VerifyProblem[] = [];
  const table = new Set<string>();
  for (const eventId of tableEventIds) {
    table.add(eventId);
    const count = logEventIds.get(eventId) ?? 0;
    if (count === 0) problems.push({ kind: 'reconcile-missing', eventId, message: `event ${eventId} is in the table but not in the audit log` });
  }
  for (const [eventId, count] of logEventIds) {
    if (count > 1) problems.push({ kind: 'reconcile-duplicate', eventId, message: `event ${eventId} appears ${count} times in the audit log` });
    else if (options.wholeLog && !table.has(eventId)) problems.push({ kind: 'reconcile-extra', eventId, message: `event ${eventId} is in the audit log but not in the table` });
  }
  return problems;
}

const PUBLISHED_KEY_TEXT: Record<VerifyReport['publishedKey'], string> = {
  matches: 'matches the trust anchor',
  differs: 'DIFFERS from the trust anchor',
  absent: 'not published',
  unreadable: 'not a readable public key',
};

export function formatReport(report: VerifyReport): string {
  const head = report.ok
    ? `audit log verified: ${report.digests} digests, ${report.objects} objects, ${report.records} records, no problems`
    : `audit log NOT verified: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'} in ${report.digests} digests, ${report.objects} objects, ${report.records} records`;
  const lines = [head];
  lines.push(`  trust anchor: ${report.anchor.source} (${report.anchor.algorithm}, public key SHA-256 ${report.anchor.fingerprint})`);
  lines.push(`  published key ${PUBLIC_KEY_OBJECT}: ${PUBLISHED_KEY_TEXT[report.publishedKey]}`);
  lines.push(report.versionsChecked ? '  every version of every key read: the oldest verified, later versions and delete markers reported' : '  object versions: not available from this store (current versions read)');
  if (report.requestsChecked !== null) lines.push(`  ${report.requestsChecked} request(s): each one's events numbered 1..n with no gap, and an outcome for each review that ended`);
  else lines.push('  request numbering and the failure destination: checked over the whole log only (no --from/--to)');
  if (report.failureDestination !== null) {
    const f = report.failureDestination;
    lines.push(`  failure destination: ${f.batches} failed batch(es), ${f.eventItems} event item(s), ${f.pending === 0 ? 'all of them in the log' : `${f.pending} not in the log yet`}`);
  } else if (report.requestsChecked !== null) lines.push('  failure destination: not checked (give --failures FILE or --failure-bucket NAME)');
  if (report.reconciliation.newest !== undefined) lines.push(`  reconciliation statements: ${report.reconciliation.statements}; the newest: ${report.reconciliation.newest}`);
  if (report.columnar.parts > 0) {
    lines.push(`  columnar copy: ${report.columnar.parts} Parquet file(s) holding ${report.columnar.records} records, made from digest-listed objects${report.columnar.rowsCompared ? ', each row compared with its source record' : ' (rows not compared: no columnar engine)'}`);
  }
  if (report.newestDigest !== undefined) lines.push(`  digests ${report.oldestDigest} .. ${report.newestDigest}`);
  if (report.pendingObjects.length > 0) lines.push(`  ${report.pendingObjects.length} object(s) written after the newest digest: checked, not yet signed (the next digest lists them)`);
  for (const problem of report.problems) lines.push(`  [${problem.kind}] ${problem.message}`);
  return lines.map(printable).join('\n');
}

/**
 * Control characters (a newline, a terminal escape that clears the screen) and bidi overrides, as
 * `\uXXXX`: keys and values in the report come from the log, and must not draw a report of their own.
 */
function printable(line: string): string {
  return line.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
