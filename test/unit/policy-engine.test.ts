import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionRequest } from '../../shared/domain/contract.js';
import type { PolicyDecision } from '../../shared/domain/decision.js';
import { CedarPolicyEngine, editDistance } from '../../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir, PolicyLoadError, type PolicySource } from '../../shared/policy/load-policies.js';

interface RequestParts {
  action: string;
  type: string;
  id: string;
  environment?: string;
  attributes?: Record<string, string | number | boolean>;
  onBehalfOf?: string;
  parameters?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

function request(parts: RequestParts): ActionRequest {
  return {
    specVersion: '1',
    actionId: 'test-action-1',
    agent: { id: 'report-bot', ...(parts.onBehalfOf !== undefined ? { onBehalfOf: parts.onBehalfOf } : {}) },
    action: parts.action,
    resource: { type: parts.type, id: parts.id, ...(parts.attributes !== undefined ? { attributes: parts.attributes } : {}) },
    environment: parts.environment ?? 'prod',
    parameters: parts.parameters ?? {},
    justification: 'unit test',
    ...(parts.context !== undefined ? { context: parts.context } : {}),
  };
}

const SMALL_SCHEMA = `
entity Environment enum ["prod", "staging", "dev"];
type RequestContext = { environment: Environment, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };
entity Agent;
entity Doc = { id: String, pages?: Long, owner?: String };
action "doc.read", "doc.delete" appliesTo { principal: [Agent], resource: [Doc], context: RequestContext };
`;

function source(policies: string, schema = SMALL_SCHEMA): PolicySource {
  return { schema: { file: 'schema.cedarschema', text: schema }, policies: [{ file: 'inline.cedar', text: policies }] };
}

function loadError(build: () => unknown): PolicyLoadError {
  try {
    build();
  } catch (error) {
    if (error instanceof PolicyLoadError) return error;
    throw error;
  }
  throw new Error('expected a PolicyLoadError, but the policy set loaded');
}

const shipped = new CedarPolicyEngine();
const decide = (parts: RequestParts) => shipped.decide(request(parts));

function approvalOf(decision: PolicyDecision) {
  expect(decision.kind).toBe('approval');
  return decision.kind === 'approval' ? decision.approval : undefined;
}

describe('the shipped policies', () => {
  it('allow db.query on a Database in every environment', () => {
    for (const environment of ['prod', 'staging', 'dev', 'test']) {
      expect(decide({ action: 'db.query', type: 'Database', id: 'orders', environment })).toMatchObject({ kind: 'allow', policyIds: ['db-query'] });
    }
  });

  it('send db.export in prod to data-owners, quorum 1, 30 minutes', () => {
    const decision = decide({ action: 'db.export', type: 'Database', id: 'orders' });
    expect(approvalOf(decision)).toEqual({ approvers: 'data-owners', quorum: 1, timeout: 'PT30M', timeoutSeconds: 1_800 });
    expect(decision.policyIds).toEqual(['db-export-prod-needs-data-owners']);
    expect(decision.reason).toBe('needs 1 approval from data-owners within 30 minutes (policy db-export-prod-needs-data-owners)');
  });

  it('allow db.export outside prod', () => {
    expect(decide({ action: 'db.export', type: 'Database', id: 'orders', environment: 'staging' })).toMatchObject({ kind: 'allow', policyIds: ['db-export-non-prod'] });
  });

  it('send db.schema.update in prod to dba with the default timeout, and allow it elsewhere', () => {
    expect(approvalOf(decide({ action: 'db.schema.update', type: 'Database', id: 'orders' }))).toEqual({ approvers: 'dba', quorum: 1, timeout: 'PT1H', timeoutSeconds: 3_600 });
    expect(decide({ action: 'db.schema.update', type: 'Database', id: 'orders', environment: 'dev' }).kind).toBe('allow');
  });

  it('send iam.policy.update in prod to 2 of security within an hour, escalating to security-leads', () => {
    const decision = decide({ action: 'iam.policy.update', type: 'IamPolicy', id: 'deployers' });
    expect(approvalOf(decision)).toEqual({ approvers: 'security', quorum: 2, timeout: 'PT1H', timeoutSeconds: 3_600, escalate: 'security-leads' });
    expect(decision.reason).toContain('escalating to security-leads');
  });

  it('send iam.policy.update outside prod to 1 of security', () => {
    expect(approvalOf(decide({ action: 'iam.policy.update', type: 'IamPolicy', id: 'deployers', environment: 'dev' }))).toEqual({ approvers: 'security', quorum: 1, timeout: 'PT1H', timeoutSeconds: 3_600 });
  });

  it('send a password reset of an admin, or of a user whose admin flag is absent, to security', () => {
    for (const attributes of [{ admin: true }, undefined, {}] as Array<RequestParts['attributes']>) {
      const decision = decide({ action: 'user.password.reset', type: 'User', id: 'u1', attributes });
      expect(approvalOf(decision)?.approvers).toBe('security');
      expect(decision.policyIds).toEqual(['user-password-reset-admin-needs-security']);
    }
  });

  it('allow a password reset of a user known not to be an admin', () => {
    expect(decide({ action: 'user.password.reset', type: 'User', id: 'u1', attributes: { admin: false } })).toMatchObject({ kind: 'allow', policyIds: ['user-password-reset-non-admin'] });
  });

  it('send compute.instance.create in prod to platform and allow it elsewhere', () => {
    expect(approvalOf(decide({ action: 'compute.instance.create', type: 'Instance', id: 'web-1' }))?.approvers).toBe('platform');
    expect(decide({ action: 'compute.instance.create', type: 'Instance', id: 'web-1', environment: 'dev' }).kind).toBe('allow');
  });

  it('forbid every verb on an audit/ resource, naming the policy', () => {
    const verbs: Array<[string, string]> = [
      ['db.query', 'Database'],
      ['db.export', 'Database'],
      ['iam.policy.update', 'IamPolicy'],
      ['user.password.reset', 'User'],
      ['compute.instance.create', 'Instance'],
      ['storage.bucket.delete', 'Bucket'],
    ];
    for (const [action, type] of verbs) {
      const decision = decide({ action, type, id: 'audit/trail', environment: 'dev', attributes: { admin: false } });
      expect(decision, action).toEqual({ kind: 'deny', policyIds: ['forbid-audit-resources'], reason: 'forbidden by policy forbid-audit-resources' });
    }
    expect(decide({ action: 'db.query', type: 'Database', id: 'logs/audit/x' }).kind).toBe('allow');
  });

  it('forbid storage.bucket.delete in prod and leave it uncovered (denied) elsewhere', () => {
    expect(decide({ action: 'storage.bucket.delete', type: 'Bucket', id: 'b' })).toEqual({ kind: 'deny', policyIds: ['forbid-bucket-delete-prod'], reason: 'forbidden by policy forbid-bucket-delete-prod' });
    expect(decide({ action: 'storage.bucket.delete', type: 'Bucket', id: 'b', environment: 'dev' })).toEqual({
      kind: 'deny',
      policyIds: [],
      reason: 'no policy permits storage.bucket.delete on Bucket in dev',
    });
  });

  it('answer an unknown verb with a readable invalid', () => {
    expect(decide({ action: 'db.drop', type: 'Database', id: 'orders' })).toEqual({ kind: 'invalid', policyIds: [], reason: 'action "db.drop" is not a verb the policy schema knows (nearest known: db.export, db.query, db.schema.update)' });
  });

  it('names the verb a typo was meant for first (issue 11: db.exprot)', () => {
    expect(decide({ action: 'db.exprot', type: 'Database', id: 'orders' })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('(nearest known: db.export, ') });
    expect(decide({ action: 'user.pasword.reset', type: 'User', id: 'u-1' })).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('(nearest known: user.password.reset, ') });
  });

  it('counts a swap of neighbouring characters as one edit', () => {
    expect([editDistance('exprot', 'export'), editDistance('', 'abc'), editDistance('db.query', 'db.query'), editDistance('kitten', 'sitting')]).toEqual([1, 3, 0, 3]);
  });

  it('answer a resource type the verb does not take with a readable invalid', () => {
    expect(decide({ action: 'db.export', type: 'Foo', id: 'x' })).toEqual({ kind: 'invalid', policyIds: [], reason: 'resource type "Foo" is not valid for action "db.export" (expected Database)' });
    expect(decide({ action: 'db.export', type: 'User', id: 'x' }).reason).toBe('resource type "User" is not valid for action "db.export" (expected Database)');
  });

  it('answer a declared attribute of the wrong type with a readable invalid, and ignore undeclared ones', () => {
    expect(decide({ action: 'user.password.reset', type: 'User', id: 'u', attributes: { admin: 'false' } })).toEqual({
      kind: 'invalid',
      policyIds: [],
      reason: 'resource.attributes.admin must be true or false for a User (got "false")',
    });
    expect(decide({ action: 'user.password.reset', type: 'User', id: 'u', attributes: { admin: false, department: 'it', constructor: 1 } }).kind).toBe('allow');
  });

  it('do not let an `id` attribute stand in for the resource id', () => {
    expect(decide({ action: 'db.query', type: 'Database', id: 'audit/x', attributes: { id: 'orders' } }).kind).toBe('deny');
    expect(decide({ action: 'db.query', type: 'Database', id: 'orders', attributes: { id: 'audit/x' } }).kind).toBe('allow');
  });

  it('list the environments in the schema, and only there', () => {
    expect(shipped.environments).toEqual(['prod', 'staging', 'dev', 'test']);
    expect(readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8')).toContain('entity Environment enum ["prod", "staging", "dev", "test"];');
  });

  it('give every listed environment other than prod the non-prod outcome', () => {
    for (const environment of ['staging', 'dev', 'test']) {
      expect(decide({ action: 'db.export', type: 'Database', id: 'orders', environment }), environment).toMatchObject({ kind: 'allow', policyIds: ['db-export-non-prod'] });
      expect(decide({ action: 'iam.policy.update', type: 'IamPolicy', id: 'deployers', environment }).policyIds, environment).toEqual(['iam-policy-update-needs-security']);
    }
  });

  // The hole this closes: the environment is whatever the agent sends, and the non-prod rules are
  // written `unless { context.environment == Environment::"prod" }`. Compared as strings, a "production"
  // was "not prod" and got db.export without approval.
  it('answer db.export in an environment the schema does not list with invalid, never allow', () => {
    expect(decide({ action: 'db.export', type: 'Database', id: 'orders', environment: 'production' })).toEqual({
      kind: 'invalid',
      policyIds: [],
      reason: 'environment: "production" is not an environment the policy schema knows (known: prod, staging, dev, test)',
    });
    expect(decide({ action: 'db.export', type: 'Database', id: 'orders', environment: 'prod-eu' }).reason).toBe(
      'environment: "prod-eu" is not an environment the policy schema knows (known: prod, staging, dev, test)',
    );
  });

  it('evaluate no verb in an environment the schema does not list, narrowed by action or not', () => {
    const everything = new CedarPolicyEngine({ narrowByAction: false });
    const unlisted = ['production', 'prod-eu', 'prod2', 'qa', 'stage', 'staging-2', 'development', 'p', 'eu-prod', 'testing'];
    for (const [action, type] of [['db.query', 'Database'], ['db.export', 'Database'], ['db.schema.update', 'Database'], ['iam.policy.update', 'IamPolicy'], ['user.password.reset', 'User'], ['compute.instance.create', 'Instance'], ['storage.bucket.delete', 'Bucket']] as const) {
      for (const environment of unlisted) {
        for (const engine of [shipped, everything]) {
          const decision = engine.decide(request({ action, type, id: 'r1', environment, attributes: { admin: false } }));
          expect(decision, `${action} in ${environment}`).toEqual({
            kind: 'invalid',
            policyIds: [],
            reason: `environment: "${environment}" is not an environment the policy schema knows (known: prod, staging, dev, test)`,
          });
        }
      }
    }
  });

  it('are backed by Cedar itself: request validation refuses an environment outside the enum', () => {
    const schema = readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8');
    const ask = (environment: string) =>
      cedar.isAuthorized({
        principal: { type: 'Agent', id: 'report-bot' },
        action: { type: 'Action', id: 'db.export' },
        resource: { type: 'Database', id: 'orders' },
        context: { environment: { __entity: { type: 'Environment', id: environment } }, parameterKeys: [], riskHints: [] },
        entities: [{ uid: { type: 'Database', id: 'orders' }, attrs: { id: 'orders' }, parents: [] }],
        schema,
        policies: { staticPolicies: '@id("everything") permit (principal, action, resource);' },
        validateRequest: true,
      });
    expect(ask('dev')).toMatchObject({ type: 'success', response: { decision: 'allow' } });
    const refused = ask('production');
    expect(refused.type).toBe('failure');
    expect(refused.type === 'failure' ? refused.errors.map((e) => e.message).join('\n') : '').toContain('is of an enumerated entity type');
  });

  it('each carry a unique @id and are all listed', () => {
    const ids = shipped.policies.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(13);
    expect(shipped.warnings).toEqual([]);
  });
});

