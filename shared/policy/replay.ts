/**
 * Policy replay (issue 16): every request in the audit log, decided again with a candidate policy set,
 * compared with what the log says was decided. Pure: the log's records come in through a
 * `LoggedRecordSource` (the local log, the S3 bucket, or Athena), the candidate set is a `PolicyEngine`.
 *
 * What is replayed: a `requested` record with the request in full (`requestJson`, kept since issue 4),
 * against the `decided` record of the same request (the policy's answer then: allowed, denied, pending =
 * needs approval, invalid). Requests the contract refused (no `requestJson`) never reached a policy and are
 * only counted. Before deciding, the payload hash is re-checked from the log alone: `payloadSha256` must
 * be the SHA-256 of the canonical payload of `requestJson`, and, where the record keeps it (`payloadJson`,
 * since issue 16), of that text too, which must be the same text. A request that fails the check is
 * reported as a mismatch and not replayed: the log does not hold what was decided.
 */
import { canonicalJson, sha256Hex } from '../domain/canonical-json.js';
import { payloadOf, payloadSha256, validateActionRequested } from '../domain/contract.js';
import { outcomeOf, type Outcome } from '../domain/decision.js';
import { LIMIT_POLICY_ID_PREFIX } from '../domain/flood-control.js';
import type { PolicyEngine } from '../ports/index.js';
import type { AuditRecord } from '../audit/format.js';

/** The columns of an audit record the replay reads (an Athena row has exactly these). */
export type LoggedRecord = Pick<AuditRecord, 'event_type' | 'action_id' | 'occurred_at' | 'outcome' | 'policy_ids' | 'payload_sha256' | 'detail'>;

/** Where the replay reads the log's `requested` and `decided` records (others may come too; they are ignored). */
export interface LoggedRecordSource {
  /** Records whose request was received in [from, to); `decided` records of those requests, wherever they are. */
  records(range: ReplayRange): AsyncIterable<LoggedRecord>;
  /** Where the records come from, as the report shows it. */
  readonly description: string;
}

/** A time range, ISO 8601 UTC; either end open. */
export interface ReplayRange {
  from?: string;
  to?: string;
}

/** One side of a comparison: an outcome in the decision's words (`pending` = needs approval). */
export interface ReplayedDecision {
  outcome: Outcome;
  policyIds: string[];
}

export interface ChangedRequest {
  actionId: string;
  requestedAt: string;
  agentId: string;
  action: string;
  resource: string;
  environment: string;
  old: ReplayedDecision;
  new: ReplayedDecision & { reason: string };
}

export interface ReplayProblem {
  actionId: string;
  requestedAt: string;
  problem: string;
}

export interface ReplayReport {
  source: string;
  range: ReplayRange;
  /** `requested` records in the range. */
  requests: number;
  /** Decided again with the candidate set. */
  replayed: number;
  unchanged: number;
  /** Refused by the contract: no policy ever saw them, none would now. */
  contractInvalid: number;
  /**
   * Denied by flood control or a quarantine (a `countersign:` id among the policy ids): Countersign's limit
   * decided them, not a policy, so there is no policy outcome to compare and they are counted apart.
   */
  limited: number;
  transitions: Array<{ from: Outcome; to: Outcome; count: number }>;
  changed: ChangedRequest[];
  /** Requests the log cannot replay faithfully: a payload hash that does not match, an unreadable request, a missing decision. */
  problems: ReplayProblem[];
}

/** How an outcome reads in the report. */
export function outcomeLabel(outcome: Outcome): string {
  return outcome === 'pending' ? 'needs approval' : outcome;
}

interface Requested {
  actionId: string;
  requestedAt: string;
  payloadSha256: string | null;
  detail: Record<string, unknown> | null;
}

function detailOf(record: LoggedRecord): Record<string, unknown> | null {
  if (record.detail === null) return null;
  try {
    const value: unknown = JSON.parse(record.detail);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    // Unreadable JSON is reported as a problem of that request (detail null), not thrown.
    return null;
  }
}

