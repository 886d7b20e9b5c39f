import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { EventBridgeClient, PutEventsCommand, type PutEventsCommandOutput } from '@aws-sdk/client-eventbridge';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import {
  AGENT_SOURCE_PREFIX,
  DETAIL_TYPE_EXECUTED,
  DETAIL_TYPE_REQUESTED,
  LIMITS,
  SPEC_VERSION,
  payloadSha256,
  validateActionExecuted,
  validateActionRequested,
  type ActionExecuted,
  type ActionRequest,
} from '../shared/domain/contract.js';
import { canonicalJson, CanonicalJsonError, sha256Hex, wellFormedText } from '../shared/domain/canonical-json.js';
import { cutText } from '../shared/domain/cut-text.js';
import { identityProblem } from '../shared/domain/intake.js';
import {
  DecisionResponseSchema,
  isApproval,
  type DecisionResponse,
  type FinalDecision,
  type GuardedApproval,
  type PendingDecision,
} from './decision.js';
import {
  ActionNotPermittedError,
  ApprovalAlreadyUsedError,
  ApprovalExpiredError,
  CountersignAccessDeniedError,
  CountersignClientError,
  CountersignUnreachableError,
  CredentialsRefusedError,
  DecisionTimeoutError,
  ExecutionReportError,
  InvalidActionRequestError,
  InvalidExecutionReportError,
  PayloadChangedError,
  PayloadMismatchError,
  PutEventsFailedError,
  UnexpectedResponseError,
} from './errors.js';
import { FUNCTION_URL_PERMISSIONS, isLocalUrl, regionOfFunctionUrl, sigV4Signer, unsignedRequests, type Credentials, type RequestSigner } from './sigv4.js';

export const DEFAULT_LOCAL_URL = 'http://127.0.0.1:4010';
export const DEFAULT_EVENT_BUS_NAME = 'countersign';
/** The longest shipped policy waits an hour, then half an hour more after escalation: 90 minutes, and some slack. */
export const DEFAULT_WAIT_TIMEOUT_MS = 2 * 60 * 60 * 1000;
/** One HTTP exchange (PutEvents, or one read of the decision API) that takes longer has failed. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_POLL_INTERVAL_MS = { initial: 200, max: 5000 } as const;
/** 5xx and 429 answers are retried this many times in a row before the wait gives up. */
const MAX_CONSECUTIVE_TRANSIENT_FAILURES = 5;

/**
 * What an agent asks for: the `Action Requested` detail minus what the client fills in.
 * `specVersion` is always "1"; `actionId` defaults to `<agentId>-<uuid>`; `agent.id` to the client's agent.
 */
export type ActionSpec = Omit<ActionRequest, 'specVersion' | 'actionId' | 'agent'> & {
  actionId?: string;
  agent?: Partial<ActionRequest['agent']>;
};

/**
 * What an agent reports after it acted: the `Action Executed` detail minus `specVersion` (the client
 * adds "1"). `payloadSha256` is the hash of what was executed: the approved one, unless something else ran.
 */
export type ExecutionReport = Omit<ActionExecuted, 'specVersion'>;

export interface ReportOptions {
  /** Stops sending; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface WaitOptions {
  /** @default the client's `waitTimeoutMs` */
  waitTimeoutMs?: number;
  /** Stops sending or waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once, when the decision API first answers `pending` (a review is open). */
  onPending?: (pending: PendingDecision) => void;
  /** Called while pending each time the decision API shows another vote counted (`reviewers`, oldest first). */
  onVote?: (pending: PendingDecision) => void;
}

export interface WaitForDecisionOptions extends WaitOptions {
  /**
   * The payload hash the agent sent. When given, an allowed or approved decision for another payload
   * throws `PayloadMismatchError`. `requestAction` and `guard` always pass it.
   */
  payloadSha256?: string;
}

export interface GuardOptions<T> extends WaitOptions {
  /**
   * The report's `result.summary` (at most 1,000 characters; longer is cut) for what `fn` returned,
   * e.g. "exported 1,204 rows". @default no summary, only the result's SHA-256
   */
  summarize?: (result: T) => string | undefined;
}

