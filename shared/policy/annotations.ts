import type { ApprovalRequirement, Validity } from '../domain/decision.js';
import { LIMIT_POLICY_ID_PREFIX } from '../domain/flood-control.js';

export type { Validity };

/**
 * The approval annotations of DESIGN.md decision 2, read from one Cedar policy:
 *
 *   @id("db-export-prod")            every policy, unique in the set
 *   @approval                        this permit only lets the request through after human review
 *   @approvers("data-owners")        required with @approval: the group that may vote
 *   @quorum("2")                     distinct approving reviewers, 1-10        (default 1)
 *   @timeout("PT30M")                ISO 8601 duration, 1 minute to 7 days     (default PT1H)
 *   @escalate("security-leads")      the group asked when the first deadline passes (optional)
 *   @validFor("PT15M")               on any permit: how long an allow or approval may be acted on,
 *                                    once (ISO 8601, 1 minute to 1 day; default PT15M)
 *
 * Values are validated when the policy set is loaded, so a typo fails the deploy and never a request.
 */

export const DEFAULT_QUORUM = 1;
export const DEFAULT_TIMEOUT = 'PT1H';
export const MAX_QUORUM = 10;
export const MIN_TIMEOUT_SECONDS = 60;
export const MAX_TIMEOUT_SECONDS = 7 * 24 * 60 * 60;
/** How long an allowed or approved request may be acted on, unless a policy's `@validFor` says otherwise. */
export const DEFAULT_VALID_FOR = 'PT15M';
export const MIN_VALID_FOR_SECONDS = 60;
export const MAX_VALID_FOR_SECONDS = 24 * 60 * 60;

const GROUP_PATTERN = /^[a-z0-9-]+$/;
const POLICY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const APPROVAL_ANNOTATIONS = ['approvers', 'quorum', 'timeout', 'escalate'] as const;

export class InvalidDurationError extends Error {
  constructor(
    readonly value: string,
    detail: string,
  ) {
    super(`"${value}" is not a usable ISO 8601 duration: ${detail}`);
    this.name = 'InvalidDurationError';
  }
}

// The general shape of an ISO 8601 duration, so that a value with years, months or fractions gets a
// message about that rather than a generic "malformed".
const NUMBER = '(\\d+(?:[.,]\\d+)?)';
const DURATION_PATTERN = new RegExp(
  `^P(?:${NUMBER}Y)?(?:${NUMBER}M)?(?:${NUMBER}W)?(?:${NUMBER}D)?(?:T(?:${NUMBER}H)?(?:${NUMBER}M)?(?:${NUMBER}S)?)?$`,
);

/**
 * Parses an ISO 8601 duration made of weeks, days, hours, minutes and seconds (`PT30M`, `P1DT12H`, `P1W`)
 * into seconds. Throws `InvalidDurationError` saying what is wrong.
 *
 * Years and months are refused: their length depends on the calendar, and a review deadline must be a
 * fixed span. Fractions are refused too: "PT90M" says plainly what "PT1.5H" means.
 */
export function parseIsoDuration(value: string): number {
  const match = DURATION_PATTERN.exec(value);
  if (match === null || value === 'P' || value.endsWith('T')) {
    throw new InvalidDurationError(value, 'expected the form P[nW][nD][T[nH][nM][nS]], e.g. "PT30M", "PT1H", "P1D"');
  }
  const [, years, months, weeks, days, hours, minutes, seconds] = match;
  if (years !== undefined || months !== undefined) {
    throw new InvalidDurationError(value, 'years and months have no fixed length; use weeks, days, hours, minutes or seconds (e.g. "P30D")');
  }
  const parts = [weeks, days, hours, minutes, seconds];
  if (parts.some((part) => part !== undefined && !/^\d+$/.test(part))) {
    throw new InvalidDurationError(value, 'fractions are not supported; use a smaller unit (e.g. "PT90M" rather than "PT1.5H")');
  }
  const [w, d, h, m, s] = parts.map((part) => (part === undefined ? 0 : Number(part))) as [number, number, number, number, number];
  return w * 604_800 + d * 86_400 + h * 3_600 + m * 60 + s;
}

/** "30 minutes", "1 hour", "1 day 12 hours": a duration as a reviewer reads it. */
export function describeDuration(totalSeconds: number): string {
  const units: Array<[string, number]> = [['day', 86_400], ['hour', 3_600], ['minute', 60], ['second', 1]];
  const parts: string[] = [];
  let rest = totalSeconds;
  for (const [name, size] of units) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) parts.push(`${count} ${name}${count === 1 ? '' : 's'}`);
  }
  return parts.length === 0 ? '0 seconds' : parts.join(' ');
}

export const DEFAULT_VALIDITY: Validity = { validFor: DEFAULT_VALID_FOR, validForSeconds: parseIsoDuration(DEFAULT_VALID_FOR) };

/** The shortest of the validities given (the strictest), or the default when none is. */
export function shortestValidity(validities: ReadonlyArray<Validity | undefined>): Validity {
  let shortest: Validity | undefined;
  for (const validity of validities) {
    if (validity !== undefined && (shortest === undefined || validity.validForSeconds < shortest.validForSeconds)) shortest = validity;
  }
  return shortest ?? DEFAULT_VALIDITY;
}

