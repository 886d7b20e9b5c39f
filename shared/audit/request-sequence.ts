/**
 * Holes visible from the log alone (issue 9): every event item carries `request_seq`, its place among
 * its request's events, so a request's records must be numbered 1..n with no gap and no number twice;
 * and a request that was pending a review must have its `outcome` once that review's last deadline
 * (`expiresAt` of its `review_requested` / `escalated` records) is well past.
 *
 * What it cannot see: events after a request's newest record in the log (a missing tail). The
 * outcome rule closes that for reviewed requests; the failure destination check and `--reconcile`
 * close it for the rest.
 */
import type { VerifyProblem } from './verify.js';

/** What verify reads of one record for these checks. */
export interface RequestEventFact {
  eventId: string;
  eventType: string;
  actionId: string | null;
  requestSeq: number | null;
  outcome: string | null;
  /** For `review_requested` / `escalated`: when that review phase ends. */
  expiresAt?: string;
}

interface RequestFacts {
  /** Event number -> its event id, or ids when there are several (a record doubled: rare, so no list per number). */
  seqs: Map<number, string | string[]>;
  pendingSince: boolean;
  hasOutcome: boolean;
  latestExpiry: number | undefined;
}

export interface RequestSequenceOptions {
  now: Date;
  /** How long after a review's deadline its outcome may still be on its way. @default 1 hour */
  outcomeGraceMs?: number;
  /** `<request>#<requestSeq>` of records known to be in the failure destination (reported there, not here). */
  pendingRedrive?: ReadonlySet<string>;
}

const DEFAULT_OUTCOME_GRACE_MS = 3_600_000;

/**
 * The request an event belongs to: its `action_id`, or for a request without a usable one (stored as
 * `invalid/<bus event id>`) its event id without the `/<event_type>` suffix.
 */
export function requestKeyOf(fact: Pick<RequestEventFact, 'actionId' | 'eventId' | 'eventType'>): string {
  if (fact.actionId !== null) return fact.actionId;
  const marker = `/${fact.eventType}`;
  const at = fact.eventId.lastIndexOf(marker);
  return at > 0 ? fact.eventId.slice(0, at) : fact.eventId;
}

export class RequestSequences {
  private readonly requests = new Map<string, RequestFacts>();

  add(fact: RequestEventFact): void {
    if (fact.requestSeq === null) return;
    const key = requestKeyOf(fact);
    let facts = this.requests.get(key);
    if (facts === undefined) {
      facts = { seqs: new Map(), pendingSince: false, hasOutcome: false, latestExpiry: undefined };
      this.requests.set(key, facts);
    }
    const ids = facts.seqs.get(fact.requestSeq);
    if (ids === undefined) facts.seqs.set(fact.requestSeq, fact.eventId);
    else if (typeof ids === 'string') facts.seqs.set(fact.requestSeq, [ids, fact.eventId]);
    else ids.push(fact.eventId);
    if (fact.eventType === 'decided' && fact.outcome === 'pending') facts.pendingSince = true;
    if (fact.eventType === 'outcome') facts.hasOutcome = true;
    if (fact.expiresAt !== undefined) {
      const at = Date.parse(fact.expiresAt);
      if (Number.isFinite(at)) facts.latestExpiry = Math.max(facts.latestExpiry ?? at, at);
    }
  }

  get size(): number {
    return this.requests.size;
  }

  problems(options: RequestSequenceOptions): VerifyProblem[] {
    const problems: VerifyProblem[] = [];
    const grace = options.outcomeGraceMs ?? DEFAULT_OUTCOME_GRACE_MS;
    // Most requests are whole: each is checked without sorting or copying; those with findings are
    // then reported in the order of their keys.
    const found: Array<{ key: string; problems: VerifyProblem[] }> = [];
    for (const [key, facts] of this.requests) {
      const own = this.problemsOf(key, facts, options, grace);
      if (own.length > 0) found.push({ key, problems: own });
    }
    for (const { problems: own } of found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) problems.push(...own);
    return problems;
  }

  private problemsOf(key: string, facts: RequestFacts, options: RequestSequenceOptions, grace: number): VerifyProblem[] {
    const problems: VerifyProblem[] = [];
    // Numbers 1.. up to the newest held: a gap is missing, or pending redrive. A gap is walked number by
    // number only when it is short: an altered record can claim any number of up to 15 digits.
    let lowest = Infinity;
    let newest = 0;
    for (const n of facts.seqs.keys()) {
      if (n < lowest) lowest = n;
      if (n > newest) newest = n;
    }
    // Distinct numbers, none below 1, as many as the newest: 1..newest, whole (most requests).
    const whole = lowest >= 1 && facts.seqs.size === newest;
    const numbers = whole ? [] : [...facts.seqs.keys()].sort((x, y) => x - y);
    const missing: Array<[number, number]> = [];
    const pending: Array<[number, number]> = [];
    let expected = 1;
    for (const n of numbers) {
      if (n < expected) continue;
      if (n - expected > MAX_WALKED_GAP) extend(missing, expected, n - 1);
      else for (let k = expected; k < n; k++) extend(options.pendingRedrive?.has(`${key}#${k}`) === true ? pending : missing, k, k);
      expected = n + 1;
    }
    if (missing.length > 0) {
      problems.push({
        kind: 'request-sequence',
        message: `request ${key}: the log holds its events ${ranges(numbers)} but not ${spans(missing)}${pending.length > 0 ? ` (${spans(pending)} pending redrive)` : ''}: records were lost on the way to the log or removed from it`,
      });
    }
    for (const [n, ids] of facts.seqs) {
      if (typeof ids !== 'string') problems.push({ kind: 'request-sequence', eventId: ids[1]!, message: `request ${key}: event number ${n} appears ${ids.length} times (${ids.join(', ')}): records were doubled` });
    }
    if (facts.pendingSince && !facts.hasOutcome && facts.latestExpiry !== undefined && options.now.getTime() > facts.latestExpiry + grace) {
      problems.push({
        kind: 'request-outcome',
        message: `request ${key} was pending a review whose last deadline was ${new Date(facts.latestExpiry).toISOString()}, but the log has no outcome for it: the outcome record was lost, or the workflow that records it is not running`,
      });
    }
    return problems;
  }
}

/** Above this many numbers, a gap is reported whole, without looking for the ones pending redrive in it. */
const MAX_WALKED_GAP = 10_000;

/** Adds `from-to` to ascending spans, joined to the last when it follows on. */
function extend(spansSoFar: Array<[number, number]>, from: number, to: number): void {
  const last = spansSoFar.at(-1);
  if (last !== undefined && last[1] === from - 1) last[1] = to;
  else spansSoFar.push([from, to]);
}

/** `1-3, 5, 7-9` of spans. */
function spans(list: ReadonlyArray<[number, number]>): string {
  return list.map(([from, to]) => (from === to ? String(from) : `${from}-${to}`)).join(', ');
}

/** `1-3, 5, 7-9`. */
function ranges(numbers: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < numbers.length; i++) {
    const start = numbers[i]!;
    let end = start;
    while (numbers[i + 1] === end + 1) end = numbers[++i]!;
    parts.push(start === end ? String(start) : `${start}-${end}`);
  }
  return parts.join(', ');
}
