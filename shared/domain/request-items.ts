/**
 * The decision table's request item and the event images made from it. Pure (no AWS SDK): the decision
 * store writes these shapes, and the audit writer derives the `requested` record from the request item's
 * stream image with the same functions, so both always agree.
 *
 * One write per decision (issue 15, cost): the request item is the `requested` event's source as well.
 * Its INSERT carries `auditEvent: 'requested'`, and the audit pipeline maps that INSERT to the `requested` record
 * (request sequence 1) from the request's immutable fields only (a review later changes `outcome`,
 * `reason`, `decidedAt`, `eventSeq` and more on the same item, never what was requested). The `decided`
 * event (sequence 2) stays an event item of its own, because a review changes the request item's
 * decision fields.
 */
import { canonicalJson } from './canonical-json.js';
import type { ActionRequest } from './contract.js';
import { decidedDetailOf, type Outcome } from './decision.js';
import { payloadOf } from './payload.js';
import type { RequestRecord } from '../ports/index.js';

export const ITEM = {
  pk: (key: string) => `REQ#${key}`,
  requestSk: 'REQUEST',
  eventSk: (type: string, discriminator?: string) => (discriminator === undefined ? `EVENT#${type}` : `EVENT#${type}#${discriminator}`),
} as const;

/**
 * The request item's mark that its INSERT is the source of the request's `requested` event:
 * `auditEvent: 'requested'`. Request items written before issue 15 lack it (they have an `EVENT#requested`
 * item), and the audit pipeline's filter passes only request items that carry it.
 */
export const AUDIT_EVENT_MARK = { attribute: 'auditEvent', value: 'requested' } as const;

/** Event item types: the spine's, the review's (written by `DynamoReviewStore`), the execution reports' (`DynamoExecutionStore`) and the credentials API's (`DynamoCredentialsStore`). */
export type EventType = 'requested' | 'decided' | 'conflict' | 'review_requested' | 'reminded' | 'escalated' | 'vote' | 'vote_refused' | 'outcome'
  | 'executed' | 'execution_violation' | 'credentials_issued' | 'credentials_refused' | 'credentials_failed';

/** What an item keeps of an invalid request's raw detail: set only for an invalid request. */
export type RawDetailFields = { rawDetailSha256?: string; rawDetailBytes?: number; rawDetailTruncated?: true };

/**
 * The raw-detail fields of a record as item attributes: absent for a valid request. The text itself
 * (`rawDetail`) is already bounded by intake (whole up to 256 KiB, else a 16 KiB prefix), so the request
 * item stays under DynamoDB's 400 KB.
 */
export function rawDetailFields(record: RequestRecord): RawDetailFields {
  if (record.rawDetailSha256 === null || record.rawDetailBytes === null) return {};
  return { rawDetailSha256: record.rawDetailSha256, rawDetailBytes: record.rawDetailBytes, ...(record.rawDetailTruncated ? { rawDetailTruncated: true } : {}) };
}

/** The shadow set's answer as item attributes (issue 16): absent when there was none. */
export type ShadowFields = { shadowOutcome?: Outcome; shadowPolicyIds?: string[]; shadowReason?: string };

export function shadowFields(record: RequestRecord): ShadowFields {
  if (record.shadow === undefined) return {};
  return { shadowOutcome: record.shadow.outcome, shadowPolicyIds: record.shadow.policyIds, shadowReason: record.shadow.reason };
}

/** An event's id: `<key>/<type>`, or `<key>/<type>/<discriminator>` for events a request has many of. */
export function eventIdOf(key: string, type: EventType, discriminator?: string): string {
  return discriminator === undefined ? `${key}/${type}` : `${key}/${type}/${discriminator}`;
}

