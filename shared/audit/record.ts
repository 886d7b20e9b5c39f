/**
 * Maps one event item (the unmarshalled `NewImage` of a stream record) to an audit record, before
 * chaining. Pure. Nothing is ever dropped: an item it cannot map becomes an `unmappable` record
 * carrying the raw image. Task tokens never reach a record (decision 5): any `taskToken` field, at any
 * depth, is removed from every `detail`.
 */
import { canonicalJson } from '../domain/canonical-json.js';
import { AUDIT_EVENT_MARK, requestedEventImage, requestRecordOf, type RequestItemData } from '../domain/request-items.js';
import type { AuditEventType, AuditRecord } from './format.js';

/** An audit record before chaining: everything but `prev_hash` and `hash`. */
export type AuditRecordBody = Omit<AuditRecord, 'prev_hash' | 'hash'>;

/** Where the image came from in the stream: the chain's position, and the stream's own clock. */
export interface StreamPosition {
  shardId: string;
  sequenceNumber: string;
  /** `ApproximateCreationDateTime` of the stream record, as ISO 8601 UTC; used when the item has no usable time. */
  streamCreatedAt: string;
  /** Set when the record went to the failure destination and is redriven now (ISO 8601 UTC). */
  redrivenAt?: string;
}

const MAPPED_TYPES = [
  'requested', 'decided', 'review_requested', 'reminded', 'escalated', 'vote', 'vote_refused', 'outcome', 'conflict',
  'credentials_issued', 'credentials_refused', 'credentials_failed', 'executed', 'execution_violation',
  'agent_quarantined', 'agent_released',
] as const;
type MappedType = (typeof MAPPED_TYPES)[number];
/** The types whose whole item is kept in `detail` (format.ts). */
const DETAIL_TYPES: ReadonlySet<AuditEventType> = new Set([
  'requested', 'conflict', 'review_requested', 'escalated', 'credentials_issued', 'credentials_refused', 'credentials_failed',
  'executed', 'execution_violation', 'agent_quarantined', 'agent_released', 'unmappable',
]);
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
/**
 * Keys that hold (or may hold) a secret: a Step Functions task token, or temporary credentials (which no item
 * should carry; removed here too, so that a mistake upstream cannot put them in the immutable log).
 */
const SECRET_KEY = /^(task[_-]?token|secret[_-]?access[_-]?key|session[_-]?token|credentials)$/i;

type Item = Record<string, unknown>;

/**
 * A JSON-safe copy of an unmarshalled value without secret keys: sets become sorted arrays, binary
 * becomes base64, so every image has a canonical JSON form.
 */
export function jsonSafeImage(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Set) {
    return [...value].map(jsonSafeImage).sort((a, b) => (canonicalJson(a) < canonicalJson(b) ? -1 : canonicalJson(a) > canonicalJson(b) ? 1 : 0));
  }
  if (Array.isArray(value)) return value.map(jsonSafeImage);
  if (typeof value === 'object') {
    const out: Item = {};
    for (const [key, field] of Object.entries(value as Item)) {
      if (SECRET_KEY.test(key) || field === undefined || typeof field === 'function') continue;
      out[key] = jsonSafeImage(field);
    }
    return out;
  }
  return String(value);
}

function text(item: Item, field: string): string | null {
  const value = item[field];
  return typeof value === 'string' ? value : null;
}

function texts(item: Item, field: string): string[] | null {
  const value = item[field];
  if (value === undefined || value === null) return [];
  const list = value instanceof Set ? [...value] : value;
  return Array.isArray(list) && list.every((v) => typeof v === 'string') ? (list as string[]) : null;
}

class Unmappable extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'Unmappable';
  }
}

function need(item: Item, field: string, type: string): string {
  const value = text(item, field);
  if (value === null || value === '') throw new Unmappable(`${type} event item has no string "${field}"`);
  return value;
}

function isMappedType(value: string | null): value is MappedType {
  return value !== null && (MAPPED_TYPES as readonly string[]).includes(value);
}

