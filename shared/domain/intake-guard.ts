import { boundedReason } from './contract.js';
import type { AgentLimitedDetail } from './agent-limited.js';
import { FLOOD_POLICY_ID, quarantineReason, type AgentLimits, type LimitName } from './flood-control.js';
import type { AgentGuard, RequestRecord } from '../ports/index.js';

/**
 * Flood control as intake uses it: the guard on the table and the agents' limits. A burst is announced
 * on the bus (`EventPublisher.publishLimited`), not posted from here: intake holds no chat credentials.
 */
export interface IntakeFloodControl {
  guard: AgentGuard;
  limitsOf(agentId: string): AgentLimits;
}

export interface GuardedRequest {
  record: RequestRecord;
  /** The request took an open-review slot that must be given back if it is not recorded. */
  tookSlot: boolean;
  /** Set when this denial started a burst: what the approver group's channel is told. */
  burst: AgentLimitedDetail | null;
  limit: LimitName | null;
}

/** A request refused by flood control or quarantine: denied, with the reason, recorded like any denial. */
function deniedBy(record: RequestRecord, limit: LimitName, reason: string): RequestRecord {
  return {
    ...record,
    outcome: 'denied',
    reason: boundedReason(reason),
    policyIds: [...record.policyIds, FLOOD_POLICY_ID(limit)],
    approval: null,
    validForSeconds: null,
    decidedAt: record.receivedAt,
  };
}

/**
 * Applies quarantine and flood control to a decided request: a quarantined agent's allowed or pending
 * request is denied; a pending one must also pass the duplicate check, the open-review limit and the
 * hourly bucket (one atomic admission). Denied and invalid requests pass through as they are.
 */
export async function guardRequest(record: RequestRecord, flood: IntakeFloodControl, now: Date): Promise<GuardedRequest> {
  const pass = { record, tookSlot: false, burst: null, limit: null };
  const request = record.request;
  if (request === null) return pass;
  const agentId = request.agent.id;
  if (record.outcome === 'allowed') {
    const quarantine = await flood.guard.quarantineOf(agentId);
    return quarantine === null ? pass : { ...pass, record: deniedBy(record, 'quarantine', quarantineReason(quarantine)), limit: 'quarantine' };
  }
  if (record.outcome !== 'pending' || record.payloadSha256 === null || record.approval === null) return pass;

  const verdict = await flood.guard.admit({ agentId, actionId: request.actionId, payloadSha256: record.payloadSha256, limits: flood.limitsOf(agentId), now });
  if (verdict.admitted) return { ...pass, tookSlot: verdict.tookSlot === true };
  const denied = deniedBy(record, verdict.limit, verdict.reason);
  if (verdict.limit !== 'open-reviews' && verdict.limit !== 'approval-rate') return { ...pass, record: denied, limit: verdict.limit };
  const startsBurst = await flood.guard.recordLimited(agentId, verdict.limit, now.toISOString());
  const group = record.approval.approvers;
  const burst: AgentLimitedDetail = { agentId, group, limit: verdict.limit, reason: verdict.reason, resetsAt: verdict.resetsAt, at: now.toISOString() };
  return { ...pass, record: denied, limit: verdict.limit, burst: startsBurst ? burst : null };
}
