import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, parse as parsePath, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, EventBridgeEvent, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { DEFAULT_AUDIT_RETENTION_DAYS, defaultExecutionGrantsFile, ENV } from '../shared/config.js';
import { loadExecutionGrantsFile } from '../shared/credentials/grants-file.js';
import { DECIDED_SOURCE, DETAIL_TYPE_DECIDED, DETAIL_TYPE_EXECUTED, DETAIL_TYPE_REQUESTED } from '../shared/domain/contract.js';
import { ACTION_EXECUTED_PATTERN, ACTION_REQUESTED_PATTERN, AGENT_LIMITED_PATTERN } from '../shared/store-schema.js';
import { DETAIL_TYPE_LIMITED } from '../shared/domain/agent-limited.js';
import { agentIdOfSource } from '../shared/domain/decision.js';
import {
  AwsServiceError,
  awsErrorResponse,
  handleAwsJsonRequest,
  jsonResponse,
  startHttpServer,
  type AwsOperations,
  type HttpRequest,
  type HttpResponse,
  type LocalHttpServer,
} from './aws-json-server.js';
import { ensureDecisionTable, freePort, LOCAL_CREDENTIALS, LOCAL_REGION, localDynamoDbEndpoint, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local.js';
import { LOCAL_ACCOUNT_ID, LocalEventBus, type BusActivity, type BusEvent, type RetryPolicy } from './event-bus.js';
import { matchesEventPattern } from './event-pattern.js';
import { functionUrlEvent, functionUrlFailure, functionUrlResponse, lambdaContext, type IamCaller } from './lambda-runtime.js';
import { AGENT_HEADER, localAgentSessionArn, localIamPrincipalArn, REVIEWER_HEADER, writeLocalDirectory } from './local-directory.js';
import { AGENTS_ROUTE } from '../shared/review/agents-api.js';
import { isQueryProtocolRequest, LocalSts } from './sts.js';
import { localAuditDir, startLocalAudit, type LocalAudit } from './audit.js';
import { auditTrailOffResponse, createAuditRoutes, type AuditRoutes } from './audit-api.js';
import { createLogger, OUTCOME_TONES, type Logger } from './log.js';
import { LOCK_FILE, lockDataFolder, waitForPreviousDynamoDb, type DataFolderLock } from './data-lock.js';
import type { StreamHandler } from './stream-poller.js';
import { DEFAULT_SLACK_BOT_TOKEN, DEFAULT_SLACK_SIGNING_SECRET, SlackEmulator } from './slack/emulator.js';
import { BotFrameworkIssuer } from './teams/bot-framework-issuer.js';
import { DEFAULT_TEAMS_APP_ID, DEFAULT_TEAMS_CLIENT_SECRET, DEFAULT_TEAMS_TENANT_ID, TeamsEmulator } from './teams/emulator.js';
import type { RateLimit } from './slack/rate-limit.js';
import { LocalStepFunctions } from './step-functions.js';
import type { ApprovalDefinition } from './workflow-definition.js';
import { cachedDefinition } from './definition-cache.js';
import type { CallMeter } from './call-meter.js';
import { startDynamoDbMeter, type DynamoDbMeter } from './dynamodb-meter.js';

/**
 * The whole system on one machine: DynamoDB Local, and one HTTP port on 127.0.0.1 that serves
 * - the AWS JSON protocol for EventBridge `PutEvents` and Step Functions `StartExecution`,
 *   `DescribeExecution`, `SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat` (`POST /`);
 * - the approval workflow synthesized by the CDK app, run on aws-local-stepfunctions;
 * - the Slack workspace emulator (`/api/<method>`, the page at `/slack`), whose buttons and modals
 *   post signed interactions to the slack-interactions handler (`POST /slack/interactions`);
 * - the decision API (`GET /actions/{id}`, `GET /agents/{id}`) and the review API (`POST /actions/{id}/votes`,
 *   `POST /agents/{id}/quarantine`, `POST /agents/{id}/lift`).
 * The Lambda handlers are the real modules (the stack reuses, never forks): they are imported
 * after the environment points the AWS SDK and the Slack client at the local endpoints, and
 * called with Lambda-shaped events and a Lambda context.
 */

export const LOCAL_TABLE_NAME = 'countersign-decisions';
export const LOCAL_BUS_NAME = 'countersign';
export const LOCAL_APPROVAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:countersign-approval`;
export const DEFAULT_PORT = 4010;
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.countersign');

const EVALUATE_FUNCTION = 'countersign-evaluate-action';
const DECISION_API_FUNCTION = 'countersign-decision-api';
const REQUEST_REVIEW_FUNCTION = 'countersign-request-review';
const RECORD_OUTCOME_FUNCTION = 'countersign-record-outcome';
const SLACK_INTERACTIONS_FUNCTION = 'countersign-slack-interactions';
const TEAMS_INTERACTIONS_FUNCTION = 'countersign-teams-interactions';
const REVIEW_API_FUNCTION = 'countersign-review-api';
const RECORD_EXECUTION_FUNCTION = 'countersign-record-execution';
const CREDENTIALS_FUNCTION = 'countersign-issue-credentials';
const CREDENTIALS_PATH = /^\/actions\/[^/]+\/credentials\/?$/;
const ACTION_REQUESTED_RULE = 'countersign-action-requested';
const ACTION_EXECUTED_RULE = 'countersign-action-executed';
const AGENT_LIMITED_RULE = 'countersign-agent-limited';
const VOTES_PATH = /^\/actions\/[^/]+\/votes\/?$/;
const MEMBER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export type EvaluateActionHandler = (event: EventBridgeEvent<string, unknown>, context: Context) => Promise<unknown>;
export type FunctionUrlHandler = (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;
/** A function the approval workflow invokes (lambda:invoke), with its Payload. */
export type WorkflowTaskHandler = (payload: never, context: Context) => Promise<unknown>;

export interface LocalHandlers {
  evaluateAction: EvaluateActionHandler;
  decisionApi: FunctionUrlHandler;
  requestReview: WorkflowTaskHandler;
  recordOutcome: WorkflowTaskHandler;
  slackInteractions: FunctionUrlHandler;
  /** The Teams bot's messaging endpoint; without it the Teams emulator's taps answer 503. */
  teamsInteractions?: FunctionUrlHandler;
  reviewApi: FunctionUrlHandler;
  /** record-execution, for agents' `Action Executed` reports; without it they match no rule. */
  recordExecution?: EvaluateActionHandler;
  /** `POST /actions/{actionId}/credentials`; without it the local stack answers that route 404. */
  issueCredentials?: FunctionUrlHandler;
  /** The audit-writer, fed by the stream poller; without it the stack keeps no audit trail. */
  auditWriter?: StreamHandler;
}

export class LocalStackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalStackError';
  }
}

export class JavaMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JavaMissingError';
  }
}

export interface LocalStackOptions {
  /** 0 picks any free port. @default the PORT environment variable, else 4010 */
  port?: number;
  /** Where DynamoDB Local, the dead-letter file and executions live. @default `.countersign/` in the repo */
  dataDir?: string;
  /** Deletes the data directory first. @default false */
  fresh?: boolean;
  /** @default any free port */
  dynamoDbPort?: number;
  /** @default lines on stdout, coloured on a TTY */
  log?: Logger;
  /**
   * Retry policy of the evaluate-action target. In AWS, EventBridge invokes the function
   * asynchronously and Lambda tries a failing invocation 3 times (the ActionIntake construct's
   * `retryAttempts: 2`) before the dead-letter queue; locally the same 3 attempts, but
   * milliseconds apart instead of minutes.
   * @default 3 attempts, 250 ms then 500 ms apart
   */
  retry?: RetryPolicy;
  /** Replaces the real handler modules (tests of the stack's own wiring). @default the modules in `functions/` */
  loadHandlers?: () => Promise<LocalHandlers>;
  /**
   * Workflow time runs this many times faster: `timing` in each execution's input is divided by it,
   * in whole seconds rounded up (see `scaleExecutionInput` in workflow-definition.ts). At 600 a
   * 30-minute policy (reminder after 900 s, deadline 900 s later) reminds after 2 s, expires after 4 s.
   * @default the COUNTERSIGN_TIME_SCALE environment variable, else 1
   */
  timeScale?: number;
  /** Slack's chat.postMessage limit per channel; false lifts it (benchmarks). @default about 1/s, bursts of 4 */
  slackRateLimit?: RateLimit | false;
  /**
   * Keeps the Slack channels' messages in `<dataDir>/slack/workspace.json` across restarts; false keeps
   * them in memory only (benchmarks: the file is rewritten after every burst of posts).
   * @default true
   */
  slackPersistence?: boolean;
  /** The approver directory to start from. @default COUNTERSIGN_DIRECTORY_FILE as it was when the first stack started, else config/directory.json */
  directoryFile?: string;
  /** Replaces the synthesized state machine (tests of the stack's own wiring). @default `synthesizeApprovalDefinition()` of infra/approval-definition.ts */
  loadApprovalDefinition?: () => Promise<ApprovalDefinition>;
  /**
   * The audit trail: the stream poller feeding the audit-writer, the audit bucket in
   * `<dataDir>/audit-bucket`, digests on the hour and at stop. Needs `auditWriter` among the handlers.
   * @default true
   */
  audit?: boolean;
  /** Object-lock retention of local audit objects, in days. @default COUNTERSIGN_AUDIT_RETENTION_DAYS, else 365 */
  auditRetentionDays?: number;
  /**
   * Counts the billable calls (bench/cost-bench.ts and the call-count tests): PutEvents entries, Lambda
   * invocations and their durations, DynamoDB request units (through a metering hop in front of
   * DynamoDB Local), Step Functions requests and state transitions. @default no metering
   */
  meter?: CallMeter;
  /** Told of each handler invocation as it ends: function name, start and end (`performance.now()`). For the bench's timeline. @default none */
  onInvocation?: (functionName: string, startedAt: number, endedAt: number) => void;
}

export interface LocalStack {
  /** The bus endpoint and the decision API's base URL, e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  dataDir: string;
  dynamoDbEndpoint: string;
  bus: LocalEventBus;
  stepFunctions: LocalStepFunctions;
  slack: SlackEmulator;
  /** The Microsoft Teams emulator (token endpoint, OpenID metadata and JWKS, Bot Connector, the /teams page). */
  teams: TeamsEmulator;
  /** The Web API base URL the handlers use (`slackApiUrl`), e.g. http://127.0.0.1:4010/api/ */
  slackApiUrl: string;
  timeScale: number;
  /** The audit bucket directory, when the audit trail runs. */
  auditDir: string | undefined;
  /** The local STS: the AssumeRole calls the credentials function made (no secrets kept). */
  sts: LocalSts;
  /**
   * Stops in order: refuses new requests and lets deliveries finish, lets workflow steps settle,
   * closes the port, drains the stream into the audit log (digest and reconciliation), stops
   * DynamoDB Local (its Java process included) and releases the data folder.
   */
  stop(): Promise<void>;
  /** Milliseconds each part of the start took (those under "concurrently" overlap). */
  startupTimings: Readonly<Record<string, number>>;
  /** The steps of `stop()` not finished yet (all of them before it is called): what a forced exit skips. */
  unfinishedStopSteps(): string[];
}

export function resolveTimeScale(value: number | string | undefined): number {
  if (value === undefined || value === '') return 1;
  const scale = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(scale) || scale < 1) {
    throw new LocalStackError(`time scale "${String(value)}" is not a number of at least 1 (--time-scale N or COUNTERSIGN_TIME_SCALE=N runs workflow time N times faster)`);
  }
  return scale;
}

export function resolvePort(value: number | string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PORT;
  const port = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LocalStackError(`port "${String(value)}" is not a port number (0-65535; 0 picks any free port)`);
  }
  return port;
}

/**
 * DynamoDB Local needs Java 17 or later; say so in one line instead of a spawn error. Asynchronous:
 * `java -version` starts a JVM, which runs beside DynamoDB Local's own start instead of before it.
 */
export async function checkJava(): Promise<void> {
  const install = 'install Java 17 or later (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) and make sure `java` is on PATH';
  const result = await new Promise<{ error: Error | null; text: string }>((resolve) => {
    execFile('java', ['-version'], { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ error: error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT' ? error : null, text: `${stderr}${stdout}` }));
  });
  if (result.error !== null) {
    throw new JavaMissingError(`Java was not found, and DynamoDB Local needs it: ${install}`);
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.text);
  if (match === null) return;
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) throw new JavaMissingError(`Java ${major} was found, but DynamoDB Local needs Java 17 or later: ${install}`);
}

/** `rm -rf` only what is plainly a data folder: never the repo, a parent of it, or a filesystem root. */
function assertDeletable(dataDir: string): void {
  const fromRepo = relative(dataDir, REPO_ROOT);
  const containsRepo = fromRepo === '' || !fromRepo.startsWith('..');
  if (containsRepo || parsePath(dataDir).root === dataDir) {
    throw new LocalStackError(`refusing to delete ${dataDir} for --fresh: it is not a data folder (it holds the repository or is a filesystem root)`);
  }
}

/** Empties the data folder for --fresh, keeping the lock this stack holds on it. */
function emptyDataDir(dataDir: string): void {
  for (const entry of readdirSync(dataDir)) {
    if (entry !== LOCK_FILE) rmSync(join(dataDir, entry), { recursive: true, force: true });
  }
}

/** The environment the handler modules read when they build their SDK clients at import time. */
export function handlerEnvironment(endpoints: { url: string; dynamoDbEndpoint: string; directoryFile: string; slackBotToken: string; slackSigningSecret: string; auditDir?: string; auditRetentionDays?: number; teams?: { appId: string; tenantId: string; clientSecret: string } }): Record<string, string> {
  const teams = endpoints.teams ?? { appId: DEFAULT_TEAMS_APP_ID, tenantId: DEFAULT_TEAMS_TENANT_ID, clientSecret: DEFAULT_TEAMS_CLIENT_SECRET };
  return {
    // The Teams emulator's credentials and endpoints: the real token, Bot Connector and JWT code runs against them.
    [ENV.teamsAppId]: teams.appId,
    [ENV.teamsTenantId]: teams.tenantId,
    [ENV.teamsClientSecret]: teams.clientSecret,
    [ENV.teamsServiceUrl]: `${endpoints.url}/teams/connector/`,
    [ENV.teamsLoginUrl]: `${endpoints.url}/teams/login`,
    [ENV.teamsOpenIdMetadataUrl]: `${endpoints.url}/teams/botframework/openidconfiguration`,
    // The execution roles of the grants, as the stack would create them (the local STS takes any role ARN).
    [ENV.executionRoleArns]: JSON.stringify(localExecutionRoleArns()),
    AWS_ENDPOINT_URL_STS: endpoints.url,
    ...(endpoints.auditDir === undefined ? {} : { [ENV.auditDir]: endpoints.auditDir }),
    [ENV.auditRetentionDays]: String(endpoints.auditRetentionDays ?? DEFAULT_AUDIT_RETENTION_DAYS),
    [ENV.tableName]: LOCAL_TABLE_NAME,
    [ENV.directoryFile]: endpoints.directoryFile,
    [ENV.slackBotToken]: endpoints.slackBotToken,
    [ENV.slackSigningSecret]: endpoints.slackSigningSecret,
    [ENV.slackApiUrl]: `${endpoints.url}/api/`,
    [ENV.eventBusName]: LOCAL_BUS_NAME,
    [ENV.approvalStateMachineArn]: LOCAL_APPROVAL_STATE_MACHINE_ARN,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamoDbEndpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.url,
    AWS_ENDPOINT_URL_SFN: endpoints.url,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** The endpoints the real handler modules were imported with: their SDK clients keep them. */
let realHandlersEndpoints: string | undefined;

function applyHandlerEnvironment(environment: Record<string, string>): void {
  // A real session token or an opt-out of configured endpoints would send the handlers to AWS;
  // a Slack secret ARN would send them to Secrets Manager instead of the local Slack secrets.
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  delete process.env[ENV.slackBotTokenSecretArn];
  delete process.env[ENV.slackSigningSecretArn];
  delete process.env[ENV.teamsSecretArn];
  Object.assign(process.env, environment);
  // Powertools logs at INFO by default; WARN keeps the terminal to the stack's own lines.
  if (process.env.LOG_LEVEL === undefined && process.env.POWERTOOLS_LOG_LEVEL === undefined) process.env.LOG_LEVEL = 'WARN';
}

async function loadRealHandlers(): Promise<LocalHandlers> {
  const [evaluate, decisionApi, requestReview, recordOutcome, slackInteractions, reviewApi, auditWriter, recordExecution, issueCredentials, teamsInteractions] = await Promise.all([
    import('../functions/evaluate-action/handler.js'),
    import('../functions/decision-api/handler.js'),
    import('../functions/request-review/handler.js'),
    import('../functions/record-outcome/handler.js'),
    import('../functions/slack-interactions/handler.js'),
    import('../functions/review-api/handler.js'),
    import('../functions/audit-writer/handler.js'),
    import('../functions/record-execution/handler.js'),
    import('../functions/issue-credentials/handler.js'),
    import('../functions/teams-interactions/handler.js'),
  ]);
  return {
    evaluateAction: evaluate.handler,
    // Like the credentials API's, it reads the AWS_IAM authorizer.
    decisionApi: decisionApi.handler as unknown as FunctionUrlHandler,
    requestReview: requestReview.handler,
    recordOutcome: recordOutcome.handler,
    slackInteractions: slackInteractions.handler,
    teamsInteractions: teamsInteractions.handler,
    // The votes API's handler reads the AWS_IAM authorizer, which the Function URL event type leaves out.
    reviewApi: reviewApi.handler as unknown as FunctionUrlHandler,
    // Its event type adds the tumbling window's `shardId`, which the poller sends.
    auditWriter: auditWriter.handler as unknown as StreamHandler,
    recordExecution: recordExecution.handler,
    // Like the votes API's, it reads the AWS_IAM authorizer.
    issueCredentials: issueCredentials.handler as unknown as FunctionUrlHandler,
  };
}

/** `{"<grant role>": "arn:aws:iam::000000000000:role/<grant role>"}` for the grants the handlers will load. */
function localExecutionRoleArns(): Record<string, string> {
  const grants = loadExecutionGrantsFile(process.env[ENV.executionGrantsFile] ?? defaultExecutionGrantsFile());
  return Object.fromEntries(grants.data.grants.map((grant) => [grant.role, `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${grant.role}`]));
}

/** The caller the credentials API sees: `x-countersign-agent: <agent id>` stands for a SigV4 signature of that agent's role session. */
function localAgentCaller(request: HttpRequest): IamCaller | undefined {
  const value = request.headers[AGENT_HEADER];
  const agent = Array.isArray(value) ? value[0] : value;
  if (agent === undefined || !MEMBER_ID.test(agent)) return undefined;
  return { userArn: localAgentSessionArn(agent), userId: `AROALOCAL${agent.toUpperCase().replace(/[^A-Z0-9]/g, '')}:local` };
}

/** Who an unsigned local request to the decision API is: an IAM user that is no agent's identity, so it reads every request. */
const LOCAL_OPERATOR_CALLER: IamCaller = { userArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local-operator`, userId: 'AIDALOCALOPERATOR' };

