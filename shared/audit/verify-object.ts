/**
 * `verify`'s check of one audit object: its content against the digest's hash and count, every
 * record's hash, the chain and order within the object, and what the checks across objects need (the
 * chain ends, the request facts, the event ids). A pure function of the object's bytes, so it runs on
 * the main thread or in a worker (verify-workers.ts) alike, with the same result.
 *
 * The fast path reads the gunzipped bytes as they are: the whole content is decoded once as latin1 (one
 * character a byte, so a string index is a byte offset), each line is matched in place against the
 * canonical record pattern (canonical-line.ts), and the record's hash is taken over the line's own bytes
 * with `,"hash":"<hex>"` cut out, with no per-line decode, re-encode or parse. That is the hash of the
 * canonical JSON of the record without `hash` only when the bytes are valid UTF-8 (decoding and
 * re-encoding them is then the identity), so content that is not goes line by line through the general
 * path: parse, canonicalise, hash, which also names what is wrong with every line the fast path refuses.
 */
import { hash as oneShotHash } from 'node:crypto';
import { isAscii, isUtf8 } from 'node:buffer';
import { canonicalJson, canonicalOrReason } from '../domain/canonical-json.js';
import type { DigestObjectEntry } from './digest.js';
import { parseObjectKey } from './digest-store.js';
import { SEQUENCE_KEY_DIGITS } from './format.js';
import { objectContent } from './object.js';
import { canonicalTokensAt, token, tokenText, type CanonicalTokens } from './canonical-line.js';
import type { RequestEventFact } from './request-sequence.js';
import type { VerifyProblem } from './verify.js';

const MAX_PROBLEMS_PER_OBJECT = 20;
/**
 * Past this many problems an object is proven altered many times over, and its other lines are only
 * counted: a line that is no record costs microseconds to name (a parse error), and an object that
 * gunzips to millions of them (a few KB stored) would hold verify for minutes.
 */
const MAX_CHECKED_PROBLEMS_PER_OBJECT = 1000;
const HASH_FIELD = ',"hash":"';
/** `,"hash":"` + 64 hex digits + `"`. */
const HASH_FIELD_BYTES = HASH_FIELD.length + 65;
/**
 * A stream sequence number as the writer keys objects by it (format.ts): decimal digits, at most
 * SEQUENCE_KEY_DIGITS. A longer one is no stream's: reading millions of digits as a number held verify
 * for seconds a line (and made a message of megabytes).
 */
const DIGITS = new RegExp(`^\\d{1,${SEQUENCE_KEY_DIGITS}}$`);
const NEWLINE = 10;

export interface ObjectSummary {
  key: string;
  shardId: string;
  firstSequence: bigint;
  lastSequence: bigint;
  firstPrevHash: string;
  lastHash: string;
  firstEventId: string;
}

/** A record whose `<shard>#<sequence>` the caller asked for (a failed event item): its line, to compare. */
export interface WantedRecord {
  id: string;
  late: boolean;
  line: string;
  where: { objectKey: string; line: number };
}

export interface ObjectCheckOptions {
  /** Return every record's event_id. */
  collectEventIds: boolean;
  /** Return the request facts (request-sequence.ts) of the records that carry a `request_seq`. */
  collectFacts: boolean;
  /** `<shard>#<sequence>` (late chains without their prefix, sequence without leading zeros) to return the lines of. */
  wanted?: ReadonlySet<string>;
  /** The prefix of a redrive's late chain (format.ts), passed in so a worker needs no more of the format. */
  lateChainPrefix: string;
}

export interface ObjectCheck {
  summary: ObjectSummary | undefined;
  records: number;
  /** In the order a single pass finds them. */
  problems: VerifyProblem[];
  eventIds: string[] | undefined;
  facts: RequestEventFact[];
  wanted: WantedRecord[];
}

// One-shot hashing: about twice as fast as createHash for a record-sized input.
function sha256(data: string | Uint8Array): string {
  return oneShotHash('sha256', data, 'hex');
}

