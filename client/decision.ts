import * as z from 'zod';
import type { ActionRequest } from '../shared/domain/contract.js';

/**
 * What the decision API answers (`GET /actions/{actionId}`), parsed at the edge. Extra fields are
 * tolerated so a newer server does not break an older agent.
 */
export const DecisionResponseSchema = z.object({
  actionId: z.string().nullable(),
  requestEventId: z.string(),
  outcome: z.enum(['allowed', 'approved', 'denied', 'rejected', 'expired', 'invalid', 'pending']),
  reason: z.string(),
  payloadSha256: z.string().nullable(),
  policyIds: z.array(z.string()),
  reviewers: z.array(z.object({
    id: z.string(),
    vote: z.enum(['approve', 'deny']),
    at: z.string(),
    comment: z.string().optional(),
  })),
  decidedAt: z.string().nullable(),
  /** Until when an allowed or approved request may be executed, once; null otherwise (absent from servers before it existed). */
  validUntil: z.string().nullable().default(null),
  /** The agent's report of the act, once recorded; null before (and from servers before it existed). */
  execution: z.object({
    status: z.enum(['succeeded', 'failed']),
    agentId: z.string(),
    startedAt: z.string(),
    finishedAt: z.string(),
    reportedAt: z.string(),
    resultSummary: z.string().nullable(),
    resultSha256: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  }).nullable().default(null),
});

export type DecisionResponse = z.infer<typeof DecisionResponseSchema>;
export type Reviewer = DecisionResponse['reviewers'][number];
/** The recorded execution of an allowed or approved request (the decision API's `execution`). */
export type ExecutionRecord = NonNullable<DecisionResponse['execution']>;

interface DecisionFields {
  actionId: string;
  /** The EventBridge event id PutEvents returned for the `Action Requested` event. */
  requestEventId: string;
  reason: string;
  policyIds: string[];
  reviewers: Reviewer[];
  decidedAt: string | null;
  validUntil: string | null;
  /** The recorded execution, once the agent reported it; null before. */
  execution: ExecutionRecord | null;
}

/** The request may run: exactly the payload whose hash is `payloadSha256`. */
export interface ApprovalDecision extends DecisionFields {
  outcome: 'allowed' | 'approved';
  payloadSha256: string;
}

/** The request must not run. */
export interface RefusalDecision extends DecisionFields {
  outcome: 'denied' | 'rejected' | 'expired' | 'invalid';
  /** Null for an `invalid` request the server could not hash. */
  payloadSha256: string | null;
}

/** A final outcome: `requestAction` and `waitForDecision` return one of these. */
export type FinalDecision = ApprovalDecision | RefusalDecision;

/** The decision API's answer while a review is open. */
export interface PendingDecision extends DecisionFields {
  outcome: 'pending';
  payloadSha256: string | null;
}

/** What `guard` gives the function it runs: the approval and the approved request, deep-frozen. */
export interface GuardedApproval extends ApprovalDecision {
  /** The request as it was sent and approved (a frozen copy, not the caller's object). */
  request: DeepReadonly<ActionRequest>;
  /** `request.parameters`: what the action must use. */
  parameters: DeepReadonly<ActionRequest['parameters']>;
}

export type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export function isApproval(decision: FinalDecision): decision is ApprovalDecision {
  return decision.outcome === 'allowed' || decision.outcome === 'approved';
}
