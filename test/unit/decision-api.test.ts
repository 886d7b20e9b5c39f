import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentCallersError, agentCallersOf, loadAgentCallers } from '../../shared/api/agent-callers.js';
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

  describe('who reads what: an agent\'s identity reads only its own requests and state', () => {
    const BILLING_ROLE = 'arn:aws:iam::123456789012:role/billing-agent';
    const OPS_ROLE = 'arn:aws:iam::123456789012:role/ops-agent';
    const callers = agentCallersOf(new Map([['billing-agent', [BILLING_ROLE]], ['ops-agent', [OPS_ROLE]]]));
    const as = (callerArn: string | undefined) => ({ callerArn, agents: callers });
    const owned = new MemoryDecisionStore();
    const agents = { status: async (agentId: string) => ({ agentId, quarantine: null, openReviews: 0, pendingActionIds: [], bucket: null, burst: null }) };
    const deps = { policy: new CedarPolicyEngine(), store: owned, publisher: new MemoryEventPublisher(), workflow: undefined, now: () => new Date('2026-11-22T03:00:00Z') };
    const send = async (agentId: string, actionId: string) => {
      await evaluateActionRequested(actionRequested({ actionId, agent: { id: agentId } }), deps);
    };

    it('a session of the agent\'s role reads its request; another agent\'s identity gets the answer for an id never received', async () => {
      await send('billing-agent', 'owned-1');
      const mine = await answerDecisionRequest('GET', '/actions/owned-1', owned, agents, as('arn:aws:sts::123456789012:assumed-role/billing-agent/run-7'));
      expect(mine.statusCode).toBe(200);
      expect(JSON.parse(mine.body)).toMatchObject({ actionId: 'owned-1', outcome: 'allowed' });
      const theirs = await answerDecisionRequest('GET', '/actions/owned-1', owned, agents, as(OPS_ROLE));
      const never = await answerDecisionRequest('GET', '/actions/never-sent-1', owned, agents, as(OPS_ROLE));
      expect([theirs.statusCode, never.statusCode]).toEqual([404, 404]);
      // The same words either way: the answer does not tell another agent which ids exist.
      expect(JSON.parse(theirs.body).message.replace('owned-1', 'X')).toBe(JSON.parse(never.body).message.replace('never-sent-1', 'X'));
    });

    it('an identity that is no agent\'s (an operator, a CI role, an executor) reads every request', async () => {
      await send('ops-agent', 'owned-2');
      const response = await answerDecisionRequest('GET', '/actions/owned-2', owned, agents, as('arn:aws:iam::123456789012:role/release-ci'));
      expect(response.statusCode).toBe(200);
    });

    it('GET /agents/{agentId}: the agent\'s own state only', async () => {
      expect((await answerDecisionRequest('GET', '/agents/billing-agent', owned, agents, as(BILLING_ROLE))).statusCode).toBe(200);
      const other = await answerDecisionRequest('GET', '/agents/ops-agent', owned, agents, as(BILLING_ROLE));
      expect(other.statusCode).toBe(403);
      expect(JSON.parse(other.body)).toMatchObject({ error: 'NotThisAgent', message: expect.stringContaining('"billing-agent"') });
      expect((await answerDecisionRequest('GET', '/agents/ops-agent', owned, agents, as('arn:aws:iam::123456789012:user/oncall'))).statusCode).toBe(200);
    });

    it('refuses a caller without an IAM identity (a Function URL without AWS_IAM auth)', async () => {
      const response = await answerDecisionRequest('GET', '/actions/owned-1', owned, agents, as(undefined));
      expect(response.statusCode).toBe(403);
      expect(JSON.parse(response.body)).toMatchObject({ error: 'CallerNotIdentified' });
    });

    it('reads the agents\' identities from the directory file, and refuses one that does not list them', () => {
      const dir = mkdtempSync(join(tmpdir(), 'agent-callers-'));
      const file = join(dir, 'directory.json');
      writeFileSync(file, JSON.stringify({ members: [], groups: {}, agents: { 'billing-agent': { owners: [], iamPrincipalArns: [BILLING_ROLE] }, 'no-identity': { owners: [] } } }));
      expect(loadAgentCallers(file).agentsOf('arn:aws:sts::123456789012:assumed-role/billing-agent/s1')).toEqual(['billing-agent']);
      expect(loadAgentCallers(file).agentsOf(OPS_ROLE)).toEqual([]);
      writeFileSync(file, JSON.stringify({ agents: { 'billing-agent': { iamPrincipalArns: 'arn:aws:iam::123456789012:role/billing-agent' } } }));
      expect(() => loadAgentCallers(file)).toThrow(AgentCallersError);
      writeFileSync(file, JSON.stringify({ agents: { 'billing-agent': null } }));
      expect(() => loadAgentCallers(file)).toThrow(/agents\.billing-agent must be an object/);
      // A hostile key is an agent like any other, not the object's prototype.
      writeFileSync(file, `{"agents": {"__proto__": {"iamPrincipalArns": [${JSON.stringify(OPS_ROLE)}]}}}`);
      expect(loadAgentCallers(file).agentsOf(OPS_ROLE)).toEqual(['__proto__']);
      expect(() => loadAgentCallers(join(dir, 'missing.json'))).toThrow(/cannot read the approver directory/);
    });
  });
});
