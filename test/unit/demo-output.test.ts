import { describe, expect, it } from 'vitest';
import type { FinalDecision } from '../../client/index.js';
import { executionText, refusalText } from '../../scripts/demo.js';

/** What `npm run demo` prints after a refusal's outcome word. */

function refusal(fields: Partial<FinalDecision> & Pick<FinalDecision, 'outcome' | 'reason'>): FinalDecision {
  return { actionId: 'a-1', requestEventId: 'e-1', payloadSha256: null, policyIds: [], reviewers: [], decidedAt: '2026-12-07T01:00:00.000Z', validUntil: null, execution: null, ...fields } as FinalDecision;
}

describe('the demo names who refused a request once', () => {
  it('prints a reviewer\'s denial as its reason alone, which already says who denied it', () => {
    const text = refusalText(refusal({
      outcome: 'rejected',
      reason: 'denied by carol: not during the freeze',
      reviewers: [{ id: 'carol', vote: 'deny', at: '2026-12-07T01:00:00.000Z', comment: 'not during the freeze' }],
    }));
    expect(text).toBe('denied by carol: not during the freeze');
    expect(text.match(/carol/g)).toHaveLength(1);
  });

  it('still says who rejected a request when the reason does not', () => {
    expect(refusalText(refusal({
      outcome: 'rejected',
      reason: 'the workflow failed; the request fails closed',
      reviewers: [{ id: 'dan', vote: 'deny', at: '2026-12-07T01:00:00.000Z' }],
    }))).toBe('by dan: the workflow failed; the request fails closed');
  });

  it('prints a policy denial as its reason, which names its policies', () => {
    expect(refusalText(refusal({ outcome: 'denied', reason: 'forbidden by policy no-audit-deletes', policyIds: ['no-audit-deletes'] }))).toBe('forbidden by policy no-audit-deletes');
  });
});

describe('the demo shows a recorded execution', () => {
  const base = { agentId: 'billing-agent', startedAt: '2026-12-07T03:00:00.000Z', finishedAt: '2026-12-07T03:00:01.250Z', reportedAt: '2026-12-07T03:00:01.300Z', resultSha256: 'a'.repeat(64) };

  it('as who ran it, when, for how long, how it ended and what it said', () => {
    expect(executionText({ ...base, status: 'succeeded', resultSummary: 'exported customers as csv', error: null }))
      .toBe('executed by billing-agent at 2026-12-07T03:00:00.000Z (1.25 s), succeeded: exported customers as csv');
  });

  it('with the error of a failed run, and without a summary when there is none', () => {
    expect(executionText({ ...base, status: 'failed', resultSummary: null, error: { code: 'Timeout', message: 'took too long' } }))
      .toBe('executed by billing-agent at 2026-12-07T03:00:00.000Z (1.25 s), failed: Timeout: took too long');
    expect(executionText({ ...base, status: 'succeeded', resultSummary: null, error: null })).toBe('executed by billing-agent at 2026-12-07T03:00:00.000Z (1.25 s), succeeded');
  });
});
