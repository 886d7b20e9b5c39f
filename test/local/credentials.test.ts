import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAgentClient, type AgentClient } from '../../client/agent-client.js';
import { CredentialsRefusedError } from '../../client/errors.js';
import { memoryLogger } from '../../local/log.js';
import { startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { getIfExists, PUBLIC_KEY_OBJECT } from '../../shared/audit/digest-store.js';
import { AUDIT_PREFIX, type AuditRecord } from '../../shared/audit/format.js';
import { parseAuditObject } from '../../shared/audit/object.js';
import { openLocalAuditLog } from '../../shared/audit/verify-sources.js';
import { formatReport, verifyAuditLog } from '../../shared/audit/verify.js';
import { eventually } from './support.js';

/**
 * Just-in-time credentials on the local stack: the real issue-credentials handler, DynamoDB Local, the local
 * STS (AWS Query protocol) and the agent client's getCredentials. What the local stack cannot show (IAM
 * enforcing the trust and session policies) is the README's to say; here: the same items, records and rules.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = `cr${Date.now().toString(36)}`;
let dataDir: string;
let stack: LocalStack | undefined;
let billing: AgentClient;
let ops: AgentClient;
const log = memoryLogger();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-credentials-'));
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 600 });
  billing = localAgentClient('billing-agent', stack.url, { waitTimeoutMs: 20_000 });
  ops = localAgentClient('ops-agent', stack.url, { waitTimeoutMs: 20_000 });
}, 120_000);

afterAll(async () => {
  billing?.destroy();
  ops?.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const exportSpec = (id: string, table = 'customers') => ({
  actionId: `${run}-${id}`,
  action: 'db.export',
  resource: { type: 'Database', id: table },
  environment: 'staging',
  parameters: { format: 'csv' },
  justification: 'weekly export',
});

describe('POST /actions/{actionId}/credentials on the local stack', () => {
  it('gives the agent its allowed export\'s credentials once, clearly local, with the rendered session policy', async () => {
    const decision = await billing.requestAction(exportSpec('once'));
    expect(decision.outcome).toBe('allowed');
    const issued = await billing.getCredentials(decision.actionId);
    expect(issued.local).toBe(true);
    expect(issued.credentials.accessKeyId).toMatch(/^LOCALONLY[0-9A-F]{12}$/);
    expect(issued.credentials.expiration).toBeInstanceOf(Date);
    expect(issued).toMatchObject({ actionId: decision.actionId, validUntil: decision.validUntil, roleArn: 'arn:aws:iam::000000000000:role/countersign-exec-db-export', roleSessionName: `cs-${decision.actionId}` });
    expect(issued.sessionPolicy).toEqual({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ExportApprovedTable', Effect: 'Allow', Action: ['dynamodb:Scan', 'dynamodb:Query', 'dynamodb:DescribeTable'],
        Resource: 'arn:aws:dynamodb:us-east-1:000000000000:table/customers',
        Condition: { DateLessThan: { 'aws:CurrentTime': decision.validUntil } },
      }],
    });
    // What the handler asked the (local) STS, through the real StsCredentialIssuer.
    expect(stack!.sts.calls.at(-1)).toMatchObject({
      roleArn: 'arn:aws:iam::000000000000:role/countersign-exec-db-export',
      roleSessionName: `cs-${decision.actionId}`,
      sourceIdentity: `cs-${decision.actionId}`,
      durationSeconds: issued.durationSeconds,
      policy: JSON.stringify(issued.sessionPolicy),
      tags: [{ Key: 'countersign:actionId', Value: decision.actionId }, { Key: 'countersign:payloadSha256', Value: decision.payloadSha256 }],
    });
    expect(issued.durationSeconds).toBeGreaterThanOrEqual(900);

    const again = await billing.getCredentials(decision.actionId).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(CredentialsRefusedError);
    expect(again).toMatchObject({ rule: 'already_issued', status: 409 });
  });

  it('refuses while a prod export waits for a data owner, and issues once it is approved', async () => {
    const spec = { ...exportSpec('approved'), environment: 'prod' };
    const decided = billing.requestAction(spec);
    const vote = () => fetch(`${stack!.url}/actions/${encodeURIComponent(spec.actionId)}/votes`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-countersign-reviewer': 'bob' }, body: JSON.stringify({ vote: 'approve', comment: 'ok' }),
    });
    // Pending: the review is open (or opening), nothing is permitted yet.
    await eventually(async () => (await fetch(`${stack!.url}/actions/${encodeURIComponent(spec.actionId)}`)).status === 200 ? true : undefined, 'the request to be recorded');
    await expect(billing.getCredentials(spec.actionId)).rejects.toMatchObject({ rule: 'not_permitted', status: 409 });
    await eventually(async () => ((await vote()).status === 200 ? true : undefined), 'bob\'s approval to be taken');
    const decision = await decided;
    expect(decision.outcome).toBe('approved');
    const issued = await billing.getCredentials(decision.actionId);
    expect(issued).toMatchObject({ validUntil: decision.validUntil, local: true });
    expect(stack!.sts.calls.at(-1)?.tags).toEqual([{ Key: 'countersign:actionId', Value: decision.actionId }, { Key: 'countersign:payloadSha256', Value: decision.payloadSha256 }]);
  });

  it('the decision API answers an agent only its own requests and state; the local operator reads all', async () => {
    const decision = await billing.requestAction(exportSpec('read-own'));
    const read = (path: string, agent?: string) => fetch(`${stack!.url}${path}`, { headers: agent === undefined ? {} : { 'x-countersign-agent': agent } });
    const path = `/actions/${encodeURIComponent(decision.actionId)}`;
    expect((await read(path, 'billing-agent')).status).toBe(200);
    expect((await read(path)).status).toBe(200);
    const theirs = await read(path, 'ops-agent');
    const never = await read(`/actions/${run}-never-sent`, 'ops-agent');
    expect([theirs.status, never.status]).toEqual([404, 404]);
    const words = async (response: Response, id: string) => ((await response.json()) as { message: string }).message.replace(id, 'X');
    expect(await words(theirs, decision.actionId)).toBe(await words(never, `${run}-never-sent`));
    expect((await read('/agents/billing-agent', 'ops-agent')).status).toBe(403);
    // A header that names no agent id is refused, not read as the operator's request.
    expect((await read(path, 'Billing Agent')).status).toBe(403);
    expect((await read('/agents/billing-agent', 'billing-agent')).status).toBe(200);
  });

  it('refuses another agent, a request without a grant, and an unsigned ask', async () => {
    const decision = await billing.requestAction(exportSpec('other-agent'));
    // Another agent's identity: answered as for an id never received (nothing recorded on the request).
    await expect(ops.getCredentials(decision.actionId)).rejects.toMatchObject({ name: 'UnexpectedResponseError', status: 404 });
    const query = await billing.requestAction({ ...exportSpec('query'), action: 'db.query' });
    await expect(billing.getCredentials(query.actionId)).rejects.toMatchObject({ rule: 'no_grant' });
    const unsigned = await fetch(`${stack!.url}/actions/${encodeURIComponent(decision.actionId)}/credentials`, { method: 'POST' });
    expect(unsigned.status).toBe(403);
  });

  it('records issues and refusals in the audit log, without the credentials, and verify stays clean', async () => {
    const decision = await billing.requestAction(exportSpec('audited'));
    const issued = await billing.getCredentials(decision.actionId);
    await expect(billing.getCredentials(decision.actionId)).rejects.toBeInstanceOf(CredentialsRefusedError);
    const auditDir = stack!.auditDir!;
    const records = async () => {
      const sink = await openLocalAuditLog(auditDir);
      const out: AuditRecord[] = [];
      for (const key of await sink.list(AUDIT_PREFIX)) if (key.endsWith('.ndjson.gz')) out.push(...parseAuditObject((await sink.getObject(key))!));
      return out;
    };
    const mine = await eventually(async () => {
      const found = (await records()).filter((r) => r.action_id === decision.actionId);
      return found.length >= 4 ? found : undefined;
    }, 'the credentials records in the audit log', 30_000);
    expect(mine.map((r) => [r.request_seq, r.event_type])).toEqual([[1, 'requested'], [2, 'decided'], [3, 'credentials_issued'], [4, 'credentials_refused']]);
    expect(mine[3]!.reason).toMatch(/^already_issued: /);
    const everything = JSON.stringify(await records());
    expect(everything).not.toContain(issued.credentials.secretAccessKey);
    expect(everything).not.toContain(issued.credentials.sessionToken);

    await stack!.stop();
    stack = undefined;
    const sink = await openLocalAuditLog(auditDir);
    const report = await verifyAuditLog({ sink, publicKeyPem: Buffer.from((await getIfExists(sink, PUBLIC_KEY_OBJECT))!).toString('utf8') });
    expect(formatReport(report)).toMatch(/^audit log verified/);
    expect(report.ok).toBe(true);
  });
});
