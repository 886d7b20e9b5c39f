import { describe, expect, it } from 'vitest';
import { MemoryDecisionStore, MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { loadPolicySource } from '../../shared/policy/load-policies.js';
import { actionRequested } from '../support/requests.js';
import sample from '../events/db-export-prod.json' with { type: 'json' };

const policy = new CedarPolicyEngine();
function deps() {
  return { policy, store: new MemoryDecisionStore(), publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => new Date('2026-11-22T03:00:00Z') } satisfies IntakeDeps;
}
const fromSample = () => ({ id: sample.id, source: sample.source, detailType: sample['detail-type'], detail: structuredClone(sample.detail) });

describe('evaluateActionRequested', () => {
  it('starts the approval workflow for a request that needs humans, and publishes nothing yet', async () => {
    const d = deps();
    const result = await evaluateActionRequested(fromSample(), d);
    expect(result).toMatchObject({ status: 'created', dispatched: true, record: { outcome: 'pending', decidedAt: null } });
    expect(d.publisher.published).toEqual([]);
    expect(d.workflow.started.get(sample.detail.actionId)).toEqual({
      actionId: sample.detail.actionId,
      payloadSha256: '50329cc4ab8bd2dc2184d62d1c6448c87ae977c0adad834060499982074c1e3d',
      agentId: 'billing-agent',
      onBehalfOf: 'alice@example.com',
      action: 'db.export',
      resource: { type: 'Database', id: 'customers' },
      environment: 'prod',
      policyIds: result.record.policyIds,
      approval: expect.objectContaining({ approvers: 'data-owners', quorum: 1, timeoutSeconds: 1800 }),
      timing: { reminderAfterSeconds: 900, deadlineAfterSeconds: 900, escalationSeconds: 900 },
      requestedAt: '2026-11-22T03:00:00.000Z',
    });
    expect(await d.store.getDecision(sample.detail.actionId)).toMatchObject({ outcome: 'pending', payloadSha256: '50329cc4ab8bd2dc2184d62d1c6448c87ae977c0adad834060499982074c1e3d' });
  });

  it('keeps a request pending and unstarted when no approval workflow is deployed', async () => {
    const d = { ...deps(), workflow: undefined };
    const result = await evaluateActionRequested(fromSample(), d);
    expect(result).toMatchObject({ status: 'created', dispatched: false, record: { outcome: 'pending' } });
  });

  it.each([
    ['allowed', { action: 'db.query' }],
    ['denied', { action: 'storage.bucket.delete', resource: { type: 'Bucket', id: 'audit-log' } }],
    ['denied', { action: 'db.query', resource: { type: 'Database', id: 'audit/trail' } }],
  ])('publishes %s at once for %j', async (outcome, change) => {
    const d = deps();
    const event = actionRequested(change);
    await evaluateActionRequested(event, d);
    expect(d.publisher.published).toEqual([expect.objectContaining({ outcome, requestEventId: event.id, actionId: (event.detail as { actionId: string }).actionId })]);
    expect(d.workflow.started.size).toBe(0);
  });

  it.each([
    ['malformed detail', { id: 'e-1', source: 'agent.billing-agent', detailType: 'Action Requested', detail: 'not json object' }, /^detail: must be a JSON object$/],
    ['unknown specVersion', actionRequested({ specVersion: '2' }), /^specVersion: must be "1"/],
    ['source not an agent', actionRequested({}, { source: 'billing' }), /^source: "billing" is not an agent source/],
    ['verb the schema does not know', actionRequested({ action: 'db.drop' }), /db\.drop/],
    ['wrong detail-type', { ...actionRequested(), detailType: 'Action Decided' }, /^detail-type: "Action Decided" is not "Action Requested"/],
  ])('records %s as invalid with a reason, publishes it, and never throws', async (_what, event, reason) => {
    const d = deps();
    const result = await evaluateActionRequested(event, d);
    expect(result.status).toBe('created');
    expect(result.record.outcome).toBe('invalid');
    expect(result.record.reason).toMatch(reason);
    expect(d.publisher.published).toEqual([expect.objectContaining({ outcome: 'invalid', reason: result.record.reason, requestEventId: event.id })]);
  });
});

describe('a shadow policy set beside the enforced one (issue 16)', () => {
  it('records what the shadow set decided and acts only on the enforced decision', async () => {
    // Shadow: the enforced set with a forbid on every export laid over it.
    const enforced = loadPolicySource();
    const shadowPolicy = new CedarPolicyEngine({
      source: { schema: enforced.schema, policies: [...enforced.policies, { file: 'shadow/no-exports.cedar', text: '@id("no-exports")\nforbid (principal, action == Action::"db.export", resource);\n' }] },
    });
    const d = { ...deps(), shadowPolicy };
    const result = await evaluateActionRequested(fromSample(), d);
    expect(result.record).toMatchObject({ outcome: 'pending', shadow: { outcome: 'denied', policyIds: ['no-exports'], reason: 'forbidden by policy no-exports' } });
    expect(d.workflow.started.size).toBe(1);
  });

  it('records a shadow set that throws as its answer, and decides as if it were not there', async () => {
    const shadowPolicy = { decide: () => { throw new RangeError('out of wasm memory'); } };
    const d = { ...deps(), shadowPolicy };
    const result = await evaluateActionRequested(fromSample(), d);
    expect(result.record).toMatchObject({ outcome: 'pending', shadow: { outcome: 'invalid', policyIds: [], reason: 'the shadow policy set failed on this request: RangeError: out of wasm memory' } });
    expect(d.workflow.started.size).toBe(1);
  });
});
