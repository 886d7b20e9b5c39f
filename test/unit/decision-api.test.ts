import { describe, expect, it } from 'vitest';
import { answerDecisionRequest } from '../../shared/api/decision-api.js';
import { MemoryDecisionStore, MemoryEventPublisher } from '../../shared/adapters/memory/memory-adapters.js';
import { evaluateActionRequested } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { actionRequested } from '../support/requests.js';

describe('decision API', () => {
  const store = new MemoryDecisionStore();

  it('answers the decision with the fields of Action Decided, and the execution (none yet)', async () => {
    const event = actionRequested({ actionId: 'q:2026-11-22.1' });
    await evaluateActionRequested(event, { policy: new CedarPolicyEngine(), store, publisher: new MemoryEventPublisher(), workflow: undefined, now: () => new Date('2026-11-22T03:00:00Z') });
    const response = await answerDecisionRequest('GET', '/actions/q%3A2026-11-22.1', store);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(Object.keys(JSON.parse(response.body)).sort()).toEqual(['actionId', 'decidedAt', 'execution', 'outcome', 'payloadSha256', 'policyIds', 'reason', 'requestEventId', 'reviewers', 'validUntil']);
    expect(JSON.parse(response.body)).toMatchObject({ actionId: 'q:2026-11-22.1', outcome: 'allowed', decidedAt: '2026-11-22T03:00:00.000Z', validUntil: '2026-11-22T03:15:00.000Z', reviewers: [], execution: null });
  });

  it('answers GET /agents/{agentId} with the agent\'s flood-control state, and only GET', async () => {
    const status = { agentId: 'billing-agent', quarantine: null, openReviews: 1, pendingActionIds: ['a-1'], bucket: null, burst: null };
    const agents = { status: async (agentId: string) => ({ ...status, agentId }) };
    const response = await answerDecisionRequest('GET', '/agents/billing-agent', store, agents);
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual(status);
    expect((await answerDecisionRequest('POST', '/agents/billing-agent', store, agents)).statusCode).toBe(405);
    // Without the guard (an old wiring) the route does not exist.
    expect((await answerDecisionRequest('GET', '/agents/billing-agent', store)).statusCode).toBe(404);
  });

  it.each([
    ['GET', '/actions/never-sent', 404, 'ActionNotFound'],
    ['GET', '/actions/bad%20id', 400, 'BadRequest'],
    ['GET', '/actions/%E0%A4%A', 400, 'BadRequest'],
    ['POST', '/actions/x', 405, 'MethodNotAllowed'],
    ['GET', '/elsewhere', 404, 'NotFound'],
  ])('%s %s answers %i %s with a message', async (method, path, status, code) => {
    const response = await answerDecisionRequest(method, path, store);
    expect(response.statusCode).toBe(status);
    expect(JSON.parse(response.body)).toMatchObject({ error: code, message: expect.any(String) });
  });
});
