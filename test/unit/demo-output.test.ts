import { describe, expect, it } from 'vitest';
import type { FinalDecision } from '../../client/index.js';
import { refusalText } from '../../scripts/demo.js';

/** What `npm run demo` prints after a refusal's outcome word. */

function refusal(fields: Partial<FinalDecision> & Pick<FinalDecision, 'outcome' | 'reason'>): FinalDecision {
  return { actionId: 'a-1', requestEventId: 'e-1', payloadSha256: null, policyIds: [], reviewers: [], decidedAt: '2026-12-07T01:00:00.000Z', ...fields } as FinalDecision;
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