/** Labels a 200 answer of the credentials route: these credentials come from the local STS and work nowhere in AWS. */
function labelledLocal(response: HttpResponse): HttpResponse {
  if (response.statusCode !== 200 || response.body === undefined) return response;
  const body = JSON.parse(response.body.toString()) as Record<string, unknown>;
  return { ...response, body: JSON.stringify({ ...body, local: true, localNote: 'Issued by the local stack\'s STS: no AWS service accepts these credentials.' }) };
}

/**
 * Synthesizing the CDK app takes seconds: the definition is kept for the source it came from (see
 * definition-cache.ts), and does not change while the process runs.
 */
let synthesized: Promise<ApprovalDefinition> | undefined;

function loadSynthesizedDefinition(): Promise<ApprovalDefinition> {
  synthesized ??= cachedDefinition(REPO_ROOT, () => import('../infra/approval-definition.js').then(
    (module): ApprovalDefinition => module.synthesizeApprovalDefinition(),
  ));
  synthesized.catch(() => { synthesized = undefined; });
  return synthesized;
}

/** The directory file as the user gave it, read before the stack points the variable at its own copy. */
let userDirectoryFile: string | undefined | null = null;

function sourceDirectoryFile(option: string | undefined): string {
  if (userDirectoryFile === null) userDirectoryFile = process.env[ENV.directoryFile];
  return resolve(option ?? userDirectoryFile ?? join(REPO_ROOT, 'config', 'directory.json'));
}

