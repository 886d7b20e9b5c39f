import { canonicalJson } from '../../shared/domain/canonical-json.js';
import { payloadOf, payloadSha256, validateActionRequested, type ActionRequest } from '../../shared/domain/contract.js';
import { outcomeOf } from '../../shared/domain/decision.js';
import type { PolicyEngine } from '../../shared/ports/index.js';
import type { LoggedRecord } from '../../shared/policy/replay.js';

/** A valid request (a prod query of customers unless `fields` say otherwise). */
export function loggedRequest(actionId: string, fields: Record<string, unknown> = {}): ActionRequest {
  const result = validateActionRequested({
    specVersion: '1', actionId, agent: { id: 'billing-agent' }, action: 'db.query', resource: { type: 'Database', id: 'customers' },
    environment: 'prod', parameters: { sql: 'select 1' }, justification: 'replay test', ...fields,
  });
  if (!result.ok) throw new Error(result.reason);
  return result.request;
}

/**
 * The requested and decided records of one request, as the audit log holds them (the requested record's
 * `detail` is its event item: requestJson, payloadJson, the hashes), decided by `policy`. `detail` fields
 * override the item's, to make a log that lies.
 */
export function loggedRecords(policy: PolicyEngine, request: ActionRequest, at: string, overrides: { detail?: Record<string, unknown> } = {}): LoggedRecord[] {
  const decision = policy.decide(request);
  const hash = payloadSha256(request);
  // As the store writes them: a request the policy found invalid has no payloadSha256, only its fingerprint.
  const bound = decision.kind === 'invalid' ? null : hash;
  const detail = { actionId: request.actionId, eventType: 'requested', fingerprint: hash, payloadSha256: bound, requestJson: canonicalJson(request), payloadJson: canonicalJson(payloadOf(request)), ...overrides.detail };
  return [
    { event_type: 'requested', action_id: request.actionId, occurred_at: at, outcome: null, policy_ids: [], payload_sha256: bound, detail: canonicalJson(detail) },
    { event_type: 'decided', action_id: request.actionId, occurred_at: at, outcome: outcomeOf(decision), policy_ids: decision.policyIds, payload_sha256: bound, detail: null },
  ];
}
