/**
 * Hourly signed digests (format.ts): for each UTC hour, the objects written in it with the SHA-256
 * of their uncompressed content, record count and sequence range, chained to the previous hour's
 * digest and signed over the canonical JSON of the digest without `signature`. Also for empty hours.
 *
 * An object can land in an hour's partition after that hour's digest was written (a batch retried
 * late, or a digest written at shutdown mid-hour). Each digest therefore also lists the objects of
 * the previous `lateWindowHours` partitions that no earlier digest listed, so every object is in
 * exactly one digest.
 *
 * An hour may have several digests (`digest.json`, `digest-2.json`, …): a clean stop of the local stack
 * signs what the current hour holds so far, and a later stop in the same hour signs what came after.
 * Every digest chains to the one before it: the hour's previous number, or the last digest of the hour
 * before.
 */
import { canonicalJson, canonicalOrReason, sha256Hex } from '../domain/canonical-json.js';
import { publicKeyFingerprint, type Signer, type SigningAlgorithm } from '../ports/signer.js';
import {
  auditHourPrefix, compareDigestKeys, digestHourPrefix, digestKey, getIfExists, hourStart, HOUR_MS, listKeys, parseDigestKey, parseObjectKey, PUBLIC_KEY_OBJECT,
  type AuditObjectReader, type AuditObjectWriter,
} from './digest-store.js';
import type { ChainHead, ChainStore } from '../ports/audit.js';
import { recordHash } from './chain.js';
import { AUDIT_PREFIX, DIGEST_PREFIX, SEQUENCE_KEY_DIGITS } from './format.js';
import { clipped } from './verify-object.js';
import { MAX_STORED_OBJECT_BYTES, objectText } from './object.js';

export const DIGEST_FORMAT = 'countersign-audit-digest/1';
export const DEFAULT_LATE_WINDOW_HOURS = 24;

export interface DigestObjectEntry {
  key: string;
  /** SHA-256 (hex) of the uncompressed NDJSON. */
  sha256: string;
  records: number;
  shard_id: string;
  first_sequence: string;
  last_sequence: string;
}

export interface DigestReference {
  key: string;
  /** SHA-256 (hex) of the previous digest object's stored bytes. */
  sha256: string;
  signature: string;
}

export interface AuditDigest {
  format: typeof DIGEST_FORMAT;
  /** Start of the UTC hour, `YYYY-MM-DDTHH:00:00.000Z`. */
  hour: string;
  objects: DigestObjectEntry[];
  previous: DigestReference | null;
  signing: { algorithm: SigningAlgorithm; key_id: string; public_key_sha256: string };
  /** Base64 signature over `canonicalJson(digest without signature)`. */
  signature: string;
}

export class DigestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DigestError';
  }
}