/** What an AWS_IAM Function URL answers a request that is not signed. */
function iamForbidden(): HttpResponse {
  return jsonResponse(403, { Message: 'Forbidden' });
}

/**
 * The caller the votes API sees. In AWS the Function URL authenticates the SigV4 signature and
 * passes the IAM principal; locally the `x-countersign-reviewer` header names a directory member,
 * who becomes `arn:aws:iam::000000000000:user/<member id>` (the local directory maps it back).
 */
function localIamCaller(request: HttpRequest): IamCaller | undefined {
  const value = request.headers[REVIEWER_HEADER];
  const member = Array.isArray(value) ? value[0] : value;
  if (member === undefined || !MEMBER_ID.test(member)) return undefined;
  return { userArn: localIamPrincipalArn(member), userId: `AIDALOCAL${member.toUpperCase().replace(/[^A-Z0-9]/g, '')}` };
}

function detailField(detail: Record<string, unknown>, field: string): unknown {
  return detail[field];
}

/** Agent-written text for a terminal line: only a string, and at most `max` characters of it. */
function shown(value: unknown, max = 128): string {
  if (typeof value !== 'string') return '?';
  return value.length <= max ? value : `${value.slice(0, max)}...`;
}

function subjectOf(event: BusEvent): string {
  const actionId = detailField(event.detail, 'actionId');
  if (typeof actionId === 'string') return shown(actionId);
  const requestEventId = detailField(event.detail, 'requestEventId');
  return `event ${typeof requestEventId === 'string' ? requestEventId : event.id}`;
}

