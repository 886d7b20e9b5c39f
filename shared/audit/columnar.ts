/**
 * The columnar copy of the audit log (issue 15): the records of closed hours as Parquet, one file per
 * day partition and compaction run, under `columnar/`, beside the NDJSON.gz log in the same locked bucket, with a
 * manifest that names the objects it was made from (their SHA-256, as the signed digests list them)
 * and how many records it holds. The NDJSON.gz objects stay the record; the copy is for scanning, and
 * `verify` proves it is the log: every source is a digest-listed object with the manifest's hash, the
 * counts add up, the Parquet file is the one the manifest names, and its rows are exactly the
 * sources' records (compared row for row by the columnar engine).
 *
 * Keys: `columnar/dt=YYYY-MM-DD/part-NNN.parquet` and `_part-NNN.manifest.json` beside it (the leading `_`
 * hides the manifest from the Parquet table's readers: Hive and Trino skip `_` and `.` files). A part holds
 * the objects of the day's hours that were closed (every object listed by a signed digest) and not yet
 * in a part when it was made: over a finished day, one file (what Athena and DuckDB scan best); the
 * local stack's hourly run adds a part per closed hour; a late object gets a later part. An object is
 * in at most one part. Queries read a part's Parquet file instead
 * of the objects its manifest names, and every other object as NDJSON.
 *
 * Columns: AUDIT_COLUMNS in table order, then `hour` (the record's object's partition hour, as the
 * NDJSON table's `hour`) and `object_key` (the object that holds the record). They are derived from
 * format.ts in one place (COLUMNAR_COLUMNS), so a column added there flows through.
 */
import { createHash } from 'node:crypto';
import type { ColumnarEngine, ColumnarSource, ColumnarWriter } from '../ports/columnar.js';
import type { DigestObjectEntry } from './digest.js';
import { getIfExists, HOUR_MS, listKeys, parseObjectKey, type AuditObjectReader, type AuditObjectWriter } from './digest-store.js';
import { AUDIT_COLUMNS, AUDIT_PREFIX, COLUMNAR_PREFIX, DIGEST_PREFIX } from './format.js';
import { objectContent } from './object.js';

export const COLUMNAR_FORMAT = 'countersign-audit-columnar/1';
/** The copy's columns: the table's, then the key of the object that holds each record. */
export const COLUMNAR_COLUMNS: ReadonlyArray<{ name: string; type: (typeof AUDIT_COLUMNS)[number]['type'] }> = [...AUDIT_COLUMNS, { name: 'hour', type: 'string' }, { name: 'object_key', type: 'string' }];

export interface ColumnarManifest {
  format: typeof COLUMNAR_FORMAT;
  /** The day partition, `YYYY-MM-DD` (UTC). */
  day: string;
  parquet: { key: string; sha256: string; bytes: number };
  records: number;
  columns: string[];
  /** The objects the file was made from, in key order, with the SHA-256 of their uncompressed content (as the digests list it). */
  sources: Array<{ key: string; sha256: string; records: number }>;
  createdAt: string;
}

export class ColumnarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ColumnarError';
  }
}

export function columnarPartKeys(day: string, part: number): { parquet: string; manifest: string } {
  const folder = `${COLUMNAR_PREFIX}dt=${day}/`;
  const name = `part-${String(part).padStart(3, '0')}`;
  return { parquet: `${folder}${name}.parquet`, manifest: `${folder}_${name}.manifest.json` };
}

/** The other key of a part (the Parquet file of a manifest, the manifest of a Parquet file), or undefined for any other key. */
export function siblingKey(key: string): string | undefined {
  const parsed = parseColumnarKey(key);
  if (parsed === undefined) return undefined;
  const keys = columnarPartKeys(parsed.day, parsed.part);
  return parsed.kind === 'parquet' ? keys.manifest : keys.parquet;
}

const PART_KEY = /^columnar\/dt=(\d{4}-\d{2}-\d{2})\/(?:part-(\d{3})\.parquet|_part-(\d{3})\.manifest\.json)$/;

