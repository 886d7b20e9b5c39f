import { readFileSync } from 'node:fs';
import { AssumeRoleCommand, STSClient, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoAgentGuard } from '../../shared/adapters/aws/dynamo-agent-guard.js';
import { DynamoCredentialsStore } from '../../shared/adapters/aws/dynamo-credentials-store.js';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { StsCredentialIssuer } from '../../shared/adapters/aws/sts-credential-issuer.js';
import { MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { answerCredentialsRequest, type CredentialsApiDeps } from '../../shared/credentials/credentials-api.js';
import { Directory } from '../../shared/domain/directory.js';
import { ExecutionGrants } from '../../shared/domain/execution-grants.js';
import { evaluateActionRequested } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { eventsAmong, itemsOfRequest } from '../support/decision-items.js';
import { actionRequested } from '../support/requests.js';
import { DynamoExecutionStore } from '../../shared/adapters/aws/dynamo-execution-store.js';
import { DynamoReviewStore } from '../../shared/adapters/aws/dynamo-review-store.js';
import { MemoryReviewChannel } from '../../shared/adapters/memory/memory-review-adapters.js';
import { recordExecutionReport } from '../../shared/execution/record-execution.js';
import { channelAlerts, reviewMessages } from '../../shared/execution/review-adapters.js';

/**
 * The credentials API on DynamoDB Local with STS mocked (aws-sdk-client-mock): who gets credentials, what
 * AssumeRole is asked, what is recorded, and that it happens once.
 */
const TABLE = 'countersign-credentials-it';
const AGENT_ROLE = 'arn:aws:iam::123456789012:role/agents/billing-agent';
const AGENT_CALLER = 'arn:aws:sts::123456789012:assumed-role/billing-agent/run-81';
const OPS_CALLER = 'arn:aws:sts::123456789012:assumed-role/ops-agent/run-9';
const EXEC_ROLE = 'arn:aws:iam::123456789012:role/Countersign-test-ExecDbExport-ABC123';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

const sts = mockClient(STSClient);
let ddb: DynamoDbLocal;
const policy = new CedarPolicyEngine();
const base = JSON.parse(readFileSync(new URL('../../config/directory.json', import.meta.url), 'utf8')) as { agents: Record<string, Record<string, unknown>> };
const directory = Directory.parse({ ...base, agents: { ...base.agents, 'billing-agent': { ...base.agents['billing-agent'], iamPrincipalArns: [AGENT_ROLE] }, 'ops-agent': { ...base.agents['ops-agent'], iamPrincipalArns: ['arn:aws:iam::123456789012:role/ops-agent'] } } });
const grants = ExecutionGrants.parse(JSON.parse(readFileSync(new URL('../../config/execution-grants.json', import.meta.url), 'utf8')));
let clock = new Date();

function deps(over: Partial<CredentialsApiDeps> = {}): CredentialsApiDeps {
  return {
    store: new DynamoCredentialsStore(ddb.client, TABLE),
    issuer: new StsCredentialIssuer(new STSClient({ region: 'eu-west-1' })),
    grants,
    directory,
    roleArns: { 'countersign-exec-db-export': EXEC_ROLE },
    region: 'eu-west-1',
    now: () => clock,
    ...over,
  };
}

/** Records a request through the real intake; `staging` exports are allowed (PT15M), `prod` ones wait for review. */
async function recorded(detail: Record<string, unknown> = {}): Promise<string> {
  const event = actionRequested({ action: 'db.export', environment: 'staging', parameters: { format: 'csv' }, ...detail });
  await evaluateActionRequested(event, { policy, store: new DynamoDecisionStore(ddb.client, TABLE), publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => clock });
  return (event.detail as { actionId: string }).actionId;
}

let requestCounter = 0;
const ask = (actionId: string, callerArn: string | undefined = AGENT_CALLER, d = deps()) =>
  answerCredentialsRequest({ method: 'POST', path: `/actions/${encodeURIComponent(actionId)}/credentials`, callerArn, requestId: `req-${++requestCounter}` }, d);
const body = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;
const eventsOf = async (actionId: string) => eventsAmong(await itemsOfRequest(ddb.client, TABLE, actionId)).sort((a, b) => a.requestSeq - b.requestSeq);

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
});
afterAll(async () => {
  await ddb?.stop();
});
beforeEach(() => {
  clock = new Date();
  sts.reset();
  sts.on(AssumeRoleCommand).callsFake((input: AssumeRoleCommandInput) => ({
    Credentials: { AccessKeyId: 'ASIAEXAMPLE', SecretAccessKey: SECRET, SessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN', Expiration: new Date(clock.getTime() + (input.DurationSeconds ?? 0) * 1000) },
    AssumedRoleUser: { Arn: `arn:aws:sts::123456789012:assumed-role/Countersign-test-ExecDbExport-ABC123/${input.RoleSessionName}`, AssumedRoleId: 'AROAEXAMPLE:x' },
    SourceIdentity: input.SourceIdentity,
  }));
});

describe('POST /actions/{actionId}/credentials', () => {
  it('issues the allowed export\'s credentials to its agent, with the rendered policy, tags, names and duration', async () => {
    const actionId = await recorded({ resource: { type: 'Database', id: 'customers' } });
    const { response } = await ask(actionId);
    expect(response.statusCode).toBe(200);
    const validUntil = new Date(clock.getTime() + 15 * 60 * 1000);
    const [decided] = (await eventsOf(actionId)).filter((e) => e.eventType === 'decided');
    const payloadSha256 = decided!.payloadSha256 as string;
    const expectedPolicy = {
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ExportApprovedTable', Effect: 'Allow', Action: ['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:DescribeTable'],
        Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/customers',
        Condition: { DateLessThan: { 'aws:CurrentTime': decided!.validUntil } },
      }],
    };
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    expect(sts).toHaveReceivedCommandWith(AssumeRoleCommand, {
      RoleArn: EXEC_ROLE,
      RoleSessionName: `cs-${actionId}`,
      SourceIdentity: `cs-${actionId}`,
      // The rest of the 15-minute window (the clock stands still): exactly 900 s, STS's minimum.
      DurationSeconds: 900,
      Policy: JSON.stringify(expectedPolicy),
      Tags: [{ Key: 'countersign:actionId', Value: actionId }, { Key: 'countersign:payloadSha256', Value: payloadSha256 }],
    });
    expect(decided!.validUntil).toBe(validUntil.toISOString());
    expect(body(response)).toMatchObject({
      actionId, payloadSha256, validUntil: validUntil.toISOString(), region: 'eu-west-1', roleArn: EXEC_ROLE, durationSeconds: 900, sessionPolicy: expectedPolicy,
      credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: SECRET, sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN' },
    });

    const events = await eventsOf(actionId);
    expect(events.map((e) => [e.requestSeq, e.eventType])).toEqual([[1, 'requested'], [2, 'decided'], [3, 'credentials_issued']]);
    expect(events[2]).toMatchObject({ callerArn: AGENT_CALLER, roleArn: EXEC_ROLE, roleSessionName: `cs-${actionId}`, durationSeconds: 900, sessionPolicy: JSON.stringify(expectedPolicy), agentId: 'billing-agent', payloadSha256 });
    const everything = JSON.stringify(await itemsOfRequest(ddb.client, TABLE, actionId));
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('FwoGZXIvYXdzEXAMPLETOKEN');
  });

  it('issues once: a second ask is refused (409) and recorded, and STS is not asked again', async () => {
    const actionId = await recorded();
    expect((await ask(actionId)).response.statusCode).toBe(200);
    const { response } = await ask(actionId);
    expect(response.statusCode).toBe(409);
    expect(body(response)).toMatchObject({ error: 'CredentialsRefused', rule: 'already_issued' });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    const events = await eventsOf(actionId);
    expect(events.map((e) => [e.requestSeq, e.eventType])).toEqual([[1, 'requested'], [2, 'decided'], [3, 'credentials_issued'], [4, 'credentials_refused']]);
    expect(events[3]).toMatchObject({ rule: 'already_issued', callerArn: AGENT_CALLER });
  });

  it('refuses a quarantined agent (403, recorded) even for an approval given before the quarantine, and issues once it is lifted', async () => {
    const actionId = await recorded();
    const guard = new DynamoAgentGuard(ddb.client, TABLE);
    const d = deps({ quarantineOf: (agentId) => guard.quarantineOf(agentId) });
    await guard.quarantine({ agentId: 'billing-agent', by: 'dan', reason: 'looping', at: clock.toISOString(), origin: 'manual' }, { group: 'security', via: 'api', fromActionId: null });
    try {
      const { response } = await ask(actionId, AGENT_CALLER, d);
      expect(response.statusCode).toBe(403);
      expect(body(response)).toMatchObject({ error: 'CredentialsRefused', rule: 'agent_quarantined', message: 'billing-agent is quarantined (by dan: looping); no credentials are issued until the quarantine is lifted' });
      expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
      expect((await eventsOf(actionId)).at(-1)).toMatchObject({ eventType: 'credentials_refused', rule: 'agent_quarantined' });
    } finally {
      expect(await guard.lift('billing-agent', 'erin', 'fixed', clock.toISOString())).toMatchObject({ status: 'lifted' });
    }
    expect((await ask(actionId, AGENT_CALLER, d)).response.statusCode).toBe(200);
  });

  it('refuses (409 already_executed, recorded) an approval whose agent has reported executing it, and STS is not asked', async () => {
    const actionId = await recorded();
    const found = await new DynamoCredentialsStore(ddb.client, TABLE).getRequest(actionId);
    expect(found?.executionStatus).toBeNull();
    // The agent acts without credentials from here and reports a failure to the reviewers.
    const channel = new MemoryReviewChannel();
    const now = () => clock;
    const reported = await recordExecutionReport({
      id: 'report-1', source: 'agent.billing-agent', detailType: 'Action Executed',
      detail: { specVersion: '1', actionId, payloadSha256: found!.record.payloadSha256, status: 'failed', startedAt: clock.toISOString(), finishedAt: clock.toISOString(), error: { code: 'timeout', message: 'upstream timeout' } },
    }, { store: new DynamoExecutionStore(ddb.client, TABLE), alerts: channelAlerts(channel, directory), messages: reviewMessages({ store: new DynamoReviewStore(ddb.client, TABLE), channel, directory, now }), now });
    expect(reported.status).toBe('executed');
    expect((await new DynamoCredentialsStore(ddb.client, TABLE).getRequest(actionId))?.executionStatus).toBe('failed');

    const refused = await ask(actionId);
    expect(refused.response.statusCode).toBe(409);
    expect(body(refused.response)).toMatchObject({ error: 'CredentialsRefused', rule: 'already_executed', message: expect.stringContaining('already reported executing') });
    expect(sts.commandCalls(AssumeRoleCommand)).toHaveLength(0);
    expect((await eventsOf(actionId)).map((e) => [e.eventType, e.rule ?? null])).toEqual([['requested', null], ['decided', null], ['executed', null], ['credentials_refused', 'already_executed']]);
  });

  it('issues once when the agent asks many times at the same moment', async () => {
    const actionId = await recorded();
    const answers = await Promise.all(Array.from({ length: 5 }, () => ask(actionId)));
    expect(answers.map((a) => a.response.statusCode).sort()).toEqual([200, 409, 409, 409, 409]);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    const events = await eventsOf(actionId);
    expect(events.map((e) => e.requestSeq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events.filter((e) => e.eventType === 'credentials_issued')).toHaveLength(1);
  });

  it('answers another agent\'s identity as for an id never received, and writes nothing on the request', async () => {
    const actionId = await recorded();
    const before = await eventsOf(actionId);
    const { response } = await ask(actionId, OPS_CALLER);
    const never = await ask(`${actionId}-never-sent`, OPS_CALLER);
    expect([response.statusCode, never.response.statusCode]).toEqual([404, 404]);
    // The same words either way: no agent learns which ids exist, or whose they are.
    expect(String(body(response).message).replace(actionId, 'X')).toBe(String(body(never.response).message).replace(`${actionId}-never-sent`, 'X'));
    expect(JSON.stringify(body(response))).not.toContain('billing-agent');
    expect(await eventsOf(actionId)).toEqual(before);
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it.each([
    ['the agent\'s role in another account (no agent\'s identity)', 'arn:aws:sts::999999999999:assumed-role/billing-agent/x', 403, 'caller_not_agent'],
  ])('refuses %s (recorded)', async (_, caller, status, rule) => {
    const actionId = await recorded();
    const { response } = await ask(actionId, caller);
    expect(response.statusCode).toBe(status);
    expect(body(response)).toMatchObject({ rule });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
    expect((await eventsOf(actionId)).at(-1)).toMatchObject({ eventType: 'credentials_refused', rule, callerArn: caller });
  });

  it('refuses an agent with no IAM identity in the directory', async () => {
    const actionId = await recorded({ agent: { id: 'support-agent' } });
    const { response } = await ask(actionId, 'arn:aws:sts::123456789012:assumed-role/support-agent/x');
    expect(body(response)).toMatchObject({ rule: 'caller_not_agent' });
  });

  it('refuses a request that is still pending review, one without a grant, and a late ask (all recorded)', async () => {
    const pending = await recorded({ environment: 'prod' });
    expect(body((await ask(pending)).response)).toMatchObject({ rule: 'not_permitted' });
    const query = await recorded({ action: 'db.query' });
    expect(body((await ask(query)).response)).toMatchObject({ rule: 'no_grant' });
    const late = await recorded();
    clock = new Date(clock.getTime() + 15 * 60 * 1000 + 1);
    expect(body((await ask(late)).response)).toMatchObject({ rule: 'approval_expired' });
    for (const actionId of [pending, query, late]) expect((await eventsOf(actionId)).at(-1)?.eventType).toBe('credentials_refused');
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it('refuses (422, recorded) a resource id that would widen the session policy', async () => {
    const actionId = await recorded({ resource: { type: 'Database', id: '*' } });
    const { response } = await ask(actionId);
    expect(response.statusCode).toBe(422);
    expect(body(response)).toMatchObject({ rule: 'unsafe_policy_value' });
    expect((await eventsOf(actionId)).at(-1)).toMatchObject({ eventType: 'credentials_refused', rule: 'unsafe_policy_value' });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 0);
  });

  it('records an STS failure after the claim, and the approval stays spent', async () => {
    const actionId = await recorded();
    sts.on(AssumeRoleCommand).rejects(Object.assign(new Error('User is not authorized to perform: sts:TagSession'), { name: 'AccessDenied' }));
    const { response } = await ask(actionId);
    expect(response.statusCode).toBe(502);
    expect(body(response)).toMatchObject({ error: 'CredentialsNotIssued' });
    expect((await eventsOf(actionId)).map((e) => e.eventType)).toEqual(['requested', 'decided', 'credentials_issued', 'credentials_failed']);
    expect((await eventsOf(actionId)).at(-1)).toMatchObject({ errorName: 'AccessDenied' });
    expect(body((await ask(actionId)).response)).toMatchObject({ rule: 'already_issued' });
  });

  it('answers 404 for an unknown request and 403 for an unsigned caller, and writes nothing', async () => {
    expect((await ask('never-sent')).response.statusCode).toBe(404);
    expect(await itemsOfRequest(ddb.client, TABLE, 'never-sent')).toEqual([]);
    const actionId = await recorded();
    expect((await ask(actionId, '')).response.statusCode).toBe(403);
    expect(await eventsOf(actionId)).toHaveLength(2);
  });

  it('answers only POST on its route', async () => {
    const { response } = await answerCredentialsRequest({ method: 'GET', path: '/actions/a/credentials', callerArn: AGENT_CALLER, requestId: 'r' }, deps());
    expect(response.statusCode).toBe(405);
    expect((await answerCredentialsRequest({ method: 'POST', path: '/actions/a', callerArn: AGENT_CALLER, requestId: 'r' }, deps())).response.statusCode).toBe(404);
  });
});
