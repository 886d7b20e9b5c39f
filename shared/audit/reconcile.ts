/**
 * Reconciliation of the table with the log, recorded as a signed statement beside the digests
 * (issue 9): every event item of the table that occurred in the window is in the log exactly once,
 * and every record of the log in the window is an event item of the table. It runs daily in AWS
 * (the digest function, which holds the signing key) over the last two days, and at each local stop
 * over the whole log. `verify` checks the statements' signatures against the trust anchor and reports
 * the newest one's result.
 *
 * `reconciliations/dt=YYYY-MM-DD/reconciliation-HHMMSSmmmZ.json` (the window's end): canonical JSON,
 * signed like a digest (over the canonical JSON without `signature`), written once.
 */
import { canonicalJson, canonicalOrReason, sha256Hex } from '../domain/canonical-json.js';
import { PemSignatureVerifier, publicKeyFingerprint, type Signer, type SigningAlgorithm } from '../ports/signer.js';
import { getIfExists, listKeys, parseObjectKey, type AuditObjectReader, type AuditObjectWriter } from './digest-store.js';
import { AUDIT_PREFIX } from './format.js';
import { objectText } from './object.js';

export const RECONCILIATION_PREFIX = 'reconciliations/';
export const RECONCILIATION_FORMAT = 'countersign-audit-reconciliation/1';
/** At most this many ids of each kind are listed in a statement (the counts are whole). */
const MAX_LISTED = 200;
const HOUR_MS = 3_600_000;

export interface TableEventItem {
  eventId: string;
  occurredAt: string;
}

export interface ReconciliationStatement {
  format: typeof RECONCILIATION_FORMAT;
  /** Event items that occurred in [from, to) are compared; `from` null: since the start. */
  window: { from: string | null; to: string };
  table: string;
  tableEventItems: number;
  logRecords: number;
  differences: number;
  missing: { count: number; eventIds: string[] };
  extra: { count: number; eventIds: string[] };
  duplicate: { count: number; eventIds: string[] };
  signing: { algorithm: SigningAlgorithm; key_id: string; public_key_sha256: string };
  signature: string;
}

export interface ReconcileDeps {
  sink: AuditObjectWriter;
  signer: Signer;
  /** Every event item of the table (at least those that occurred since `from`). */
  tableEventItems: () => Promise<TableEventItem[]>;
  tableName: string;
  retainUntil: Date;
}

export interface ReconcileOptions {
  now: Date;
  /** Compare from here on; undefined: the whole log. */
  from?: Date;
  /** Items newer than `now - settle` may still be on their way to the log. @default 0 (a stopped stack) */
  settleMs?: number;
}

function list(ids: Iterable<string>): { count: number; eventIds: string[] } {
  const all = [...ids].sort();
  return { count: all.length, eventIds: all.slice(0, MAX_LISTED) };
}

/**
 * The event ids of the log's records, from the partitions at or after `from`'s hour; a line that is
 * not a record is listed as unreadable (`<key> line <n>`), not thrown.
 */
async function logEvents(sink: AuditObjectReader, from: Date | undefined): Promise<{ events: Map<string, { count: number }>; unreadable: string[] }> {
  const events = new Map<string, { count: number }>();
  const unreadable: string[] = [];
  // A record lands in the partition of its stream time, at or after the hour it occurred in.
  const fromHour = from === undefined ? undefined : Math.floor(from.getTime() / HOUR_MS) * HOUR_MS;
  for (const key of await listKeys(sink, AUDIT_PREFIX)) {
    const parsed = parseObjectKey(key);
    if (parsed === undefined || (fromHour !== undefined && parsed.hour.getTime() < fromHour)) continue;
    const body = await getIfExists(sink, key);
    if (body === undefined) continue;
    let text: string;
    try {
      text = objectText(body);
    } catch (error) {
      unreadable.push(`${key} (${(error as Error).message})`);
      continue;
    }
    for (const [index, line] of text.split('\n').entries()) {
      if (line === '') continue;
      let eventId: unknown;
      try {
        eventId = (JSON.parse(line) as { event_id?: unknown }).event_id;
      } catch {
        eventId = undefined;
      }
      if (typeof eventId !== 'string') {
        unreadable.push(`${key} line ${index + 1}`);
        continue;
      }
      events.set(eventId, { count: (events.get(eventId)?.count ?? 0) + 1 });
    }
  }
  return { events, unreadable };
}

