import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, parse as parsePath, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, EventBridgeEvent, LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import { ENV } from '../shared/config.js';
import { DECIDED_SOURCE, DETAIL_TYPE_DECIDED, DETAIL_TYPE_REQUESTED } from '../shared/domain/contract.js';
import { ACTION_REQUESTED_PATTERN } from '../shared/store-schema.js';
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
import { ensureDecisionTable, LOCAL_CREDENTIALS, LOCAL_REGION, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local.js';
import { LOCAL_ACCOUNT_ID, LocalEventBus, type BusActivity, type BusEvent, type RetryPolicy } from './event-bus.js';
import { matchesEventPattern } from './event-pattern.js';
import { createLogger, type Logger, type Tone } from './log.js';
import { LocalStepFunctions } from './step-functions.js';

/**
 * The whole system on one machine: DynamoDB Local, one HTTP port on 127.0.0.1 that speaks the AWS
 * JSON protocol for EventBridge `PutEvents` and Step Functions `StartExecution`, and the decision
 * API. The Lambda handlers are the real modules (the stack reuses, never forks): they are imported
 * after the environment points the AWS SDK at the local endpoints, and called with Lambda-shaped
 * events and a Lambda context.
 */

export const LOCAL_TABLE_NAME = 'countersign-decisions';
export const LOCAL_BUS_NAME = 'countersign';
export const LOCAL_APPROVAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:countersign-approval`;
export const DEFAULT_PORT = 4010;
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const DEFAULT_DATA_DIR = join(REPO_ROOT, '.countersign');

const EVALUATE_FUNCTION = 'countersign-evaluate-action';
const DECISION_API_FUNCTION = 'countersign-decision-api';
const ACTION_REQUESTED_RULE = 'countersign-action-requested';

export type EvaluateActionHandler = (event: EventBridgeEvent<string, unknown>, context: Context) => Promise<unknown>;
export type DecisionApiHandler = (event: LambdaFunctionURLEvent, context: Context) => Promise<LambdaFunctionURLResult>;

export interface LocalHandlers {
  evaluateAction: EvaluateActionHandler;
  decisionApi: DecisionApiHandler;
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
}

export interface LocalStack {
  /** The bus endpoint and the decision API's base URL, e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  dataDir: string;
  dynamoDbEndpoint: string;
  bus: LocalEventBus;
  stepFunctions: LocalStepFunctions;
  /** Stops delivering, closes the port and stops DynamoDB Local (its Java process included). */
  stop(): Promise<void>;
}

export function resolvePort(value: number | string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_PORT;
  const port = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new LocalStackError(`port "${String(value)}" is not a port number (0-65535; 0 picks any free port)`);
  }
  return port;
}

/** DynamoDB Local needs Java 17 or later; say so in one line instead of a spawn error. */
export function checkJava(): void {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const install = 'install Java 17 or later (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) and make sure `java` is on PATH';
  if (result.error !== undefined) {
    throw new JavaMissingError(`Java was not found, and DynamoDB Local needs it: ${install}`);
  }
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  if (match === null) return;
  const major = match[1] === '1' ? Number(match[2]) : Number(match[1]);
  if (major < 17) throw new JavaMissingError(`Java ${major} was found, but DynamoDB Local needs Java 17 or later: ${install}`);
}

/** `rm -rf` only what is plainly a data folder: never the repo, a parent of it, or a filesystem root. */
function deleteDataDir(dataDir: string): void {
  const fromRepo = relative(dataDir, REPO_ROOT);
  const containsRepo = fromRepo === '' || !fromRepo.startsWith('..');
  if (containsRepo || parsePath(dataDir).root === dataDir) {
    throw new LocalStackError(`refusing to delete ${dataDir} for --fresh: it is not a data folder (it holds the repository or is a filesystem root)`);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** The environment the handler modules read when they build their SDK clients at import time. */
export function handlerEnvironment(endpoints: { url: string; dynamoDbEndpoint: string }): Record<string, string> {
  return {
    [ENV.tableName]: LOCAL_TABLE_NAME,
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
  // A real session token or an opt-out of configured endpoints would send the handlers to AWS.
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  Object.assign(process.env, environment);
  // Powertools logs at INFO by default; WARN keeps the terminal to the stack's own lines.
  if (process.env.LOG_LEVEL === undefined && process.env.POWERTOOLS_LOG_LEVEL === undefined) process.env.LOG_LEVEL = 'WARN';
}

async function loadRealHandlers(): Promise<LocalHandlers> {
  const evaluate = await import('../functions/evaluate-action/handler.js');
  const decisionApi = await import('../functions/decision-api/handler.js');
  return { evaluateAction: evaluate.handler, decisionApi: decisionApi.handler };
}

function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `${day}/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** A Lambda Function URL event (payload format 2.0) for one HTTP request. */
export function functionUrlEvent(request: HttpRequest, port: number): LambdaFunctionURLEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const text = headerText(value);
    if (text !== undefined) headers[name.toLowerCase()] = text;
  }
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(request.query)) query[name] = query[name] === undefined ? value : `${query[name]},${value}`;
  const now = new Date();
  const urlId = 'countersignlocaldecisionapi';
  const event: LambdaFunctionURLEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath: request.path,
    rawQueryString: request.query,
    headers,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: urlId,
      domainName: `127.0.0.1:${port}`,
      domainPrefix: urlId,
      http: {
        method: request.method,
        path: request.path,
        protocol: 'HTTP/1.1',
        sourceIp: request.remoteAddress,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: false,
  };
  if (Object.keys(query).length > 0) event.queryStringParameters = query;
  if (request.body.length > 0) {
    // Function URLs pass text bodies as they are and base64-encode the rest.
    const textual = /^(text\/|application\/(json|x-www-form-urlencoded|xml))/i.test(headers['content-type'] ?? '');
    event.body = request.body.toString(textual ? 'utf8' : 'base64');
    event.isBase64Encoded = !textual;
  }
  return event;
}