function inRange(at: string, range: ReplayRange): boolean {
  const time = Date.parse(at);
  return (range.from === undefined || time >= Date.parse(range.from)) && (range.to === undefined || time < Date.parse(range.to));
}

/** Decides every logged request in the range again with `candidate`; see the module comment. */
export async function replayRequests(source: LoggedRecordSource, candidate: PolicyEngine, range: ReplayRange): Promise<ReplayReport> {
  const requested = new Map<string, Requested>();
  const decided = new Map<string, ReplayedDecision>();
  for await (const record of source.records(range)) {
    if (record.action_id === null) continue;
    if (record.event_type === 'requested' && inRange(record.occurred_at, range) && !requested.has(record.action_id)) {
      requested.set(record.action_id, { actionId: record.action_id, requestedAt: record.occurred_at, payloadSha256: record.payload_sha256, detail: detailOf(record) });
    } else if (record.event_type === 'decided' && record.outcome !== null && !decided.has(record.action_id)) {
      decided.set(record.action_id, { outcome: record.outcome as Outcome, policyIds: [...record.policy_ids] });
    }
  }

  const report: ReplayReport = { source: source.description, range, requests: requested.size, replayed: 0, unchanged: 0, contractInvalid: 0, limited: 0, transitions: [], changed: [], problems: [] };
  const transitions = new Map<string, { from: Outcome; to: Outcome; count: number }>();
  const ordered = [...requested.values()].sort((a, b) => a.requestedAt.localeCompare(b.requestedAt) || a.actionId.localeCompare(b.actionId));
  for (const entry of ordered) {
    const problem = (text: string) => report.problems.push({ actionId: entry.actionId, requestedAt: entry.requestedAt, problem: text });
    if (entry.detail === null) {
      problem('the requested record has no readable detail (the item as written); the request cannot be replayed');
      continue;
    }
    const requestJson = entry.detail.requestJson;
    if (requestJson === null || requestJson === undefined) {
      // Refused by the contract (no request was parsed): invalid then, invalid with any policy set.
      report.contractInvalid++;
      continue;
    }
    if (typeof requestJson !== 'string') {
      problem('requestJson in the requested record is not text');
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(requestJson);
    } catch (error) {
      problem(`requestJson in the requested record is not JSON (${(error as Error).message})`);
      continue;
    }
    const validation = validateActionRequested(parsed);
    if (!validation.ok) {
      problem(`requestJson in the requested record is not a valid request now: ${validation.reason}`);
      continue;
    }
    const request = validation.request;
    const old = decided.get(entry.actionId);
    if (old === undefined) {
      problem('the log has no decided record for this request');
      continue;
    }
    if (old.policyIds.some((id) => id.startsWith(LIMIT_POLICY_ID_PREFIX))) {
      report.limited++;
      continue;
    }

    // A request the policy found invalid has no payloadSha256; its fingerprint is the same hash.
    const fingerprint = typeof entry.detail.fingerprint === 'string' ? entry.detail.fingerprint : null;
    const logged = entry.payloadSha256 ?? fingerprint;
    const computed = payloadSha256(request);
    if (logged === null && old.outcome !== 'invalid') {
      problem('the requested record names no payloadSha256 (nor fingerprint) to check the request against');
      continue;
    }
    // A request the policy found invalid, logged before requested records carried the fingerprint, has no
    // hash in the log to check; nothing was ever bound to one, so it is replayed unchecked.
    if (logged !== null && computed !== logged) {
      problem(`payload hash mismatch: the log says payloadSha256 ${logged}, but the request in requestJson hashes to ${computed}; the log does not hold the request that was decided`);
      continue;
    }
    const payloadJson = entry.detail.payloadJson;
    if (payloadJson !== undefined) {
      if (typeof payloadJson !== 'string' || sha256Hex(payloadJson) !== computed) {
        problem(`payload hash mismatch: payloadJson in the requested record does not hash to the payloadSha256 ${computed} of its request`);
        continue;
      }
      if (payloadJson !== canonicalJson(payloadOf(request))) {
        problem('payloadJson in the requested record is not the canonical payload of requestJson');
        continue;
      }
    }

    const decision = candidate.decide(request);
    const now: ChangedRequest['new'] = { outcome: outcomeOf(decision), policyIds: [...decision.policyIds], reason: decision.reason };
    report.replayed++;
    if (now.outcome === old.outcome) {
      report.unchanged++;
      continue;
    }
    const key = `${old.outcome}\u0000${now.outcome}`;
    const transition = transitions.get(key) ?? { from: old.outcome, to: now.outcome, count: 0 };
    transition.count++;
    transitions.set(key, transition);
    report.changed.push({
      actionId: entry.actionId,
      requestedAt: entry.requestedAt,
      agentId: request.agent.id,
      action: request.action,
      resource: `${request.resource.type}::${request.resource.id}`,
      environment: request.environment,
      old,
      new: now,
    });
  }
  report.transitions = [...transitions.values()].sort((a, b) => b.count - a.count || a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return report;
}

/** 0: nothing would change; 1: something would; 3: the log holds requests that cannot be replayed faithfully. */
export function replayExitCode(report: ReplayReport): 0 | 1 | 3 {
  if (report.problems.length > 0) return 3;
  return report.changed.length > 0 ? 1 : 0;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

const ids = (list: readonly string[]) => (list.length === 0 ? '-' : list.join(','));

/** The report for people: the counts, the transition table, then each changed request, then the problems. */
export function formatReplayText(report: ReplayReport): string {
  const range = `${report.range.from ?? 'the beginning'} to ${report.range.to ?? 'now'}`;
  const lines = [
    `Replayed ${report.replayed} of ${report.requests} requests in ${report.source}, ${range}: ${report.changed.length} would change, ${report.unchanged} would not` +
      (report.contractInvalid > 0 ? `; ${report.contractInvalid} refused by the contract (no policy saw them)` : '') +
      (report.limited > 0 ? `; ${report.limited} denied by flood control or a quarantine (not a policy's decision, not compared)` : '') +
      (report.problems.length > 0 ? `; ${report.problems.length} cannot be replayed` : '') + '.',
  ];
  if (report.transitions.length > 0) {
    lines.push('', ...table(['from', 'to', 'requests'], report.transitions.map((t) => [outcomeLabel(t.from), outcomeLabel(t.to), String(t.count)])));
  }
  if (report.changed.length > 0) {
    lines.push('', ...table(
      ['action id', 'agent', 'action', 'resource', 'env', 'old outcome', 'old policies', 'new outcome', 'new policies'],
      report.changed.map((c) => [c.actionId, c.agentId, c.action, c.resource, c.environment, outcomeLabel(c.old.outcome), ids(c.old.policyIds), outcomeLabel(c.new.outcome), ids(c.new.policyIds)]),
    ));
  }
  if (report.problems.length > 0) {
    lines.push('', 'Cannot be replayed:');
    for (const p of report.problems) lines.push(`  ${p.actionId} (${p.requestedAt}): ${p.problem}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatReplayJson(report: ReplayReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** One line per changed request (and per problem, with `problem` set), for spreadsheets and scripts. */
export function formatReplayCsv(report: ReplayReport): string {
  const escape = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const header = ['action_id', 'requested_at', 'agent_id', 'action', 'resource', 'environment', 'old_outcome', 'old_policy_ids', 'new_outcome', 'new_policy_ids', 'problem'];
  const rows = [
    ...report.changed.map((c) => [c.actionId, c.requestedAt, c.agentId, c.action, c.resource, c.environment, c.old.outcome, c.old.policyIds.join(' '), c.new.outcome, c.new.policyIds.join(' '), '']),
    ...report.problems.map((p) => [p.actionId, p.requestedAt, '', '', '', '', '', '', '', '', p.problem]),
  ];
  return [header, ...rows].map((row) => row.map(escape).join(',')).join('\n') + '\n';
}