/**
 * A copy of a string that does not point into the object's text: V8 keeps a whole parent string
 * alive for any slice of it, and verify keeps a few values per object (and per request) across the log.
 */
export function detach(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** A few values (event types, outcomes) repeat on every record: one detached copy each. */
const INTERNED = new Map<string, string>();
const MAX_INTERNED = 1024;

function interned(text: string): string {
  const known = INTERNED.get(text);
  if (known !== undefined) return known;
  const copy = detach(text);
  if (INTERNED.size < MAX_INTERNED) INTERNED.set(copy, copy);
  return copy;
}

/** Canonical JSON of a record without `hash`: the general path. */
function canonicalWithoutHash(record: Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = record;
  return canonicalJson(rest);
}

/** A value from the log as a message shows it: a hostile one can be megabytes long. */
export function clipped(text: string): string {
  // Wider than any value the writer makes (an event id is an action id of at most 128 characters and a suffix).
  return text.length <= 256 ? text : `${text.slice(0, 200)}… (${text.length} characters)`;
}

function describeRecord(line: number, eventId: string | undefined): string {
  return `line ${line}${eventId === undefined ? '' : ` (event_id ${clipped(eventId)})`}`;
}

/** Compares two decimal digit strings (leading zeros allowed) as numbers. */
function compareDecimal(a: string, b: string): number {
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A decimal without leading zeros, as a bigint prints it. */
function normalDecimal(text: string): string {
  let i = 0;
  while (i < text.length - 1 && text.charCodeAt(i) === 48 /* 0 */) i++;
  return i === 0 ? text : text.slice(i);
}

function sequenceValue(text: string): bigint | undefined {
  return DIGITS.test(text) ? BigInt(text) : undefined;
}

/** When a review phase ends: `expiresAt` of a `review_requested` / `escalated` record's detail. */
function expiryOf(detail: unknown): string | undefined {
  if (typeof detail !== 'string') return undefined;
  try {
    const parsed = JSON.parse(detail) as { expiresAt?: unknown };
    return typeof parsed.expiresAt === 'string' ? parsed.expiresAt : undefined;
  } catch {
    // A detail that is not JSON was altered: the record's hash check names it.
    return undefined;
  }
}

/** The request facts of a parsed record (request-sequence.ts). */
function factOfRecord(record: Record<string, unknown>): RequestEventFact | undefined {
  if (typeof record.event_id !== 'string' || typeof record.event_type !== 'string') return undefined;
  const seq = record.request_seq;
  const expiresAt = record.event_type === 'review_requested' || record.event_type === 'escalated' ? expiryOf(record.detail) : undefined;
  return {
    eventId: record.event_id,
    eventType: record.event_type,
    actionId: typeof record.action_id === 'string' ? record.action_id : null,
    requestSeq: typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : null,
    outcome: typeof record.outcome === 'string' ? record.outcome : null,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

/**
 * The request facts of a canonical line's tokens, or undefined when it carries no usable `request_seq`
 * (RequestSequences ignores those). `text` turns a token into its string (latin1 bytes to UTF-8).
 */
function factOfTokens(tokens: CanonicalTokens, eventIdToken: string, text: (token: string | undefined) => string | null | undefined, own: (token: string) => string): RequestEventFact | undefined {
  const seqToken = token(tokens, 'request_seq');
  // Admitted tokens are JSON: only a digit or `-` starts a number, an integer of at most 15 digits
  // (canonical-line.ts), so `Number` reads it exactly. Records of an old log have `null`.
  const first = seqToken?.charCodeAt(0) ?? 0;
  if (!((first >= 48 && first <= 57) || first === 45)) return undefined;
  const seq = Number(seqToken);
  const eventType = text(token(tokens, 'event_type'));
  if (typeof eventType !== 'string') return undefined;
  const actionIdToken = token(tokens, 'action_id');
  const outcome = text(token(tokens, 'outcome'));
  let expiresAt: string | undefined;
  if (eventType === 'review_requested' || eventType === 'escalated') expiresAt = expiryOf(text(token(tokens, 'detail')));
  return {
    eventId: own(eventIdToken),
    eventType: interned(eventType),
    actionId: actionIdToken !== undefined && actionIdToken.charCodeAt(0) === 34 /* " */ ? own(actionIdToken) : null,
    requestSeq: seq,
    outcome: typeof outcome === 'string' ? interned(outcome) : null,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

/** The general path's facts, detached from the object's text like the fast path's. */
function storedFact(fact: RequestEventFact | undefined): RequestEventFact | undefined {
  if (fact === undefined || fact.requestSeq === null) return undefined;
  return { ...fact, eventId: detach(fact.eventId), eventType: detach(fact.eventType), actionId: fact.actionId === null ? null : detach(fact.actionId), outcome: fact.outcome === null ? null : detach(fact.outcome) };
}

/** Checks one object's content: see the file's comment. Never throws for what the object holds. */
export function checkObject(key: string, body: Uint8Array, entry: DigestObjectEntry | undefined, digestKey: string | undefined, options: ObjectCheckOptions): ObjectCheck {
  const problems: VerifyProblem[] = [];
  const eventIds = options.collectEventIds ? [] as string[] : undefined;
  const facts: RequestEventFact[] = [];
  const wanted: WantedRecord[] = [];
  const result = (summary: ObjectSummary | undefined, records: number): ObjectCheck => ({ summary, records, problems, eventIds, facts, wanted });
  const parsedKey = parseObjectKey(key);
  const at = { objectKey: key, ...(digestKey === undefined ? {} : { digestKey }) };
  let content: Buffer;
  try {
    content = objectContent(body);
  } catch (error) {
    problems.push({ kind: 'object-unreadable', ...at, message: `object ${key} ${(error as Error).message}: it was truncated or altered` });
    return result(undefined, 0);
  }
  // The digest lists the SHA-256 of these exact bytes (hashed as read, not re-encoded).
  if (entry !== undefined && sha256(content) !== entry.sha256) {
    problems.push({ kind: 'object-hash', ...at, message: `object ${key}: SHA-256 of its content is not the one digest ${digestKey} lists: the object was altered after it was written` });
  }
  const utf8 = isUtf8(content);
  const ascii = utf8 && isAscii(content);
  // One character a byte: indices into `text` are offsets into `content`.
  const text = content.toString('latin1');
  /** A string read from `text`: its latin1 characters are UTF-8 bytes (the same string when the content is ASCII). */
  const utf8Of = (value: string): string => (ascii ? value : Buffer.from(value, 'latin1').toString('utf8'));
  const tokenString = (t: string | undefined): string | null | undefined => {
    const value = tokenText(t);
    return typeof value === 'string' ? utf8Of(value) : value;
  };
  /**
   * A string token's value as a string of its own, not a slice of `text` (which it would keep alive):
   * JSON.parse makes a new string, as does the UTF-8 decode of what is not ASCII.
   */
  const ownString = (t: string): string => (ascii ? JSON.parse(t) as string : utf8Of(tokenText(t) as string));
  const lineText = (start: number, end: number): string => Buffer.from(text.slice(start, end), 'latin1').toString('utf8');

  let lines = 0;
  let own = 0;
  /** The first line only counted (see MAX_CHECKED_PROBLEMS_PER_OBJECT). */
  let uncheckedFrom: number | undefined;
  const add = (problem: VerifyProblem) => {
    own++;
    if (own <= MAX_PROBLEMS_PER_OBJECT) problems.push(problem);
  };
  let summary: ObjectSummary | undefined;
  let lastSequenceText: string | undefined;
  let prevHash: string | undefined;
  let prevSequence: string | undefined;
  const want = (shardId: string, sequence: string, start: number, end: number, line: number) => {
    if (options.wanted === undefined || options.wanted.size === 0) return;
    const late = shardId.startsWith(options.lateChainPrefix);
    const id = `${late ? shardId.slice(options.lateChainPrefix.length) : shardId}#${normalDecimal(sequence)}`;
    if (options.wanted.has(id)) wanted.push({ id, late, line: lineText(start, end), where: { objectKey: key, line } });
  };

  if (text.length > 0 && text.charCodeAt(text.length - 1) !== NEWLINE) {
    let count = 1;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) count++;
    problems.push({ kind: 'record-unreadable', ...at, line: count, message: `object ${key}: the last line has no newline: the object was truncated` });
  }
  for (let start = 0; start < text.length;) {
    const line = ++lines;
    const tokens = utf8 ? canonicalTokensAt(text, start) : undefined;
    const next = tokens === undefined ? text.indexOf('\n', start) : start + tokens[0]!.length;
    const end = next < 0 ? text.length : next;
    const fast = tokens === undefined ? undefined : fastRecord(tokens, content, text, start, end);
    if (fast !== undefined) {
      const eventId = utf8Of(fast.eventId);
      const shardId = utf8Of(fast.shardId);
      if (eventIds !== undefined) eventIds.push(detach(eventId));
      if (options.collectFacts) {
        const fact = factOfTokens(tokens!, token(tokens!, 'event_id')!, tokenString, ownString);
        if (fact !== undefined) facts.push(fact);
      }
      want(shardId, fast.sequence, start, end, line);
      if (prevHash !== undefined && fast.prevHash !== prevHash) {
        add({ kind: 'record-chain', ...at, line, eventId: detach(eventId), message: `object ${key} ${describeRecord(line, eventId)}: prev_hash is not line ${line - 1}'s hash: a record was removed, inserted or reordered before it` });
      }
      if (prevSequence !== undefined && compareDecimal(fast.sequence, prevSequence) <= 0) {
        add({ kind: 'record-order', ...at, line, eventId: detach(eventId), message: `object ${key} ${describeRecord(line, eventId)}: sequence ${BigInt(fast.sequence)} is not after line ${line - 1}'s ${BigInt(prevSequence)}: records are out of order` });
      }
      if (parsedKey !== undefined && shardId !== parsedKey.shardId) {
        add({ kind: 'record-shard', ...at, line, eventId: detach(eventId), message: `object ${key} ${describeRecord(line, eventId)}: shard_id ${clipped(shardId)} is not the object's shard ${parsedKey.shardId}` });
      }
      if (summary === undefined && parsedKey !== undefined) {
        summary = { key, shardId: parsedKey.shardId, firstSequence: BigInt(fast.sequence), lastSequence: 0n, firstPrevHash: fast.prevHash, lastHash: fast.hash, firstEventId: eventId };
      } else if (summary !== undefined) {
        summary.lastHash = fast.hash;
      }
      lastSequenceText = fast.sequence;
      prevHash = fast.hash;
      prevSequence = fast.sequence;
    } else {
      const checked = generalRecord(lineText(start, end), line, key, at, add);
      if (checked === undefined) {
        prevHash = undefined;
      } else {
        const { record, eventId, hash, recordPrev, sequence } = checked;
        if (eventIds !== undefined && eventId !== undefined) eventIds.push(detach(eventId));
        if (sequence !== undefined && typeof record.shard_id === 'string') {
          if (options.collectFacts) {
            const fact = storedFact(factOfRecord(record));
            if (fact !== undefined) facts.push(fact);
          }
          want(record.shard_id, sequence.toString(), start, end, line);
        }
        const where = { ...at, line, ...(eventId === undefined ? {} : { eventId }) };
        if (prevHash !== undefined && recordPrev !== prevHash) {
          add({ kind: 'record-chain', ...where, message: `object ${key} ${describeRecord(line, eventId)}: prev_hash is not line ${line - 1}'s hash: a record was removed, inserted or reordered before it` });
        }
        if (sequence === undefined) add({ kind: 'record-unreadable', ...where, message: `object ${key} ${describeRecord(line, eventId)}: sequence_number is not a decimal string of at most ${SEQUENCE_KEY_DIGITS} digits` });
        else if (prevSequence !== undefined && sequence <= BigInt(prevSequence)) {
          add({ kind: 'record-order', ...where, message: `object ${key} ${describeRecord(line, eventId)}: sequence ${sequence} is not after line ${line - 1}'s ${BigInt(prevSequence)}: records are out of order` });
        }
        if (parsedKey !== undefined && record.shard_id !== parsedKey.shardId) {
          add({ kind: 'record-shard', ...where, message: `object ${key} ${describeRecord(line, eventId)}: shard_id ${clipped(String(record.shard_id))} is not the object's shard ${parsedKey.shardId}` });
        }
        if (summary === undefined && parsedKey !== undefined) {
          summary = { key, shardId: parsedKey.shardId, firstSequence: sequence ?? -1n, lastSequence: 0n, firstPrevHash: recordPrev, lastHash: hash, firstEventId: eventId ?? '?' };
          lastSequenceText = sequence?.toString() ?? '-1';
        } else if (summary !== undefined) {
          summary.lastHash = hash;
          if (sequence !== undefined) lastSequenceText = sequence.toString();
        }
        prevHash = hash;
        if (sequence !== undefined) prevSequence = sequence.toString();
      }
    }
    start = end + 1;
    if (own >= MAX_CHECKED_PROBLEMS_PER_OBJECT && start < content.length) {
      uncheckedFrom = lines + 1;
      let rest = content[content.length - 1] === NEWLINE ? 0 : 1;
      for (let i = start; i < content.length; i++) if (content[i] === NEWLINE) rest++;
      lines += rest;
      break;
    }
  }
  if (summary !== undefined) {
    summary.lastSequence = lastSequenceText === '-1' ? -1n : BigInt(lastSequenceText!);
    summary.firstPrevHash = detach(summary.firstPrevHash);
    summary.lastHash = detach(summary.lastHash);
    summary.firstEventId = detach(summary.firstEventId);
  }
  if (uncheckedFrom !== undefined) {
    problems.push({ kind: 'record-chain', ...at, message: `object ${key}: ${own - MAX_PROBLEMS_PER_OBJECT} more record problems not shown, in lines 1-${uncheckedFrom - 1}; lines ${uncheckedFrom}-${lines} were counted, not checked (over ${MAX_CHECKED_PROBLEMS_PER_OBJECT} problems: the object is not the writer's)` });
  } else if (own > MAX_PROBLEMS_PER_OBJECT) problems.push({ kind: 'record-chain', ...at, message: `object ${key}: ${own - MAX_PROBLEMS_PER_OBJECT} more record problems not shown` });
  if (entry !== undefined) {
    if (entry.records !== lines) {
      problems.push({ kind: 'object-count', ...at, message: `object ${key} holds ${lines} records; digest ${digestKey} lists ${entry.records}: ${lines < entry.records ? 'records were removed' : 'records were added'}` });
    }
    // Compared as numbers: stream sequence numbers may carry leading zeros (DynamoDB Local's do).
    if (summary !== undefined && uncheckedFrom === undefined && (summary.firstSequence !== sequenceValue(entry.first_sequence) || summary.lastSequence !== sequenceValue(entry.last_sequence))) {
      problems.push({ kind: 'object-range', ...at, message: `object ${key} spans sequences ${summary.firstSequence}-${summary.lastSequence}; digest ${digestKey} lists ${clipped(entry.first_sequence)}-${clipped(entry.last_sequence)}` });
    }
  }
  return result(summary, lines);
}

interface FastRecord {
  /** The computed hash: equal to the line's `hash`. */
  hash: string;
  prevHash: string;
  /** Decimal digits. */
  sequence: string;
  shardId: string;
  /** As in the text (latin1 when the content is not ASCII). */
  eventId: string;
}

/**
 * A canonical line whose `hash` is the SHA-256 of its own bytes without the `hash` field, or undefined
 * (the general path then decides, and names what is wrong). Moves the line's bytes before the field
 * onto it in `content` (a copy within the buffer, so the hash is over one contiguous range): `content`
 * is not read again after this; `text` keeps the original.
 */
function fastRecord(tokens: CanonicalTokens, content: Buffer, text: string, start: number, end: number): FastRecord | undefined {
  const prevHash = tokenText(token(tokens, 'prev_hash'));
  const sequence = tokenText(token(tokens, 'sequence_number'));
  const shardId = tokenText(token(tokens, 'shard_id'));
  const eventId = tokenText(token(tokens, 'event_id'));
  if (typeof prevHash !== 'string' || typeof sequence !== 'string' || !DIGITS.test(sequence) || typeof shardId !== 'string' || typeof eventId !== 'string') return undefined;
  // The first `,"hash":"` is the key: in a canonical line a `"` inside a value is escaped.
  const at = text.indexOf(HASH_FIELD, start);
  if (at < 0 || at + HASH_FIELD_BYTES > end) return undefined;
  content.copyWithin(start + HASH_FIELD_BYTES, start, at);
  const hash = sha256(content.subarray(start + HASH_FIELD_BYTES, end));
  // The value is the digest and ends there: so `hash` is exactly the 64 lowercase hex digits, and the cut
  // was exactly the field (a string value of the line ends at its first unescaped quote).
  if (!text.startsWith(hash, at + HASH_FIELD.length) || text.charCodeAt(at + HASH_FIELD_BYTES - 1) !== 34 /* " */) return undefined;
  return { hash, prevHash, sequence, shardId, eventId };
}

interface GeneralRecord {
  record: Record<string, unknown>;
  eventId: string | undefined;
  hash: string;
  recordPrev: string;
  sequence: bigint | undefined;
}

/** Parse, canonicalise, hash: for every line the fast path does not admit. Names the record's problems it finds. */
function generalRecord(text: string, line: number, key: string, at: { objectKey: string; digestKey?: string }, add: (problem: VerifyProblem) => void): GeneralRecord | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw new Error('not a JSON object');
  } catch (error) {
    add({ kind: 'record-unreadable', ...at, line, message: `object ${key} ${describeRecord(line, undefined)}: not a JSON record (${(error as Error).message})` });
    return undefined;
  }
  const eventId = typeof record.event_id === 'string' ? record.event_id : undefined;
  const hash = typeof record.hash === 'string' ? record.hash : '';
  const recordPrev = typeof record.prev_hash === 'string' ? record.prev_hash : '';
  const forms = canonicalOrReason(() => canonicalWithoutHash(record));
  const canonical = 'value' in forms ? forms.value : undefined;
  if ('reason' in forms) {
    add({ kind: 'record-hash', ...at, line, ...(eventId === undefined ? {} : { eventId }), message: `object ${key} ${describeRecord(line, eventId)}: its content has no canonical JSON form (${forms.reason}), so no hash can match it: the record was altered` });
  }
  if (canonical !== undefined && sha256(canonical) !== hash) {
    add({ kind: 'record-hash', ...at, line, ...(eventId === undefined ? {} : { eventId }), message: `object ${key} ${describeRecord(line, eventId)}: its hash does not match its content: the record was altered` });
  } else if (canonical !== undefined && canonicalJson(record) !== text) {
    // The hash holds for what the line parses to, not for its bytes: the writer writes only the canonical form.
    add({ kind: 'record-hash', ...at, line, ...(eventId === undefined ? {} : { eventId }), message: `object ${key} ${describeRecord(line, eventId)}: its line is not the canonical JSON of its record (whitespace, key order, an escape, or a key written twice, which another reader may read differently): the record was altered` });
  }
  let sequence: bigint | undefined;
  try {
    sequence = typeof record.sequence_number === 'string' && DIGITS.test(record.sequence_number) ? BigInt(record.sequence_number) : undefined;
  } catch {
    sequence = undefined;
  }
  return { record, eventId, hash, recordPrev, sequence };
}
