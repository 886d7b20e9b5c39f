import { sha256Hex } from './canonical-json.js';
import { permitsExecution, validUntilOf } from './decision.js';
import { STS_MIN_DURATION_SECONDS, type ExecutionGrant } from './execution-grants.js';

/**
 * Just-in-time credentials for an approved action (issue 12, part 2): the rules that decide whether a caller
 * gets them, and the names STS is given. Pure: the service in `shared/credentials` applies them.
 */

/** Why a credentials request was refused; recorded with each refusal (`credentials_refused`). */
export type CredentialsRefusalRule =
  /** The SigV4 caller is not the IAM identity the directory gives the request's agent. */
  | 'caller_not_agent'
  /** No execution grant for the request's verb and resource type. */
  | 'no_grant'
  /** The outcome is not `allowed` or `approved` (denied, rejected, expired, invalid, or still pending). */
  | 'not_permitted'
  /** Now is after the approval's `validUntil`. */
  | 'approval_expired'
  /** Credentials for this approval were issued (or claimed) before: one issue per approval. */
  | 'already_issued'
  /** The agent already reported executing the request (succeeded or failed): the approval is used. */
  | 'already_executed'
  /** A request value may not go into the session policy (it would widen or reshape it), or the policy is too large. */
  | 'unsafe_policy_value'
  /** The agent is quarantined: an approval given before the quarantine does not let it act. */
  | 'agent_quarantined';

export const REFUSAL_STATUS: Record<CredentialsRefusalRule, number> = {
  caller_not_agent: 403,
  no_grant: 409,
  not_permitted: 409,
  approval_expired: 409,
  already_issued: 409,
  already_executed: 409,
  unsafe_policy_value: 422,
  agent_quarantined: 403,
};

/** What the checks need of a recorded request. */
export interface CredentialsSubject {
  actionId: string;
  /** The trustworthy agent id: the `Action Requested` event's source minus `agent.`. */
  agentId: string;
  action: string;
  resourceType: string;
  outcome: Parameters<typeof permitsExecution>[0];
  decidedAt: string | null;
  validForSeconds: number | null;
}

export type IssuanceCheck =
  | { ok: true; grant: ExecutionGrant; validUntil: string }
  | { ok: false; rule: CredentialsRefusalRule; message: string };

/**
 * The checks before anything is written, in order: the caller is the agent, a grant exists, the outcome
 * permits the act, and the window is open. "First ask" is the store's conditional write, not a check here.
 */
export function checkIssuance(
  subject: CredentialsSubject,
  callerIsAgent: boolean,
  grantFor: (action: string, resourceType: string) => ExecutionGrant | undefined,
  now: Date,
): IssuanceCheck {
  if (!callerIsAgent) {
    return { ok: false, rule: 'caller_not_agent', message: `the caller is not the IAM identity of agent "${subject.agentId}" (the directory's agents.${subject.agentId}.iamPrincipalArns); only the agent that asked may get its credentials` };
  }
  const grant = grantFor(subject.action, subject.resourceType);
  if (grant === undefined) {
    return { ok: false, rule: 'no_grant', message: `no execution grant covers ${subject.action} on ${subject.resourceType}; add one to config/execution-grants.json to issue credentials for it` };
  }
  if (!permitsExecution(subject.outcome)) {
    return { ok: false, rule: 'not_permitted', message: `the request's outcome is "${subject.outcome}"; credentials are issued only for an allowed or approved request` };
  }
  const validUntil = validUntilOf(subject.outcome, subject.decidedAt, subject.validForSeconds);
  if (validUntil === null) {
    return { ok: false, rule: 'not_permitted', message: 'the decision has no validity window (decided before windows existed); send a new request' };
  }
  if (now.getTime() > Date.parse(validUntil)) {
    return { ok: false, rule: 'approval_expired', message: `the approval was valid until ${validUntil}; send a new request` };
  }
  return { ok: true, grant, validUntil };
}

/**
 * The credentials function assumes the execution role with its own (Lambda execution role) credentials:
 * role chaining, which STS caps at one hour whatever the role's maximum ("The requested DurationSeconds
 * exceeds the 1 hour session limit for roles assumed by role chaining" otherwise).
 */
export const ROLE_CHAINING_MAX_SECONDS = 3600;

/**
 * `DurationSeconds`: the rest of the validity window, at most the role's maximum and the role-chaining
 * hour, and at least STS's minimum of 900 seconds (so a session can outlast the window by up to 15
 * minutes; the session policy's `aws:CurrentTime` condition stops it from acting after `validUntil`).
 */
export function sessionDurationSeconds(validUntil: string, now: Date, roleMaxSeconds: number): number {
  const remaining = Math.floor((Date.parse(validUntil) - now.getTime()) / 1000);
  return Math.max(STS_MIN_DURATION_SECONDS, Math.min(remaining, roleMaxSeconds, ROLE_CHAINING_MAX_SECONDS));
}

/** STS: `RoleSessionName` and `SourceIdentity` are 2-64 characters of `[\w+=,.@-]`. */
const STS_NAME = /^[\w+=,.@-]{2,64}$/;
const NAME_PREFIX = 'cs-';

/**
 * The `RoleSessionName` and `SourceIdentity` of an action's session: `cs-<actionId>` when that is a valid STS
 * name (`:` is not allowed, 64 characters at most), else `cs-<actionId with ":" as ".", cut>-<12 hex of its
 * SHA-256>`, so names stay distinct. The `cs-` prefix keeps SourceIdentity away from the reserved `aws:`.
 * The exact actionId is in the session tag `countersign:actionId`.
 */
export function sessionNameOf(actionId: string): string {
  const plain = `${NAME_PREFIX}${actionId}`;
  if (STS_NAME.test(plain)) return plain;
  const digest = sha256Hex(actionId).slice(0, 12);
  const cleaned = actionId.replace(/[^\w+=,.@-]/g, '.').slice(0, 64 - NAME_PREFIX.length - 1 - digest.length);
  return `${NAME_PREFIX}${cleaned}-${digest}`;
}

/** The session tags: CloudTrail's records of the act then carry the request's id and payload hash. */
export const SESSION_TAG_KEYS = { actionId: 'countersign:actionId', payloadSha256: 'countersign:payloadSha256' } as const;

export function sessionTagsOf(actionId: string, payloadSha256: string): Array<{ Key: string; Value: string }> {
  return [
    { Key: SESSION_TAG_KEYS.actionId, Value: actionId },
    { Key: SESSION_TAG_KEYS.payloadSha256, Value: payloadSha256 },
  ];
}
