import type { AlertAllowance, Quarantine } from '../domain/flood-control.js';
import { alreadyExecuted, judgeExecution, parseExecutionReport, reportIdentity, type ExecutionEvent, type ExecutionJudgement, type ViolationRule } from '../domain/execution.js';
import type { RequestRecord } from '../ports/index.js';
import type { ExecutionStore } from '../ports/execution.js';

/** A violation, as the approvers (or the security channel) are told. */
export interface ViolationAlert {
  rule: ViolationRule;
  reason: string;
  /** The actionId the report named, when usable. */
  actionId: string | null;
  /** The agent that sent the report (from its source), when it is an agent source. */
  reportedBy: string | null;
  /** The request it names, when one was received. */
  request: RequestRecord | undefined;
  /** Set on the first violation past the reporter's alert limit: this alert says that the reporter's next ones are held until then. */
  heldUntil?: string;
}

/** Where violations are posted: the request's approver channel, else the configured security channel. */
export interface ExecutionAlerts {
  alert(alert: ViolationAlert): Promise<void>;
}

/** Shows an execution (or a violation) on the request's review message(s), when it had a review. */
export interface ExecutionMessages {
  refresh(actionId: string): Promise<number>;
}

export interface RecordExecutionDeps {
  store: ExecutionStore;
  /** The reporting agent's quarantine (flood control's state), if any. @default - none read (no quarantine) */
  quarantineOf?: (agentId: string) => Promise<Quarantine | null>;
  alerts: ExecutionAlerts;
  /**
   * Counts a recorded violation against its reporter's alert limit (flood control's `countViolationAlert`)
   * and says whether to post it. @default - every violation is posted
   */
  countAlert?: (reporter: string, rule: ViolationRule, at: string) => Promise<AlertAllowance>;
  messages: ExecutionMessages;
  now: () => Date;
}

export interface RecordExecutionResult {
  status: 'executed' | 'duplicate' | 'violation';
  rule?: ViolationRule;
  reason?: string;
  /** The key it was recorded under (the actionId, or `execution/<fingerprint>`), when it named one. */
  actionId: string | null;
  alerted: boolean;
  /** A violation recorded but not posted: its reporter is past its alert limit for the window. */
  held?: boolean;
  messagesUpdated: number;
  /** What failed after the record was written (an alert or a message update): logged, not retried. */
  warnings: string[];
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Records one `Action Executed` report exactly once: the request's `executed` event when it is a
 * clean execution of an allowed or approved request, else an `execution_violation` with its rule,
 * alerted. An identical resend writes nothing and alerts nobody. Throws only on infrastructure
 * failure (the store), which the caller retries; an alert or message that fails after the write is a
 * warning, so a retry cannot double-record.
 */
export async function recordExecutionReport(event: ExecutionEvent, deps: RecordExecutionDeps): Promise<RecordExecutionResult> {
  const at = deps.now().toISOString();
  const identity = reportIdentity(event);
  const parsed = parseExecutionReport(event);
  const lookupId = parsed.ok ? parsed.report.actionId : identity.actionId;
  const [target, quarantine] = await Promise.all([
    lookupId === null ? undefined : deps.store.getTarget(lookupId),
    parsed.ok && deps.quarantineOf !== undefined ? deps.quarantineOf(parsed.agentId) : null,
  ]);

  let judgement: ExecutionJudgement = parsed.ok ? judgeExecution(parsed.report, parsed.agentId, target?.record, at, quarantine) : parsed.judgement;
  const warnings: string[] = [];
  let messagesUpdated = 0;
  const refresh = async () => {
    if (target === undefined || target.record.approval === null) return;
    try {
      messagesUpdated += await deps.messages.refresh(target.record.key);
    } catch (error) {
      warnings.push(`updating the review message of ${target.record.key} failed: ${describe(error)}`);
    }
  };

  if (judgement.kind === 'executed' && target !== undefined && parsed.ok) {
    const written = await deps.store.recordExecuted({ target: target.record, identity, eventId: event.id, source: event.source, report: judgement.report, summary: judgement.summary, at });
    if (written.status === 'recorded') {
      await refresh();
      return { status: 'executed', actionId: target.record.key, alerted: false, messagesUpdated, warnings };
    }
    if (written.status === 'duplicate') return { status: 'duplicate', actionId: target.record.key, alerted: false, messagesUpdated, warnings };
    judgement = alreadyExecuted(judgement.report, written.first);
  }
  if (judgement.kind !== 'violation') throw new Error('unreachable: an execution judgement is either executed or a violation');

  const recorded = await deps.store.recordViolation({
    target: target?.record,
    identity,
    eventId: event.id,
    source: event.source,
    rule: judgement.rule,
    reason: judgement.reason,
    report: judgement.report,
    at,
  });
  const key = target?.record.key ?? identity.actionId;
  if (!recorded) return { status: 'duplicate', rule: judgement.rule, reason: judgement.reason, actionId: key, alerted: false, messagesUpdated, warnings };
  // Counted by its reporter: the agent of the source, or the source itself when it is no agent's.
  let allowance: AlertAllowance = { kind: 'alert' };
  if (deps.countAlert !== undefined) {
    try {
      allowance = await deps.countAlert(identity.agentId ?? `source ${event.source}`, judgement.rule, at);
    } catch (error) {
      // The violation is recorded; a count that failed posts it rather than lose the alert.
      warnings.push(`counting the ${judgement.rule} alert against its reporter's limit failed (posted anyway): ${describe(error)}`);
    }
  }
  if (allowance.kind === 'held') return { status: 'violation', rule: judgement.rule, reason: judgement.reason, actionId: key, alerted: false, held: true, messagesUpdated, warnings };
  let alerted = false;
  try {
    await deps.alerts.alert({ rule: judgement.rule, reason: judgement.reason, actionId: identity.actionId, reportedBy: identity.agentId, request: target?.record, ...(allowance.kind === 'first_held' ? { heldUntil: allowance.until } : {}) });
    alerted = true;
  } catch (error) {
    warnings.push(`posting the ${judgement.rule} alert failed: ${describe(error)}`);
  }
  return { status: 'violation', rule: judgement.rule, reason: judgement.reason, actionId: key, alerted, messagesUpdated, warnings };
}