function commonFields(item: Item, position: StreamPosition) {
  return {
    action_id: text(item, 'actionId'),
    agent_id: text(item, 'agentId'),
    on_behalf_of: text(item, 'onBehalfOf'),
    action: text(item, 'action'),
    resource_type: text(item, 'resourceType'),
    resource_id: text(item, 'resourceId'),
    environment: text(item, 'environment'),
    payload_sha256: text(item, 'payloadSha256'),
    request_seq: typeof item.requestSeq === 'number' && Number.isSafeInteger(item.requestSeq) && item.requestSeq > 0 ? item.requestSeq : null,
    shard_id: position.shardId,
    sequence_number: position.sequenceNumber,
    redriven_at: position.redrivenAt ?? null,
  };
}

const EMPTY = {
  outcome: null, reason: null, reviewer_id: null, vote: null, comment: null, policy_ids: [] as string[],
  valid_until: null, execution_status: null, started_at: null, finished_at: null, violation_rule: null,
  shadow_outcome: null, shadow_policy_ids: [] as string[],
};

/**
 * A time column (`valid_until`, `started_at`, `finished_at`): the item's ISO 8601 UTC text, which both
 * the Glue table's SerDe and DuckDB read as a timestamp. Anything else is null in the column (the item,
 * kept whole in `detail`, still shows it): one odd field must not make the table unreadable.
 */
function time(item: Item, field: string): string | null {
  const value = text(item, field);
  return value !== null && ISO_UTC.test(value) && Number.isFinite(Date.parse(value)) ? value : null;
}

/** What an execution report says, on `executed` and `execution_violation` records. */
function executionFields(item: Item) {
  return { execution_status: text(item, 'status'), started_at: time(item, 'startedAt'), finished_at: time(item, 'finishedAt'), valid_until: time(item, 'validUntil') };
}

function mapped(item: Item, type: MappedType, position: StreamPosition): AuditRecordBody {
  const eventId = need(item, 'eventId', type);
  const occurredAt = need(item, 'occurredAt', type);
  if (!ISO_UTC.test(occurredAt)) throw new Unmappable(`${type} event item has an occurredAt that is not an ISO 8601 UTC time: "${occurredAt}"`);
  const base = { event_id: eventId, event_type: type, occurred_at: occurredAt, ...commonFields(item, position), ...EMPTY };
  const detail = DETAIL_TYPES.has(type) ? canonicalJson(jsonSafeImage(item)) : null;
  switch (type) {
    case 'requested':
    case 'conflict':
      return { ...base, reason: text(item, 'reason'), detail };
    case 'decided':
    case 'outcome': {
      const policyIds = texts(item, 'policyIds');
      if (policyIds === null) throw new Unmappable(`${type} event item has policyIds that are not a list of strings`);
      const shadowPolicyIds = texts(item, 'shadowPolicyIds');
      if (shadowPolicyIds === null) throw new Unmappable(`${type} event item has shadowPolicyIds that are not a list of strings`);
      return {
        ...base, outcome: need(item, 'outcome', type), reason: text(item, 'reason'), policy_ids: policyIds, valid_until: time(item, 'validUntil'),
        shadow_outcome: text(item, 'shadowOutcome'), shadow_policy_ids: shadowPolicyIds, detail,
      };
    }
    case 'executed': {
      // A failed act's error is its reason; what the act returned is in detail (resultSummary, resultSha256).
      const errorCode = text(item, 'errorCode');
      return { ...base, ...executionFields(item), execution_status: need(item, 'status', type), outcome: text(item, 'outcome'), reason: errorCode === null ? null : `${errorCode}: ${text(item, 'errorMessage') ?? ''}`, detail };
    }
    case 'execution_violation':
      // A violation on a received request carries that request's outcome and number; one that names no
      // received request (keyed execution/<fingerprint>) has neither, nor the request's fields.
      return { ...base, ...executionFields(item), outcome: text(item, 'outcome'), violation_rule: need(item, 'rule', type), reason: text(item, 'reason'), detail };
    case 'vote':
      return { ...base, reviewer_id: need(item, 'reviewerId', type), vote: need(item, 'vote', type), comment: text(item, 'comment'), detail };
    case 'vote_refused':
      // The attempted vote, and why it was refused: the rule, then the message the reviewer saw.
      return {
        ...base,
        reviewer_id: need(item, 'reviewerId', type),
        vote: need(item, 'vote', type),
        comment: text(item, 'comment'),
        reason: `${need(item, 'rule', type)}: ${need(item, 'message', type)}`,
        detail,
      };
    case 'review_requested':
    case 'reminded':
    case 'escalated':
      return { ...base, detail };
    case 'credentials_issued':
      // What STS was asked for: the role and session, for how long; the detail has the session policy.
      return { ...base, reason: `${need(item, 'roleArn', type)} as ${need(item, 'roleSessionName', type)} for ${String(item.durationSeconds)} s, until ${need(item, 'validUntil', type)}`, detail };
    case 'credentials_refused':
      return { ...base, reason: `${need(item, 'rule', type)}: ${need(item, 'message', type)}`, detail };
    case 'credentials_failed':
      return { ...base, reason: `${need(item, 'errorName', type)}: ${need(item, 'message', type)}`, detail };
    case 'agent_quarantined':
    case 'agent_released':
      // Who quarantined (or lifted) the agent, and why; the detail has the origin and the reviews it closed.
      return { ...base, reviewer_id: need(item, 'by', type), reason: text(item, 'reason'), detail };
  }
}

