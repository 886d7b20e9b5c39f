import type { FinalDecision } from './decision.js';

/**
 * Every error the agent client throws is a `CountersignClientError`: its message is one line that
 * says what went wrong and what to do, so a command line can print `error.message` alone. The
 * underlying error (SDK, fetch) is kept as `cause` for whoever needs the details.
 */
export class CountersignClientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignClientError';
  }
}

/**
 * The request breaks the event contract; nothing was sent. The message is exactly the reason the
 * server would record with the outcome `invalid` (the same `validateActionRequested`).
 */
export class InvalidActionRequestError extends CountersignClientError {
  constructor(readonly reason: string, readonly actionId: string | undefined) {
    super(reason);
    this.name = 'InvalidActionRequestError';
  }
}

/** Nothing answers at the bus endpoint or the decision API (connection refused, unknown host, reset). */
export class CountersignUnreachableError extends CountersignClientError {
  constructor(message: string, readonly url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignUnreachableError';
  }
}

/** Something answered, but not as the Countersign bus or decision API would: a wrong URL or route. */
export class UnexpectedResponseError extends CountersignClientError {
  constructor(message: string, readonly url: string, readonly status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnexpectedResponseError';
  }
}

/** The bus or the decision API refused the caller's credentials or permissions (403). */
export class CountersignAccessDeniedError extends CountersignClientError {
  constructor(message: string, readonly url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CountersignAccessDeniedError';
  }
}

/** PutEvents answered, but refused the entry (`FailedEntryCount` 1 with an `ErrorCode`). */
export class PutEventsFailedError extends CountersignClientError {
  constructor(message: string, readonly errorCode: string | undefined, readonly errorMessage: string | undefined) {
    super(message);
    this.name = 'PutEventsFailedError';
  }
}

/** No final decision within the wait timeout. The request is still on record; a later read may find it decided. */
export class DecisionTimeoutError extends CountersignClientError {
  constructor(
    message: string,
    readonly actionId: string,
    /** `pending` with the server's reason, or `not-recorded` when the API never knew the id. */
    readonly lastState: { kind: 'pending'; reason: string } | { kind: 'not-recorded' } | { kind: 'no-answer'; problem: string },
  ) {
    super(message);
    this.name = 'DecisionTimeoutError';
  }
}

/**
 * The decision on record for this actionId is for another payload than the one this client sent
 * (the actionId was used before for a different request: the first decision stands). Never treat it
 * as an approval of this request.
 */
export class PayloadMismatchError extends CountersignClientError {
  constructor(readonly actionId: string, readonly expected: string, readonly decided: string | null) {
    super(`the decision for ${actionId} is for payload ${short(decided)}, not for the request this agent sent (${short(expected)}): the actionId was already used for another request; send it again with a new actionId`);
    this.name = 'PayloadMismatchError';
  }
}

/** `guard` was answered denied, rejected, expired or invalid: the guarded function did not run. */
export class ActionNotPermittedError extends CountersignClientError {
  constructor(readonly decision: Exclude<FinalDecision, { outcome: 'allowed' | 'approved' }>) {
    super(`${decision.actionId} was ${decision.outcome}: ${decision.reason}`);
    this.name = 'ActionNotPermittedError';
  }
}

/**
 * `guard` was about to run an approved action, but the request object it was given no longer hashes
 * to the approved payload (it was changed while waiting for approval). The action did not run.
 */
export class PayloadChangedError extends CountersignClientError {
  constructor(readonly actionId: string, readonly approved: string, readonly current: string | undefined, detail?: string) {
    super(`the request for ${actionId} changed after it was sent (approved payload ${short(approved)}, now ${current === undefined ? `not even a valid request: ${detail ?? ''}` : short(current)}): refusing to run it; send the changed request as a new action`);
    this.name = 'PayloadChangedError';
  }
}

/**
 * The execution report breaks the event contract (`validateActionExecuted`, the server's own rules and
 * messages); nothing was sent.
 */
export class InvalidExecutionReportError extends CountersignClientError {
  constructor(readonly reason: string, readonly actionId: string | undefined) {
    super(`execution report${actionId === undefined ? '' : ` for ${actionId}`} not sent: ${reason}`);
    this.name = 'InvalidExecutionReportError';
  }
}

/**
 * `guard` was answered allowed or approved, but the approval's window (`validUntil`) had passed before
 * the function could start: the function did not run. Send the request again as a new action.
 */
export class ApprovalExpiredError extends CountersignClientError {
  constructor(readonly actionId: string, readonly validUntil: string, readonly now: string) {
    super(`the ${actionId} approval was valid until ${validUntil}, and it is ${now}: refusing to run it; send the request again as a new action`);
    this.name = 'ApprovalExpiredError';
  }
}

/** `guard` found the approval already used: an execution of this actionId is on record. The function did not run. */
export class ApprovalAlreadyUsedError extends CountersignClientError {
  constructor(readonly actionId: string, readonly execution: { status: string; agentId: string; startedAt: string }) {
    super(`${actionId} was already executed (by ${execution.agentId}, started ${execution.startedAt}, ${execution.status}): an approval is used once; send the request again as a new action`);
    this.name = 'ApprovalAlreadyUsedError';
  }
}

/**
 * `guard` ran the function, but its execution report could not be sent. The act happened: `result`
 * (when it succeeded) or `actionError` (what it threw) says how it ended, and `report` is the
 * validated report to send again with `reportExecution`. `cause` is why sending failed.
 */
export class ExecutionReportError extends CountersignClientError {
  constructor(
    readonly actionId: string,
    readonly report: Record<string, unknown>,
    readonly outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; actionError: unknown },
    cause: unknown,
  ) {
    const said = cause instanceof Error ? cause.message : String(cause);
    super(`${actionId} ran (${outcome.status}) but its execution report was not sent: ${said}; send error.report with reportExecution`, { cause });
    this.name = 'ExecutionReportError';
  }
}

export function short(hash: string | null | undefined): string {
  return hash === null || hash === undefined ? 'none' : `${hash.slice(0, 8)}…`;
}

/**
 * The credentials API refused this ask, and recorded the refusal: `rule` says why (`caller_not_agent`,
 * `no_grant`, `not_permitted`, `approval_expired`, `already_issued`, `already_executed`, `unsafe_policy_value`,
 * `agent_quarantined`).
 */
export class CredentialsRefusedError extends CountersignClientError {
  constructor(message: string, readonly actionId: string, readonly rule: string, readonly status: number) {
    super(message);
    this.name = 'CredentialsRefusedError';
  }
}
