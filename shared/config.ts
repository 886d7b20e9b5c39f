import { fileURLToPath } from 'node:url';

/**
 * The environment variables the functions read. The names are shared with the constructs that set
 * them, so a rename cannot leave a function reading a variable nobody sets.
 */
export const ENV = {
  tableName: 'COUNTERSIGN_TABLE_NAME',
  eventBusName: 'COUNTERSIGN_EVENT_BUS_NAME',
  approvalStateMachineArn: 'COUNTERSIGN_APPROVAL_STATE_MACHINE_ARN',
  policyDir: 'COUNTERSIGN_POLICY_DIR',
  /** Path of the approver directory JSON. Default: the bundled config/directory.json. */
  directoryFile: 'COUNTERSIGN_DIRECTORY_FILE',
  /** Secrets Manager secret (JSON `{"botToken": "...", "signingSecret": "..."}`) in AWS. */
  /** The bot token's secret, JSON `{"botToken": "xoxb-..."}`: every function that talks to Slack. */
  slackBotTokenSecretArn: 'COUNTERSIGN_SLACK_BOT_TOKEN_SECRET_ARN',
  /** The signing secret's secret, JSON `{"signingSecret": "..."}`: slack-interactions only. */
  slackSigningSecretArn: 'COUNTERSIGN_SLACK_SIGNING_SECRET_ARN',
  /** Local overrides of the Slack secret (and the way to run without Secrets Manager). */
  slackBotToken: 'SLACK_BOT_TOKEN',
  slackSigningSecret: 'SLACK_SIGNING_SECRET',
  /** Slack Web API base URL; the local stack points it at its Slack emulator. Default: Slack's. */
  slackApiUrl: 'COUNTERSIGN_SLACK_API_URL',
  /** The Object Lock bucket of the audit log (AWS). */
  auditBucket: 'COUNTERSIGN_AUDIT_BUCKET',
  /** Object-lock retention of each audit object, in days. Default 365. */
  auditRetentionDays: 'COUNTERSIGN_AUDIT_RETENTION_DAYS',
  /** Local stack: the directory that stands in for the audit bucket (used instead of the bucket when set). */
  auditDir: 'COUNTERSIGN_AUDIT_DIR',
  /** The KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY) that signs the hourly audit digests. */
  digestKeyId: 'COUNTERSIGN_DIGEST_KEY_ID',
  /** The audit writer's on-failure bucket (failed stream batches), which the redrive reads. */
  auditFailureBucket: 'COUNTERSIGN_AUDIT_FAILURE_BUCKET',
  /** The Teams bot's secret, JSON `{"appId", "tenantId", "clientSecret"}`: every function that talks to Teams. */
  teamsSecretArn: 'COUNTERSIGN_TEAMS_SECRET_ARN',
  /** Local overrides of the Teams secret (and the way to run without Secrets Manager). */
  teamsAppId: 'TEAMS_APP_ID',
  teamsTenantId: 'TEAMS_TENANT_ID',
  teamsClientSecret: 'TEAMS_CLIENT_SECRET',
  /** Bot Connector base URL. Default: the public cloud's, https://smba.trafficmanager.net/teams/ */
  teamsServiceUrl: 'COUNTERSIGN_TEAMS_SERVICE_URL',
  /** Entra ID authority for the client-credentials token. Default: https://login.microsoftonline.com */
  teamsLoginUrl: 'COUNTERSIGN_TEAMS_LOGIN_URL',
  /** The Bot Framework's OpenID metadata (its JWKS signs Teams' requests). Default: the Bot Framework's own. */
  teamsOpenIdMetadataUrl: 'COUNTERSIGN_TEAMS_OPENID_METADATA_URL',
  /** Path of the execution-grant configuration JSON. Default: the bundled config/execution-grants.json. */
  executionGrantsFile: 'COUNTERSIGN_EXECUTION_GRANTS_FILE',
  /** The execution roles the stack created, JSON `{"<grant role name>": "<role ARN>"}` (credentials API). */
  executionRoleArns: 'COUNTERSIGN_EXECUTION_ROLE_ARNS',
} as const;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`environment variable ${name} is not set; the stack (or the local stack) sets it, so set it when running a handler by hand`);
  }
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