/** The bytes that are signed: canonical JSON of the digest without `signature`. */
export function signedBytes(digest: Omit<AuditDigest, 'signature'> | AuditDigest): Buffer {
  const { signature: _ignored, ...unsigned } = digest as AuditDigest;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** The stored form of a digest (canonical JSON, UTF-8): what `previous.sha256` hashes. */
export function serializeDigest(digest: AuditDigest): Buffer {
  return Buffer.from(canonicalJson(digest), 'utf8');
}

/**
 * Reads one object and describes it as a digest lists it. Throws DigestError when it is not an object
 * the writer makes: not gzip, too large, a line that is not a JSON record, a record whose hash does
 * not hold or that does not chain onto the line before. A digest signs only what checks out.
 */
export async function describeObject(store: AuditObjectReader, key: string, storedBytes?: number): Promise<DigestObjectEntry> {
  return (await readObject(store, key, storedBytes)).entry;
}

/** describeObject, and the object's last record hash (undefined when it holds no records). */
async function readObject(store: AuditObjectReader, key: string, storedBytes?: number): Promise<{ entry: DigestObjectEntry; lastHash: string | undefined }> {
  const parsed = parseObjectKey(key);
  if (parsed === undefined) throw new DigestError(`object ${key} does not have an audit object key (format.ts); remove it from ${AUDIT_PREFIX} or fix the writer`);
  // Refused from the listing's size, before reading: a file of gigabytes would not fit one buffer (or the function's memory).
  if (storedBytes !== undefined && storedBytes > MAX_STORED_OBJECT_BYTES) {
    throw new DigestError(`object ${key} is ${storedBytes} bytes, more than any audit object the writer makes (at most ${MAX_STORED_OBJECT_BYTES}); it is not read or signed`);
  }
  const body = await getIfExists(store, key);
  if (body === undefined) throw new DigestError(`object ${key} was listed but cannot be read`);
  let text: string;
  try {
    text = objectText(body);
  } catch (error) {
    throw new DigestError(`object ${key} ${(error as Error).message}; it cannot be digested`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const records: Array<Record<string, unknown>> = [];
  for (const [index, line] of lines.entries()) {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record) || typeof (record as { sequence_number?: unknown }).sequence_number !== 'string') {
      throw new DigestError(`object ${key} line ${index + 1} is not an audit record; it is not signed`);
    }
    const { hash, ...unhashed } = record as Record<string, unknown>;
    // A record with no canonical form is refused, not a stop of the digest job.
    const computed = canonicalOrReason(() => recordHash(unhashed as Parameters<typeof recordHash>[0]));
    if ('reason' in computed) throw new DigestError(`object ${key} line ${index + 1} has no canonical JSON form (${computed.reason}); it is not signed`);
    if (computed.value !== hash || (index > 0 && unhashed.prev_hash !== records[index - 1]!.hash)) {
      throw new DigestError(`object ${key} line ${index + 1}: its hash or chain does not hold; it is not signed`);
    }
    // The hash is over what the line parses to; the writer writes that form only (a key written twice
    // parses to its last value, and another reader may take the first).
    if (canonicalJson(record) !== line) throw new DigestError(`object ${key} line ${index + 1} is not the canonical JSON of its record; it is not signed`);
    records.push(record as Record<string, unknown>);
  }
  const entry = {
    key,
    sha256: sha256Hex(text),
    records: lines.length,
    shard_id: parsed.shardId,
    first_sequence: lines.length === 0 ? parsed.firstSequence : String(records[0]!.sequence_number),
    last_sequence: lines.length === 0 ? parsed.lastSequence : String(records.at(-1)!.sequence_number),
  };
  const lastHash = records.at(-1)?.hash;
  return { entry, lastHash: typeof lastHash === 'string' ? lastHash : undefined };
}

/** As the writer writes a sequence (paddedSequence): longer would be no stream's, and slow to read as a number. */
const DECIMAL = new RegExp(`^[0-9]{1,${SEQUENCE_KEY_DIGITS}}$`);

/**
 * Why the audit writer's chain head for the object's shard does not vouch for the object, or undefined
 * when it does. The writer puts an object, then moves the shard's head to its last record (writer.ts),
 * so an object it wrote ends at or below its shard's head; at the head exactly, its last hash is the
 * head's. An object past the head (or of a shard with no head) was not written by the writer, or was
 * written a moment ago and its head not yet moved (a crash, or a run between the two writes): it is
 * left unlisted, and the next run (which looks back `lateWindowHours` for unlisted objects) takes it
 * again, once the head has moved.
 */
export function whyNotVouched(entry: DigestObjectEntry, lastHash: string | undefined, head: ChainHead | undefined): string | undefined {
  const shard = entry.shard_id;
  if (!DECIMAL.test(entry.last_sequence)) return `its last sequence ${JSON.stringify(clipped(entry.last_sequence))} is not a decimal stream sequence number (at most ${SEQUENCE_KEY_DIGITS} digits)`;
  const last = BigInt(entry.last_sequence);
  if (head === undefined) return `the audit writer's chain head for shard ${shard} does not reach sequence ${last} (there is none)`;
  if (!DECIMAL.test(head.lastSequence)) return `the audit writer's chain head for shard ${shard} has no decimal sequence (${JSON.stringify(clipped(head.lastSequence))})`;
  const reached = BigInt(head.lastSequence);
  if (reached < last) return `the audit writer's chain head for shard ${shard} does not reach sequence ${last} (it is at ${reached})`;
  if (reached === last && lastHash !== head.lastHash) {
    return `its last record (sequence ${last}) is not the one the audit writer's chain head for shard ${shard} holds (hash ${lastHash === undefined ? 'none: the object holds no records' : lastHash} is not the head's ${head.lastHash})`;
  }
  return undefined;
}

export async function signDigest(unsigned: Omit<AuditDigest, 'signature' | 'signing'>, signer: Signer): Promise<AuditDigest> {
  const signing = { algorithm: signer.algorithm, key_id: signer.keyId, public_key_sha256: publicKeyFingerprint(await signer.publicKeyPem()) };
  const withSigning = { ...unsigned, signing };
  const signature = Buffer.from(await signer.sign(signedBytes(withSigning))).toString('base64');
  return { ...withSigning, signature };
}

export interface DigestDeps {
  sink: AuditObjectWriter;
  signer: Signer;
  /** Retention of digest objects. @default 365 days after `now` */
  retainUntil?: (now: Date) => Date;
  /**
   * The audit writer's chain heads (the decision table): an object is signed only if its shard's head
   * vouches for it (whyNotVouched). The AWS handler and the local stack pass it.
   * @default none: an object is checked for its own records and chain only, so anyone who can write to
   * the log could add a new shard's object that chains from the genesis hash and have it signed
   */
  chain?: Pick<ChainStore, 'get'>;
}

export interface DigestOptions {
  /** How far back late objects are looked for. @default 24 (the stream keeps records 24 h) */
  lateWindowHours?: number;
}

interface StoredDigest {
  key: string;
  digest: AuditDigest;
  bytes: Uint8Array;
}

function referenceTo(stored: StoredDigest): DigestReference {
  return { key: stored.key, sha256: sha256Hex(stored.bytes), signature: stored.digest.signature };
}

async function readDigest(store: AuditObjectReader, key: string): Promise<StoredDigest | undefined> {
  const bytes = await getIfExists(store, key);
  if (bytes === undefined) return undefined;
  try {
    return { key, digest: JSON.parse(Buffer.from(bytes).toString('utf8')) as AuditDigest, bytes };
  } catch (error) {
    throw new DigestError(`digest ${key} is not JSON (${(error as Error).message}); run verify to see what happened to it`);
  }
}

/** The digests of one hour, in order (`digest.json` first). */
async function digestsOfHour(store: AuditObjectReader, hour: Date): Promise<Array<{ key: string; n: number }>> {
  return (await listKeys(store, digestHourPrefix(hour)))
    .map((key) => ({ key, parsed: parseDigestKey(key) }))
    .filter((d): d is { key: string; parsed: { hour: Date; n: number } } => d.parsed !== undefined && d.parsed.hour.getTime() === hour.getTime())
    .map((d) => ({ key: d.key, n: d.parsed.n }))
    .sort((a, b) => a.n - b.n);
}

/**
 * Builds, signs and writes (write-once) the next digest of `hour` (`digest.json` when it has none),
 * chained to `previous`: the hour's objects and the late window's that no digest lists yet.
 */
export async function writeDigestForHour(hour: Date, previous: StoredDigest | null, deps: DigestDeps, options: DigestOptions = {}, now = new Date()): Promise<StoredDigest & { status: 'written' | 'already-written'; refused: string[] }> {
  const start = hourStart(hour);
  const lateWindow = options.lateWindowHours ?? DEFAULT_LATE_WINDOW_HOURS;
  const own = await digestsOfHour(deps.sink, start);
  // Listed already: by the hour's own earlier digests, and by any digest of the late window's hours.
  const listed = new Set<string>();
  for (let back = 0; back <= lateWindow; back++) {
    const earlier = back === 0 ? start : new Date(start.getTime() - back * HOUR_MS);
    for (const { key } of back === 0 ? own : await digestsOfHour(deps.sink, earlier)) {
      for (const entry of (await readDigest(deps.sink, key))?.digest.objects ?? []) listed.add(entry.key);
    }
  }
  // Each key not listed yet, with its stored size where the store's listing gives one.
  const keys = new Map<string, number | undefined>();
  for (let back = 0; back <= lateWindow; back++) {
    const prefix = auditHourPrefix(new Date(start.getTime() - back * HOUR_MS));
    const entries = deps.sink.listSized === undefined ? (await listKeys(deps.sink, prefix)).map((key) => ({ key, size: undefined })) : await deps.sink.listSized(prefix);
    for (const { key, size } of entries) if (!listed.has(key)) keys.set(key, size);
  }
  const objects: DigestObjectEntry[] = [];
  const refused: string[] = [];
  // Each shard's head is read once per digest, after the listing: the writer moves a head only after the
  // object is in the log, so a head read after the listing vouches for every genuine object listed but one
  // whose writer is between its two writes (refused now, taken again by a later digest).
  const heads = new Map<string, Promise<ChainHead | undefined>>();
  const headOf = (shardId: string) => {
    let head = heads.get(shardId);
    if (head === undefined) heads.set(shardId, head = deps.chain!.get(shardId));
    return head;
  };
  for (const key of [...keys.keys()].sort()) {
    try {
      const { entry, lastHash } = await readObject(deps.sink, key, keys.get(key));
      if (deps.chain !== undefined) {
        const why = whyNotVouched(entry, lastHash, await headOf(entry.shard_id));
        if (why !== undefined) throw new DigestError(`object ${key}: ${why}: it was not written by the audit writer, or its head has not moved yet; it is not signed (a later digest takes it again while it is within the last ${lateWindow} hours)`);
      }
      objects.push(entry);
    } catch (error) {
      // Left unlisted: verify names it (an object no digest lists), and the digest still gets written.
      if (!(error instanceof DigestError)) throw error;
      refused.push(error.message);
    }
  }
  const digest = await signDigest({ format: DIGEST_FORMAT, hour: start.toISOString(), objects, previous: previous === null ? null : referenceTo(previous) }, deps.signer);
  const key = digestKey(start, (own.at(-1)?.n ?? 0) + 1);
  const bytes = serializeDigest(digest);
  const retainUntil = deps.retainUntil?.(now) ?? new Date(now.getTime() + 365 * 24 * HOUR_MS);
  const status = await deps.sink.putObject(key, bytes, { sha256OfUncompressed: sha256Hex(bytes), retainUntil });
  if (status === 'already-written') {
    // Someone else wrote this digest first (a concurrent run): theirs is the record; chain onto it.
    const existing = await readDigest(deps.sink, key);
    if (existing === undefined) throw new DigestError(`digest ${key} was reported as already written but cannot be read`);
    return { ...existing, status, refused };
  }
  return { key, digest, bytes, status, refused };
}

/** Objects of the hour or the late window that no digest lists yet (what a digest now would sign). */
async function unlistedObjects(store: AuditObjectReader, hour: Date, lateWindow: number): Promise<number> {
  const listed = new Set<string>();
  const keys: string[] = [];
  for (let back = 0; back <= lateWindow; back++) {
    const earlier = new Date(hour.getTime() - back * HOUR_MS);
    for (const { key } of await digestsOfHour(store, earlier)) {
      for (const entry of (await readDigest(store, key))?.digest.objects ?? []) listed.add(entry.key);
    }
    keys.push(...await listKeys(store, auditHourPrefix(earlier)));
  }
  return keys.filter((key) => !listed.has(key)).length;
}

export interface WriteDigestsOptions extends DigestOptions {
  /** At most this many hours per call (a long outage heals over several runs). @default 168 */
  maxHours?: number;
  /** Also sign the hour `now` is in so far (at a clean shutdown): its next digest, when it has unlisted objects or no digest. @default false */
  includeCurrentHour?: boolean;
}

export interface WriteDigestsResult {
  written: string[];
  /** Objects left out of the digests written: not objects the writer makes (why, per object). */
  refused: string[];
  /** Hours still to digest when `maxHours` stopped the run. */
  remainingHours: number;
  lastDigestKey: string | undefined;
}

/**
 * Writes the digest of every hour since the last digest up to the last complete hour before `now`
 * (so a missed scheduled run heals itself). The first digest is for the hour of the oldest object,
 * or for the hour before `now` when the log is empty.
 */
export async function writeDigestsUpTo(now: Date, deps: DigestDeps, options: WriteDigestsOptions = {}): Promise<WriteDigestsResult> {
  const currentHour = hourStart(now);
  const lastHour = new Date(currentHour.getTime() - HOUR_MS);
  const placed = (await listKeys(deps.sink, DIGEST_PREFIX)).map((key) => ({ key, parsed: parseDigestKey(key) })).filter((d): d is { key: string; parsed: { hour: Date; n: number } } => d.parsed !== undefined);
  const newest = placed.sort((a, b) => compareDigestKeys(a.parsed, b.parsed)).at(-1);
  let previous: StoredDigest | null = null;
  let next: Date;
  if (newest !== undefined) {
    previous = (await readDigest(deps.sink, newest.key)) ?? null;
    next = new Date(newest.parsed.hour.getTime() + HOUR_MS);
  } else {
    const objectHours = (await listKeys(deps.sink, AUDIT_PREFIX)).map((key) => parseObjectKey(key)?.hour).filter((hour): hour is Date => hour !== undefined);
    const oldest = objectHours.reduce<Date | undefined>((min, hour) => (min === undefined || hour < min ? hour : min), undefined);
    const until = options.includeCurrentHour === true ? currentHour : lastHour;
    next = oldest !== undefined && oldest <= until ? oldest : lastHour;
  }
  const maxHours = options.maxHours ?? 168;
  const written: string[] = [];
  const refused: string[] = [];
  while (next <= lastHour && written.length < maxHours) {
    const stored = await writeDigestForHour(next, previous, deps, options, now);
    refused.push(...stored.refused);
    if (stored.status === 'written') written.push(stored.key);
    previous = stored;
    next = new Date(next.getTime() + HOUR_MS);
  }
  const remainingHours = next <= lastHour ? Math.round((lastHour.getTime() - next.getTime()) / HOUR_MS) + 1 : 0;
  // At a clean stop: sign what the current hour holds so far (the hour's next digest), so nothing is
  // left unsigned; nothing new since the last digest, nothing to write.
  if (options.includeCurrentHour === true && remainingHours === 0 && written.length < maxHours) {
    const lateWindow = options.lateWindowHours ?? DEFAULT_LATE_WINDOW_HOURS;
    const hasDigest = placed.some((d) => d.parsed.hour.getTime() === currentHour.getTime()) || next > currentHour;
    if (!hasDigest || (await unlistedObjects(deps.sink, currentHour, lateWindow)) > 0) {
      const stored = await writeDigestForHour(currentHour, previous, deps, options, now);
      refused.push(...stored.refused);
      if (stored.status === 'written') written.push(stored.key);
      previous = stored;
    }
  }
  return { written, refused: [...new Set(refused)], remainingHours, lastDigestKey: previous?.key };
}

/**
 * Publishes the signer's public key beside the log (`digests/public-key.pem`, write-once). Throws
 * when a different key is already published: verifying with it would fail every new digest.
 */
export async function publishPublicKey(sink: AuditObjectWriter, signer: Signer, retainUntil: Date): Promise<'written' | 'already-written'> {
  const pem = await signer.publicKeyPem();
  const bytes = Buffer.from(pem, 'utf8');
  const status = await sink.putObject(PUBLIC_KEY_OBJECT, bytes, { sha256OfUncompressed: sha256Hex(bytes), retainUntil });
  if (status === 'already-written') {
    const existing = await getIfExists(sink, PUBLIC_KEY_OBJECT);
    if (existing !== undefined && publicKeyFingerprint(Buffer.from(existing).toString('utf8')) !== publicKeyFingerprint(pem)) {
      throw new DigestError(`${PUBLIC_KEY_OBJECT} holds another public key than the digest signer's (${signer.keyId}); the log was signed with a different key: restore that key or start a new log`);
    }
  }
  return status;
}