/** The day, part number and kind of a key under `columnar/`, or undefined for any other key. */
export function parseColumnarKey(key: string): { day: string; dayStart: Date; part: number; kind: 'parquet' | 'manifest' } | undefined {
  const match = PART_KEY.exec(key);
  if (match === null) return undefined;
  const dayStart = new Date(`${match[1]}T00:00:00.000Z`);
  if (Number.isNaN(dayStart.getTime()) || dayStart.toISOString().slice(0, 10) !== match[1]) return undefined;
  return { day: match[1]!, dayStart, part: Number(match[2] ?? match[3]), kind: match[2] !== undefined ? 'parquet' : 'manifest' };
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A manifest's text as stored (JSON), or the reason it is not one. */
export function parseManifest(bytes: Uint8Array): ColumnarManifest | string {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    return `is not JSON (${(error as Error).message})`;
  }
  const m = value as ColumnarManifest;
  const ok = typeof m === 'object' && m !== null && m.format === COLUMNAR_FORMAT && typeof m.day === 'string' && typeof m.records === 'number'
    && typeof m.parquet === 'object' && m.parquet !== null && typeof m.parquet.key === 'string' && typeof m.parquet.sha256 === 'string'
    && Array.isArray(m.columns) && Array.isArray(m.sources)
    && m.sources.every((s) => typeof s === 'object' && s !== null && typeof s.key === 'string' && typeof s.sha256 === 'string' && typeof s.records === 'number');
  return ok ? m : `does not have the manifest's fields (format ${COLUMNAR_FORMAT}, day, parquet {key, sha256}, records, columns, sources [{key, sha256, records}])`;
}

/** The manifests under `columnar/` (key and content); unreadable ones are left to `verify`. */
export async function readManifests(store: AuditObjectReader, keys?: readonly string[]): Promise<Array<{ key: string; manifest: ColumnarManifest }>> {
  const out: Array<{ key: string; manifest: ColumnarManifest }> = [];
  for (const key of keys ?? await listKeys(store, COLUMNAR_PREFIX)) {
    if (parseColumnarKey(key)?.kind !== 'manifest') continue;
    const bytes = await getIfExists(store, key);
    const manifest = bytes === undefined ? undefined : parseManifest(bytes);
    if (manifest !== undefined && typeof manifest !== 'string') out.push({ key, manifest });
  }
  return out;
}

/**
 * Every object the digests list, with its entry. Signatures are not checked here: compaction copies
 * only objects whose content has the listed hash, and `verify` checks the digests and the copy.
 */
export async function listedByDigests(store: AuditObjectReader): Promise<Map<string, DigestObjectEntry>> {
  const listed = new Map<string, DigestObjectEntry>();
  for (const key of await listKeys(store, DIGEST_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    const bytes = await getIfExists(store, key);
    if (bytes === undefined) continue;
    try {
      const digest = JSON.parse(Buffer.from(bytes).toString('utf8')) as { objects?: unknown };
      if (Array.isArray(digest.objects)) for (const entry of digest.objects as DigestObjectEntry[]) if (!listed.has(entry.key)) listed.set(entry.key, entry);
    } catch {
      // An unreadable digest lists nothing to copy; verify names it.
    }
  }
  return listed;
}

export interface CompactionDeps {
  store: AuditObjectWriter;
  writer: ColumnarWriter;
  retainUntil: (now: Date) => Date;
}

export interface CompactionResult {
  /** Parquet keys written (with their manifests). */
  written: string[];
  /** Why an hour (or an object) was not compacted: a finding for `verify`, never a stop. */
  refused: string[];
  records: number;
}

/**
 * Compacts every closed hour: a partition hour that ended at least `closedAfterMs` ago whose objects
 * are all listed by a signed digest. Each run copies, per day, the listed objects of such hours that
 * no part holds yet, after checking each against the digest's hash: only what checks out is copied.
 */
export async function compactClosedHours(deps: CompactionDeps, listed: ReadonlyMap<string, DigestObjectEntry>, now: Date, options: { closedAfterMs?: number; maxDays?: number } = {}): Promise<CompactionResult> {
  const closedBefore = now.getTime() - (options.closedAfterMs ?? HOUR_MS);
  const columnarKeys = await listKeys(deps.store, COLUMNAR_PREFIX);
  const covered = new Set<string>();
  const parts = new Map<string, number>();
  for (const { manifest } of await readManifests(deps.store, columnarKeys)) for (const source of manifest.sources) covered.add(source.key);
  for (const key of columnarKeys) {
    const parsed = parseColumnarKey(key);
    if (parsed !== undefined) parts.set(parsed.day, Math.max(parts.get(parsed.day) ?? 0, parsed.part));
  }
  const byHour = new Map<number, { keys: string[]; unlisted: number }>();
  for (const key of await listKeys(deps.store, AUDIT_PREFIX)) {
    const parsed = parseObjectKey(key);
    if (parsed === undefined || parsed.hour.getTime() + HOUR_MS > closedBefore) continue;
    const hour = byHour.get(parsed.hour.getTime()) ?? { keys: [], unlisted: 0 };
    if (!listed.has(key)) hour.unlisted++;
    else if (!covered.has(key)) hour.keys.push(key);
    byHour.set(parsed.hour.getTime(), hour);
  }
  // An hour with an object no digest lists yet is not closed: the next digest lists it (or verify
  // names it as unsigned). The rest, by day.
  const byDay = new Map<string, string[]>();
  for (const [time, { keys, unlisted }] of [...byHour].sort(([a], [b]) => a - b)) {
    if (unlisted > 0 || keys.length === 0) continue;
    const day = new Date(time).toISOString().slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), ...keys]);
  }
  const result: CompactionResult = { written: [], refused: [], records: 0 };
  for (const [day, keys] of [...byDay].slice(0, options.maxDays)) {
    const sources: ColumnarSource[] = [];
    const entries: ColumnarManifest['sources'] = [];
    for (const key of keys.sort()) {
      const entry = listed.get(key)!;
      const body = await getIfExists(deps.store, key);
      let contentHash: string | undefined;
      try {
        contentHash = body === undefined ? undefined : sha256(objectContent(body));
      } catch {
        contentHash = undefined;
      }
      if (body === undefined || contentHash !== entry.sha256) {
        result.refused.push(`object ${key} is not what its digest lists (${body === undefined ? 'missing' : 'SHA-256 differs'}): it is not copied to Parquet (verify names it)`);
        continue;
      }
      sources.push({ key, body });
      entries.push({ key, sha256: entry.sha256, records: entry.records });
    }
    if (sources.length === 0) continue;
    const part = (parts.get(day) ?? 0) + 1;
    parts.set(day, part);
    const partKeys = columnarPartKeys(day, part);
    const parquet = await deps.writer.toParquet(sources);
    const records = entries.reduce((n, e) => n + e.records, 0);
    const retainUntil = deps.retainUntil(now);
    await deps.store.putObject(partKeys.parquet, parquet, { sha256OfUncompressed: sha256(parquet), retainUntil });
    const manifest: ColumnarManifest = {
      format: COLUMNAR_FORMAT,
      day,
      parquet: { key: partKeys.parquet, sha256: sha256(parquet), bytes: parquet.length },
      records,
      columns: COLUMNAR_COLUMNS.map((c) => c.name),
      sources: entries,
      createdAt: now.toISOString(),
    };
    const text = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
    await deps.store.putObject(partKeys.manifest, text, { sha256OfUncompressed: sha256(text), retainUntil });
    result.written.push(partKeys.parquet);
    result.records += records;
  }
  return result;
}