export interface AgentClientOptions {
  /** The agent's id: events are sent with source `agent.<agentId>`. */
  agentId: string;
  /** The PutEvents endpoint. @default undefined: EventBridge in AWS */
  busEndpoint?: string;
  /** @default 'countersign' (in AWS: the stack's `EventBusName` output) */
  eventBusName?: string;
  /**
   * The decision API's base URL: the local stack's URL (http://127.0.0.1:4010), or the stack's
   * `DecisionApiUrl` output in AWS. Decisions are read at `<base>/actions/<actionId>`.
   */
  decisionApiUrl: string;
  /**
   * The credentials API's base URL (`getCredentials`): the stack's `CredentialsApiUrl` output in AWS.
   * @default decisionApiUrl (the local stack serves both on one port)
   */
  credentialsApiUrl?: string;
  /** @default parsed from a `*.lambda-url.<region>.on.aws` decision API host, else the SDK's region (AWS_REGION, profile) */
  region?: string;
  /** @default the Node.js default credential chain (environment, profile, SSO, container, instance) */
  credentials?: Credentials;
  /** SigV4-sign decision API reads (service `lambda`). @default true unless the decision API host is 127.0.0.1 or localhost */
  sign?: boolean;
  /** How long `requestAction` waits for a final outcome. @default 2 hours (the longest shipped policy, escalation included, is 90 minutes) */
  waitTimeoutMs?: number;
  /** Polling backoff bounds: starts at `initial`, doubles with jitter, never above `max`. @default { initial: 200, max: 5000 } */
  pollIntervalMs?: { initial?: number; max?: number };
  /** How long one HTTP exchange may take before it counts as unanswered. @default 10 s */
  requestTimeoutMs?: number;
  /** Aborts every send and wait of this client. */
  signal?: AbortSignal;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Called once per request when the decision API first answers `pending`. */
  onPending?: (pending: PendingDecision) => void;
  /** Called while pending each time another vote is counted. */
  onVote?: (pending: PendingDecision) => void;
}

/** A request as `sendAction` sent it. */
export interface SentRequest {
  request: ActionRequest;
  payloadSha256: string;
}

export interface AgentClient {
  readonly agentId: string;
  /**
   * Validates the request as the server does (an invalid one throws `InvalidActionRequestError`
   * before anything is sent), sends it, and waits for the final outcome.
   */
  requestAction(spec: ActionSpec, options?: WaitOptions): Promise<FinalDecision>;
  /**
   * Runs `fn` only when the request is allowed or approved, with a deep-frozen copy of the approved
   * request; throws `ActionNotPermittedError` otherwise, `PayloadChangedError` when `spec` no longer
   * hashes to the approved payload, `ApprovalExpiredError` after the approval's `validUntil` and
   * `ApprovalAlreadyUsedError` when an execution is on record already (in each case `fn` does not run).
   * Then it reports the act (`Action Executed`): succeeded, with the SHA-256 of the canonical JSON of
   * what `fn` returned (no hash when it returned undefined or something that is not JSON), or failed,
   * with the thrown error's name as `code` and its message. Returns what `fn` returns, or rethrows what
   * it threw; throws `ExecutionReportError` (carrying the result or error, and the report) when the
   * report could not be sent.
   */
  guard<T>(spec: ActionSpec, fn: (approval: GuardedApproval) => T | Promise<T>, options?: GuardOptions<T>): Promise<T>;
  /**
   * Validates and sends the request without waiting: returns the request as sent (a snapshot) and its
   * `payloadSha256`. Wait with `waitForDecision(request.actionId, { payloadSha256 })` later, from this
   * process or another (the MCP gateway's `defer` mode does).
   */
  sendAction(spec: ActionSpec, options?: Pick<WaitOptions, 'signal'>): Promise<SentRequest>;
  /**
   * Sends `Action Executed` for an action this agent carried out itself (outside `guard`). The report
   * is validated as the server does first: an invalid one throws `InvalidExecutionReportError` and
   * nothing is sent. Resolves with the bus's event id once the bus accepted it.
   */
  reportExecution(report: ExecutionReport, options?: ReportOptions): Promise<{ eventId: string }>;
  /** Waits for the final outcome of a request already sent (by this process or another). */
  waitForDecision(actionId: string, options?: WaitForDecisionOptions): Promise<FinalDecision>;
  /**
   * The approved action's one set of just-in-time AWS credentials (`POST /actions/{actionId}/credentials`,
   * SigV4-signed as this agent in AWS): pass `credentials` and `region` to any `@aws-sdk` client. A second
   * ask, a late one, or one for a request without an execution grant throws `CredentialsRefusedError`.
   */
  getCredentials(actionId: string, options?: { signal?: AbortSignal }): Promise<ExecutionCredentials>;
  /** Closes the EventBridge client's connections. */
  destroy(): void;
}