describe('narrowing by action', () => {
  it('gives the same decisions as evaluating every policy', () => {
    const everything = new CedarPolicyEngine({ narrowByAction: false });
    const requests: RequestParts[] = [];
    for (const [action, type] of [['db.query', 'Database'], ['db.export', 'Database'], ['db.schema.update', 'Database'], ['iam.policy.update', 'IamPolicy'], ['user.password.reset', 'User'], ['compute.instance.create', 'Instance'], ['storage.bucket.delete', 'Bucket']] as const) {
      for (const environment of ['prod', 'dev', 'test', 'production']) {
        for (const id of ['r1', 'audit/r1']) {
          requests.push({ action, type, id, environment }, { action, type, id, environment, attributes: { admin: false } });
        }
      }
    }
    for (const parts of requests) expect(shipped.decide(request(parts)), JSON.stringify(parts)).toEqual(everything.decide(request(parts)));
  });

  it('keeps policies scoped to an action group, and those with an open action scope', () => {
    const engine = new CedarPolicyEngine({
      source: source(
        `@id("reads") permit (principal, action in Action::"reading", resource);
         @id("owner-guard") forbid (principal, action, resource) when { resource has owner && resource.owner == "legal" };`,
        SMALL_SCHEMA.replace('action "doc.read", "doc.delete" appliesTo', 'action "reading";\naction "doc.read" in ["reading"] appliesTo { principal: [Agent], resource: [Doc], context: RequestContext };\naction "doc.delete" appliesTo'),
      ),
    });
    expect(engine.policies.find((p) => p.id === 'reads')?.actions).toEqual(['doc.read']);
    expect(engine.policies.find((p) => p.id === 'owner-guard')?.actions).toBe('any');
    expect(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd' }))).toMatchObject({ kind: 'allow', policyIds: ['reads'] });
    expect(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd', attributes: { owner: 'legal' } }))).toMatchObject({ kind: 'deny', policyIds: ['owner-guard'] });
    expect(engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'd' })).kind).toBe('deny');
  });
});