export interface EvaluateActionConfig {
  tableName: string;
  eventBusName: string;
  /** Absent until the approval workflow is deployed: requests that need approval then stay pending. */
  approvalStateMachineArn: string | undefined;
  policyDir: string | undefined;
  /** The approver directory: its `floodControl` limits and agents (issue 16). */
  directoryFile: string;
}

export function evaluateActionConfig(env: Env = process.env): EvaluateActionConfig {
  return {
    tableName: required(env, ENV.tableName),
    eventBusName: required(env, ENV.eventBusName),
    approvalStateMachineArn: optional(env, ENV.approvalStateMachineArn),
    policyDir: optional(env, ENV.policyDir),
    directoryFile: optional(env, ENV.directoryFile) ?? defaultDirectoryFile(),
  };
}

export interface DecisionApiConfig {
  tableName: string;
  /** The approver directory: its agents' IAM identities decide who reads which requests. */
  directoryFile: string;
}

export function decisionApiConfig(env: Env = process.env): DecisionApiConfig {
  return { tableName: required(env, ENV.tableName), directoryFile: optional(env, ENV.directoryFile) ?? defaultDirectoryFile() };
}

/**
 * Where the Slack credentials come from: the env overrides (the local stack), else two Secrets
 * Manager secrets. The signing secret is separate so that only the function that verifies Slack's
 * requests can read it: whoever holds it can forge a reviewer's tap.
 */
export interface SlackConfig {
  /** Secret with `{"botToken": "xoxb-..."}`; unused when SLACK_BOT_TOKEN is set. */
  botTokenSecretArn: string | undefined;
  /** Secret with `{"signingSecret": "..."}`; only for a function that verifies requests. */
  signingSecretArn: string | undefined;
  /** Whether this function verifies Slack's requests (and so needs the signing secret). */
  needsSigningSecret: boolean;
  botToken: string | undefined;
  signingSecret: string | undefined;
  /** Web API base URL. @default Slack's own */
  apiUrl: string | undefined;
}

function slackConfig(env: Env, needs: { signingSecret: boolean }): SlackConfig {
  const config: SlackConfig = {
    botTokenSecretArn: optional(env, ENV.slackBotTokenSecretArn),
    signingSecretArn: needs.signingSecret ? optional(env, ENV.slackSigningSecretArn) : undefined,
    needsSigningSecret: needs.signingSecret,
    botToken: optional(env, ENV.slackBotToken),
    signingSecret: needs.signingSecret ? optional(env, ENV.slackSigningSecret) : undefined,
    apiUrl: optional(env, ENV.slackApiUrl),
  };
  if (config.botTokenSecretArn === undefined && config.botToken === undefined) {
    throw new ConfigError(`environment variable ${ENV.slackBotTokenSecretArn} is not set, and ${ENV.slackBotToken} does not override it; the stack sets the secret ARN, the local stack the override`);
  }
  if (needs.signingSecret && config.signingSecretArn === undefined && config.signingSecret === undefined) {
    throw new ConfigError(`environment variable ${ENV.slackSigningSecretArn} is not set, and ${ENV.slackSigningSecret} does not override it; the stack sets the secret ARN, the local stack the override`);
  }
  return config;
}

/** The approver directory bundled with the code: config/directory.json at the repository root. */
export function defaultDirectoryFile(): string {
  return fileURLToPath(new URL('../config/directory.json', import.meta.url));
}

/** Where the Teams bot's credentials come from, and the Bot Framework endpoints it talks to. */
export interface TeamsConfig {
  /** Secret with `{"appId", "tenantId", "clientSecret"}`; unused when the three overrides are set. */
  secretArn: string | undefined;
  /** The local overrides, all three or none. */
  credentials: { appId: string; tenantId: string; clientSecret: string } | undefined;
  serviceUrl: string;
  loginUrl: string;
  openIdMetadataUrl: string | undefined;
}

export const DEFAULT_TEAMS_SERVICE_URL = 'https://smba.trafficmanager.net/teams/';
export const DEFAULT_TEAMS_LOGIN_URL = 'https://login.microsoftonline.com';