/** What `getCredentials` returns. `credentials` is an `AwsCredentialIdentity`, the shape `@aws-sdk` clients take. */
export interface ExecutionCredentials {
  actionId: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date };
  /** The region the credentials are for (the stack's). */
  region: string;
  /** Until when the approval may be acted on; the session policy stops the credentials then too. */
  validUntil: string;
  roleArn: string;
  roleSessionName: string;
  durationSeconds: number;
  /** The session policy the credentials are limited by (IAM policy JSON). */
  sessionPolicy: unknown;
  /** True when the local stack issued them: no AWS service accepts these credentials. */
  local: boolean;
}

/** The header that names the agent to the local stack's credentials route (in AWS the SigV4 signature does). */
const LOCAL_AGENT_HEADER = 'x-countersign-agent';

const CredentialsResponseSchema = z.object({
  actionId: z.string(),
  validUntil: z.string(),
  region: z.string(),
  roleArn: z.string(),
  roleSessionName: z.string(),
  durationSeconds: z.number(),
  sessionPolicy: z.unknown(),
  local: z.boolean().optional(),
  credentials: z.object({ accessKeyId: z.string(), secretAccessKey: z.string(), sessionToken: z.string(), expiration: z.string() }),
});

/** The delay before poll number `attempt` (0-based): doubling from `initial` up to `max`, with jitter in its upper half. */
export function backoffDelay(attempt: number, bounds: { initial: number; max: number }, random: () => number = Math.random): number {
  const ceiling = Math.min(bounds.max, bounds.initial * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The URL a decision is read at; tolerates a base with or without a trailing slash. */
export function decisionUrl(decisionApiUrl: string, actionId: string): URL {
  const base = decisionApiUrl.endsWith('/') ? decisionApiUrl : `${decisionApiUrl}/`;
  return new URL(`actions/${encodeURIComponent(actionId)}`, base);
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** The network error code somewhere in an error's cause chain (fetch wraps it; Happy Eyeballs aggregates it). */
export function networkErrorCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && code in NETWORK_CODES) return code;
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const found = networkErrorCode(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return networkErrorCode(cause, depth + 1);
}

function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? '';
}

function snippet(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > 80 ? `${flat.slice(0, 80)}…` : flat);
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error instanceof Error && error.name === 'AbortError');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

function formatSeconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 100) / 10} s`;
}

function combine(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

const ERROR_CODE_UNSAFE = /[^A-Za-z0-9._:-]+/g;

/** The `error` of a failed report: the thrown error's name (in the contract's charset) and message, within the limits. */
export function reportedError(thrown: unknown): { code: string; message: string } {
  const isError = thrown instanceof Error;
  const name = isError ? (typeof thrown.name === 'string' ? thrown.name : '') : typeof thrown;
  const code = name.replace(ERROR_CODE_UNSAFE, '_').slice(0, LIMITS.errorCodeMaxChars) || 'Error';
  const said = isError ? String(thrown.message) : safeString(thrown);
  const text = wellFormedText(said).trim() || '(no message)';
  return { code, message: cut(text, LIMITS.errorMessageMaxChars) };
}

/** `text` in at most `max` UTF-16 units, marked with an ellipsis when cut, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
  return text.length <= max ? text : `${cutText(text, max - 1)}…`;
}

function safeString(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    // A BigInt or a cycle has no JSON text; its plain string form still says what was thrown.
    return String(value);
  }
}

/** The `result` of a succeeded report: the SHA-256 of the canonical JSON of what ran returned, and an optional summary. */
export function resultOf<T>(result: T, summarize?: (result: T) => string | undefined): Pick<ExecutionReport, 'result'> {
  let sha256: string | undefined;
  try {
    sha256 = result === undefined ? undefined : sha256Hex(canonicalJson(result));
  } catch (error) {
    // A result with no JSON form (a function, a cycle, NaN) has no hash to give; the act still happened.
    if (!(error instanceof CanonicalJsonError)) throw error;
  }
  const said = summarize?.(result);
  const text = said === undefined ? undefined : wellFormedText(said).trim();
  const summary = text === undefined || text === '' ? undefined : cut(text, LIMITS.resultSummaryMaxChars);
  if (sha256 === undefined && summary === undefined) return {};
  return { result: { ...(summary === undefined ? {} : { summary }), ...(sha256 === undefined ? {} : { sha256 }) } };
}

type DecisionRead =
  | { kind: 'not-recorded' }
  | { kind: 'decision'; decision: DecisionResponse }
  | { kind: 'transient'; problem: string; noAnswer?: boolean };

class CountersignAgentClient implements AgentClient {
  readonly agentId: string;
  readonly #events: EventBridgeClient;
  readonly #busLabel: string;
  readonly #busIsLocal: boolean;
  readonly #eventBusName: string;
  readonly #decisionApiUrl: string;
  readonly #apiIsLocal: boolean;
  readonly #signer: RequestSigner;
  readonly #signs: boolean;
  readonly #fetch: typeof fetch;
  readonly #waitTimeoutMs: number;
  readonly #requestTimeoutMs: number;
  readonly #poll: { initial: number; max: number };
  readonly #signal: AbortSignal | undefined;
  readonly #onPending: ((pending: PendingDecision) => void) | undefined;
  readonly #onVote: ((pending: PendingDecision) => void) | undefined;
  readonly #credentialsApiUrl: string;

  constructor(options: AgentClientOptions) {
    let apiUrl: URL;
    try {
      apiUrl = new URL(options.decisionApiUrl);
    } catch (error) {
      throw new CountersignClientError(`decisionApiUrl "${options.decisionApiUrl}" is not a URL (locally ${DEFAULT_LOCAL_URL}; in AWS the stack's DecisionApiUrl output)`, { cause: error });
    }
    if (options.busEndpoint !== undefined && !URL.canParse(options.busEndpoint)) {
      throw new CountersignClientError(`busEndpoint "${options.busEndpoint}" is not a URL (locally ${DEFAULT_LOCAL_URL}; leave it unset for EventBridge in AWS)`);
    }
    this.agentId = options.agentId;
    this.#eventBusName = options.eventBusName ?? DEFAULT_EVENT_BUS_NAME;
    this.#busIsLocal = options.busEndpoint !== undefined && isLocalUrl(new URL(options.busEndpoint));
    this.#busLabel = options.busEndpoint ?? `EventBridge (bus "${this.#eventBusName}")`;
    const credentials = options.credentials ?? defaultProvider();
    const region = options.region ?? regionOfFunctionUrl(apiUrl) ?? (this.#busIsLocal ? 'us-east-1' : undefined);
    this.#events = new EventBridgeClient({
      ...(options.busEndpoint === undefined ? {} : { endpoint: options.busEndpoint }),
      ...(region === undefined ? {} : { region }),
      credentials,
    });
    this.#decisionApiUrl = options.decisionApiUrl;
    this.#credentialsApiUrl = options.credentialsApiUrl ?? options.decisionApiUrl;
    this.#apiIsLocal = isLocalUrl(apiUrl);
    this.#signs = options.sign ?? !this.#apiIsLocal;
    this.#signer = this.#signs
      ? sigV4Signer({ credentials, region: region ?? (() => this.#events.config.region()) })
      : unsignedRequests;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#poll = {
      initial: options.pollIntervalMs?.initial ?? DEFAULT_POLL_INTERVAL_MS.initial,
      max: options.pollIntervalMs?.max ?? DEFAULT_POLL_INTERVAL_MS.max,
    };
    this.#signal = options.signal;
    this.#onPending = options.onPending;
    this.#onVote = options.onVote;
  }

  async requestAction(spec: ActionSpec, options: WaitOptions = {}): Promise<FinalDecision> {
    return (await this.#submit(spec, options)).decision;
  }

  async guard<T>(spec: ActionSpec, fn: (approval: GuardedApproval) => T | Promise<T>, options: GuardOptions<T> = {}): Promise<T> {
    const { request, decision } = await this.#submit(spec, options);
    if (!isApproval(decision)) throw new ActionNotPermittedError(decision);
    // The caller's object may have changed while a human was deciding: what runs must be what was approved.
    const now = validateActionRequested(this.#detailOf(spec, request.actionId));
    const current = now.ok ? payloadSha256(now.request) : undefined;
    if (current !== decision.payloadSha256) {
      throw new PayloadChangedError(request.actionId, decision.payloadSha256, current, now.ok ? undefined : now.reason);
    }
    if (decision.execution !== null) throw new ApprovalAlreadyUsedError(request.actionId, decision.execution);
    // One-shot and time-boxed: a start after validUntil would be recorded as approval_expired, so it does not start.
    const startedAt = new Date();
    if (decision.validUntil !== null && startedAt.getTime() > Date.parse(decision.validUntil)) {
      throw new ApprovalExpiredError(request.actionId, decision.validUntil, startedAt.toISOString());
    }
    const approved = deepFreeze(structuredClone(request));
    const base = { actionId: request.actionId, payloadSha256: decision.payloadSha256, startedAt: startedAt.toISOString() };
    let result: T;
    try {
      result = await fn({ ...decision, request: approved, parameters: approved.parameters });
    } catch (actionError) {
      const report: ExecutionReport = { ...base, status: 'failed', finishedAt: new Date().toISOString(), error: reportedError(actionError) };
      await this.#reportAfterRun(report, { status: 'failed', actionError }, options.signal);
      throw actionError;
    }
    const report: ExecutionReport = { ...base, status: 'succeeded', finishedAt: new Date().toISOString(), ...resultOf(result, options.summarize) };
    await this.#reportAfterRun(report, { status: 'succeeded', result }, options.signal);
    return result;
  }

  async reportExecution(report: ExecutionReport, options: ReportOptions = {}): Promise<{ eventId: string }> {
    const validation = validateActionExecuted({ specVersion: SPEC_VERSION, ...report });
    if (!validation.ok) throw new InvalidExecutionReportError(validation.reason, validation.actionId ?? (typeof report.actionId === 'string' ? report.actionId : undefined));
    const detail = structuredClone(validation.report);
    const eventId = await this.#send(DETAIL_TYPE_EXECUTED, detail.actionId, detail, combine(this.#signal, options.signal), this.#requestTimeoutMs);
    return { eventId };
  }

  async waitForDecision(actionId: string, options: WaitForDecisionOptions = {}): Promise<FinalDecision> {
    const signal = combine(this.#signal, options.signal);
    const timeoutMs = options.waitTimeoutMs ?? this.#waitTimeoutMs;
    const onPending = options.onPending ?? this.#onPending;
    const onVote = options.onVote ?? this.#onVote;
    let votesSeen = 0;
    const deadline = Date.now() + timeoutMs;
    let lastState: DecisionTimeoutError['lastState'] = { kind: 'not-recorded' };
    let transientFailures = 0;
    for (let attempt = 0; ; attempt += 1) {
      signal?.throwIfAborted();
      const read = await this.#read(actionId, signal, Math.max(1, Math.min(this.#requestTimeoutMs, deadline - Date.now())));
      if (read.kind === 'transient') {
        transientFailures += 1;
        if (read.noAnswer === true && lastState.kind === 'not-recorded') lastState = { kind: 'no-answer', problem: read.problem };
        if (transientFailures >= MAX_CONSECUTIVE_TRANSIENT_FAILURES) {
          throw new UnexpectedResponseError(`the decision API kept failing while reading ${actionId}: ${read.problem}`, decisionUrl(this.#decisionApiUrl, actionId).href, undefined);
        }
      } else {
        transientFailures = 0;
      }
      if (read.kind === 'decision') {
        const { decision } = read;
        if (decision.outcome === 'pending') {
          if (lastState.kind !== 'pending') onPending?.({ ...decision, actionId, outcome: 'pending' });
          if (decision.reviewers.length > votesSeen) {
            votesSeen = decision.reviewers.length;
            onVote?.({ ...decision, actionId, outcome: 'pending' });
          }
          lastState = { kind: 'pending', reason: decision.reason };
        } else {
          return this.#final(actionId, decision, options.payloadSha256);
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.#timeout(actionId, timeoutMs, lastState);
      await sleep(Math.min(backoffDelay(attempt, this.#poll), remaining), signal);
    }
  }

  /** The report of an act that happened: a report that cannot be sent must not look like the act failing silently. */
  async #reportAfterRun(report: ExecutionReport, outcome: ConstructorParameters<typeof ExecutionReportError>[2], signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.reportExecution(report, { ...(signal === undefined ? {} : { signal }) });
    } catch (error) {
      throw new ExecutionReportError(report.actionId, report, outcome, error);
    }
  }

  destroy(): void {
    this.#events.destroy();
  }

  async getCredentials(actionId: string, options: { signal?: AbortSignal } = {}): Promise<ExecutionCredentials> {
    const base = this.#credentialsApiUrl.endsWith('/') ? this.#credentialsApiUrl : `${this.#credentialsApiUrl}/`;
    const url = new URL(`actions/${encodeURIComponent(actionId)}/credentials`, base);
    const signal = combine(this.#signal, options.signal, AbortSignal.timeout(this.#requestTimeoutMs));
    let response: Response;
    let body: string;
    try {
      // Locally nothing signs: the header says which agent asks, as a SigV4 signature of its role would in AWS.
      const headers = await this.#signer.headersFor('POST', url, this.#signs ? { accept: 'application/json' } : { accept: 'application/json', [LOCAL_AGENT_HEADER]: this.agentId });
      response = await this.#fetch(url, { method: 'POST', headers, signal });
      body = await response.text();
    } catch (error) {
      if (isAbort(error, signal)) throw signal?.reason ?? error;
      const code = networkErrorCode(error);
      if (code !== undefined) throw new CountersignUnreachableError(`cannot reach the Countersign credentials API at ${url.origin} (${NETWORK_CODES[code]})`, url.href, { cause: error });
      throw new CountersignClientError(`POST ${url.href} failed: ${error instanceof Error ? firstLine(error.message) : String(error)}`, { cause: error });
    }
    let json: unknown;
    try {
      json = JSON.parse(body) as unknown;
    } catch {
      json = undefined;
    }
    if (response.status === 200) {
      const parsed = CredentialsResponseSchema.safeParse(json);
      if (!parsed.success || parsed.data.actionId !== actionId) {
        throw new UnexpectedResponseError(`POST ${url.href} answered 200 but not with credentials for ${actionId}: is ${this.#credentialsApiUrl} the credentials API (the stack's CredentialsApiUrl output)?`, url.href, 200);
      }
      const { credentials, local, ...rest } = parsed.data;
      return { ...rest, local: local === true, credentials: { ...credentials, expiration: new Date(credentials.expiration) } };
    }
    const refusal = json as { error?: unknown; rule?: unknown; message?: unknown } | undefined;
    if (refusal?.error === 'CredentialsRefused' && typeof refusal.rule === 'string') {
      throw new CredentialsRefusedError(`credentials for ${actionId} were refused (${refusal.rule}): ${String(refusal.message)}`, actionId, refusal.rule, response.status);
    }
    if (response.status === 401 || response.status === 403) {
      throw new CountersignAccessDeniedError(`POST ${url.href} answered ${response.status} ${snippet(body)}: sign as the agent's own role, which needs ${FUNCTION_URL_PERMISSIONS} on the credentials function`, url.href);
    }
    throw new UnexpectedResponseError(`POST ${url.href} answered ${response.status} ${snippet(body)}`, url.href, response.status);
  }

  #detailOf(spec: ActionSpec, actionId: string): Record<string, unknown> {
    const { actionId: _actionId, agent, ...rest } = spec;
    return { specVersion: SPEC_VERSION, actionId, agent: { ...agent, id: agent?.id ?? this.agentId }, ...rest };
  }

  async sendAction(spec: ActionSpec, options: Pick<WaitOptions, 'signal'> = {}): Promise<SentRequest> {
    return await this.#validateAndSend(spec, options);
  }

  async #submit(spec: ActionSpec, options: WaitOptions): Promise<{ request: ActionRequest; decision: FinalDecision }> {
    const { request, payloadSha256: hash } = await this.#validateAndSend(spec, options);
    const decision = await this.waitForDecision(request.actionId, { ...options, payloadSha256: hash });
    return { request, decision };
  }

  async #validateAndSend(spec: ActionSpec, options: Pick<WaitOptions, 'signal' | 'waitTimeoutMs'>): Promise<SentRequest> {
    const actionId = spec.actionId ?? `${this.agentId}-${randomUUID()}`;
    // The contract and the identity rule, with the server's own functions and messages. Whether the
    // schema knows the verb, resource type and environment is the server's to say (it answers `invalid`).
    const validation = validateActionRequested(this.#detailOf(spec, actionId));
    if (!validation.ok) throw new InvalidActionRequestError(validation.reason, validation.actionId);
    const identity = identityProblem(`${AGENT_SOURCE_PREFIX}${this.agentId}`, validation.request);
    if (identity !== undefined) throw new InvalidActionRequestError(identity, validation.request.actionId);
    // A snapshot: the caller's nested objects may change after this point, the request sent may not.
    const request = structuredClone(validation.request);
    const hash = payloadSha256(request);
    await this.#send(DETAIL_TYPE_REQUESTED, request.actionId, request, combine(this.#signal, options.signal), Math.min(this.#requestTimeoutMs, options.waitTimeoutMs ?? this.#waitTimeoutMs));
    return { request, payloadSha256: hash };
  }

  /** One PutEvents entry as this agent; resolves with the event id the bus gave it. */
  async #send(detailType: string, actionId: string, detail: ActionRequest | ActionExecuted, signal: AbortSignal | undefined, timeoutMs: number): Promise<string> {
    const source = `${AGENT_SOURCE_PREFIX}${this.agentId}`;
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: PutEventsCommandOutput;
    try {
      response = await this.#events.send(new PutEventsCommand({
        Entries: [{ EventBusName: this.#eventBusName, Source: source, DetailType: detailType, Detail: JSON.stringify(detail) }],
      }), { abortSignal: combine(signal, timeout) });
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      if (timeout.aborted) {
        const hint = this.#busIsLocal ? 'is it the local stack, and is `npm start` healthy?' : 'check busEndpoint and the network';
        throw new CountersignUnreachableError(`the bus at ${this.#busLabel} did not answer PutEvents within ${formatSeconds(timeoutMs)}: ${hint}`, this.#busLabel, { cause: error });
      }
      if (isAbort(error, signal)) throw signal?.reason ?? error;
      throw this.#busError(error, source);
    }
    const entry = response.Entries?.[0];
    if ((response.FailedEntryCount ?? 0) > 0 || entry?.ErrorCode !== undefined) {
      throw new PutEventsFailedError(
        `the bus ${this.#busLabel} refused ${detailType === DETAIL_TYPE_REQUESTED ? '' : `the execution report of `}${actionId} (${entry?.ErrorCode ?? 'no error code'}: ${entry?.ErrorMessage ?? 'no message'})`,
        entry?.ErrorCode,
        entry?.ErrorMessage,
      );
    }
    if (entry?.EventId === undefined) {
      throw new UnexpectedResponseError(`PutEvents to ${this.#busLabel} answered without an EventId for ${actionId}: is it an EventBridge endpoint?`, this.#busLabel, response.$metadata.httpStatusCode);
    }
    return entry.EventId;
  }

  #busError(error: unknown, source: string): CountersignClientError {
    const code = networkErrorCode(error);
    if (code !== undefined) {
      const hint = this.#busIsLocal ? 'is `npm start` running?' : 'check busEndpoint and the network';
      return new CountersignUnreachableError(`cannot reach the Countersign bus at ${this.#busLabel} (${NETWORK_CODES[code]}): ${hint}`, this.#busLabel, { cause: error });
    }
    const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const said = firstLine(message);
    if (name === 'CredentialsProviderError') {
      return new CountersignClientError(`no AWS credentials to send as ${source}: ${said}`, { cause: error });
    }
    if (status === 403 || ['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException'].includes(name)) {
      return new CountersignAccessDeniedError(`the bus ${this.#busLabel} refused PutEvents from ${source} (${status === undefined ? '' : `${status} `}${name}: ${said}): the credentials need events:PutEvents on the bus with events:source "${source}"`, this.#busLabel, { cause: error });
    }
    if (name === 'ResourceNotFoundException') {
      return new UnexpectedResponseError(`the bus "${this.#eventBusName}" does not exist at ${this.#busLabel} (${said}): set eventBusName to the stack's EventBusName output`, this.#busLabel, status, { cause: error });
    }
    if (status !== undefined && (status === 404 || name === 'SyntaxError' || name === 'Unknown' || name === 'UnknownError')) {
      return new UnexpectedResponseError(`PutEvents to ${this.#busLabel} answered ${status} (${name}: ${said}): that is not an EventBridge endpoint; busEndpoint is the local stack's URL (${DEFAULT_LOCAL_URL}) or unset for AWS`, this.#busLabel, status, { cause: error });
    }
    return new CountersignClientError(`PutEvents to ${this.#busLabel} failed (${status === undefined ? '' : `${status} `}${name}: ${said})`, { cause: error });
  }

  async #read(actionId: string, signal: AbortSignal | undefined, timeoutMs: number): Promise<DecisionRead> {
    const url = decisionUrl(this.#decisionApiUrl, actionId);
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let body: string;
    try {
      // Locally, the header names the agent (the local stack's stand-in for its signature): it reads only its own requests.
      const headers = await this.#signer.headersFor('GET', url, this.#signs ? { accept: 'application/json' } : { accept: 'application/json', [LOCAL_AGENT_HEADER]: this.agentId });
      response = await this.#fetch(url, { method: 'GET', headers, signal: combine(signal, timeout) });
      body = await response.text();
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      // Connected, but nothing came back in time: a hung server or a black hole, retried until the wait ends.
      if (timeout.aborted) return { kind: 'transient', problem: `${url.origin} did not answer within ${formatSeconds(timeoutMs)}`, noAnswer: true };
      if (isAbort(error, signal)) throw signal?.reason ?? error;
      if (error instanceof CountersignClientError) throw error;
      const code = networkErrorCode(error);
      if (code === undefined) {
        const said = error instanceof Error ? firstLine(error.message) : String(error);
        throw new CountersignClientError(`reading ${url.href} failed: ${said}`, { cause: error });
      }
      if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return { kind: 'transient', problem: `${NETWORK_CODES[code]}` };
      const hint = this.#apiIsLocal ? 'is `npm start` running?' : 'check decisionApiUrl (the stack\'s DecisionApiUrl output) and the network';
      throw new CountersignUnreachableError(`cannot reach the Countersign decision API at ${url.origin} (${NETWORK_CODES[code]}): ${hint}`, url.href, { cause: error });
    }
    const contentType = response.headers.get('content-type') ?? 'no content type';
    const answered = `${response.status} ${contentType} ${snippet(body)}`;
    const json = (): unknown => {
      try {
        return JSON.parse(body) as unknown;
      } catch {
        return undefined;
      }
    };
    if (response.status === 200) {
      const parsed = DecisionResponseSchema.safeParse(json());
      if (!parsed.success) {
        throw new UnexpectedResponseError(`GET ${url.href} answered ${answered}, not a decision: is ${this.#decisionApiUrl} the decision API (locally ${DEFAULT_LOCAL_URL}; in AWS the DecisionApiUrl output)?`, url.href, 200);
      }
      if (parsed.data.actionId !== actionId) {
        throw new UnexpectedResponseError(`GET ${url.href} answered the decision of ${String(parsed.data.actionId)}, not of ${actionId}`, url.href, 200);
      }
      return { kind: 'decision', decision: parsed.data };
    }
    if (response.status === 404) {
      const error = json() as { error?: unknown } | undefined;
      if (error?.error === 'ActionNotFound') return { kind: 'not-recorded' };
      throw new UnexpectedResponseError(`GET ${url.href} answered ${answered}: no decision API there; decisionApiUrl is the local stack's URL (${DEFAULT_LOCAL_URL}) or the stack's DecisionApiUrl output`, url.href, 404);
    }
    if (response.status === 401 || response.status === 403) {
      const why = this.#signs
        ? `the signing credentials need ${FUNCTION_URL_PERMISSIONS} on the decision API function`
        : `the request was not signed: in AWS the decision API needs SigV4 (sign: true) and ${FUNCTION_URL_PERMISSIONS}`;
      throw new CountersignAccessDeniedError(`GET ${url.href} answered ${answered}: ${why}`, url.href);
    }
    if (response.status === 429 || response.status >= 500) return { kind: 'transient', problem: `GET ${url.href} answered ${answered}` };
    throw new UnexpectedResponseError(`GET ${url.href} answered ${answered}: not what the decision API answers`, url.href, response.status);
  }

  #final(actionId: string, decision: DecisionResponse, expected: string | undefined): FinalDecision {
    const fields = {
      actionId,
      requestEventId: decision.requestEventId,
      reason: decision.reason,
      policyIds: decision.policyIds,
      reviewers: decision.reviewers,
      decidedAt: decision.decidedAt,
      validUntil: decision.validUntil,
      execution: decision.execution,
    };
    switch (decision.outcome) {
      case 'allowed':
      case 'approved': {
        if (decision.payloadSha256 === null || (expected !== undefined && decision.payloadSha256 !== expected)) {
          throw new PayloadMismatchError(actionId, expected ?? 'unknown', decision.payloadSha256);
        }
        return { ...fields, outcome: decision.outcome, payloadSha256: decision.payloadSha256 };
      }
      case 'denied':
      case 'rejected':
      case 'expired':
      case 'invalid':
        return { ...fields, outcome: decision.outcome, payloadSha256: decision.payloadSha256 };
      case 'pending':
        throw new Error('unreachable: pending is not final');
    }
  }

  #timeout(actionId: string, timeoutMs: number, lastState: DecisionTimeoutError['lastState']): DecisionTimeoutError {
    const seconds = timeoutMs >= 10_000 ? Math.round(timeoutMs / 1000) : Math.round(timeoutMs / 100) / 10;
    const state = lastState.kind === 'pending'
      ? `it is still pending: ${lastState.reason}`
      : lastState.kind === 'no-answer'
        ? `the decision API never answered (${lastState.problem})`
        : `the decision API has no record of it (the bus accepted it: is ${this.#decisionApiUrl} the decision API of the stack behind ${this.#busLabel}?)`;
    return new DecisionTimeoutError(`no decision for ${actionId} after ${seconds} s; ${state}`, actionId, lastState);
  }
}

/** A client for one agent. See `AgentClientOptions` for the local and AWS settings. */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  return new CountersignAgentClient(options);
}

/** A client for the local stack (`npm start`): bus and decision API at `baseUrl`, placeholder credentials, no signing. */
export function localAgentClient(
  agentId: string,
  baseUrl: string = DEFAULT_LOCAL_URL,
  options: Omit<AgentClientOptions, 'agentId' | 'busEndpoint' | 'decisionApiUrl'> = {},
): AgentClient {
  return createAgentClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    sign: false,
    ...options,
    agentId,
    busEndpoint: baseUrl,
    decisionApiUrl: baseUrl,
  });
}