describe('the context policies see', () => {
  const engine = new CedarPolicyEngine({
    source: source(`
      @id("read") permit (principal, action == Action::"doc.read", resource);
      @id("no-destructive") forbid (principal, action, resource) when { context.riskHints.contains("destructive") };
      @id("no-purge-param") forbid (principal, action, resource) when { context.parameterKeys.contains("purge") };
      @id("humans-only-delete") permit (principal, action == Action::"doc.delete", resource) when { context has onBehalfOf && context.onBehalfOf like "*@example.com" };
      @id("big-docs") @approval @approvers("editors") permit (principal, action == Action::"doc.read", resource) when { resource has pages && resource.pages > 100 };
      @id("one-agent") @approval @approvers("auditors") permit (principal == Agent::"suspicious-bot", action == Action::"doc.read", resource);
    `),
  });
  const read = (extra: Partial<RequestParts>) => engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd', ...extra }));

  it('includes context.riskHints when it is an array of strings, and nothing otherwise', () => {
    expect(read({ context: { riskHints: ['destructive'] } })).toMatchObject({ kind: 'deny', policyIds: ['no-destructive'] });
    expect(read({ context: { riskHints: 'destructive' } }).kind).toBe('allow');
    expect(read({ context: { riskHints: ['destructive', 3] } }).kind).toBe('allow');
    expect(read({ context: { other: true } }).kind).toBe('allow');
  });

  it('includes the names of the top-level parameters', () => {
    expect(read({ parameters: { purge: false } })).toMatchObject({ kind: 'deny', policyIds: ['no-purge-param'] });
    expect(read({ parameters: { nested: { purge: true } } }).kind).toBe('allow');
  });

  it('includes the environment as Environment::"<environment>", and refuses one the schema does not list', () => {
    const byEnvironment = new CedarPolicyEngine({
      source: source(`
        @id("read-outside-prod") permit (principal, action == Action::"doc.read", resource) unless { context.environment == Environment::"prod" };
        @id("delete-in-dev-or-staging") permit (principal, action == Action::"doc.delete", resource) when { context.environment in [Environment::"dev", Environment::"staging"] };
      `),
    });
    const ask = (action: string, environment: string) => byEnvironment.decide(request({ action, type: 'Doc', id: 'd', environment })).kind;
    expect(['prod', 'staging', 'dev', 'test'].map((environment) => ask('doc.read', environment))).toEqual(['deny', 'allow', 'allow', 'invalid']);
    expect(['prod', 'staging', 'dev'].map((environment) => ask('doc.delete', environment))).toEqual(['deny', 'allow', 'allow']);
    expect(byEnvironment.decide(request({ action: 'doc.read', type: 'Doc', id: 'd', environment: 'test' })).reason).toBe(
      'environment: "test" is not an environment the policy schema knows (known: prod, staging, dev)',
    );
  });

  it('includes onBehalfOf when the agent acts for someone', () => {
    expect(engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'd', onBehalfOf: 'alice@example.com' })).kind).toBe('allow');
    expect(engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'd' })).kind).toBe('deny');
  });

  it('passes Long attributes, and the agent as the principal', () => {
    expect(read({ attributes: { pages: 500 } })).toMatchObject({ kind: 'approval', approval: { approvers: 'editors' } });
    expect(read({ attributes: { pages: 'many' } })).toMatchObject({ kind: 'invalid', reason: 'resource.attributes.pages must be an integer for a Doc (got "many")' });
    const suspicious = engine.decide({ ...request({ action: 'doc.read', type: 'Doc', id: 'd' }), agent: { id: 'suspicious-bot' } });
    expect(suspicious).toMatchObject({ kind: 'approval', approval: { approvers: 'auditors' } });
  });
});