/** Maps a Function URL result to HTTP the way Lambda does (a bare value is a 200 JSON body). */
export function functionUrlResponse(result: LambdaFunctionURLResult | unknown): HttpResponse {
  if (typeof result === 'string') return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result };
  if (typeof result === 'object' && result !== null && 'statusCode' in result && typeof result.statusCode === 'number') {
    const structured = result as { statusCode: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean; cookies?: string[] };
    const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
    for (const [name, value] of Object.entries(structured.headers ?? {})) headers[name.toLowerCase()] = String(value);
    if (structured.cookies !== undefined && structured.cookies.length > 0) headers['set-cookie'] = structured.cookies;
    const body = structured.body === undefined ? '' : structured.isBase64Encoded === true ? Buffer.from(structured.body, 'base64') : structured.body;
    return { statusCode: structured.statusCode, headers, body };
  }
  return jsonResponse(200, result ?? null);
}

function detailField(detail: Record<string, unknown>, field: string): unknown {
  return detail[field];
}

function subjectOf(event: BusEvent): string {
  const actionId = detailField(event.detail, 'actionId');
  if (typeof actionId === 'string') return actionId;
  const requestEventId = detailField(event.detail, 'requestEventId');
  return `event ${typeof requestEventId === 'string' ? requestEventId : event.id}`;
}

function describeRequest(event: BusEvent): string {
  const { action, resource, environment } = event.detail as { action?: unknown; resource?: { type?: unknown; id?: unknown }; environment?: unknown };
  const agent = event.source.startsWith('agent.') ? event.source.slice('agent.'.length) : event.source;
  const target = typeof resource === 'object' && resource !== null ? `${String(resource.type)}/${String(resource.id)}` : '?';
  return `${agent}: ${typeof action === 'string' ? action : '?'} on ${target}${typeof environment === 'string' ? ` in ${environment}` : ''}`;
}

const OUTCOME_TONES: Record<string, Tone> = { allowed: 'ok', approved: 'ok', denied: 'error', rejected: 'error', expired: 'error', invalid: 'warn' };

