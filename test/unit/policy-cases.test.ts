import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PolicyDecision } from '../../shared/domain/decision.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir } from '../../shared/policy/load-policies.js';
import { CASES_FILE, compareDecision, loadPolicyCases, PolicyCasesError, runPolicyCases, toActionRequest, type PolicyCase } from '../../shared/policy/run-cases.js';

const engine = new CedarPolicyEngine();
const cases = loadPolicyCases(join(defaultPolicyDir(), CASES_FILE));
const results = runPolicyCases(engine, cases);

describe('policies/cases.json', () => {
  it.each(results.map((result) => [result.name, result] as const))('%s', (_name, result) => {
    expect(result.mismatches).toEqual([]);
  });

  it('exercises every shipped policy', () => {
    const decidedBy = new Set(results.flatMap((r) => r.actual.policyIds));
    expect(engine.policies.map((p) => p.id).filter((id) => !decidedBy.has(id))).toEqual([]);
  });

  it('covers every kind of decision, in and out of prod', () => {
    const kinds = new Set(results.map((r) => r.expected.decision));
    expect([...kinds].sort()).toEqual(['allow', 'approval', 'deny', 'invalid']);
    const environments = new Set(cases.map((c) => (c.request.environment === 'prod' ? 'prod' : 'other')));
    expect([...environments].sort()).toEqual(['other', 'prod']);
  });

  it('names every environment the schema lists, and shows that unlisted ones are invalid', () => {
    const named = new Set(cases.map((c) => c.request.environment));
    expect(engine.environments.filter((environment) => !named.has(environment))).toEqual([]);
    const unlisted = results.filter((_, i) => !engine.environments.includes(cases[i]?.request.environment as string));
    expect(unlisted.map((r) => cases.find((c) => c.name === r.name)?.request.environment).sort()).toEqual(['prod-eu', 'production', 'production', 'qa']);
    for (const result of unlisted) {
      expect(result.actual.kind, result.name).toBe('invalid');
      expect(result.actual.reason, result.name).toMatch(/^environment: "[a-z0-9-]+" is not an environment the policy schema knows \(known: prod, staging, dev, test\)$/);
    }
  });
});

describe('the case runner', () => {
  const sample: PolicyCase = {
    name: 'iam in prod',
    request: { agent: { id: 'bot' }, action: 'iam.policy.update', resource: { type: 'IamPolicy', id: 'p' }, environment: 'prod', parameters: {} },
    expect: { decision: 'approval', quorum: 2 },
  };

  it('builds a full, valid Action Requested detail from a case', () => {
    const request = toActionRequest(sample, 7);
    expect(request).toMatchObject({ specVersion: '1', actionId: 'policy-case-7', justification: 'policy case: iam in prod', action: 'iam.policy.update' });
  });

  it('reports each expected field that differs', () => {
    const [result] = runPolicyCases(engine, [{ ...sample, expect: { decision: 'approval', approvers: 'dba', quorum: 1, escalate: 'nobody', policyIds: ['x'] } }]);
    expect(result?.passed).toBe(false);
    expect(result?.mismatches).toEqual([
      'approvers: expected "dba", got "security"',
      'quorum: expected 1, got 2',
      'escalate: expected "nobody", got "security-leads"',
      'policyIds: expected [x], got [iam-policy-update-prod-needs-two-security]',
    ]);
  });

  it('compares policy ids in any order, and reasons by substring', () => {
    const actual: PolicyDecision = { kind: 'deny', policyIds: ['b', 'a'], reason: 'forbidden by policies a, b' };
    expect(compareDecision({ decision: 'deny', policyIds: ['a', 'b'], reasonIncludes: 'forbidden' }, actual)).toEqual([]);
    expect(compareDecision({ decision: 'allow', reasonIncludes: 'permitted' }, actual)).toEqual([
      'decision: expected "allow", got "deny"',
      'reason: expected it to contain "permitted", got "forbidden by policies a, b"',
    ]);
  });

  describe('loading a cases file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-cases-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, content: unknown) => {
      const file = join(dir, name);
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
      return file;
    };
    const problemsOf = (file: string) => {
      try {
        loadPolicyCases(file);
      } catch (error) {
        if (error instanceof PolicyCasesError) return error.problems;
        throw error;
      }
      return [];
    };

    it('refuses a request the event contract would refuse', () => {
      const file = write('bad-request.json', [{ ...sample, request: { ...sample.request, environment: 'Prod' } }]);
      expect(problemsOf(file)).toEqual([expect.stringContaining('[0] "iam in prod": the request is not a valid Action Requested detail: environment:')]);
    });

    it('refuses duplicate names and unknown expectation fields', () => {
      expect(problemsOf(write('dupes.json', [sample, sample]))).toEqual(['[1] "iam in prod": the name is used twice']);
      expect(problemsOf(write('typo.json', [{ ...sample, expect: { decision: 'approval', qourum: 2 } }]))[0]).toContain('qourum');
    });

    it('refuses a file that is not JSON', () => {
      expect(problemsOf(write('broken.json', '[{'))).toHaveLength(1);
    });
  });
});