/** Teams is optional for the review functions: configured when its secret ARN (or the local overrides) is set. */
function teamsConfig(env: Env): TeamsConfig | undefined {
  const overrides = [ENV.teamsAppId, ENV.teamsTenantId, ENV.teamsClientSecret].map((name) => optional(env, name));
  const set = overrides.filter((value) => value !== undefined).length;
  if (set !== 0 && set !== 3) throw new ConfigError(`set all of ${ENV.teamsAppId}, ${ENV.teamsTenantId} and ${ENV.teamsClientSecret}, or none of them`);
  const [appId, tenantId, clientSecret] = overrides;
  const secretArn = optional(env, ENV.teamsSecretArn);
  if (secretArn === undefined && set === 0) return undefined;
  return {
    secretArn,
    credentials: appId === undefined || tenantId === undefined || clientSecret === undefined ? undefined : { appId, tenantId, clientSecret },
    serviceUrl: optional(env, ENV.teamsServiceUrl) ?? DEFAULT_TEAMS_SERVICE_URL,
    loginUrl: optional(env, ENV.teamsLoginUrl) ?? DEFAULT_TEAMS_LOGIN_URL,
    openIdMetadataUrl: optional(env, ENV.teamsOpenIdMetadataUrl),
  };
}

export interface ReviewFunctionConfig {
  tableName: string;
  directoryFile: string;
  slack: SlackConfig;
  /** Absent when Teams is not configured: reviews then go to Slack only. */
  teams: TeamsConfig | undefined;
}

function reviewFunctionConfig(env: Env, needs: { signingSecret: boolean }): ReviewFunctionConfig {
  return {
    tableName: required(env, ENV.tableName),
    directoryFile: optional(env, ENV.directoryFile) ?? defaultDirectoryFile(),
    slack: slackConfig(env, needs),
    teams: teamsConfig(env),
  };
}

export interface TeamsInteractionsConfig extends ReviewFunctionConfig {
  teams: TeamsConfig;
}

/** teams-interactions: verifies the Bot Framework's JWT, records votes, resumes the workflow, updates Slack too. */
export function teamsInteractionsConfig(env: Env = process.env): TeamsInteractionsConfig {
  const config = reviewFunctionConfig(env, { signingSecret: false });
  if (config.teams === undefined) {
    throw new ConfigError(`environment variable ${ENV.teamsSecretArn} is not set, and ${ENV.teamsAppId}/${ENV.teamsTenantId}/${ENV.teamsClientSecret} do not override it; the stack sets the secret ARN, the local stack the overrides`);
  }
  return { ...config, teams: config.teams };
}

/** request-review: stores task tokens, posts reviews, may resume the workflow. */
export function requestReviewConfig(env: Env = process.env): ReviewFunctionConfig {
  return reviewFunctionConfig(env, { signingSecret: false });
}

/** slack-interactions: verifies Slack's signature, records votes, resumes the workflow. */
export function slackInteractionsConfig(env: Env = process.env): ReviewFunctionConfig {
  return reviewFunctionConfig(env, { signingSecret: true });
}

/** review-api: the votes API for CI pipelines (updates the Slack message after a vote). */
export function reviewApiConfig(env: Env = process.env): ReviewFunctionConfig {
  return reviewFunctionConfig(env, { signingSecret: false });
}

export interface RecordOutcomeConfig extends ReviewFunctionConfig {
  eventBusName: string;
}

/** record-outcome: closes the request, publishes `Action Decided`, updates the Slack message. */
export function recordOutcomeConfig(env: Env = process.env): RecordOutcomeConfig {
  return { ...reviewFunctionConfig(env, { signingSecret: false }), eventBusName: required(env, ENV.eventBusName) };
}

export const DEFAULT_AUDIT_RETENTION_DAYS = 365;

export interface AuditWriterConfig {
  /** The decision table, which also holds the chain heads. */
  tableName: string;
  /** Where the objects go: the bucket in AWS, a directory locally (the directory wins when both are set). */
  target: { kind: 's3'; bucket: string } | { kind: 'local'; dir: string };
  retentionDays: number;
}

/** audit-writer: stream batches to the audit log. */
/** record-execution: a review function (Slack for alerts and messages, the directory for channels). */
export function recordExecutionConfig(env: Env = process.env): ReviewFunctionConfig {
  return reviewFunctionConfig(env, { signingSecret: false });
}