const isIdList = (value: unknown): value is { count: number; eventIds: string[] } =>
  typeof value === 'object' && value !== null && typeof (value as { count?: unknown }).count === 'number'
  && Array.isArray((value as { eventIds?: unknown }).eventIds) && (value as { eventIds: unknown[] }).eventIds.every((id) => typeof id === 'string');

/**
 * One stored statement, read and checked: its shape, and its signature against the trust anchor. A
 * statement anyone could have written (S3 takes new keys from any writer) is never believed.
 */
export function readStatement(bytes: Uint8Array | undefined, verifier: PemSignatureVerifier): { statement: ReconciliationStatement } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes ?? '').toString('utf8'));
  } catch (error) {
    return { problem: `is unreadable (${(error as Error).message}): it was altered` };
  }
  const s = value as Partial<ReconciliationStatement> | null;
  if (typeof s !== 'object' || s === null || typeof s.signature !== 'string' || typeof s.window?.to !== 'string' || typeof s.differences !== 'number'
    || !isIdList(s.missing) || !isIdList(s.extra) || !isIdList(s.duplicate)) {
    return { problem: 'is not a reconciliation statement: it was altered' };
  }
  const statement = s as ReconciliationStatement;
  const forms = canonicalOrReason(() => ({ signed: statementSignedBytes(statement), stored: canonicalJson(statement) }));
  if ('reason' in forms) return { problem: `has no canonical JSON form (${forms.reason}): it was altered` };
  const { signed, stored } = forms.value;
  if (!verifier.verify(signed, Buffer.from(statement.signature, 'base64'), statement.signing?.algorithm)) {
    return { problem: 'does not verify with the trust anchor: it was altered or forged' };
  }
  // The signature covers what it says; the writer stores exactly its canonical form, and nothing else hashes the bytes.
  if (!Buffer.from(stored, 'utf8').equals(Buffer.from(bytes ?? ''))) {
    return { problem: 'is not stored as the writer stores it (the canonical JSON of what it says): its bytes were altered (whitespace, key order, or a key written twice, which another reader may read differently)' };
  }
  return { statement };
}

/** The newest statement under reconciliations/ (by the end of its window) that verifies with `publicKeyPem`. */
export async function newestStatement(sink: AuditObjectReader, publicKeyPem: string): Promise<{ key: string; statement: ReconciliationStatement } | undefined> {
  const verifier = new PemSignatureVerifier(publicKeyPem);
  let newest: { key: string; statement: ReconciliationStatement } | undefined;
  for (const key of await listKeys(sink, RECONCILIATION_PREFIX)) {
    const read = readStatement(await getIfExists(sink, key), verifier);
    // One that does not verify is verify's to name; a reconciliation carries only what it signed itself.
    if ('statement' in read && (newest === undefined || read.statement.window.to > newest.statement.window.to)) newest = { key, statement: read.statement };
  }
  return newest;
}

export function reconciliationKey(to: Date): string {
  const iso = to.toISOString();
  return `${RECONCILIATION_PREFIX}dt=${iso.slice(0, 10)}/reconciliation-${iso.slice(11, 23).replace(/[:.]/g, '')}Z.json`;
}

