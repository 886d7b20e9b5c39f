import { CanonicalJsonError, loneSurrogateAt, rawJsonText, sha256Hex, utf8Bytes, utf8Prefix, wellFormedText } from './canonical-json.js';
import { AGENT_SOURCE_PREFIX, boundedReason, DETAIL_TYPE_REQUESTED, LIMITS, payloadSha256, quoted, usableActionId, validateActionRequested, type ActionRequest } from './contract.js';
import { approvalTiming, decidedDetailOf, outcomeOf, shadowDecisionOf, type PolicyDecision, type ShadowDecision } from './decision.js';
import type { DecisionStore, EventPublisher, PolicyEngine, RecordResult, RequestRecord, WorkflowStarter } from '../ports/index.js';
import { guardRequest, type GuardedRequest, type IntakeFloodControl } from './intake-guard.js';

/** The parts of an EventBridge event that intake reads. */
export interface IncomingEvent {
  id: string;
  source: string;
  detailType: string;
  detail: unknown;
  /** Set on an event replayed from the archive (the envelope's `replay-name`). */
  replayName?: string;
}

export interface IntakeDeps {
  policy: PolicyEngine;
  /** The shadow policy set (`policies/shadow/`): evaluated beside `policy`, recorded, never deciding. */
  shadowPolicy?: PolicyEngine;
  store: DecisionStore;
  publisher: EventPublisher;
  /** Absent while no approval workflow is deployed: such requests stay pending. */
  workflow: WorkflowStarter | undefined;
  now: () => Date;
  /** Per-agent limits, duplicate refusal and quarantine (issue 16). @default - none: every decided request goes on */
  flood?: IntakeFloodControl;
}

export type IntakeResult = RecordResult & {
  dispatched: boolean;
  /** The flood-control limit or quarantine that denied the request, if one did. */
  limit?: GuardedRequest['limit'];
  /** Problems after the decision was on record (the burst could not be announced). */
  warnings?: string[];
};

/** Key under which a request without a usable actionId is kept; "/" cannot occur in an actionId. */
export function invalidKey(eventId: string): string {
  return `invalid/${eventId}`;
}

/** Why a request may not come from this source; the agent client asks it too, before sending. */
export function identityProblem(source: string, request: ActionRequest): string | undefined {
  if (!source.startsWith(AGENT_SOURCE_PREFIX)) {
    return `source: "${source}" is not an agent source; agents send with source "agent.<id>"`;
  }
  const agentId = source.slice(AGENT_SOURCE_PREFIX.length);
  if (agentId !== request.agent.id) {
    return `agent.id: "${request.agent.id}" does not match the event source "${source}"; an agent may only send requests as itself`;
  }
  return undefined;
}

/**
 * An agent event's detail as it can be stored, whatever it holds (requests and execution reports alike):
 * its JSON text whole when it fits the store, else a bounded prefix; the fingerprint (of source, detail
 * type and the whole text) identifies the exact event, whatever is kept.
 */
export function storableDetail(event: Pick<IncomingEvent, 'source' | 'detailType' | 'detail'>, keptBytes: number = LIMITS.rawDetailKeptBytes): { fingerprint: string; kept: string; sha256: string; bytes: number; truncated: boolean } {
  // Any JSON value at any depth, lone surrogates included, has this text (the bus delivers parsed JSON);
  // only a missing detail (undefined) has none.
  let text: string;
  try {
    text = rawJsonText(event.detail);
  } catch (error) {
    if (!(error instanceof CanonicalJsonError)) throw error;
    text = JSON.stringify(String(event.detail));
  }
  const bytes = utf8Bytes(text);
  const truncated = bytes > keptBytes;
  return {
    fingerprint: sha256Hex(rawJsonText({ source: event.source, detailType: event.detailType, detail: text })),
    kept: truncated ? utf8Prefix(text, LIMITS.rawDetailPrefixBytes) : text,
    sha256: sha256Hex(text),
    bytes,
    truncated,
  };
}

/** What is kept of an invalid request's detail: its SHA-256, its size, and the text whole or a prefix. */
function rawDetailOf(event: IncomingEvent): Pick<RequestRecord, 'fingerprint' | 'rawDetail' | 'rawDetailSha256' | 'rawDetailBytes' | 'rawDetailTruncated'> {
  const detail = storableDetail(event);
  return { fingerprint: detail.fingerprint, rawDetail: detail.kept, rawDetailSha256: detail.sha256, rawDetailBytes: detail.bytes, rawDetailTruncated: detail.truncated };
}

/** Why an event's source cannot be trusted as text, before anything is compared with it. */
function envelopeProblem(event: IncomingEvent): string | undefined {
  const at = loneSurrogateAt(event.source);
  if (at >= 0) return `source: ${quoted(event.source, 128)} has a lone surrogate at character ${at}, which is not valid Unicode; agents send with source "agent.<id>"`;
  return undefined;
}