export function auditWriterConfig(env: Env = process.env): AuditWriterConfig {
  const dir = optional(env, ENV.auditDir);
  const days = optional(env, ENV.auditRetentionDays);
  const retentionDays = days === undefined ? DEFAULT_AUDIT_RETENTION_DAYS : Number(days);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new ConfigError(`environment variable ${ENV.auditRetentionDays} is "${days ?? ''}"; it must be a whole number of days, at least 1`);
  }
  if (dir === undefined && optional(env, ENV.auditBucket) === undefined) {
    throw new ConfigError(`neither ${ENV.auditBucket} (AWS) nor ${ENV.auditDir} (local stack) is set; the stack sets the bucket, the local stack the directory`);
  }
  return {
    tableName: required(env, ENV.tableName),
    target: dir !== undefined ? { kind: 'local', dir } : { kind: 's3', bucket: required(env, ENV.auditBucket) },
    retentionDays,
  };
}

export interface AuditRedriveConfig {
  tableName: string;
  bucket: string;
  failureBucket: string;
  retentionDays: number;
}

/** audit-redrive: the writer's own settings, plus the failure bucket it reads. */
export function auditRedriveConfig(env: Env = process.env): AuditRedriveConfig {
  const writer = auditWriterConfig(env);
  if (writer.target.kind !== 's3') throw new ConfigError(`audit-redrive runs in AWS only (the local stack redrives at start); set ${ENV.auditBucket}, not ${ENV.auditDir}`);
  return { tableName: writer.tableName, bucket: writer.target.bucket, failureBucket: required(env, ENV.auditFailureBucket), retentionDays: writer.retentionDays };
}

export interface AuditDigestConfig {
  bucket: string;
  /** The decision table: the daily reconciliation reads its event items' ids. */
  tableName: string;
  /** KMS key id or ARN of the digest signing key. */
  digestKeyId: string;
  retentionDays: number;
}

/** audit-digest: the hourly signed digests of the audit bucket. */
export function auditDigestConfig(env: Env = process.env): AuditDigestConfig {
  const retentionDays = auditRetentionDays(env);
  return { bucket: required(env, ENV.auditBucket), tableName: required(env, ENV.tableName), digestKeyId: required(env, ENV.digestKeyId), retentionDays };
}

function auditRetentionDays(env: Env): number {
  const days = optional(env, ENV.auditRetentionDays);
  const retentionDays = days === undefined ? DEFAULT_AUDIT_RETENTION_DAYS : Number(days);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new ConfigError(`environment variable ${ENV.auditRetentionDays} is "${days ?? ''}"; it must be a whole number of days, at least 1`);
  }
  return retentionDays;
}

export interface AuditCompactConfig {
  bucket: string;
  /** Days the columnar copy's files are locked, as the objects they copy. */
  retentionDays: number;
}

/** audit-compact: the columnar copy (Parquet) of the audit bucket's closed hours. */
export function auditCompactConfig(env: Env = process.env): AuditCompactConfig {
  return { bucket: required(env, ENV.auditBucket), retentionDays: auditRetentionDays(env) };
}

/** The execution-grant configuration bundled with the code: config/execution-grants.json at the repository root. */
export function defaultExecutionGrantsFile(): string {
  return fileURLToPath(new URL('../config/execution-grants.json', import.meta.url));
}

export interface CredentialsApiConfig {
  tableName: string;
  directoryFile: string;
  executionGrantsFile: string;
  /** Grant role name → role ARN. */
  executionRoleArns: Record<string, string>;
  /** The region the credentials are for: the function's own (`AWS_REGION`, set by Lambda). */
  region: string;
}

/** issue-credentials: `POST /actions/{actionId}/credentials`. */
export function credentialsApiConfig(env: Env = process.env): CredentialsApiConfig {
  const text = required(env, ENV.executionRoleArns);
  let roleArns: unknown;
  try {
    roleArns = JSON.parse(text);
  } catch {
    roleArns = undefined;
  }
  if (typeof roleArns !== 'object' || roleArns === null || Array.isArray(roleArns) || !Object.values(roleArns).every((arn) => typeof arn === 'string' && arn.startsWith('arn:'))) {
    throw new ConfigError(`environment variable ${ENV.executionRoleArns} must be a JSON object of role names to role ARNs, such as {"countersign-exec-db-export": "arn:aws:iam::123456789012:role/..."}`);
  }
  return {
    tableName: required(env, ENV.tableName),
    directoryFile: optional(env, ENV.directoryFile) ?? defaultDirectoryFile(),
    executionGrantsFile: optional(env, ENV.executionGrantsFile) ?? defaultExecutionGrantsFile(),
    executionRoleArns: roleArns as Record<string, string>,
    region: required(env, 'AWS_REGION'),
  };
}