function reportActivity(log: Logger, activity: BusActivity): void {
  const { event } = activity;
  const subject = subjectOf(event);
  switch (activity.kind) {
    case 'accepted':
      if (event['detail-type'] === DETAIL_TYPE_REQUESTED) {
        if (matchesEventPattern(ACTION_REQUESTED_PATTERN, event)) log.step('requested', subject, describeRequest(event));
        else log.step('unrouted', subject, `source "${event.source}" matches no rule (agents send with source "agent.<id>")`, 'warn');
      } else if (event['detail-type'] === DETAIL_TYPE_DECIDED && event.source === DECIDED_SOURCE) {
        const outcome = String(detailField(event.detail, 'outcome'));
        const reason = detailField(event.detail, 'reason');
        log.step('decided', subject, `${outcome}${typeof reason === 'string' && reason !== '' ? ` - ${reason}` : ''}`, OUTCOME_TONES[outcome] ?? 'plain');
      }
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

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const log = options.log ?? createLogger();
  const port = resolvePort(options.port ?? process.env.PORT);
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);

  const bus = new LocalEventBus({
    name: LOCAL_BUS_NAME,
    region: LOCAL_REGION,
    deadLetterFile: join(dataDir, 'dlq.jsonl'),
    ...(options.retry === undefined ? {} : { retry: options.retry }),
    log,
  });
  let operations: AwsOperations = bus.operations;
  let handlers: LocalHandlers | undefined;
  let serverPort = port;

  const onInternalError = (error: unknown, where: string) => {
    log.error(`${where} failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  };
  const starting = () => awsErrorResponse(new AwsServiceError('ServiceUnavailableException', 'The local stack is still starting; retry once GET /health answers 200.', 503));

  const route = async (request: HttpRequest): Promise<HttpResponse> => {
    const { path, method } = request;
    if (path === '/' && method === 'POST') {
      if (handlers === undefined) return starting();
      return handleAwsJsonRequest(request, operations, onInternalError);
    }
    if (path === '/health') {
      if (method !== 'GET' && method !== 'HEAD') return jsonResponse(405, { message: 'GET /health' });
      return handlers === undefined ? jsonResponse(503, { status: 'starting' }) : jsonResponse(200, { status: 'ok' });
    }
    if (path === '/actions' || path.startsWith('/actions/')) {
      if (handlers === undefined) return jsonResponse(503, { message: 'The local stack is still starting; retry once GET /health answers 200.' });
      try {
        const result = await handlers.decisionApi(functionUrlEvent(request, serverPort), lambdaContext(DECISION_API_FUNCTION, 10_000));
        return functionUrlResponse(result);
      } catch (error) {
        onInternalError(error, 'decision-api');
        // What a Function URL answers when the function throws.
        return jsonResponse(502, { message: 'Internal Server Error' });
      }
    }
    return jsonResponse(404, {
      message: `No route for ${method} ${path}. Routes: POST / (AWS JSON: ${Object.keys(operations).join(', ')}), GET /health, GET /actions/{actionId}`,
    });
  };

  // The port first: a second `npm start -- --fresh` must fail on it before deleting the data of the first.
  const http: LocalHttpServer = await startHttpServer({ port, handler: route, onError: (error) => onInternalError(error, 'HTTP server') });
  serverPort = http.port;
  let dynamoDb: DynamoDbLocal | undefined;
  let stepFunctions: LocalStepFunctions;
  try {
    if (options.fresh === true) deleteDataDir(dataDir);
    mkdirSync(dataDir, { recursive: true });
    checkJava();
    stepFunctions = new LocalStepFunctions({
      stateMachineArns: [LOCAL_APPROVAL_STATE_MACHINE_ARN],
      journalFile: join(dataDir, 'step-functions', 'executions.jsonl'),
      log,
    });
    operations = { ...bus.operations, ...stepFunctions.operations };
    dynamoDb = await startDynamoDbLocal({
      dataDir: join(dataDir, 'dynamodb'),
      ...(options.dynamoDbPort === undefined ? {} : { port: options.dynamoDbPort }),
    });
    await ensureDecisionTable(dynamoDb.client, LOCAL_TABLE_NAME);

    const environment = handlerEnvironment({ url: http.url, dynamoDbEndpoint: dynamoDb.endpoint });
    if (options.loadHandlers === undefined) {
      const endpoints = `${http.url} and ${dynamoDb.endpoint}`;
      if (realHandlersEndpoints !== undefined && realHandlersEndpoints !== endpoints) {
        throw new LocalStackError(`the handler modules in this process already use ${realHandlersEndpoints} (their SDK clients are built once, at import); start the next local stack in this process with the same port and dynamoDbPort`);
      }
      realHandlersEndpoints = endpoints;
    }
    applyHandlerEnvironment(environment);
    const loaded = await (options.loadHandlers ?? loadRealHandlers)();
    bus.addRule({
      name: ACTION_REQUESTED_RULE,
      pattern: ACTION_REQUESTED_PATTERN,
      targetArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${EVALUATE_FUNCTION}`,
      target: (event) => loaded.evaluateAction(event, lambdaContext(EVALUATE_FUNCTION, 30_000)),
    });
    bus.subscribe((activity) => reportActivity(log, activity));
    handlers = loaded;
  } catch (error) {
    await http.close();
    await dynamoDb?.stop();
    throw error;
  }

  const running = dynamoDb;
  let stopping: Promise<void> | undefined;
  return {
    url: http.url,
    port: http.port,
    dataDir,
    dynamoDbEndpoint: running.endpoint,
    bus,
    stepFunctions,
    stop: () => {
      stopping ??= (async () => {
        // Deliveries in progress may still publish their decision on this port, so it closes after them.
        const { abandoned } = await bus.close();
        if (abandoned > 0) log.warn(`${abandoned} deliver${abandoned === 1 ? 'y' : 'ies'} waiting for a retry were dropped at shutdown`);
        handlers = undefined;
        await http.close();
        await running.stop();
      })();
      return stopping;
    },
  };
}