describe('when a policy fails at evaluation (integer overflow passes validation)', () => {
  const overflow = 'resource has pages && resource.pages * 4611686018427387904 > 0';
  const engine = new CedarPolicyEngine({
    source: source(`
      @id("read") permit (principal, action == Action::"doc.read", resource);
      @id("overflowing-guard") forbid (principal, action == Action::"doc.read", resource) when { ${overflow} };
      @id("delete-small") permit (principal, action == Action::"doc.delete", resource) when { ${overflow} };
      @id("delete-review") @approval @approvers("editors") permit (principal, action == Action::"doc.delete", resource) when { resource has owner && ${overflow} };
      @id("delete-plain") permit (principal, action == Action::"doc.delete", resource) when { resource has owner };
    `),
  });

  it('denies when a forbid cannot be evaluated, rather than skipping it as Cedar would', () => {
    const decision = engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd', attributes: { pages: 4 } }));
    expect(decision.kind).toBe('deny');
    expect(decision.policyIds).toEqual(['overflowing-guard']);
    expect(decision.reason).toContain('could not be evaluated');
    expect(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd', attributes: { pages: 0 } })).kind).toBe('allow');
  });

  it('denies when an approval policy cannot be evaluated, rather than letting a plain permit through', () => {
    const decision = engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'd', attributes: { pages: 4, owner: 'me' } }));
    expect(decision).toMatchObject({ kind: 'deny', policyIds: ['delete-review'] });
  });

  it('treats a plain permit that cannot be evaluated as not permitting', () => {
    expect(engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'd', attributes: { pages: 4 } }))).toMatchObject({ kind: 'deny', policyIds: [] });
  });
});

