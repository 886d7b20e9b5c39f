import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDecisionStore } from '../../shared/adapters/aws/dynamo-decision-store.js';
import { MemoryEventPublisher, MemoryWorkflowStarter } from '../../shared/adapters/memory/memory-adapters.js';
import { toAuditRecordBody } from '../../shared/audit/record.js';
import { payloadSha256, type ActionRequest } from '../../shared/domain/contract.js';
import { evaluateActionRequested, type IntakeDeps } from '../../shared/domain/intake.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { PolicyLoadError } from '../../shared/policy/load-policies.js';
import { shadowPolicyEngine } from '../../shared/policy/shadow-policies.js';
import { ensureDecisionTable, startDynamoDbLocal, type DynamoDbLocal } from '../../local/dynamodb-local.js';
import { REPO_ROOT } from '../../local/local-stack.js';
import { itemsOfRequest } from '../support/decision-items.js';
import { actionRequested } from '../support/requests.js';

/**
 * Shadow policies (issue 16) on DynamoDB Local, with the shipped enforced set and the shipped shadow set
 * (policies/shadow/customer-queries.cedar: prod queries of customers would need a data owner).
 */

const TABLE = 'countersign-shadow-it';
const POLICY_DIR = join(REPO_ROOT, 'policies');
let ddb: DynamoDbLocal;
let store: DynamoDecisionStore;
const policy = new CedarPolicyEngine({ policyDir: POLICY_DIR });
const shadow = shadowPolicyEngine(POLICY_DIR);

function deps(): IntakeDeps & { publisher: MemoryEventPublisher; workflow: MemoryWorkflowStarter } {
  if (shadow === undefined) throw new Error('policies/shadow/ ships a shadow set');
  return { policy, shadowPolicy: shadow, store, publisher: new MemoryEventPublisher(), workflow: new MemoryWorkflowStarter(), now: () => new Date() };
}

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  await ensureDecisionTable(ddb.client, TABLE);
  store = new DynamoDecisionStore(ddb.client, TABLE);
});

afterAll(async () => {
  await ddb?.stop();
});

const position = { shardId: 'shardId-1', sequenceNumber: '1', streamCreatedAt: '2026-11-23T10:00:00.000Z' };

describe('a shadow set beside the enforced one', () => {
  it('is recorded on the decision and in the audit record, and decides nothing', async () => {
    const d = deps();
    const event = actionRequested();
    const actionId = (event.detail as { actionId: string }).actionId;
    const result = await evaluateActionRequested(event, d);
    // The enforced set allows the query; the shadow set would have sent it for review. Nothing waits.
    expect(result).toMatchObject({ status: 'created', dispatched: true, record: { outcome: 'allowed' } });
    expect(d.workflow.started.size).toBe(0);
    expect(d.publisher.published).toEqual([expect.objectContaining({ actionId, outcome: 'allowed' })]);
    expect(JSON.stringify(d.publisher.published)).not.toContain('shadow');

    const items = await itemsOfRequest(ddb.client, TABLE, actionId);
    const decided = items.find((i) => i.sk === 'EVENT#decided');
    expect(decided).toMatchObject({ outcome: 'allowed', policyIds: ['db-query'], shadowOutcome: 'pending', shadowPolicyIds: ['db-query-customers-prod-needs-data-owners', 'db-query'] });
    expect(decided?.shadowReason).toContain('needs 1 approval from data-owners');
    expect(items.find((i) => i.sk === 'REQUEST')).toMatchObject({ shadowOutcome: 'pending' });

    const record = toAuditRecordBody(decided as Record<string, unknown>, position);
    expect(record).toMatchObject({ event_type: 'decided', outcome: 'allowed', shadow_outcome: 'pending', shadow_policy_ids: ['db-query-customers-prod-needs-data-owners', 'db-query'] });
  });

  it("keeps the request in full in the requested record, with the canonical JSON its payloadSha256 is the hash of", async () => {
    const event = actionRequested({
      action: 'user.password.reset',
      resource: { type: 'User', id: 'grace', attributes: { admin: true } },
      parameters: { user: 'grace', delivery: 'link' },
      context: { riskHints: ['off-hours'] },
    });
    const actionId = (event.detail as { actionId: string }).actionId;
    await evaluateActionRequested(event, deps());
    // The request item is the requested event's source: the audit writer makes the record from it.
    const requestItem = (await itemsOfRequest(ddb.client, TABLE, actionId)).find((i) => i.sk === 'REQUEST') as Record<string, unknown>;
    const requested = JSON.parse(toAuditRecordBody(requestItem, position).detail ?? '{}') as Record<string, unknown>;
    expect(requested).toMatchObject({ eventType: 'requested', requestSeq: 1 });
    const request = JSON.parse(requested.requestJson as string) as ActionRequest;
    expect(request.resource.attributes).toEqual({ admin: true });
    expect(request.context).toEqual({ riskHints: ['off-hours'] });
    expect(request.parameters).toEqual({ user: 'grace', delivery: 'link' });
    const payloadJson = requested.payloadJson as string;
    expect(createHash('sha256').update(payloadJson).digest('hex')).toBe(requested.payloadSha256);
    expect(payloadSha256(request)).toBe(requested.payloadSha256);
    expect(requested.fingerprint).toBe(requested.payloadSha256);
    expect(requested.requestJson).toBe(requestItem.requestJson);
  });

  it('a request the contract refuses gets no shadow answer (no policy saw it)', async () => {
    const event = actionRequested({ justification: '' });
    const result = await evaluateActionRequested(event, deps());
    expect(result.record.outcome).toBe('invalid');
    expect(result.record.shadow).toBeUndefined();
  });
});

describe('loading a shadow set', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-shadow-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);

  it('lays shadow files over the enforced files by name: a same-named file replaces, an empty one removes', () => {
    cpSync(POLICY_DIR, dir, { recursive: true });
    rmSync(join(dir, 'shadow'), { recursive: true, force: true });
    expect(shadowPolicyEngine(dir)).toBeUndefined();
    cpSync(join(POLICY_DIR, 'shadow'), join(dir, 'shadow'), { recursive: true });
    write('shadow/guardrails.cedar', '// no guardrails in this shadow set\n');
    const engine = shadowPolicyEngine(dir);
    const ids = engine?.policies.map((p) => p.id) ?? [];
    expect(ids).toContain('db-query-customers-prod-needs-data-owners');
    expect(ids).toContain('db-query');
    expect(ids.filter((id) => policy.policies.find((p) => p.id === id)?.file === 'guardrails.cedar')).toEqual([]);
    expect(ids.length).toBe(policy.policies.length + 1 - policy.policies.filter((p) => p.file === 'guardrails.cedar').length);
  });

  it('refuses a shadow set that does not validate, naming the shadow file', () => {
    write('shadow/broken.cedar', '@id("broken")\npermit (principal, action == Action::"db.query", resource is Database) when { resource.owner == "x" };\n');
    let error: unknown;
    try {
      shadowPolicyEngine(dir);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).message).toContain('shadow set of');
    expect((error as PolicyLoadError).problems.join('\n')).toContain('shadow/broken.cedar');
  });
});