function parseValidFor(raw: string, problems: string[]): Validity | undefined {
  try {
    const seconds = parseIsoDuration(raw);
    if (seconds >= MIN_VALID_FOR_SECONDS && seconds <= MAX_VALID_FOR_SECONDS) return { validFor: raw, validForSeconds: seconds };
    problems.push(`@validFor("${raw}") must be between 1 minute (PT1M) and 1 day (P1D)`);
  } catch (error) {
    if (!(error instanceof InvalidDurationError)) throw error;
    problems.push(`@validFor: ${error.message}`);
  }
  return undefined;
}

/** What the loader keeps of one policy's annotations. */
export interface PolicyAnnotations {
  /** The `@id`, or undefined when it is missing or malformed (then `problems` says so). */
  id: string | undefined;
  /** Present when the policy carries `@approval` and its values are valid. */
  approval: ApprovalRequirement | undefined;
  /** The policy's `@validFor`, when it has a valid one. */
  validity: Validity | undefined;
  /** Everything wrong with the annotations, each a sentence naming the annotation. Empty when all is well. */
  problems: string[];
}

/**
 * Reads the annotations of one policy, as `policyToJson` gives them (`@approval` with no value is `null`).
 * Never throws: the caller collects the problems of every policy and reports them together.
 */
export function parsePolicyAnnotations(
  annotations: Readonly<Record<string, string | null>> | undefined,
  effect: 'permit' | 'forbid',
): PolicyAnnotations {
  const all = annotations ?? {};
  const problems: string[] = [];
  const has = (name: string) => Object.prototype.hasOwnProperty.call(all, name);
  const valueOf = (name: string): string | undefined => {
    const value = all[name];
    return value === null || value === undefined ? undefined : value;
  };

  let id: string | undefined;
  if (!has('id')) {
    problems.push('the policy has no @id("...") annotation; every policy needs a unique @id so decisions can name it');
  } else {
    const raw = valueOf('id') ?? '';
    if (POLICY_ID_PATTERN.test(raw) && raw.startsWith(LIMIT_POLICY_ID_PREFIX)) {
      problems.push(`@id("${raw}"): ids starting with "${LIMIT_POLICY_ID_PREFIX}" are Countersign's own (flood control and quarantine denials record them)`);
    } else if (POLICY_ID_PATTERN.test(raw)) id = raw;
    else problems.push(`@id("${raw}") must be 1-128 characters of A-Z, a-z, 0-9, ".", "_", ":", "/" or "-", starting with a letter or digit`);
  }

  let validity: Validity | undefined;
  if (has('validFor')) {
    if (effect === 'forbid') problems.push('@validFor is only meaningful on a permit policy (a forbid permits nothing to act on)');
    else validity = parseValidFor(valueOf('validFor') ?? '', problems);
  }

  if (!has('approval')) {
    const stray = APPROVAL_ANNOTATIONS.filter(has);
    if (stray.length > 0) {
      problems.push(`${stray.map((name) => `@${name}`).join(', ')} without @approval has no effect; add @approval or remove ${stray.length > 1 ? 'them' : 'it'}`);
    }
    return { id, approval: undefined, validity, problems };
  }

  if (effect === 'forbid') {
    problems.push('@approval is only meaningful on a permit policy (a forbid always denies)');
    return { id, approval: undefined, validity, problems };
  }
  const flag = valueOf('approval');
  if (flag !== undefined && flag !== '' && flag !== 'true') {
    problems.push(`@approval takes no value (write @approval), got @approval("${flag}")`);
  }

  const group = (name: 'approvers' | 'escalate'): string | undefined => {
    if (!has(name)) return undefined;
    const value = valueOf(name) ?? '';
    if (GROUP_PATTERN.test(value)) return value;
    problems.push(`@${name}("${value}") must name a group of a-z, 0-9 and "-", such as "data-owners"`);
    return undefined;
  };

  const approvers = group('approvers');
  if (!has('approvers')) {
    problems.push('@approval needs @approvers("group") naming who may approve');
  }
  const escalate = group('escalate');

  let quorum = DEFAULT_QUORUM;
  if (has('quorum')) {
    const raw = valueOf('quorum') ?? '';
    if (/^[1-9]\d{0,2}$/.test(raw) && Number(raw) <= MAX_QUORUM) quorum = Number(raw);
    else problems.push(`@quorum("${raw}") must be a whole number from 1 to ${MAX_QUORUM}`);
  }

  let timeout = DEFAULT_TIMEOUT;
  let timeoutSeconds = parseIsoDuration(DEFAULT_TIMEOUT);
  if (has('timeout')) {
    const raw = valueOf('timeout') ?? '';
    try {
      const seconds = parseIsoDuration(raw);
      if (seconds < MIN_TIMEOUT_SECONDS || seconds > MAX_TIMEOUT_SECONDS) {
        problems.push(`@timeout("${raw}") must be between 1 minute (PT1M) and 7 days (P7D)`);
      } else {
        timeout = raw;
        timeoutSeconds = seconds;
      }
    } catch (error) {
      if (!(error instanceof InvalidDurationError)) throw error;
      problems.push(`@timeout: ${error.message}`);
    }
  }

  if (problems.length > 0 || approvers === undefined) return { id, approval: undefined, validity, problems };
  const approval: ApprovalRequirement = { approvers, quorum, timeout, timeoutSeconds };
  if (escalate !== undefined) approval.escalate = escalate;
  return { id, approval, validity, problems };
}

/**
 * Orders approval requirements strictest first: the highest quorum, then the shortest timeout.
 * Ties are broken by policy id by the caller.
 */
export function compareStrictness(a: ApprovalRequirement, b: ApprovalRequirement): number {
  if (a.quorum !== b.quorum) return b.quorum - a.quorum;
  return a.timeoutSeconds - b.timeoutSeconds;
}
