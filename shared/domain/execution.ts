import type { Quarantine } from './flood-control.js';
import { loneSurrogateAt, wellFormedText } from './canonical-json.js';
import { storableDetail } from './intake.js';
import { AGENT_SOURCE_PREFIX, boundedReason, LIMITS, DETAIL_TYPE_EXECUTED, quoted, usableActionId, validateActionExecuted, type ActionExecuted } from './contract.js';
import { permitsExecution, validUntilOf } from './decision.js';
import type { RequestRecord } from '../ports/index.js';

/**
 * Layer 1 of issue 12: what the agent reports it did (`Action Executed`), judged against the decision.
 * A consistent report is recorded as the request's `executed` event, once; anything else is an
 * `execution_violation` with the rule it broke.
 */

/** Why a report is not a clean execution of a permitted request. */
export const VIOLATION_RULES = ['no_decision', 'not_permitted', 'payload_mismatch', 'approval_expired', 'already_executed', 'invalid_report', 'agent_quarantined'] as const;
export type ViolationRule = (typeof VIOLATION_RULES)[number];

/**
 * How far an agent's clock may be from ours before a time it reports counts against it: a start this
 * much before the decision is still taken as after it, and a start more than this after the report
 * arrived is a time in the future. The validity window itself is not stretched.
 */
export const CLOCK_SKEW_MS = 60_000;

/** The parts of an EventBridge event the recorder reads. */
export interface ExecutionEvent {
  id: string;
  source: string;
  detailType: string;
  detail: unknown;
}

/** What the decision API and the review message show of the first (and only) execution. */
export interface ExecutionSummary {
  status: 'succeeded' | 'failed';
  /** The agent that reported it (the event source without `agent.`). */
  agentId: string;
  startedAt: string;
  finishedAt: string;
  /** When the report reached Countersign (its clock). */
  reportedAt: string;
  resultSummary: string | null;
  resultSha256: string | null;
  error: { code: string; message: string } | null;
}

/** A report as judged, before it is written. */
export type ExecutionJudgement =
  | { kind: 'executed'; report: ActionExecuted; summary: ExecutionSummary }
  | { kind: 'violation'; rule: ViolationRule; reason: string; report: ActionExecuted | null };

/** Identifies the exact report: an identical resend (same source, same detail) has the same one. */
export interface ReportIdentity {
  /** SHA-256 of the canonical source, detail type and detail text. */
  fingerprint: string;
  /**
   * The detail as canonical JSON text, whole up to the report contract's own limit
   * (`LIMITS.executedDetailMaxBytes`, 16 KiB), else a prefix of `LIMITS.rawDetailPrefixBytes`: a report
   * over it is invalid, and every violation is an item on someone's request, so no more is kept.
   */
  reportJson: string;
  reportTruncated: boolean;
  /** Of the whole detail text, when only a prefix is kept: its SHA-256 and size. */
  reportSha256?: string;
  reportBytes?: number;
  /** The actionId the report names, when it is a usable one. */
  actionId: string | null;
  agentId: string | null;
}

export function reportIdentity(event: ExecutionEvent): ReportIdentity {
  const detail = storableDetail(event, LIMITS.executedDetailMaxBytes);
  const source = wellFormedText(event.source);
  return {
    fingerprint: detail.fingerprint,
    reportJson: detail.kept,
    reportTruncated: detail.truncated,
    ...(detail.truncated ? { reportSha256: detail.sha256, reportBytes: detail.bytes } : {}),
    actionId: usableActionId(event.detail) ?? null,
    agentId: source.startsWith(AGENT_SOURCE_PREFIX) && source.length > AGENT_SOURCE_PREFIX.length ? source.slice(AGENT_SOURCE_PREFIX.length) : null,
  };
}

function violation(rule: ViolationRule, reason: string, report: ActionExecuted | null): ExecutionJudgement {
  return { kind: 'violation', rule, reason: boundedReason(reason), report };
}

/** The report's shape and sender, before any decision is looked at. */
export function parseExecutionReport(event: ExecutionEvent): { ok: true; report: ActionExecuted; agentId: string } | { ok: false; judgement: ExecutionJudgement } {
  const sourceAt = loneSurrogateAt(event.source);
  if (sourceAt >= 0) return { ok: false, judgement: violation('invalid_report', `source: ${quoted(event.source, 128)} has a lone surrogate at character ${sourceAt}, which is not valid Unicode`, null) };
  if (event.detailType !== DETAIL_TYPE_EXECUTED) return { ok: false, judgement: violation('invalid_report', `detail-type: ${quoted(event.detailType, 128)} is not "${DETAIL_TYPE_EXECUTED}"`, null) };
  if (!event.source.startsWith(AGENT_SOURCE_PREFIX) || event.source.length === AGENT_SOURCE_PREFIX.length) {
    return { ok: false, judgement: violation('invalid_report', `source: "${event.source}" is not an agent source; agents report with source "agent.<id>"`, null) };
  }
  const validation = validateActionExecuted(event.detail);
  if (!validation.ok) return { ok: false, judgement: violation('invalid_report', validation.reason, null) };
  return { ok: true, report: validation.report, agentId: event.source.slice(AGENT_SOURCE_PREFIX.length) };
}