function describeRequest(event: BusEvent): string {
  const { action, resource, environment } = event.detail as { action?: unknown; resource?: { type?: unknown; id?: unknown }; environment?: unknown };
  const agent = agentIdOfSource(event.source);
  // Any shape may arrive here (the contract is checked later, by the handler): String() of {"toString": 1} throws.
  const target = typeof resource === 'object' && resource !== null ? `${shown(resource.type)}/${shown(resource.id)}` : '?';
  return `${shown(agent)}: ${shown(action)} on ${target}${typeof environment === 'string' ? ` in ${shown(environment)}` : ''}`;
}

function describeExecution(event: BusEvent): string {
  const agent = agentIdOfSource(event.source);
  const status = detailField(event.detail, 'status');
  return `${shown(agent)} reports ${shown(status)}`;
}

const REVIEW_OUTCOMES = new Set(['approved', 'rejected', 'expired']);

/**
 * `outcomesFromStream`: the audit trail's stream poller prints review outcomes after the votes that
 * led to them (both come from the table's stream, in order); the bus would print them first.
 */
function reportActivity(log: Logger, activity: BusActivity, outcomesFromStream: boolean): void {
  const { event } = activity;
  const subject = subjectOf(event);
  switch (activity.kind) {
    case 'accepted':
      if (event['detail-type'] === DETAIL_TYPE_REQUESTED) {
        if (matchesEventPattern(ACTION_REQUESTED_PATTERN, event)) log.step('requested', subject, describeRequest(event));
        else log.step('unrouted', subject, `source "${event.source}" matches no rule (agents send with source "agent.<id>")`, 'warn');
      } else if (event['detail-type'] === DETAIL_TYPE_EXECUTED) {
        if (matchesEventPattern(ACTION_EXECUTED_PATTERN, event)) log.step('executed', subject, describeExecution(event));
        else log.step('unrouted', subject, `source "${event.source}" matches no rule (agents send with source "agent.<id>")`, 'warn');
      } else if (event['detail-type'] === DETAIL_TYPE_LIMITED && event.source === DECIDED_SOURCE) {
        const limit = detailField(event.detail, 'limit');
        const group = detailField(event.detail, 'group');
        log.step('limited', shown(String(detailField(event.detail, 'agentId'))), `flood control (${shown(String(limit))}): one line to ${shown(String(group))}'s channels`, 'warn');
      } else if (event['detail-type'] === DETAIL_TYPE_DECIDED && event.source === DECIDED_SOURCE) {
        const outcome = String(detailField(event.detail, 'outcome'));
        const reason = detailField(event.detail, 'reason');
        // Policy's own answers are "decided"; the end of a review is its "outcome".
        const step = REVIEW_OUTCOMES.has(outcome) ? 'outcome' : 'decided';
        if (step === 'outcome' && outcomesFromStream) return;
        log.step(step, subject, `${outcome}${typeof reason === 'string' && reason !== '' ? ` - ${reason}` : ''}`, OUTCOME_TONES[outcome] ?? 'plain');
      }
      return;
    case 'recovered':
      log.step('redeliver', subject, `accepted before the last stop and not delivered then; delivering it now (${activity.rules.join(', ')})`, 'dim');
      return;
    case 'delivered':
      return;
    case 'delivery-failed': {
      const message = activity.error instanceof Error ? activity.error.message : String(activity.error);
      const next = activity.retryInMs === null ? '' : `; retrying in ${activity.retryInMs} ms`;
      log.step('failed', subject, `evaluate-action attempt ${activity.attempt} failed: ${message}${next}`, 'warn');
      return;
    }
    case 'dead-lettered': {
      log.step('dlq', subject, `gave up after ${activity.attempts} attempts; the event is in ${activity.file}`, 'error');
      if (activity.error instanceof Error && activity.error.stack !== undefined) log.error(activity.error.stack);
      return;
    }
  }
}

