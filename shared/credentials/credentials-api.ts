import type { ApiResponse } from '../api/decision-api.js';
import { matchActionRoute } from '../api/action-route.js';
import { checkIssuance, REFUSAL_STATUS, sessionDurationSeconds, sessionNameOf, sessionTagsOf, type CredentialsRefusalRule } from '../domain/credentials.js';
import type { Directory } from '../domain/directory.js';
import { renderSessionPolicy, SessionPolicyTooLargeError, UnsafePolicyValueError, type ExecutionGrants, type RenderValues } from '../domain/execution-grants.js';
import type { CredentialIssuer, CredentialsStore } from '../ports/credentials.js';
import type { RequestRecord } from '../ports/index.js';
import type { Quarantine } from '../domain/flood-control.js';
import { agentIdOfSource } from '../domain/decision.js';

export interface CredentialsRequest {
  method: string;
  path: string;
  /** The SigV4 caller (`requestContext.authorizer.iam.userArn` of an AWS_IAM Function URL). */
  callerArn: string | undefined;
  /** Distinguishes this ask's refusal record from other asks' (the Lambda request id). */
  requestId: string;
}

export interface CredentialsApiDeps {
  store: CredentialsStore;
  issuer: CredentialIssuer;
  grants: ExecutionGrants;
  directory: Directory;
  /** Each grant's role (by its `role` name in the configuration) → the role's ARN, as the stack created it. */
  roleArns: Readonly<Record<string, string>>;
  /** The region the credentials are for (the stack's). */
  region: string;
  now: () => Date;
  /** The agent's quarantine, if any (flood control's guard). @default - no quarantine check */
  quarantineOf?: (agentId: string) => Promise<Quarantine | null>;
}

const ROUTE = /^\/actions\/([^/]+)\/credentials\/?$/;

function json(statusCode: number, body: unknown, extraHeaders: Record<string, string> = {}): ApiResponse {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...extraHeaders }, body: JSON.stringify(body) };
}

function error(statusCode: number, code: string, message: string, extra: Record<string, unknown> = {}): ApiResponse {
  return json(statusCode, { error: code, message, ...extra });
}

/** `arn:<partition>:iam::<account>:role/...` → its partition and account (the account the credentials are in). */
function accountOf(roleArn: string): { partition: string; accountId: string } | undefined {
  const match = /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\//.exec(roleArn);
  return match === null ? undefined : { partition: match[1] ?? '', accountId: match[2] ?? '' };
}

/**
 * `POST /actions/{actionId}/credentials`: the approved action's one set of just-in-time credentials, for the
 * agent that asked, from the grant's execution role, narrowed by the rendered session policy. Every refusal of a
 * request that exists is recorded (`credentials_refused`, with its rule); the credentials themselves are never
 * logged, stored or put in a record. The log fields returned hold no secret.
 */