/**
 * Judges a well-formed report against the request it names (undefined: none was received). The one rule
 * it cannot see is `already_executed`: the store finds that when the `executed` item exists already.
 */
export function judgeExecution(report: ActionExecuted, agentId: string, record: RequestRecord | undefined, receivedAt: string, quarantine: Quarantine | null = null): ExecutionJudgement {
  if (record === undefined) {
    return violation('no_decision', `no request with actionId "${report.actionId}" was received, so nothing permitted this execution (an agent must ask before it acts)`, report);
  }
  const started = Date.parse(report.startedAt);
  if (started > Date.parse(receivedAt) + CLOCK_SKEW_MS) {
    return violation('invalid_report', `startedAt: ${report.startedAt} is later than the report's arrival (${receivedAt}); a report says what already happened`, report);
  }
  if (Date.parse(report.finishedAt) > Date.parse(receivedAt) + CLOCK_SKEW_MS) {
    return violation('invalid_report', `finishedAt: ${report.finishedAt} is later than the report's arrival (${receivedAt}); a report says what already happened`, report);
  }
  const owner = record.request?.agent.id;
  if (owner !== agentId) {
    return violation('not_permitted', `reported by agent "${agentId}", but the request ${owner === undefined ? 'was invalid and belongs to no agent' : `is agent "${owner}"'s`}; an agent may only execute its own requests`, report);
  }
  // A quarantine stops what an agent does from then on, approvals given before included: an act that started
  // after it is a violation (one that started before and is reported after is not). The agent's clock is
  // given the same minute of skew as everywhere here, in its favour.
  if (quarantine !== null && started > Date.parse(quarantine.at) + CLOCK_SKEW_MS) {
    return violation('agent_quarantined', `agent "${agentId}" was quarantined by ${quarantine.by} at ${quarantine.at} (${quarantine.reason}) before this execution started (${report.startedAt}); a quarantined agent may not act, not even on an earlier approval`, report);
  }
  if (!permitsExecution(record.outcome)) {
    return violation('not_permitted', `the request is ${record.outcome}${record.outcome === 'pending' ? ' (its review is still open)' : ''}, so it may not be executed: ${record.reason}`, report);
  }
  if (report.payloadSha256 !== record.payloadSha256) {
    return violation('payload_mismatch', `executed payload ${report.payloadSha256.slice(0, 12)}… is not the ${record.outcome} one ${record.payloadSha256?.slice(0, 12) ?? 'none'}…: what ran is not what was ${record.outcome}`, report);
  }
  const decidedAt = record.decidedAt === null ? Number.NaN : Date.parse(record.decidedAt);
  if (started < decidedAt - CLOCK_SKEW_MS) {
    return violation('not_permitted', `startedAt ${report.startedAt} is before the request was ${record.outcome} (${record.decidedAt}): it ran before it was permitted`, report);
  }
  const validUntil = validUntilOf(record.outcome, record.decidedAt, record.validForSeconds);
  if (validUntil !== null && started > Date.parse(validUntil)) {
    return violation('approval_expired', `startedAt ${report.startedAt} is after the ${record.outcome === 'approved' ? 'approval' : 'permission'} expired (${validUntil}); send a new request`, report);
  }
  return { kind: 'executed', report, summary: summaryOf(report, agentId, receivedAt) };
}

export function summaryOf(report: ActionExecuted, agentId: string, reportedAt: string): ExecutionSummary {
  return {
    status: report.status,
    agentId,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    reportedAt,
    resultSummary: report.result?.summary ?? null,
    resultSha256: report.result?.sha256 ?? null,
    error: report.error === undefined ? null : { code: report.error.code, message: report.error.message },
  };
}

/** The violation for a second, different report on a request executed already. */
export function alreadyExecuted(report: ActionExecuted, first: ExecutionSummary): ExecutionJudgement {
  return violation('already_executed', `the request was already executed (started ${first.startedAt}, ${first.status}, reported ${first.reportedAt}); an approval is used once`, report);
}