/** Compares, signs and writes one statement; returns it and its key. */
export async function reconcileAndRecord(deps: ReconcileDeps, options: ReconcileOptions): Promise<{ key: string; statement: ReconciliationStatement }> {
  let to = new Date(options.now.getTime() - (options.settleMs ?? 0));
  // Two runs in one millisecond would share a key: the later one ends a millisecond later.
  while ((await getIfExists(deps.sink, reconciliationKey(to))) !== undefined) to = new Date(to.getTime() + 1);
  const inWindow = (occurredAt: string) => {
    const at = Date.parse(occurredAt);
    return Number.isFinite(at) && at < to.getTime() && (options.from === undefined || at >= options.from.getTime());
  };
  const all = await deps.tableEventItems();
  const table = all.filter((item) => inWindow(item.occurredAt));
  const byId = new Map(all.map((item) => [item.eventId, item]));
  // What the newest statement found missing stays a difference until it is in the log, whatever the
  // window: a loss must not age out of the statements.
  const carried = ((await newestStatement(deps.sink, await deps.signer.publicKeyPem()))?.statement.missing.eventIds ?? []).flatMap((id) => {
    const item = byId.get(id);
    return item === undefined ? [] : [item];
  });
  const earliest = carried.reduce<number | undefined>((min, item) => {
    const at = Date.parse(item.occurredAt) - HOUR_MS;
    return Number.isFinite(at) && (min === undefined || at < min) ? at : min;
  }, undefined);
  const logFrom = options.from === undefined ? undefined : new Date(Math.min(options.from.getTime(), earliest ?? Infinity));
  const log = await logEvents(deps.sink, logFrom);
  const missing = [...new Set([...table, ...carried].filter((item) => !log.events.has(item.eventId)).map((item) => item.eventId))];
  const extra: string[] = [...log.unreadable];
  const duplicate: string[] = [];
  let logRecords = 0;
  // Every record read counts, whatever its time: a forged record with a time outside the window is extra.
  for (const [eventId, { count }] of log.events) {
    logRecords += count;
    if (count > 1) duplicate.push(eventId);
    if (!byId.has(eventId)) extra.push(eventId);
  }
  const unsigned: Omit<ReconciliationStatement, 'signature'> = {
    format: RECONCILIATION_FORMAT,
    window: { from: options.from?.toISOString() ?? null, to: to.toISOString() },
    table: deps.tableName,
    tableEventItems: table.length,
    logRecords,
    differences: missing.length + extra.length + duplicate.length,
    missing: list(missing),
    extra: list(extra),
    duplicate: list(duplicate),
    signing: { algorithm: deps.signer.algorithm, key_id: deps.signer.keyId, public_key_sha256: publicKeyFingerprint(await deps.signer.publicKeyPem()) },
  };
  const signature = Buffer.from(await deps.signer.sign(statementSignedBytes({ ...unsigned, signature: '' }))).toString('base64');
  const statement: ReconciliationStatement = { ...unsigned, signature };
  const key = reconciliationKey(to);
  const bytes = Buffer.from(canonicalJson(statement), 'utf8');
  await deps.sink.putObject(key, bytes, { sha256OfUncompressed: sha256Hex(bytes), retainUntil: deps.retainUntil });
  return { key, statement };
}

/** The signed bytes of a statement: its canonical JSON without `signature`. */
export function statementSignedBytes(statement: ReconciliationStatement): Buffer {
  const { signature: _ignored, ...unsigned } = statement;
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** One line for a log or a report. */
export function describeStatement(key: string, statement: ReconciliationStatement): string {
  const window = `${statement.window.from ?? 'the start'} .. ${statement.window.to}`;
  if (statement.differences === 0) return `${key}: table ${statement.table} and the log agree over ${window} (${statement.tableEventItems} event items, each in the log exactly once)`;
  const parts = [
    statement.missing.count > 0 ? `${statement.missing.count} missing from the log (${statement.missing.eventIds.slice(0, 3).join(', ')}${statement.missing.count > 3 ? ', …' : ''})` : '',
    statement.extra.count > 0 ? `${statement.extra.count} not in the table or unreadable (${statement.extra.eventIds.slice(0, 3).join(', ')}${statement.extra.count > 3 ? ', …' : ''})` : '',
    statement.duplicate.count > 0 ? `${statement.duplicate.count} in the log more than once` : '',
  ].filter((p) => p !== '');
  return `${key}: table ${statement.table} and the log differ over ${window}: ${parts.join('; ')}`;
}