export async function answerCredentialsRequest(request: CredentialsRequest, deps: CredentialsApiDeps): Promise<{ response: ApiResponse; log: Record<string, unknown> }> {
  const done = (response: ApiResponse, log: Record<string, unknown> = {}) => ({ response, log: { statusCode: response.statusCode, ...log } });
  const route = matchActionRoute(request, { pattern: ROUTE, method: 'POST', serves: 'this API serves POST /actions/{actionId}/credentials' });
  if (!route.ok) return done(route.response);
  const { actionId } = route;
  const callerArn = request.callerArn;
  if (callerArn === undefined || callerArn === '') {
    return done(error(403, 'CallerNotIdentified', 'the caller has no IAM identity; sign the request with SigV4 (service "lambda") as the agent'), { actionId });
  }

  const found = await deps.store.getRequest(actionId);
  const record = found?.record;
  const notFound = () => done(error(404, 'ActionNotFound', `no request with actionId "${actionId}" has been received from the calling identity's agent`), { actionId });
  if (found === undefined || record === undefined || record.request === null || record.actionId !== actionId) return notFound();
  // Another agent's identity is answered as for an id never received, and nothing is written on the request:
  // an agent learns neither which ids exist nor whose they are (the decision API answers it the same way).
  // An identity that is no agent's is refused below, recorded (`caller_not_agent`).
  const agentId = agentIdOfSource(record.source);
  if (!deps.directory.isAgentCaller(agentId, callerArn) && deps.directory.agentIdsOfCaller(callerArn).length > 0) return notFound();
  const now = deps.now();
  const occurredAt = now.toISOString();
  const refuse = async (rule: CredentialsRefusalRule, message: string) => {
    await deps.store.recordRefusal(record, { occurredAt, callerArn, rule, message, refusalId: request.requestId });
    return done(error(REFUSAL_STATUS[rule], 'CredentialsRefused', message, { rule }), { actionId, rule });
  };

  const check = checkIssuance(
    { actionId, agentId, action: record.request.action, resourceType: record.request.resource.type, outcome: record.outcome, decidedAt: record.decidedAt, validForSeconds: record.validForSeconds },
    deps.directory.isAgentCaller(agentId, callerArn),
    (action, resourceType) => deps.grants.grantFor(action, resourceType),
    now,
  );
  if (!check.ok) return refuse(check.rule, check.message);
  // After the caller is known to be the agent (nobody else learns of the quarantine here).
  const quarantine = await deps.quarantineOf?.(agentId);
  if (quarantine !== undefined && quarantine !== null) {
    return refuse('agent_quarantined', `${agentId} is quarantined (by ${quarantine.by}: ${quarantine.reason}); no credentials are issued until the quarantine is lifted`);
  }
  // A reported execution (succeeded or failed) uses the approval: credentials after it would let an agent
  // report "failed" to the reviewers and then act.
  if (found.executionStatus !== null) {
    return refuse('already_executed', `the agent already reported executing request "${actionId}" (${found.executionStatus}); an approval is for one execution: send a new request`);
  }
  const { grant, validUntil } = check;
  const roleArn = deps.roleArns[grant.role];
  const account = roleArn === undefined ? undefined : accountOf(roleArn);
  if (roleArn === undefined || account === undefined) {
    throw new Error(`execution grant ${grant.action} on ${grant.resourceType} names role "${grant.role}", which the stack did not pass to this function (COUNTERSIGN_EXECUTION_ROLE_ARNS); redeploy the stack with this configuration`);
  }

  let sessionPolicy: string;
  try {
    const values: RenderValues = {
      resourceId: record.request.resource.id,
      environment: record.request.environment,
      parameters: record.request.parameters,
      aws: { ...account, region: deps.region },
    };
    sessionPolicy = renderSessionPolicy(grant, values, validUntil);
  } catch (caught) {
    if (!(caught instanceof UnsafePolicyValueError) && !(caught instanceof SessionPolicyTooLargeError)) throw caught;
    return refuse('unsafe_policy_value', caught.message);
  }

  const roleSessionName = sessionNameOf(actionId);
  const durationSeconds = sessionDurationSeconds(validUntil, now, grant.maxSessionSeconds);
  // The claim is written before STS is asked: a crash after AssumeRole can then lose a set of credentials, but
  // never issue a second one. If STS fails, the failure is recorded and the approval's one issue stays spent.
  const claimed = await deps.store.claimIssue(record, { occurredAt, callerArn, roleArn, roleSessionName, sourceIdentity: roleSessionName, durationSeconds, sessionPolicy, validUntil });
  if (!claimed) return refuse('already_issued', `credentials for "${actionId}" were issued before; an approval gets one set (send a new request to act again)`);

  let issued;
  try {
    issued = await deps.issuer.assumeRole({
      roleArn,
      roleSessionName,
      sourceIdentity: roleSessionName,
      durationSeconds,
      sessionPolicy,
      tags: sessionTagsOf(actionId, record.payloadSha256 ?? ''),
    });
  } catch (caught) {
    const errorName = caught instanceof Error ? caught.name : 'Error';
    const message = caught instanceof Error ? caught.message : String(caught);
    await deps.store.recordFailure(record, { occurredAt: deps.now().toISOString(), callerArn, errorName, message: message.slice(0, 1000) });
    return done(error(502, 'CredentialsNotIssued', `STS refused or failed (${errorName}); this approval's credentials are spent, send a new request to act`), { actionId, errorName });
  }
  return done(json(200, {
    actionId,
    payloadSha256: record.payloadSha256,
    validUntil,
    region: deps.region,
    roleArn,
    assumedRoleArn: issued.assumedRoleArn,
    roleSessionName,
    durationSeconds,
    sessionPolicy: JSON.parse(sessionPolicy) as unknown,
    credentials: { accessKeyId: issued.accessKeyId, secretAccessKey: issued.secretAccessKey, sessionToken: issued.sessionToken, expiration: issued.expiration },
  }), { actionId, roleArn, roleSessionName, durationSeconds });
}

export type { RequestRecord };
