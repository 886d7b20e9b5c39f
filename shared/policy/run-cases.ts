import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { validateActionRequested, type ActionRequest } from '../domain/contract.js';
import type { PolicyDecision } from '../domain/decision.js';
import type { PolicyEngine } from '../ports/index.js';

/**
 * Policy test cases, kept as data beside the policies (`policies/cases.json`) and run both by
 * `npm test` and by `npm run policies:check`.
 */

export const CASES_FILE = 'cases.json';

const ExpectSchema = z.strictObject({
  decision: z.enum(['allow', 'deny', 'approval', 'invalid']),
  approvers: z.string().optional(),
  quorum: z.number().int().optional(),
  timeout: z.string().optional(),
  escalate: z.string().optional(),
  /** Compared as a set: the same ids, in any order. */
  policyIds: z.array(z.string()).optional(),
  /** A piece of text the decision's reason must contain (useful for `invalid` and `deny`). */
  reasonIncludes: z.string().optional(),
});

const CaseSchema = z.strictObject({
  name: z.string().min(1),
  // Only the parts of a request that a policy can see; the rest is filled in by `toActionRequest`.
  request: z.strictObject({
    agent: z.unknown(),
    action: z.unknown(),
    resource: z.unknown(),
    environment: z.unknown(),
    parameters: z.unknown(),
    context: z.unknown().optional(),
  }),
  expect: ExpectSchema,
});

export type PolicyCase = z.infer<typeof CaseSchema>;
export type ExpectedDecision = z.infer<typeof ExpectSchema>;

export class PolicyCasesError extends Error {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file} is not a valid list of policy cases:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyCasesError';
  }
}

/** Reads and checks a cases file: an array of `{name, request, expect}`, names unique, requests valid. */
export function loadPolicyCases(file: string): PolicyCase[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new PolicyCasesError(file, [(error as Error).message]);
  }
  const parsed = z.array(CaseSchema).safeParse(json);
  if (!parsed.success) {
    throw new PolicyCasesError(file, parsed.error.issues.slice(0, 10).map((issue) => `${issue.path.length > 0 ? `[${issue.path.join('.')}]` : 'file'}: ${issue.message}`));
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  parsed.data.forEach((testCase, index) => {
    if (seen.has(testCase.name)) problems.push(`[${index}] "${testCase.name}": the name is used twice`);
    seen.add(testCase.name);
    const built = buildRequest(testCase, index);
    if (!built.ok) problems.push(`[${index}] "${testCase.name}": the request is not a valid Action Requested detail: ${built.reason}`);
  });
  if (problems.length > 0) throw new PolicyCasesError(file, problems);
  return parsed.data;
}

function buildRequest(testCase: PolicyCase, index: number): { ok: true; request: ActionRequest } | { ok: false; reason: string } {
  const detail = {
    specVersion: '1',
    actionId: `policy-case-${index}`,
    ...testCase.request,
    justification: `policy case: ${testCase.name}`,
  };
  const result = validateActionRequested(detail);
  return result.ok ? { ok: true, request: result.request } : { ok: false, reason: result.reason };
}

/** The full `Action Requested` detail a case stands for (specVersion, actionId and justification filled in). */
export function toActionRequest(testCase: PolicyCase, index = 0): ActionRequest {
  const built = buildRequest(testCase, index);
  if (!built.ok) throw new PolicyCasesError(`case "${testCase.name}"`, [built.reason]);
  return built.request;
}

export interface CaseResult {
  name: string;
  passed: boolean;
  expected: ExpectedDecision;
  actual: PolicyDecision;
  /** One line per expected field that did not match, e.g. `quorum: expected 2, got 1`. */
  mismatches: string[];
}

export function compareDecision(expected: ExpectedDecision, actual: PolicyDecision): string[] {
  const mismatches: string[] = [];
  const check = (field: string, want: unknown, got: unknown) => {
    if (want !== undefined && want !== got) mismatches.push(`${field}: expected ${JSON.stringify(want)}, got ${got === undefined ? 'none' : JSON.stringify(got)}`);
  };
  check('decision', expected.decision, actual.kind);
  const approval = actual.kind === 'approval' ? actual.approval : undefined;
  check('approvers', expected.approvers, approval?.approvers);
  check('quorum', expected.quorum, approval?.quorum);
  check('timeout', expected.timeout, approval?.timeout);
  check('escalate', expected.escalate, approval?.escalate);
  if (expected.policyIds !== undefined) {
    const want = [...expected.policyIds].sort();
    const got = [...actual.policyIds].sort();
    if (want.join('\n') !== got.join('\n')) mismatches.push(`policyIds: expected [${want.join(', ')}], got [${got.join(', ')}]`);
  }
  if (expected.reasonIncludes !== undefined && !actual.reason.includes(expected.reasonIncludes)) {
    mismatches.push(`reason: expected it to contain ${JSON.stringify(expected.reasonIncludes)}, got ${JSON.stringify(actual.reason)}`);
  }
  return mismatches;
}

export function runPolicyCases(engine: PolicyEngine, cases: readonly PolicyCase[]): CaseResult[] {
  return cases.map((testCase, index) => {
    const actual = engine.decide(toActionRequest(testCase, index));
    const mismatches = compareDecision(testCase.expect, actual);
    return { name: testCase.name, passed: mismatches.length === 0, expected: testCase.expect, actual, mismatches };
  });
}

/** "approval by security, quorum 2, timeout PT1H, escalate security-leads" and the like. */
export function describeExpected(expected: ExpectedDecision): string {
  const parts: string[] = [expected.decision];
  if (expected.approvers !== undefined) parts.push(`approvers ${expected.approvers}`);
  if (expected.quorum !== undefined) parts.push(`quorum ${expected.quorum}`);
  if (expected.timeout !== undefined) parts.push(`timeout ${expected.timeout}`);
  if (expected.escalate !== undefined) parts.push(`escalate ${expected.escalate}`);
  if (expected.policyIds !== undefined) parts.push(`policies [${expected.policyIds.join(', ')}]`);
  if (expected.reasonIncludes !== undefined) parts.push(`reason containing ${JSON.stringify(expected.reasonIncludes)}`);
  return parts.join(', ');
}

export function describeActual(actual: PolicyDecision): string {
  const parts: string[] = [actual.kind];
  if (actual.kind === 'approval') {
    const a = actual.approval;
    parts.push(`approvers ${a.approvers}`, `quorum ${a.quorum}`, `timeout ${a.timeout}`);
    if (a.escalate !== undefined) parts.push(`escalate ${a.escalate}`);
  }
  parts.push(`policies [${actual.policyIds.join(', ')}]`);
  return `${parts.join(', ')} — ${actual.reason}`;
}