/** Builds what the store keeps for one incoming event: parse, identity check, policy decision. */
export function decideRequest(event: IncomingEvent, policy: PolicyEngine, receivedAt: string, shadowPolicy?: PolicyEngine): RequestRecord {
  // The source is stored and shown: a lone surrogate in it is kept visible as an escape (the fingerprint has it as sent).
  const base = { eventId: event.id, source: wellFormedText(event.source), receivedAt, approval: null, validForSeconds: null } as const;
  const invalid = (reason: string, actionId: string | undefined): RequestRecord => ({
    ...base,
    ...rawDetailOf(event),
    key: actionId ?? invalidKey(event.id),
    actionId: actionId ?? null,
    request: null,
    payloadSha256: null,
    outcome: 'invalid',
    reason: boundedReason(reason),
    policyIds: [],
    decidedAt: receivedAt,
  });

  const envelope = envelopeProblem(event);
  if (envelope !== undefined) return invalid(envelope, usableActionId(event.detail));
  if (event.detailType !== DETAIL_TYPE_REQUESTED) {
    return invalid(`detail-type: ${quoted(event.detailType, 128)} is not "${DETAIL_TYPE_REQUESTED}"`, undefined);
  }
  const validation = validateActionRequested(event.detail);
  if (!validation.ok) return invalid(validation.reason, validation.actionId);
  const request = validation.request;
  const identity = identityProblem(event.source, request);
  if (identity !== undefined) return invalid(identity, request.actionId);

  const decision: PolicyDecision = policy.decide(request);
  const outcome = outcomeOf(decision);
  const hash = payloadSha256(request);
  return {
    ...base,
    key: request.actionId,
    actionId: request.actionId,
    fingerprint: hash,
    rawDetail: null,
    rawDetailSha256: null,
    rawDetailBytes: null,
    rawDetailTruncated: false,
    request,
    payloadSha256: decision.kind === 'invalid' ? null : hash,
    outcome,
    reason: boundedReason(decision.reason),
    policyIds: decision.policyIds,
    approval: decision.kind === 'approval' ? decision.approval : null,
    validForSeconds: decision.kind === 'allow' || decision.kind === 'approval' ? decision.validity.validForSeconds : null,
    decidedAt: outcome === 'pending' ? null : receivedAt,
    ...(shadowPolicy === undefined ? {} : { shadow: shadowOf(shadowPolicy, request) }),
  };
}

/** The shadow set's answer. It must never cost the real decision: a failure is recorded as its answer. */
function shadowOf(shadowPolicy: PolicyEngine, request: ActionRequest): ShadowDecision {
  try {
    return shadowDecisionOf(shadowPolicy.decide(request));
  } catch (error) {
    return { outcome: 'invalid', policyIds: [], reason: boundedReason(`the shadow policy set failed on this request: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`) };
  }
}

// In decision.ts (no zod), so that the decision API's bundle does not carry the contract's parser.
export { decidedDetailOf };

/**
 * Hands a recorded decision on: a final outcome is published, a pending one starts the approval
 * workflow. Both are safe to repeat, so a redelivery after a crash can finish the job.
 */
async function dispatch(record: RequestRecord, deps: IntakeDeps): Promise<boolean> {
  if (record.outcome === 'pending') {
    if (deps.workflow === undefined || record.request === null || record.approval === null || record.payloadSha256 === null) return false;
    await deps.workflow.startApproval({
      actionId: record.request.actionId,
      payloadSha256: record.payloadSha256,
      agentId: record.request.agent.id,
      onBehalfOf: record.request.agent.onBehalfOf ?? null,
      action: record.request.action,
      resource: { type: record.request.resource.type, id: record.request.resource.id },
      environment: record.request.environment,
      policyIds: record.policyIds,
      approval: record.approval,
      timing: approvalTiming(record.approval),
      requestedAt: record.receivedAt,
    });
  } else {
    await deps.publisher.publishDecided(decidedDetailOf(record));
  }
  return true;
}

/**
 * Evaluates one `Action Requested` event and records it exactly once. A redelivery of the same
 * request writes nothing new; the same actionId with a different payload is refused and the
 * refusal recorded. Throws only on infrastructure failure, which the caller retries.
 */
export async function evaluateActionRequested(event: IncomingEvent, deps: IntakeDeps): Promise<IntakeResult> {
  const now = deps.now();
  const decided = decideRequest(event, deps.policy, now.toISOString(), deps.shadowPolicy);
  const guarded: GuardedRequest = deps.flood === undefined ? { record: decided, tookSlot: false, burst: null, limit: null } : await guardRequest(decided, deps.flood, now);
  const result = await deps.store.recordRequest(guarded.record);
  if (result.status === 'conflict' && guarded.tookSlot && deps.flood !== undefined && decided.request !== null && decided.payloadSha256 !== null) {
    // The actionId is already another request's (another payload): the slot taken here, under this payload,
    // belongs to no review. Not on `duplicate`: the same payload's slot is the recorded request's own.
    await deps.flood.guard.release(decided.request.agent.id, decided.request.actionId, decided.payloadSha256);
  }
  switch (result.status) {
    case 'created': {
      const warnings: string[] = [];
      if (guarded.burst !== null) {
        try {
          // record-execution posts the one line to the group's channels; this function holds no chat credentials.
          await deps.publisher.publishLimited(guarded.burst);
        } catch (error) {
          // The denial is on record; a redelivery must not announce the burst twice, so this is only reported.
          warnings.push(`announcing the flood-control burst for "${guarded.burst.group}" failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
        }
      }
      return { ...result, dispatched: await dispatch(result.record, deps), limit: guarded.limit, warnings };
    }
    case 'duplicate': {
      // EventBridge redelivers the same event (same id) when the first invocation failed, which
      // may have been between the write and the hand-off: hand it on again. Nothing marks a finished
      // hand-off (that was a write unit per decision, issue 15), so a redelivery after a finished one
      // publishes the same `Action Decided` again, which EventBridge's at-least-once delivery makes
      // every subscriber handle anyway, and finds the workflow started. Another event with the same
      // payload (an agent's retry) leaves the hand-off to the delivery that wrote the record.
      // A replay from the archive (README, "Replay") hands on only what its first delivery never finished
      // writing: it must not announce again every decision of the replayed hours.
      const redelivered = result.record.eventId === event.id && (event.replayName === undefined || result.completed === true);
      return { ...result, dispatched: redelivered ? await dispatch(result.record, deps) : false };
    }
    case 'conflict':
      return { ...result, dispatched: false };
  }
}
