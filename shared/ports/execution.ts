import type { ExecutionSummary, ReportIdentity, ViolationRule } from '../domain/execution.js';
import type { ActionExecuted } from '../domain/contract.js';
import type { RequestRecord } from './index.js';

/** A request as the execution recorder needs it: the decision, and its execution once reported. */
export interface ExecutionTarget {
  record: RequestRecord;
  execution: ExecutionSummary | null;
  /** The report that recorded `execution` (its fingerprint), so an identical resend is known. */
  executionFingerprint: string | null;
}

export type RecordExecutedResult =
  | { status: 'recorded' }
  /** The same report was recorded before: nothing was written. */
  | { status: 'duplicate' }
  /** Another report recorded the execution first. */
  | { status: 'already_executed'; first: ExecutionSummary };

export interface ViolationWrite {
  /** The request the report names, when one was received. */
  target: RequestRecord | undefined;
  identity: ReportIdentity;
  /** The bus event that brought the report. */
  eventId: string;
  source: string;
  rule: ViolationRule;
  reason: string;
  report: ActionExecuted | null;
  at: string;
}

/** The decision table, as the execution recorder writes it. */
export interface ExecutionStore {
  getTarget(actionId: string): Promise<ExecutionTarget | undefined>;
  /** The `executed` event item and the request's `execution`, in one transaction, only if none is recorded. */
  recordExecuted(write: { target: RequestRecord; identity: ReportIdentity; eventId: string; source: string; report: ActionExecuted; summary: ExecutionSummary; at: string }): Promise<RecordExecutedResult>;
  /** The `execution_violation` event item; false when this very report was recorded before. */
  recordViolation(write: ViolationWrite): Promise<boolean>;
}
