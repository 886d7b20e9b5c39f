import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { approvalTiming, type ApprovalRequirement } from '../../shared/domain/decision.js';
import { Directory } from '../../shared/domain/directory.js';
import { decideRequest } from '../../shared/domain/intake.js';
import type { ApprovalWorkflowInput, DecisionStore, RequestRecord } from '../../shared/ports/index.js';
import type { RequestReviewEvent, ReviewPhase } from '../../shared/workflow/contract.js';
import { actionRequested } from './requests.js';

const directoryJson = JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')) as { members: Array<Record<string, unknown>> };

/** The local default directory (config/directory.json). */
export const localDirectory = Directory.parse(directoryJson);

/** The local directory with IAM principals for the votes API: erin by role, dan by user. */
export const directoryWithIam = Directory.parse({
  ...directoryJson,
  members: directoryJson.members.map((m) => ({
    ...m,
    ...(m.id === 'erin' ? { iamPrincipalArns: ['arn:aws:iam::123456789012:role/ci/erin-reviewer'] } : {}),
    ...(m.id === 'dan' ? { iamPrincipalArns: ['arn:aws:iam::123456789012:user/dan'] } : {}),
    ...(m.id === 'carol' ? { iamPrincipalArns: ['arn:aws:iam::123456789012:role/carol-ci'] } : {}),
  })),
});

export const SECURITY_QUORUM_2: ApprovalRequirement = { approvers: 'security', quorum: 2, timeout: 'PT1H', timeoutSeconds: 3600, escalate: 'security-leads' };
export const DATA_OWNERS_QUORUM_1: ApprovalRequirement = { approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1800 };

/**
 * Records a request that needs `approval` (as evaluate-action would) and returns it with the
 * workflow input evaluate-action would start the approval workflow with.
 */
export async function seedPendingRequest(
  store: DecisionStore,
  approval: ApprovalRequirement,
  detail: Record<string, unknown> = {},
  receivedAt = '2026-11-22T03:00:00.000Z',
): Promise<{ record: RequestRecord; input: ApprovalWorkflowInput }> {
  const event = actionRequested({ agent: { id: 'ops-agent', onBehalfOf: 'dan@example.com' }, action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'admin' }, ...detail });
  const policy = { decide: () => ({ kind: 'approval' as const, policyIds: ['test-approval'], reason: 'needs approval by test policy', approval, validity: { validFor: 'PT15M', validForSeconds: 900 } }) };
  const record = decideRequest(event, policy, receivedAt);
  const result = await store.recordRequest(record);
  if (result.status !== 'created') throw new Error(`seeding ${record.key} failed: ${result.status}`);
  const request = record.request;
  if (request === null || record.payloadSha256 === null) throw new Error('seeded request is invalid');
  return {
    record,
    input: {
      actionId: request.actionId,
      payloadSha256: record.payloadSha256,
      agentId: request.agent.id,
      onBehalfOf: request.agent.onBehalfOf ?? null,
      action: request.action,
      resource: { type: request.resource.type, id: request.resource.id },
      environment: request.environment,
      policyIds: record.policyIds,
      approval,
      timing: approvalTiming(approval),
      requestedAt: receivedAt,
    },
  };
}

export function reviewEvent(input: ApprovalWorkflowInput, phase: ReviewPhase = 'initial', taskToken = `token-${phase}-${randomUUID()}`): RequestReviewEvent {
  return { taskToken, phase, request: input };
}

/** A clock tests can move. */
export function testClock(start = '2026-11-22T03:00:01.000Z') {
  let now = Date.parse(start);
  return {
    now: () => new Date(now),
    advance: (seconds: number) => { now += seconds * 1000; },
    set: (iso: string) => { now = Date.parse(iso); },
  };
}