describe('when several approval policies apply', () => {
  const engine = new CedarPolicyEngine({
    source: source(`
      @id("b-quorum-2-slow") @approval @approvers("team-b") @quorum("2") @timeout("P1D")
      permit (principal, action == Action::"doc.read", resource) when { resource.id like "q2/*" };
      @id("a-quorum-2-fast") @approval @approvers("team-a") @quorum("2") @timeout("PT30M") @escalate("leads")
      permit (principal, action == Action::"doc.read", resource) when { resource.id like "q2/*" };
      @id("c-quorum-1-fastest") @approval @approvers("team-c") @quorum("1") @timeout("PT5M")
      permit (principal, action == Action::"doc.read", resource);
      @id("d-same-as-c") @approval @approvers("team-d") @quorum("1") @timeout("PT5M")
      permit (principal, action == Action::"doc.read", resource) when { resource.id like "tie/*" };
      @id("plain") permit (principal, action == Action::"doc.read", resource);
    `),
  });

  it('picks the highest quorum, then the shortest timeout, and reports every determining policy, the chosen first', () => {
    const decision = engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'q2/report' }));
    expect(decision).toEqual({
      kind: 'approval',
      policyIds: ['a-quorum-2-fast', 'b-quorum-2-slow', 'c-quorum-1-fastest', 'plain'],
      reason: 'needs 2 approvals from team-a within 30 minutes, escalating to leads (policy a-quorum-2-fast, the strictest of 3 that apply)',
      approval: { approvers: 'team-a', quorum: 2, timeout: 'PT30M', timeoutSeconds: 1_800, escalate: 'leads' },
      validity: { validFor: 'PT15M', validForSeconds: 900 },
    });
  });

  it('breaks a full tie by policy id', () => {
    const decision = engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'tie/x' }));
    expect(decision.kind === 'approval' && decision.approval.approvers).toBe('team-c');
    expect(decision.policyIds.slice(0, 2)).toEqual(['c-quorum-1-fastest', 'd-same-as-c']);
  });

  it('needs approval even when a plain permit also applies', () => {
    expect(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'x' })).kind).toBe('approval');
  });
});