/** Fields every event item carries, so the audit log and queries need no join. */
export function eventItem(record: RequestRecord, type: EventType, occurredAt: string, discriminator?: string) {
  const request = record.request;
  return {
    pk: ITEM.pk(record.key),
    sk: ITEM.eventSk(type, discriminator),
    kind: 'event',
    eventId: eventIdOf(record.key, type, discriminator),
    eventType: type,
    occurredAt,
    key: record.key,
    actionId: record.actionId,
    sourceEventId: record.eventId,
    source: record.source,
    agentId: request?.agent.id ?? null,
    onBehalfOf: request?.agent.onBehalfOf ?? null,
    action: request?.action ?? null,
    resourceType: request?.resource.type ?? null,
    resourceId: request?.resource.id ?? null,
    environment: request?.environment ?? null,
    payloadSha256: record.payloadSha256,
  };
}

/**
 * The `requested` event as the audit log keeps it: the request in full as the policy saw it
 * (`requestJson`), and the canonical text its `payloadSha256` is the hash of (`payloadJson`), so that a
 * replay can decide it again and re-check the hash from the log alone. Its key fields name the item it
 * comes from (`sk` REQUEST, `kind` request) since issue 15; before, it was an item of its own
 * (`EVENT#requested`), which older logs show.
 */
export function requestedEventImage(record: RequestRecord) {
  return {
    ...eventItem(record, 'requested', record.receivedAt),
    sk: ITEM.requestSk,
    kind: 'request',
    requestSeq: 1,
    requestJson: record.request === null ? null : canonicalJson(record.request),
    // fingerprint: the same hash, also for a request the policy found invalid (whose payloadSha256 is null).
    ...(record.request === null ? {} : { payloadJson: canonicalJson(payloadOf(record.request)), fingerprint: record.fingerprint }),
    rawDetail: record.rawDetail,
    ...rawDetailFields(record),
  };
}

/** The `decided` event item (sequence 2): the decision as intake made it, which a review never changes. */
export function decidedEventItem(record: RequestRecord) {
  return {
    ...eventItem(record, 'decided', record.decidedAt ?? record.receivedAt),
    requestSeq: 2,
    outcome: record.outcome,
    reason: record.reason,
    policyIds: record.policyIds,
    approval: record.approval,
    validForSeconds: record.validForSeconds,
    validUntil: decidedDetailOf(record).validUntil,
    ...shadowFields(record),
  };
}

/** The stored request item's attributes (unmarshalled), as far as a `RequestRecord` needs them. */
export interface RequestItemData extends RawDetailFields, ShadowFields {
  key: string;
  actionId?: string | null;
  fingerprint: string;
  eventId: string;
  source: string;
  receivedAt: string;
  requestJson: string | null;
  rawDetail?: string | null;
  payloadSha256?: string | null;
  outcome: Outcome;
  reason: string;
  policyIds?: string[];
  approval?: RequestRecord['approval'];
  validForSeconds?: number | null;
  decidedAt?: string | null;
}

/** The record an unmarshalled request item holds. */
export function requestRecordOf(data: RequestItemData): RequestRecord {
  return {
    key: data.key,
    actionId: data.actionId ?? null,
    fingerprint: data.fingerprint,
    eventId: data.eventId,
    source: data.source,
    receivedAt: data.receivedAt,
    request: data.requestJson ? (JSON.parse(data.requestJson) as ActionRequest) : null,
    rawDetail: data.rawDetail ?? null,
    rawDetailSha256: data.rawDetailSha256 ?? null,
    rawDetailBytes: data.rawDetailBytes ?? null,
    rawDetailTruncated: data.rawDetailTruncated === true,
    payloadSha256: data.payloadSha256 ?? null,
    outcome: data.outcome,
    reason: data.reason,
    policyIds: data.policyIds ?? [],
    approval: data.approval ?? null,
    validForSeconds: data.validForSeconds ?? null,
    decidedAt: data.decidedAt ?? null,
    ...(data.shadowOutcome === undefined ? {} : { shadow: { outcome: data.shadowOutcome, policyIds: data.shadowPolicyIds ?? [], reason: data.shadowReason ?? '' } }),
  };
}