/** Step Functions requests counted by operation (`AWSStepFunctions.StartExecution` -> `StartExecution`). */
function meteredOperations(operations: AwsOperations, meter: CallMeter): AwsOperations {
  return Object.fromEntries(Object.entries(operations).map(([target, operation]) => [target, (input, context) => {
    meter.recordStepFunctionsRequest(target.slice(target.indexOf('.') + 1));
    return operation(input, context);
  }]));
}

/**
 * The function whose invocation is running, in that invocation's async context (set only on a stack with
 * `meter` or `onInvocation`): the bench tells which function made each DynamoDB call by it, since handlers
 * that run at once share one process.
 */
export const invokedFunction = new AsyncLocalStorage<string>();

/** Each handler timed as Lambda bills it: one invocation, its duration (start to settled). */
function meteredHandlers(handlers: LocalHandlers, observe: (functionName: string, startedAt: number, endedAt: number, records: number, cpuMs: number) => void): LocalHandlers {
  const names: Record<keyof LocalHandlers, string> = {
    evaluateAction: EVALUATE_FUNCTION,
    decisionApi: DECISION_API_FUNCTION,
    requestReview: REQUEST_REVIEW_FUNCTION,
    recordOutcome: RECORD_OUTCOME_FUNCTION,
    slackInteractions: SLACK_INTERACTIONS_FUNCTION,
    teamsInteractions: TEAMS_INTERACTIONS_FUNCTION,
    reviewApi: REVIEW_API_FUNCTION,
    recordExecution: RECORD_EXECUTION_FUNCTION,
    issueCredentials: CREDENTIALS_FUNCTION,
    auditWriter: 'countersign-audit-writer',
  };
  const metered: Record<string, unknown> = {};
  for (const [key, handler] of Object.entries(handlers) as [keyof LocalHandlers, ((...args: never[]) => Promise<unknown>) | undefined][]) {
    if (handler === undefined) continue;
    metered[key] = async (...args: never[]) => {
      const started = performance.now();
      const cpu = process.cpuUsage();
      try {
        return await invokedFunction.run(names[key], () => handler(...args));
      } finally {
        const records = (args[0] as { Records?: unknown[] } | undefined)?.Records?.length ?? 0;
        const used = process.cpuUsage(cpu);
        observe(names[key], started, performance.now(), records, (used.user + used.system) / 1000);
      }
    };
  }
  return metered as unknown as LocalHandlers;
}

/** EventBridge's size of an entry: source, detail type, detail and resources in UTF-8, and 14 bytes for the time. */
export function putEventsEntryBytes(event: BusEvent): number {
  const resources = event.resources.reduce((sum, resource) => sum + Buffer.byteLength(resource, 'utf8'), 0);
  return 14 + Buffer.byteLength(event.source, 'utf8') + Buffer.byteLength(event['detail-type'], 'utf8') + Buffer.byteLength(JSON.stringify(event.detail), 'utf8') + resources;
}