describe('@validFor: how long a permission may be acted on', () => {
  const engine = new CedarPolicyEngine({
    source: source(`
      @id("reads") permit (principal, action == Action::"doc.read", resource);
      @id("short-reads") @validFor("PT5M") permit (principal, action == Action::"doc.read", resource) when { resource.id like "short/*" };
      @id("long-reads") @validFor("PT2H") permit (principal, action == Action::"doc.read", resource) when { resource.id like "*long*" };
      @id("deletes") @approval @approvers("owners") @validFor("PT30M") permit (principal, action == Action::"doc.delete", resource);
    `),
  });
  const validityOf = (decision: PolicyDecision) => (decision.kind === 'allow' || decision.kind === 'approval' ? decision.validity : undefined);

  it('defaults to 15 minutes when no permit that applies names one', () => {
    expect(validityOf(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'x' })))).toEqual({ validFor: 'PT15M', validForSeconds: 900 });
  });

  it('takes the policy\'s own, for an allow and for an approval', () => {
    expect(validityOf(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'a-long-one' })))).toEqual({ validFor: 'PT2H', validForSeconds: 7_200 });
    expect(validityOf(engine.decide(request({ action: 'doc.delete', type: 'Doc', id: 'x' })))).toEqual({ validFor: 'PT30M', validForSeconds: 1_800 });
  });

  it('takes the shortest when several permits apply', () => {
    expect(validityOf(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'short/long' })))).toEqual({ validFor: 'PT5M', validForSeconds: 300 });
  });

  it('refuses a forbid with @validFor and a window outside 1 minute to 1 day, naming the policy', () => {
    const error = loadError(() => new CedarPolicyEngine({
      source: source(`
        @id("f") @validFor("PT5M") forbid (principal, action == Action::"doc.read", resource);
        @id("tiny") @validFor("PT30S") permit (principal, action == Action::"doc.read", resource);
        @id("huge") @validFor("P2D") permit (principal, action == Action::"doc.read", resource);
        @id("months") @validFor("P1M") permit (principal, action == Action::"doc.read", resource);
      `),
    }));
    expect(error.message).toContain('policy "f": @validFor is only meaningful on a permit policy');
    expect(error.message).toContain('policy "tiny": @validFor("PT30S") must be between 1 minute (PT1M) and 1 day (P1D)');
    expect(error.message).toContain('policy "huge": @validFor("P2D") must be between 1 minute (PT1M) and 1 day (P1D)');
    expect(error.message).toContain('policy "months": @validFor: "P1M" is not a usable ISO 8601 duration');
  });
});

