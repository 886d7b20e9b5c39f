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
  slackSecretArn: 'COUNTERSIGN_SLACK_SECRET_ARN',
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
}

export function evaluateActionConfig(env: Env = process.env): EvaluateActionConfig {
  return {
    tableName: required(env, ENV.tableName),
    eventBusName: required(env, ENV.eventBusName),
    approvalStateMachineArn: optional(env, ENV.approvalStateMachineArn),
    policyDir: optional(env, ENV.policyDir),
  };
}

export interface DecisionApiConfig {
  tableName: string;
}

export function decisionApiConfig(env: Env = process.env): DecisionApiConfig {
  return { tableName: required(env, ENV.tableName) };
}

/** Where the Slack credentials come from: the env overrides, else the Secrets Manager secret. */
export interface SlackConfig {
  /** Secrets Manager secret with `{"botToken": "...", "signingSecret": "..."}`; unused when both overrides are set. */
  secretArn: string | undefined;
  botToken: string | undefined;
  signingSecret: string | undefined;
  /** Web API base URL. @default Slack's own */
  apiUrl: string | undefined;
}

function slackConfig(env: Env, needs: { signingSecret: boolean }): SlackConfig {
  const config: SlackConfig = {
    secretArn: optional(env, ENV.slackSecretArn),
    botToken: optional(env, ENV.slackBotToken),
    signingSecret: optional(env, ENV.slackSigningSecret),
    apiUrl: optional(env, ENV.slackApiUrl),
  };
  const missing = [config.botToken === undefined ? ENV.slackBotToken : undefined, needs.signingSecret && config.signingSecret === undefined ? ENV.slackSigningSecret : undefined]
    .filter((name) => name !== undefined);
  if (config.secretArn === undefined && missing.length > 0) {
    throw new ConfigError(`environment variable ${ENV.slackSecretArn} is not set, and neither ${missing.join(' nor ')} overrides it; the stack sets the secret ARN, the local stack the overrides`);
  }
  return config;
}

/** The approver directory bundled with the code: config/directory.json at the repository root. */
export function defaultDirectoryFile(): string {
  return fileURLToPath(new URL('../config/directory.json', import.meta.url));
}

export interface ReviewFunctionConfig {
  tableName: string;
  directoryFile: string;
  slack: SlackConfig;
}

function reviewFunctionConfig(env: Env, needs: { signingSecret: boolean }): ReviewFunctionConfig {
  return {
    tableName: required(env, ENV.tableName),
    directoryFile: optional(env, ENV.directoryFile) ?? defaultDirectoryFile(),
    slack: slackConfig(env, needs),
  };
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

export interface AuditDigestConfig {
  bucket: string;
  /** KMS key id or ARN of the digest signing key. */
  digestKeyId: string;
  retentionDays: number;
}

/** audit-digest: the hourly signed digests of the audit bucket. */
export function auditDigestConfig(env: Env = process.env): AuditDigestConfig {
  const days = optional(env, ENV.auditRetentionDays);
  const retentionDays = days === undefined ? DEFAULT_AUDIT_RETENTION_DAYS : Number(days);
  if (!Number.isInteger(retentionDays) || retentionDays < 1) {
    throw new ConfigError(`environment variable ${ENV.auditRetentionDays} is "${days ?? ''}"; it must be a whole number of days, at least 1`);
  }
  return { bucket: required(env, ENV.auditBucket), digestKeyId: required(env, ENV.digestKeyId), retentionDays };
}