function functionUrlId(functionName: string): string {
  return `${functionName.replace(/[^a-z0-9]/g, '')}local`;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const startupTimings: Record<string, number> = {};
  const timed = async <T>(name: string, work: Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work;
    } finally {
      startupTimings[name] = performance.now() - started;
    }
  };
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const log = options.log ?? createLogger();
  const port = resolvePort(options.port ?? process.env.PORT);
  const timeScale = resolveTimeScale(options.timeScale ?? process.env.COUNTERSIGN_TIME_SCALE);
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const directorySource = sourceDirectoryFile(options.directoryFile);
  const slackBotToken = process.env[ENV.slackBotToken] || DEFAULT_SLACK_BOT_TOKEN;
  const slackSigningSecret = process.env[ENV.slackSigningSecret] || DEFAULT_SLACK_SIGNING_SECRET;

  const bus = new LocalEventBus({
    name: LOCAL_BUS_NAME,
    region: LOCAL_REGION,
    deadLetterFile: join(dataDir, 'dlq.jsonl'),
    journalFile: join(dataDir, 'bus', 'journal.jsonl'),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    log,
  });
  let operations: AwsOperations = bus.operations;
  let handlers: LocalHandlers | undefined;
  let slack: SlackEmulator | undefined;
  let teams: TeamsEmulator | undefined;
  const teamsIssuer = BotFrameworkIssuer.create();
  const sts = new LocalSts();
  /** The audit page and its data, when the audit trail runs. */
  let auditPages: AuditRoutes | undefined;
  let serverPort = port;
  /** Workflow function invocations still running; the stack waits for them before stopping DynamoDB Local. */
  const inFlight = new Set<Promise<unknown>>();

  const onInternalError = (error: unknown, where: string) => {
    log.error(`${where} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  };
  const startingMessage = 'The local stack is still starting; retry once GET /health answers 200.';
  const starting = () => awsErrorResponse(new AwsServiceError('ServiceUnavailableException', startingMessage, 503));

  const invokeFunctionUrl = async (functionName: string, handler: FunctionUrlHandler, request: HttpRequest, iam?: IamCaller): Promise<HttpResponse> => {
    try {
      const event = functionUrlEvent(request, { port: serverPort, urlId: functionUrlId(functionName), ...(iam === undefined ? {} : { iam }) });
      return functionUrlResponse(await handler(event, lambdaContext(functionName, 10_000)));
    } catch (error) {
      onInternalError(error, functionName);
      return functionUrlFailure();
    }
  };

  /** The slack-interactions Function URL: Slack (here, the emulator) posts interactions to it. */
  const slackInteractionsUrl = async (request: HttpRequest): Promise<HttpResponse> => {
    if (handlers === undefined) return jsonResponse(503, { message: startingMessage });
    return invokeFunctionUrl(SLACK_INTERACTIONS_FUNCTION, handlers.slackInteractions, request);
  };

  /** The teams-interactions Function URL (the bot's messaging endpoint): the Teams emulator posts invokes to it. */
  const teamsMessagesUrl = async (request: HttpRequest): Promise<HttpResponse> => {
    if (handlers?.teamsInteractions === undefined) return jsonResponse(503, { message: startingMessage });
    return invokeFunctionUrl(TEAMS_INTERACTIONS_FUNCTION, handlers.teamsInteractions, request);
  };

  const route = async (request: HttpRequest): Promise<HttpResponse> => {
    const { path, method } = request;
    if (path === '/' && method === 'POST') {
      if (handlers === undefined) return starting();
      if (isQueryProtocolRequest(request)) return sts.handle(request);
      return handleAwsJsonRequest(request, operations, onInternalError);
    }
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') return jsonResponse(405, { message: 'GET /health' });
      return handlers === undefined ? jsonResponse(503, { status: 'starting' }) : jsonResponse(200, { status: 'ok' });
    }
    if (path === '/slack/interactions') {
      // Any method reaches the function, as on a Function URL; the handler answers what it does not serve.
      return slackInteractionsUrl(request);
    }
    if (path === '/teams/api/messages') return teamsMessagesUrl(request);
    if (path === '/teams' || path.startsWith('/teams/')) {
      if (teams === undefined) return jsonResponse(503, { message: startingMessage });
      const answer = await teams.handle(request);
      return answer ?? jsonResponse(404, { message: `No Teams emulator route for ${method} ${path}` });
    }
    if (path === '/slack' || path.startsWith('/slack/') || path.startsWith('/api/')) {
      if (slack === undefined) return jsonResponse(503, { message: startingMessage });
      const answer = await slack.handle(request);
      if (answer !== undefined) return answer;
    }
    if (path === '/audit' || path.startsWith('/audit/')) {
      if (handlers === undefined) return jsonResponse(503, { message: startingMessage });
      if (auditPages === undefined) return auditTrailOffResponse();
      return auditPages.handle(request);
    }
    if (VOTES_PATH.test(path) || AGENTS_ROUTE.test(path)) {
      if (handlers === undefined) return jsonResponse(503, { message: startingMessage });
      const caller = localIamCaller(request);
      if (caller === undefined) return iamForbidden();
      const headers = { ...request.headers };
      delete headers[REVIEWER_HEADER];
      return invokeFunctionUrl(REVIEW_API_FUNCTION, handlers.reviewApi, { ...request, headers }, caller);
    }
    if (CREDENTIALS_PATH.test(path) && handlers?.issueCredentials !== undefined) {
      const caller = localAgentCaller(request);
      if (caller === undefined) return iamForbidden();
      const headers = { ...request.headers };
      delete headers[AGENT_HEADER];
      return labelledLocal(await invokeFunctionUrl(CREDENTIALS_FUNCTION, handlers.issueCredentials, { ...request, headers }, caller));
    }
    if (path === '/actions' || path.startsWith('/actions/') || path.startsWith('/agents/')) {
      if (handlers === undefined) return jsonResponse(503, { message: startingMessage });
      // `x-countersign-agent` stands for that agent's signature, as on the credentials route; a request
      // without it is the local operator's (no agent's identity: it reads every request).
      // A header that names no agent id is refused, as on the credentials route (not read as the operator).
      const agentCaller = localAgentCaller(request);
      if (request.headers[AGENT_HEADER] !== undefined && agentCaller === undefined) return iamForbidden();
      const headers = { ...request.headers };
      delete headers[AGENT_HEADER];
      return invokeFunctionUrl(DECISION_API_FUNCTION, handlers.decisionApi, { ...request, headers }, agentCaller ?? LOCAL_OPERATOR_CALLER);
    }
    return jsonResponse(404, {
      message: `No route for ${method} ${path}. Routes: POST / (AWS JSON: ${Object.keys(operations).join(', ')}), GET /health, GET /actions/{actionId}, POST /actions/{actionId}/votes, POST /actions/{actionId}/credentials, GET /agents/{agentId}, POST /agents/{agentId}/quarantine, POST /agents/{agentId}/lift, GET /slack, POST /api/<Slack method>, POST /slack/interactions, GET /audit, GET /audit/records`,
    });
  };

  const invokeWorkflowFunction = (functionKey: string, payload: unknown): Promise<unknown> => {
    const current = handlers;
    if (current === undefined) return Promise.reject(new LocalStackError('the local stack is stopping'));
    const targets: Record<string, [WorkflowTaskHandler, string]> = {
      'request-review': [current.requestReview, REQUEST_REVIEW_FUNCTION],
      'record-outcome': [current.recordOutcome, RECORD_OUTCOME_FUNCTION],
    };
    const target = Object.hasOwn(targets, functionKey) ? targets[functionKey] : undefined;
    if (target === undefined) return Promise.reject(new RangeError(`the workflow names function "${functionKey}"; the local stack knows ${Object.keys(targets).join(', ')}`));
    const [handler, functionName] = target;
    const call = Promise.resolve().then(() => handler(payload as never, lambdaContext(functionName, 60_000)));
    inFlight.add(call);
    void call.then(() => inFlight.delete(call), () => inFlight.delete(call));
    return call;
  };

  // The port first: a second `npm start -- --fresh` must fail on it before deleting the data of the first.
  const http: LocalHttpServer = await startHttpServer({ port, handler: route, onError: (error) => onInternalError(error, 'HTTP server') });
  serverPort = http.port;
  let dynamoDb: DynamoDbLocal | undefined;
  let dynamoDbMeter: DynamoDbMeter | undefined;
  let dynamoDbStarting: Promise<DynamoDbLocal> | undefined;
  let stepFunctions: LocalStepFunctions;
  let audit: LocalAudit | undefined;
  let lock: DataFolderLock | undefined;
  const auditDir = localAuditDir(dataDir);
  const auditRetentionDays = options.auditRetentionDays ?? Number(process.env[ENV.auditRetentionDays] || DEFAULT_AUDIT_RETENTION_DAYS);
  try {
    if (!Number.isInteger(auditRetentionDays) || auditRetentionDays < 1) throw new LocalStackError(`audit retention "${auditRetentionDays}" is not a whole number of days, at least 1 (${ENV.auditRetentionDays})`);
    if (options.fresh === true) assertDeletable(dataDir);
    mkdirSync(dataDir, { recursive: true });
    // Before --fresh deletes anything: a second stack on this folder must not touch the first's data.
    try {
      lock = lockDataFolder(dataDir, http.port);
    } catch (error) {
      if (error instanceof Error && error.name === 'DataFolderInUseError') throw new LocalStackError(error.message);
      throw error;
    }
    if (options.fresh === true) emptyDataDir(dataDir);
    // A stack killed with SIGKILL: its DynamoDB Local is being stopped by its watchdog; the files are ours once it is gone.
    if (!await waitForPreviousDynamoDb(lock.previous)) {
      throw new LocalStackError(`DynamoDB Local of the stack that ran on ${dataDir} before (pid ${lock.previous?.dynamoDbPid}) is still running; stop it (kill ${lock.previous?.dynamoDbPid}) and start again`);
    }
    const directory = writeLocalDirectory(directorySource, dataDir);
    slack = new SlackEmulator({
      directory: directory.data,
      botToken: slackBotToken,
      signingSecret: slackSigningSecret,
      interactions: slackInteractionsUrl,
      baseUrl: () => http.url,
      timeScale,
      log,
      ...(options.slackPersistence === false ? {} : { stateFile: join(dataDir, 'slack', 'workspace.json') }),
      ...(options.slackRateLimit === undefined ? {} : { rateLimit: options.slackRateLimit }),
    });
    teams = new TeamsEmulator({
      directory: directory.data,
      appId: DEFAULT_TEAMS_APP_ID,
      tenantId: DEFAULT_TEAMS_TENANT_ID,
      clientSecret: DEFAULT_TEAMS_CLIENT_SECRET,
      bot: teamsMessagesUrl,
      baseUrl: () => http.url,
      issuer: await teamsIssuer,
      log,
    });
    // Concurrently, since each takes seconds on a loaded machine: DynamoDB Local boots (a JVM) and
    // Java's version is checked, while the CDK app is synthesized and the handler modules are
    // imported (they only build their clients at import; DynamoDB Local's endpoint is known from its port).
    const dynamoDbPort = options.dynamoDbPort ?? await freePort();
    const dynamoDbEndpoint = localDynamoDbEndpoint(dynamoDbPort);
    if (options.meter !== undefined) dynamoDbMeter = await startDynamoDbMeter(dynamoDbEndpoint, options.meter);
    const javaChecked = timed('Java version check', checkJava());
    javaChecked.catch(() => undefined);
    dynamoDbStarting = timed('DynamoDB Local', startDynamoDbLocal({ dataDir: join(dataDir, 'dynamodb'), port: dynamoDbPort }));
    dynamoDbStarting.catch(() => undefined);
    const environment = handlerEnvironment({
      url: http.url,
      dynamoDbEndpoint: dynamoDbMeter?.endpoint ?? dynamoDbEndpoint,
      directoryFile: directory.file,
      slackBotToken,
      slackSigningSecret,
      auditDir,
      auditRetentionDays,
    });
    if (options.loadHandlers === undefined) {
      const endpoints = `${http.url} and ${dynamoDbEndpoint}, with the directory ${directorySource} and the audit bucket ${auditDir}`;
      if (realHandlersEndpoints !== undefined && realHandlersEndpoints !== endpoints) {
        throw new LocalStackError(`the handler modules in this process already use ${realHandlersEndpoints} (their clients and directory are set up once, at import); start the next local stack in this process with the same port, dynamoDbPort and directory`);
      }
      realHandlersEndpoints = endpoints;
    }
    applyHandlerEnvironment(environment);
    const meter = options.meter;
    const { onInvocation } = options;
    const observe = meter === undefined && onInvocation === undefined ? undefined : (name: string, startedAt: number, endedAt: number, records: number, cpuMs: number) => {
      meter?.recordLambdaInvocation(name, endedAt - startedAt, records, cpuMs);
      onInvocation?.(name, startedAt, endedAt);
    };
    const loading = timed('handler modules', (options.loadHandlers ?? loadRealHandlers)().then((loaded) => (observe === undefined ? loaded : meteredHandlers(loaded, observe))));
    loading.catch(() => undefined);
    const approval = await timed('workflow definition', (options.loadApprovalDefinition ?? loadSynthesizedDefinition)());
    stepFunctions = new LocalStepFunctions({
      stateMachineArn: LOCAL_APPROVAL_STATE_MACHINE_ARN,
      approval,
      invokeFunction: invokeWorkflowFunction,
      timeScale,
      ...(meter === undefined ? {} : { onStateTransition: () => meter.recordStateTransition() }),
      journalFile: join(dataDir, 'step-functions', 'executions.jsonl'),
      log,
    });
    operations = { ...bus.operations, ...(meter === undefined ? stepFunctions.operations : meteredOperations(stepFunctions.operations, meter)) };
    if (meter !== undefined) {
      bus.subscribe((activity) => {
        if (activity.kind === 'accepted') meter.recordPutEventsEntry(activity.event['detail-type'], putEventsEntryBytes(activity.event));
      });
    }
    // A missing or old Java is said as such, before DynamoDB Local's own failure to start.
    await javaChecked;
    dynamoDb = await dynamoDbStarting;
    lock.setDynamoDbPid(dynamoDb.pid);
    await timed('decision table', ensureDecisionTable(dynamoDb.client, LOCAL_TABLE_NAME));
    const loaded = await loading;
    bus.addRule({
      name: ACTION_REQUESTED_RULE,
      pattern: ACTION_REQUESTED_PATTERN,
      targetArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${EVALUATE_FUNCTION}`,
      target: (event) => loaded.evaluateAction(event, lambdaContext(EVALUATE_FUNCTION, 30_000)),
    });
    const { recordExecution } = loaded;
    if (recordExecution !== undefined) {
      bus.addRule({
        name: ACTION_EXECUTED_RULE,
        pattern: ACTION_EXECUTED_PATTERN,
        targetArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${RECORD_EXECUTION_FUNCTION}`,
        target: (event) => recordExecution(event, lambdaContext(RECORD_EXECUTION_FUNCTION, 30_000)),
      });
      // evaluate-action's flood-control bursts: record-execution posts the one line (as the AgentLimitedRule in AWS).
      bus.addRule({
        name: AGENT_LIMITED_RULE,
        pattern: AGENT_LIMITED_PATTERN,
        targetArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${RECORD_EXECUTION_FUNCTION}`,
        target: (event) => recordExecution(event, lambdaContext(RECORD_EXECUTION_FUNCTION, 30_000)),
      });
    }
    const auditOn = options.audit !== false && loaded.auditWriter !== undefined;
    bus.subscribe((activity) => reportActivity(log, activity, auditOn));
    // What the bus accepted before the last stop or crash and did not deliver, delivered now (as EventBridge retries).
    await bus.recover();
    if (auditOn && loaded.auditWriter !== undefined) {
      audit = await timed('audit trail', startLocalAudit({
        dataDir,
        dynamoDb: dynamoDb.client,
        dynamoDbEndpoint: dynamoDb.endpoint,
        tableName: LOCAL_TABLE_NAME,
        retentionDays: auditRetentionDays,
        handler: loaded.auditWriter,
        log,
      }));
      auditPages = createAuditRoutes({ auditDir: audit.auditDir, onError: onInternalError });
    }
    handlers = loaded;
    // Approvals that were waiting when the stack last stopped wait again, now that their functions are here.
    stepFunctions.resumeInterrupted();
  } catch (error) {
    await audit?.stop().catch(() => undefined);
    await http.close();
    await bus.close(0);
    await (dynamoDb ?? await dynamoDbStarting?.catch(() => undefined))?.stop();
    await dynamoDbMeter?.close();
    lock?.release();
    throw error;
  }
  const folderLock = lock;

  const running = dynamoDb;
  const meterHop = dynamoDbMeter;
  const emulator = slack;
  const teamsEmulator = teams;
  const auditTrail = audit;
  let stopping: Promise<void> | undefined;
  // In this order: nothing new comes in, what is running finishes and is written, and DynamoDB Local,
  // which all of it writes to, stops last.
  const stopSteps: [string, () => Promise<void>][] = [
    ['refuse new requests and finish deliveries', async () => {
      const { abandoned } = await bus.close(30_000);
      if (abandoned > 0) log.warn(`${abandoned} deliver${abandoned === 1 ? 'y' : 'ies'} still waiting for a retry stay in the bus journal and are made at the next start`);
    }],
    ['let workflow steps settle', async () => {
      // Running workflows end (waiting reviews resume at the next start); functions they invoked finish.
      await stepFunctions.close();
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    }],
    ['close the port', async () => {
      handlers = undefined;
      await http.close();
      emulator.workspace.flush();
      await auditPages?.close();
    }],
    // Nothing writes to the table now: the poller drains the stream, then the digests are signed.
    ...(auditTrail === undefined ? [] : [['drain the stream into the audit log and sign the digest', () => auditTrail.stop()] as [string, () => Promise<void>]]),
    ['stop DynamoDB Local', async () => {
      await running.stop();
      await meterHop?.close();
    }],
    ['release the data folder', () => Promise.resolve(folderLock.release())],
  ];
  const unfinished = new Set(stopSteps.map(([name]) => name));
  return {
    url: http.url,
    port: http.port,
    dataDir,
    dynamoDbEndpoint: running.endpoint,
    bus,
    stepFunctions,
    slack: emulator,
    teams: teamsEmulator,
    slackApiUrl: `${http.url}/api/`,
    timeScale,
    auditDir: auditTrail?.auditDir,
    sts,
    stop: () => {
      stopping ??= (async () => {
        for (const [name, step] of stopSteps) {
          await step();
          unfinished.delete(name);
        }
      })();
      return stopping;
    },
    unfinishedStopSteps: () => [...unfinished],
    startupTimings,
  };
}
