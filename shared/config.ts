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