/** A finding about the columnar copy, in verify's shape (verify.ts adds it to its report). */
export interface ColumnarProblem {
  kind: 'columnar-manifest' | 'columnar-hash' | 'columnar-source' | 'columnar-count' | 'columnar-rows' | 'columnar-extra';
  message: string;
  objectKey?: string;
}

export interface ColumnarCheck {
  /** Parts (Parquet file + manifest) checked. */
  parts: number;
  records: number;
  /** Whether each file's rows were compared with its sources (an engine was given). */
  rowsCompared: boolean;
  problems: ColumnarProblem[];
}

/**
 * `verify`'s check of the columnar copy: each manifest against the signed digests (`listed`, the
 * objects verify found listed, with their entries) and its Parquet file; with an engine, each file's
 * rows against its sources' records. Only parts of days with an hour that `inRange` accepts.
 */
export async function checkColumnarCopy(
  keys: readonly string[],
  read: (key: string) => Promise<Uint8Array | undefined>,
  listed: ReadonlyMap<string, DigestObjectEntry>,
  inRange: (hour: Date) => boolean,
  engine: ColumnarEngine | undefined,
): Promise<ColumnarCheck> {
  const problems: ColumnarProblem[] = [];
  const present = new Set(keys);
  const sourceOf = new Map<string, string>();
  let parts = 0;
  let records = 0;
  for (const key of keys) {
    const parsed = parseColumnarKey(key);
    if (parsed === undefined) {
      problems.push({ kind: 'columnar-extra', objectKey: key, message: `${key} under ${COLUMNAR_PREFIX} is not a part of the columnar copy (part-NNN.parquet / _part-NNN.manifest.json): something else wrote there` });
      continue;
    }
    if (!Array.from({ length: 24 }, (_, h) => new Date(parsed.dayStart.getTime() + h * HOUR_MS)).some(inRange)) continue;
    if (parsed.kind === 'parquet') {
      if (!present.has(siblingKey(key)!)) {
        problems.push({ kind: 'columnar-extra', objectKey: key, message: `${key} has no manifest: queries do not read it, and nothing proves it is the log (a compaction stopped before its manifest, or the file was added)` });
      }
      continue;
    }
    parts++;
    const bytes = await read(key);
    const manifest = bytes === undefined ? 'cannot be read' : parseManifest(bytes);
    if (typeof manifest === 'string') {
      problems.push({ kind: 'columnar-manifest', objectKey: key, message: `manifest ${key} ${manifest}` });
      continue;
    }
    const expectedParquet = siblingKey(key)!;
    if (manifest.day !== parsed.day || manifest.parquet.key !== expectedParquet) {
      problems.push({ kind: 'columnar-manifest', objectKey: key, message: `manifest ${key} names day ${manifest.day} and file ${manifest.parquet.key}, not its own (${parsed.day}, ${expectedParquet}): it was moved or altered` });
      continue;
    }
    const expectedColumns = COLUMNAR_COLUMNS.map((c) => c.name).join(',');
    if (manifest.columns.join(',') !== expectedColumns) {
      problems.push({ kind: 'columnar-manifest', objectKey: key, message: `manifest ${key} lists the columns ${manifest.columns.join(', ')}, not the copy's (${COLUMNAR_COLUMNS.map((c) => c.name).join(', ')})` });
    }
    let sum = 0;
    const sources: ColumnarSource[] = [];
    let sourcesWhole = true;
    for (const source of manifest.sources) {
      sum += source.records;
      const entry = listed.get(source.key);
      const objectDay = parseObjectKey(source.key)?.hour.toISOString().slice(0, 10);
      const other = sourceOf.get(source.key);
      if (other !== undefined) problems.push({ kind: 'columnar-source', objectKey: key, message: `manifest ${key} and ${other} both hold object ${source.key}: its records would be counted twice` });
      sourceOf.set(source.key, key);
      if (entry === undefined || entry.sha256 !== source.sha256 || entry.records !== source.records || objectDay !== parsed.day) {
        sourcesWhole = false;
        problems.push({
          kind: 'columnar-source', objectKey: key,
          message: entry === undefined
            ? `manifest ${key} names object ${source.key}, which no digest lists: the copy holds records that are not in the signed log`
            : objectDay !== parsed.day
              ? `manifest ${key} names object ${source.key} of another day`
              : `manifest ${key} names object ${source.key} with SHA-256 ${source.sha256.slice(0, 16)}… and ${source.records} records; its digest lists ${entry.sha256.slice(0, 16)}… and ${entry.records}: the copy was not made from the signed object`,
        });
        continue;
      }
      const body = await read(source.key);
      if (body === undefined) sourcesWhole = false;
      else sources.push({ key: source.key, body });
    }
    if (sum !== manifest.records) {
      problems.push({ kind: 'columnar-count', objectKey: key, message: `manifest ${key} says ${manifest.records} records; its sources hold ${sum}` });
    }
    const parquet = await read(manifest.parquet.key);
    if (parquet === undefined) {
      problems.push({ kind: 'columnar-hash', objectKey: manifest.parquet.key, message: `${manifest.parquet.key} (named by ${key}) is missing: it was deleted` });
      continue;
    }
    if (sha256(parquet) !== manifest.parquet.sha256) {
      problems.push({ kind: 'columnar-hash', objectKey: manifest.parquet.key, message: `${manifest.parquet.key}: SHA-256 is not the one manifest ${key} lists: the file was replaced or altered` });
    }
    records += sum;
    if (engine === undefined || !sourcesWhole) continue;
    const compared = await engine.compare(parquet, sources);
    if (compared.schemaProblem !== undefined) {
      problems.push({ kind: 'columnar-rows', objectKey: manifest.parquet.key, message: `${manifest.parquet.key} ${compared.schemaProblem}` });
      continue;
    }
    if (compared.rows !== sum) {
      problems.push({ kind: 'columnar-count', objectKey: manifest.parquet.key, message: `${manifest.parquet.key} holds ${compared.rows} rows; its sources hold ${sum} records: ${compared.rows < sum ? 'rows were dropped' : 'rows were added'}` });
    }
    if (compared.onlyInCopy > 0 || compared.onlyInLog > 0) {
      problems.push({ kind: 'columnar-rows', objectKey: manifest.parquet.key, message: `${manifest.parquet.key}: ${compared.onlyInCopy} row(s) are no record of the log and ${compared.onlyInLog} record(s) of its sources are not in it: the copy is not the log (rows changed, dropped or added)` });
    }
  }
  return { parts, records, rowsCompared: engine !== undefined, problems };
}