describe('loading', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'countersign-policies-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the repo policies by default and any directory given as policyDir', () => {
    writeFileSync(join(dir, 'schema.cedarschema'), SMALL_SCHEMA);
    writeFileSync(join(dir, 'a.cedar'), '@id("read") permit (principal, action == Action::"doc.read", resource);');
    writeFileSync(join(dir, 'b.cedar'), '@id("no-delete") forbid (principal, action == Action::"doc.delete", resource);');
    writeFileSync(join(dir, 'notes.txt'), 'not a policy');
    const engine = new CedarPolicyEngine({ policyDir: dir });
    expect(engine.policies.map((p) => `${p.file}:${p.id}`)).toEqual(['a.cedar:read', 'b.cedar:no-delete']);
    expect(engine.decide(request({ action: 'doc.read', type: 'Doc', id: 'd' })).kind).toBe('allow');
    expect(readFileSync(join(defaultPolicyDir(), 'schema.cedarschema'), 'utf8')).toContain('entity Agent');
  });

  it('fails on a missing directory, schema or policy files, naming them', () => {
    expect(loadError(() => new CedarPolicyEngine({ policyDir: join(dir, 'nope') })).problems[0]).toContain('cannot read the policy directory');
    const empty = mkdtempSync(join(dir, 'empty-'));
    expect(loadError(() => new CedarPolicyEngine({ policyDir: empty })).problems).toEqual([
      'schema.cedarschema is missing; the policies are validated against it',
      'no *.cedar policy files; without policies every request would be denied',
    ]);
  });

  it('fails on a policy without @id, naming file and line', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("ok") permit (principal, action, resource);\n\npermit (principal, action == Action::"doc.read", resource);') }));
    expect(error.problems).toEqual(['inline.cedar:3: the policy has no @id("...") annotation; every policy needs a unique @id so decisions can name it']);
    expect(error.message).toContain('inline.cedar:3');
  });

  it('fails on a duplicated @id, across files', () => {
    const error = loadError(
      () =>
        new CedarPolicyEngine({
          source: {
            schema: { file: 'schema.cedarschema', text: SMALL_SCHEMA },
            policies: [
              { file: 'a.cedar', text: '@id("same") permit (principal, action == Action::"doc.read", resource);' },
              { file: 'b.cedar', text: '\n@id("same") forbid (principal, action, resource);' },
            ],
          },
        }),
    );
    expect(error.problems).toEqual(['b.cedar:2: policy "same": reuses the @id of the policy at a.cedar:1; every @id must be unique']);
  });

  it('fails on @approval without @approvers, and on bad annotation values', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("p") @approval @quorum("12") @timeout("P30D") permit (principal, action, resource);') }));
    expect(error.problems).toEqual([
      'inline.cedar:1: policy "p": @approval needs @approvers("group") naming who may approve',
      'inline.cedar:1: policy "p": @quorum("12") must be a whole number from 1 to 10',
      'inline.cedar:1: policy "p": @timeout("P30D") must be between 1 minute (PT1M) and 7 days (P7D)',
    ]);
  });

  it('fails on a policy that does not validate against the schema, with Cedar\'s message and the line', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("ok") permit (principal, action, resource);\n@id("typo")\npermit (principal, action == Action::"doc.read", resource)\nwhen { resource.ownr == "me" };') }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^inline\.cedar:4:\d+: policy "typo": attribute `ownr` on entity type `Doc` not found/);
  });

  it('fails on a policy naming a verb the schema does not know', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("ghost") permit (principal, action == Action::"doc.shred", resource);') }));
    expect(error.problems.join('\n')).toContain('policy "ghost"');
    expect(error.problems.join('\n')).toContain('doc.shred');
  });

  it('fails on a syntax error with the file and line', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("a") permit (principal, action, resource);\n@id("b") permit (principal, action, resource) when { resource.id like };') }));
    expect(error.problems).toEqual([expect.stringMatching(/^inline\.cedar:2:\d+: unexpected token/)]);
  });

  it('fails on a schema the engine cannot fill: wrong context, missing id, namespaced', () => {
    const policies = '@id("a") permit (principal, action, resource);';
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, SMALL_SCHEMA.replace('riskHints: Set<String>', 'risk: Long')) })).problems).toEqual([
      expect.stringContaining('declare the context type exactly as the engine fills it'),
    ]);
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, SMALL_SCHEMA.replace('id: String, ', '')) })).problems).toEqual([
      'schema.cedarschema: resource type Doc must declare a required `id: String` attribute (the engine sets it to the resource id so policies can match on it)',
    ]);
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, `namespace Acme { ${SMALL_SCHEMA} }`) })).problems[0]).toContain('outside any namespace');
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, SMALL_SCHEMA.replace('entity Agent;', 'entity Agent = { team: String };')) })).problems[0]).toContain('without attributes');
  });

  it('fails on a schema without the environments, or with the environment as a String', () => {
    const policies = '@id("a") permit (principal, action, resource);';
    const without = SMALL_SCHEMA.replace('entity Environment enum ["prod", "staging", "dev"];', '');
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, without.replace('environment: Environment', 'environment: String')) })).problems).toEqual([
      'schema.cedarschema: declare the context type exactly as the engine fills it: type RequestContext = { environment: Environment, onBehalfOf?: String, parameterKeys: Set<String>, riskHints: Set<String> };',
      'schema.cedarschema: declare the environments requests may name as an enumerated entity type, e.g. entity Environment enum ["prod", "staging", "dev"]; (a request naming any other environment is answered invalid)',
    ]);
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, SMALL_SCHEMA.replace('entity Environment enum ["prod", "staging", "dev"];', 'entity Environment;')) })).problems).toEqual([
      expect.stringContaining('declare the environments requests may name as an enumerated entity type'),
    ]);
    expect(loadError(() => new CedarPolicyEngine({ source: source(policies, SMALL_SCHEMA.replace('environment: Environment', 'environment: String')) })).problems).toEqual([
      expect.stringContaining('declare the context type exactly as the engine fills it'),
    ]);
  });

  it('fails on an environment no request can name', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("a") permit (principal, action, resource);', SMALL_SCHEMA.replace('"staging"', '"Staging"')) }));
    expect(error.problems).toEqual([
      'schema.cedarschema: environment "Staging" of Environment can never be requested: an environment must be 1-32 characters of a-z, 0-9 or "-", starting with a letter, such as "prod"',
    ]);
  });

  it('fails on a policy that compares the environment with a string, or names an environment the schema does not list', () => {
    const asString = loadError(() => new CedarPolicyEngine({ source: source('@id("old-style") permit (principal, action, resource) unless { context.environment == "prod" };') }));
    expect(asString.problems).toHaveLength(1);
    expect(asString.problems[0]).toMatch(/^inline\.cedar:1:\d+: policy "old-style": .*String and Environment.*; name an environment as Environment::"prod", not as the string "prod"$/);
    const unlisted = loadError(() => new CedarPolicyEngine({ source: source('@id("typo") permit (principal, action, resource) when { context.environment == Environment::"production" };') }));
    expect(unlisted.problems).toHaveLength(1);
    expect(unlisted.problems[0]).toMatch(/^inline\.cedar:1:\d+: policy "typo": .*Environment::"production".* is of an enumerated entity type.*valid entity eids: "prod", "staging", "dev"/);
  });

  it('fails on a schema that does not parse, naming the line', () => {
    const error = loadError(() => new CedarPolicyEngine({ source: source('@id("a") permit (principal, action, resource);', `${SMALL_SCHEMA}\nentity Broken = { x: Strng };`) }));
    expect(error.problems).toEqual([expect.stringMatching(/^schema\.cedarschema:8:\d+: failed to resolve type: Strng/)]);
  });
});
