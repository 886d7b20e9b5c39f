/**
 * The part of the audit sink (shared/ports/audit.ts) that digests and `verify` use, plus the key
 * layout of format.ts as parsers. Kept structural so any `AuditSink` fits.
 */
import type { ObjectVersion } from '../ports/audit.js';
import { AUDIT_PREFIX, DIGEST_PREFIX } from './format.js';

export interface AuditObjectReader {
  /** The object's bytes; undefined (or a not-found error) when there is none. */
  getObject(key: string): Promise<Uint8Array | undefined | null>;
  /** Keys under a prefix (strings, or `{ key }` entries). */
  list(prefix: string): Promise<ReadonlyArray<string | { key: string }>>;
  /** Every version and delete marker under a prefix (a versioned store); `verify` reads them all when present. */
  listVersions?(prefix: string): Promise<ObjectVersion[]>;
  getObjectVersion?(key: string, versionId: string): Promise<Uint8Array | undefined>;
  /** Entries under a prefix that are not objects (a directory's symlinks, pipes, stray folders); S3 has none. */
  strays?(prefix: string): Promise<string[]>;
  /** Keys under a prefix with the stored size of each (ListObjectsV2's `Size`), so a reader can refuse a file before reading it. */
  listSized?(prefix: string): Promise<SizedKey[]>;
}

export interface SizedKey {
  key: string;
  /** Bytes as stored. */
  size: number;
}

export interface AuditObjectWriter extends AuditObjectReader {
  putObject(key: string, body: Uint8Array, options: { sha256OfUncompressed: string; retainUntil: Date }): Promise<'written' | 'already-written'>;
}

export async function listKeys(store: AuditObjectReader, prefix: string): Promise<string[]> {
  const entries = await store.list(prefix);
  return entries.map((entry) => (typeof entry === 'string' ? entry : entry.key)).sort();
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.code === 'ENOENT' || e?.$metadata?.httpStatusCode === 404;
}

/** The object's bytes, or undefined when it does not exist. */
export async function getIfExists(store: AuditObjectReader, key: string): Promise<Uint8Array | undefined> {
  try {
    return (await store.getObject(key)) ?? undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const HOUR_MS = 3_600_000;
export { HOUR_MS };

/** Start of the UTC hour that holds `time`. */
export function hourStart(time: Date | number): Date {
  const ms = typeof time === 'number' ? time : time.getTime();
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS);
}

function partition(hour: Date): string {
  const iso = hour.toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/`;
}

/** `audit/dt=YYYY-MM-DD/hour=HH/`: where the objects of one hour live. */
export function auditHourPrefix(hour: Date): string {
  return `${AUDIT_PREFIX}${partition(hour)}`;
}

/**
 * `digests/dt=YYYY-MM-DD/hour=HH/digest.json`: the hour's first digest; `digest-2.json`, `digest-3.json`…
 * the later ones (a clean stop of the local stack signs what the hour holds so far, each time).
 */
export function digestKey(hour: Date, n = 1): string {
  return `${DIGEST_PREFIX}${partition(hour)}${n === 1 ? 'digest.json' : `digest-${n}.json`}`;
}

/** Where the digests of one hour live. */
export function digestHourPrefix(hour: Date): string {
  return `${DIGEST_PREFIX}${partition(hour)}`;
}

export const PUBLIC_KEY_OBJECT = `${DIGEST_PREFIX}public-key.pem`;

const DIGEST_KEY = /^digests\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/digest(?:-([1-9]\d{0,5}))?\.json$/;
const OBJECT_KEY = /^audit\/dt=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/shard=([A-Za-z0-9._-]+)\/(\d{40})-(\d{40})\.ndjson\.gz$/;

function hourOf(dt: string, hh: string): Date | undefined {
  const date = new Date(`${dt}T${hh}:00:00.000Z`);
  return Number.isNaN(date.getTime()) || date.toISOString().slice(0, 13) !== `${dt}T${hh}` ? undefined : date;
}

/** The hour and the digest's number within it (1 for `digest.json`). */
export function parseDigestKey(key: string): { hour: Date; n: number } | undefined {
  const match = DIGEST_KEY.exec(key);
  if (match === null) return undefined;
  const hour = hourOf(match[1]!, match[2]!);
  const n = match[3] === undefined ? 1 : Number(match[3]);
  // `digest-1.json` is not a key the writer makes: `digest.json` is the first.
  if (hour === undefined || (match[3] !== undefined && n < 2)) return undefined;
  return { hour, n };
}

/** Digest order: by hour, then by number within the hour. */
export function compareDigestKeys(a: { hour: Date; n: number }, b: { hour: Date; n: number }): number {
  return a.hour.getTime() - b.hour.getTime() || a.n - b.n;
}

export interface ParsedObjectKey {
  hour: Date;
  shardId: string;
  firstSequence: string;
  lastSequence: string;
}

export function parseObjectKey(key: string): ParsedObjectKey | undefined {
  const match = OBJECT_KEY.exec(key);
  if (match === null) return undefined;
  const hour = hourOf(match[1]!, match[2]!);
  if (hour === undefined) return undefined;
  return { hour, shardId: match[3]!, firstSequence: BigInt(match[4]!).toString(), lastSequence: BigInt(match[5]!).toString() };
}
