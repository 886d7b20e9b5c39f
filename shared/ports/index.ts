import type { AgentLimitedDetail } from '../domain/agent-limited.js';
import type { ActionRequest } from '../domain/contract.js';
import type { ActionDecidedDetail, ApprovalRequirement, DecisionView, Outcome, PolicyDecision, ShadowDecision } from '../domain/decision.js';

/** Decides one request against the deployed policy set. Pure and synchronous once built. */
export interface PolicyEngine {
  decide(request: ActionRequest): PolicyDecision;
}

/** A request as the store keeps it, whatever its outcome. */
export interface RequestRecord {
  /** Key of the request: the actionId, or for a request without a usable actionId, `invalid/<eventId>`. */
  key: string;
  /** The actionId as sent, when it was a string (may be absent for invalid requests). */
  actionId: string | null;
  /** Identifies the exact request: `payloadSha256` when valid, else the hash of the whole canonical event. */
  fingerprint: string;
  /** The EventBridge event id that brought it. */
  eventId: string;
  source: string;
  receivedAt: string;
  request: ActionRequest | null;
  /**
   * The raw detail of an invalid request as JSON text (canonical, lone surrogates escaped): whole when
   * it is at most `LIMITS.rawDetailKeptBytes`, else only its first `LIMITS.rawDetailPrefixBytes` bytes
   * (`rawDetailTruncated`), so that no stored item outgrows DynamoDB's 400 KB. Null for a valid request.
   */
  rawDetail: string | null;
  /** SHA-256 (hex) of the whole raw detail text; null for a valid request. */
  rawDetailSha256: string | null;
  /** UTF-8 size of the whole raw detail text; null for a valid request. */
  rawDetailBytes: number | null;
  rawDetailTruncated: boolean;
  payloadSha256: string | null;
  outcome: Outcome;
  reason: string;
  policyIds: string[];
  approval: ApprovalRequirement | null;
  /** How long an allowed or approved request may be acted on (the policy's `@validFor`); null when nothing was permitted. */
  validForSeconds: number | null;
  decidedAt: string | null;
  /**
   * What the shadow policy set would have decided (issue 16); absent when no shadow set is deployed or
   * the request never reached a policy (invalid by the contract). Never acted on.
   */
  shadow?: ShadowDecision;
}

export type RecordResult =
  | { status: 'created'; record: RequestRecord }
  /**
   * The same request was recorded before. `completed`: its `decided` event was missing (an earlier delivery
   * died between the two writes) and was written now.
   */
  | { status: 'duplicate'; record: RequestRecord; completed?: boolean }
  /** The key was used before for a different request: the refusal was recorded, the first request is untouched. */
  | { status: 'conflict'; record: RequestRecord; conflictFingerprint: string };

/** The system of record for requests and their immutable event items. */
export interface DecisionStore {
  /**
   * Writes the request (the source of its `requested` event) and its `decided` event, only if the key is
   * new. On a duplicate, writes the `decided` event if an earlier delivery died before it.
   */
  recordRequest(record: RequestRecord): Promise<RecordResult>;
  getDecision(actionId: string): Promise<DecisionView | undefined>;
  /**
   * The decision and the agent that sent the request (its event's source without `agent.`). With
   * `readableBy`, a request whose agent it refuses is answered undefined, as one never received, and
   * before any further read (a pending request's votes): its answer takes no longer than a missing id's.
   */
  getDecisionWithAgent(actionId: string, readableBy?: (agentId: string) => boolean): Promise<{ decision: DecisionView; agentId: string } | undefined>;
}

/** Publishes Countersign's own events on the bus (source `countersign`). */
export interface EventPublisher {
  /** `Action Decided`, for executors. */
  publishDecided(detail: ActionDecidedDetail): Promise<void>;
  /** `Agent Requests Limited`: an agent started a flood-control burst; record-execution tells its approver group. */
  publishLimited(detail: AgentLimitedDetail): Promise<void>;
}

export interface ApprovalWorkflowInput {
  actionId: string;
  payloadSha256: string;
  agentId: string;
  onBehalfOf: string | null;
  action: string;
  resource: { type: string; id: string };
  environment: string;
  policyIds: string[];
  approval: ApprovalRequirement;
  /** When to remind, expire or escalate, in whole seconds (see `approvalTiming`). */
  timing: ApprovalTiming;
  requestedAt: string;
}

export interface ApprovalTiming {
  /** The first wait: the reminder goes out after this. */
  reminderAfterSeconds: number;
  /** The second wait: the rest of the policy's timeout. */
  deadlineAfterSeconds: number;
  /** The escalation group's window after the deadline, when the policy names one. */
  escalationSeconds: number;
}

/** Starts the approval workflow for a request that needs humans. Starting twice is harmless. */
export interface WorkflowStarter {
  startApproval(input: ApprovalWorkflowInput): Promise<{ executionId: string; alreadyStarted: boolean }>;
}

export type { Outcome };
export type * from './agent-guard.js';