/**
 * The `requested` event of a request item's INSERT (request-items.ts): made from the request's immutable
 * fields with the function the decision store uses, so it is the record the store meant.
 */
function requestedOfRequestItem(item: Item, position: StreamPosition): AuditRecordBody {
  need(item, 'key', 'request');
  need(item, 'receivedAt', 'request');
  need(item, 'fingerprint', 'request');
  if (text(item, AUDIT_EVENT_MARK.attribute) !== AUDIT_EVENT_MARK.value) throw new Unmappable(`request item is not marked ${AUDIT_EVENT_MARK.attribute} = "${AUDIT_EVENT_MARK.value}"`);
  let derived: Item;
  try {
    derived = requestedEventImage(requestRecordOf(item as unknown as RequestItemData));
  } catch (error) {
    throw new Unmappable(`request item's requestJson cannot be read: ${(error as Error).message}`);
  }
  return mapped(derived, 'requested', position);
}

/**
 * The audit record for one event item, or for a request item's INSERT (its `requested` event);
 * `unmappable` (with the raw image) when it cannot be mapped.
 */
export function toAuditRecordBody(image: Item, position: StreamPosition): AuditRecordBody {
  const type = text(image, 'eventType');
  try {
    if (text(image, 'kind') === 'request') return requestedOfRequestItem(image, position);
    if (!isMappedType(type)) throw new Unmappable(type === null ? 'event item has no string "eventType"' : `unknown eventType "${type}"`);
    return mapped(image, type, position);
  } catch (error) {
    if (!(error instanceof Unmappable)) throw error;
    return unmappableRecord(image, position, error.why);
  }
}

/**
 * An image kept as is. `event_id` is the item's `eventId` when it has one, else its table key, else
 * its stream position: stable across redeliveries either way.
 */
export function unmappableRecord(image: unknown, position: StreamPosition, why: string, fields?: Item): AuditRecordBody {
  // `fields`: the item's plain string fields, when `image` is not in plain form (e.g. AttributeValue form).
  const item: Item = fields ?? (typeof image === 'object' && image !== null && !Array.isArray(image) ? (image as Item) : {});
  const eventId = text(item, 'eventId');
  const pk = text(item, 'pk');
  const sk = text(item, 'sk');
  const occurredAt = text(item, 'occurredAt');
  return {
    event_id: eventId !== null && eventId !== '' ? eventId : pk !== null && sk !== null ? `${pk}/${sk}` : `stream/${position.shardId}/${position.sequenceNumber}`,
    event_type: 'unmappable',
    occurred_at: occurredAt !== null && ISO_UTC.test(occurredAt) ? occurredAt : position.streamCreatedAt,
    ...commonFields(item, position),
    ...EMPTY,
    reason: why,
    detail: canonicalJson(jsonSafeImage(image)),
  };
}
