/**
 * A demo agent on the agent client, against the local stack (`npm start` in another terminal).
 *
 *   npm run demo [-- --endpoint URL] [--only NAME[,NAME]] [--timeout SECONDS]
 *
 * It plays the scenarios below at the same time and prints one line per event as it happens:
 *   -> NAME  what the agent asks
 *   .. NAME  pending / where to approve it / what the client refused before sending
 *   <= NAME  OUTCOME  the final outcome (allowed, approved, denied, rejected, expired, invalid)
 *      NAME  ran      what the guarded action did (fake: nothing leaves this machine)
 *      NAME  reported the execution report guard sent (`Action Executed`)
 *   <= NAME  recorded the execution as Countersign recorded it (export: read back from the decision API)
 *   -> NAME  ...      export only: the agent then reports running it again with other parameters
 *   <= NAME  violation that report recorded as a violation, with the alert posted to the approvers' channel
 *   !! NAME  error    why the scenario could not finish
 *
 * Exit codes: 0 every scenario reached a final outcome (whatever it is); 1 an error (the stack is not
 * running, a wait timed out); 2 bad arguments.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ActionNotPermittedError,
  CountersignClientError,
  type ExecutionRecord,
  DEFAULT_LOCAL_URL,
  InvalidActionRequestError,
  localAgentClient,
  networkErrorCode,
  type ActionSpec,
  type AgentClient,
  type FinalDecision,
  type GuardedApproval,
  type PendingDecision,
  type WaitOptions,
} from '../client/index.js';
import { short } from '../client/errors.js';
import { AGENT_SOURCE_PREFIX, DETAIL_TYPE_REQUESTED, SPEC_VERSION, payloadSha256, type ActionRequest } from '../shared/domain/contract.js';
import { colourWanted, painter, type Tone } from '../local/log.js';
import { playMcpScenario } from './demo-mcp.js';

/** Played by default. */
export const SCENARIO_NAMES = ['query', 'export', 'iam', 'password', 'delete-audit', 'malformed'] as const;
/** Played only when `--only` names them: the MCP scenario starts the gateway and an example server. */
export const OPT_IN_SCENARIO_NAMES = ['mcp'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number] | (typeof OPT_IN_SCENARIO_NAMES)[number];
const ALL_SCENARIO_NAMES: readonly string[] = [...SCENARIO_NAMES, ...OPT_IN_SCENARIO_NAMES];

export const DEFAULT_TIMEOUT_SECONDS = 1800;
const HEALTH_TIMEOUT_MS = 5000;

const USAGE = `usage: npm run demo [-- --endpoint URL] [--only NAME[,NAME]] [--timeout SECONDS]
  --endpoint URL      the local stack (default ${DEFAULT_LOCAL_URL}; start it with npm start)
  --only NAMES        play only these scenarios: ${SCENARIO_NAMES.join(', ')}; and mcp (an MCP client through countersign-mcp, only when named)
  --timeout SECONDS   how long to wait for a pending request's outcome (default ${DEFAULT_TIMEOUT_SECONDS})
  --help              this text
Exit 0 when every scenario reached a final outcome, 1 on an error, 2 on bad arguments.`;

export interface DemoOptions {
  /** The local stack's URL: bus endpoint and decision API. */
  endpoint: string;
  /** @default every scenario */
  only?: readonly ScenarioName[];
  /** @default 1800 */
  timeoutSeconds?: number;
  /** Where each line of output goes. @default stdout */
  write?: (line: string) => void;
  /** Where the one line that says the demo could not start goes. @default stderr */
  writeError?: (line: string) => void;
  /** @default false */
  colour?: boolean;
  /** Called when a scenario's request is pending (a test votes here). */
  onPending?: (scenario: ScenarioName, pending: PendingDecision) => void;
  /** Called with each request the MCP scenario's gateway sends (a test votes here). */
  onMcpRequest?: (actionId: string, tool: string) => void;
  /** Polling bounds of the clients. @default { initial: 200, max: 1000 }: the local stack is cheap to ask */
  pollIntervalMs?: { initial: number; max: number };
  /** How long to wait for a stack that answers /health with 503 (starting). @default 60 s */
  startupWaitMs?: number;
  /** How long to wait for the export's execution, and then its violation alert, to be recorded. @default 30 s */
  followTimeoutMs?: number;
}

interface Scenario {
  name: ScenarioName;
  agentId: string;
  spec: ActionSpec;
  /** Shown in the header after the request itself. */
  note?: string;
  /** Where a person approves it, when it needs approval. */
  approveHint?: (endpoint: string) => string;
  /** The fake action the guard runs once allowed or approved. */
  perform?: (approval: GuardedApproval) => string;
  /**
   * After it ran: read the execution back, then report a second run with these parameters instead
   * (a payload that was not approved, on an approval already used) and show the violation and its alert.
   */
  misuse?: { parameters: Record<string, unknown>; says: string };
}

function localDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The scenarios, from config/directory.json and policies/*.cedar. */
function scenarios(): Scenario[] {
  return [
    {
      name: 'query',
      agentId: 'billing-agent',
      spec: {
        action: 'db.query',
        resource: { type: 'Database', id: 'customers' },
        environment: 'prod',
        parameters: { sql: 'SELECT plan, count(*) FROM customers GROUP BY plan' },
        justification: 'Weekly plan mix for the billing report',
      },
      perform: (approval) => `ran ${text(approval.parameters.sql)} on customers (prod): 3 rows (fake)`,
    },
    {
      name: 'export',
      agentId: 'billing-agent',
      spec: {
        agent: { onBehalfOf: 'alice@example.com', runId: 'demo', model: 'demo-agent' },
        action: 'db.export',
        resource: { type: 'Database', id: 'customers' },
        environment: 'prod',
        parameters: { table: 'customers', format: 'csv' },
        justification: 'Quarterly churn analysis for finance',
      },
      approveHint: (endpoint) => `open ${endpoint}/slack, channel #approvals-data-owners, act as bob and tap Approve (alice owns billing-agent and cannot approve)`,
      perform: (approval) => `exported ${text(approval.parameters.table)} as ${text(approval.parameters.format)} to exports/customers.${text(approval.parameters.format)} (fake: nothing left this machine)`,
      misuse: { parameters: { table: 'customers_with_cards', format: 'csv' }, says: 'reports running it again on customers_with_cards: not what was approved, and the approval is used' },
    },
    {
      name: 'iam',
      agentId: 'ops-agent',
      spec: {
        action: 'iam.policy.update',
        resource: { type: 'IamPolicy', id: 'billing-readers' },
        environment: 'prod',
        parameters: { policyName: 'billing-readers', statement: { effect: 'Allow', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::invoices/*'] } },
        justification: 'Billing readers need the invoice archive for the audit',
      },
      approveHint: (endpoint) => `open ${endpoint}/slack, channel #approvals-security (or ${endpoint}/teams, Security > Approvals), act as dan and tap Approve, then as erin (2 needed, from either; carol owns ops-agent and cannot approve)`,
      perform: (approval) => {
        const statement = approval.parameters.statement as { effect?: unknown; actions?: unknown; resources?: unknown } | undefined;
        return `added ${text(statement?.effect)} ${text(statement?.actions)} on ${text(statement?.resources)} to ${text(approval.parameters.policyName)} (fake)`;
      },
    },
    {
      name: 'password',
      // support-agent's owner (heidi) is not in security: carol, dan and erin may all approve.
      agentId: 'support-agent',
      spec: {
        agent: { onBehalfOf: 'grace@example.com' },
        action: 'user.password.reset',
        resource: { type: 'User', id: 'grace', attributes: { admin: true } },
        environment: 'prod',
        parameters: { user: 'grace', delivery: 'reset link to the registered e-mail' },
        justification: 'Grace is locked out of her admin account during an incident',
        context: { requestedAt: `${localDate(new Date())}T03:00:00`, riskHints: ['off-hours'] },
      },
      note: 'at 3 a.m.',
      // Approved in Teams: the same review sits in #approvals-security in Slack and updates there too.
      approveHint: (endpoint) => `open ${endpoint}/teams, Security > Approvals, act as carol, dan or erin and tap Approve (heidi owns support-agent; grace is who it is for); ${endpoint}/slack #approvals-security shows the same review update`,
      perform: (approval) => `sent ${text(approval.parameters.user)} a ${text(approval.parameters.delivery)} (fake)`,
    },
    {
      name: 'delete-audit',
      agentId: 'ops-agent',
      spec: {
        action: 'storage.bucket.delete',
        resource: { type: 'Bucket', id: 'audit/countersign-trail' },
        environment: 'prod',
        parameters: { bucket: 'audit/countersign-trail', force: true },
        justification: 'Free up storage',
      },
      perform: (approval) => `deleted ${text(approval.parameters.bucket)} (fake)`,
    },
    {
      name: 'malformed',
      agentId: 'billing-agent',
      // Breaks the contract twice: a field v1 does not have, and an empty justification.
      spec: {
        action: 'db.export',
        resource: { type: 'Database', id: 'customers' },
        environment: 'prod',
        parameters: { table: 'customers', format: 'csv' },
        justification: '',
        priority: 'urgent',
      } as ActionSpec,
      note: 'with a request that breaks the contract',
    },
  ];
}

const TONE_OF: Record<string, Tone> = {
  allowed: 'ok', approved: 'ok', ran: 'ok', denied: 'error', rejected: 'error', expired: 'warn', invalid: 'warn',
  pending: 'warn', waiting: 'warn', vote: 'plain', refused: 'warn', sent: 'plain', error: 'error',
  reported: 'plain', recorded: 'ok', violation: 'error',
};

type Printer = (mark: '->' | '..' | '<=' | '  ' | '!!', scenario: string, word: string, message: string) => void;

function printer(write: (line: string) => void, colour: boolean): Printer {
  const paint = painter(colour);
  return (mark, scenario, word, message) => {
    const wordColumn = word === '' ? '' : `${paint(TONE_OF[word] ?? 'plain', word.padEnd(9))} `;
    write(`${paint('dim', mark)} ${paint('accent', scenario.padEnd(12))} ${wordColumn}${message}`.trimEnd());
  };
}

function describe(scenario: Scenario): string {
  const { spec } = scenario;
  const forWhom = spec.agent?.onBehalfOf === undefined ? '' : ` for ${spec.agent.onBehalfOf}`;
  const note = scenario.note === undefined ? '' : ` ${scenario.note}`;
  return `${scenario.agentId}${forWhom} asks ${spec.action} ${spec.resource.type} ${spec.resource.id} (${spec.environment})${note}`;
}

function decidedBy(decision: FinalDecision): string {
  if (decision.outcome === 'approved' || decision.outcome === 'rejected') {
    const voters = decision.reviewers.filter((r) => r.vote === (decision.outcome === 'approved' ? 'approve' : 'deny')).map((r) => r.id);
    if (voters.length > 0) return `by ${voters.join(' and ')}`;
  }
  return decision.policyIds.length > 0 ? `by policy ${decision.policyIds.join(', ')}` : '';
}

/**
 * What the demo prints after a refusal's outcome: its reason, preceded by who rejected it only when
 * the reason does not say so already (a reviewer's denial reads "denied by carol: <why>", and a
 * policy's reason names its policies), so no one is named twice.
 */
export function refusalText(decision: FinalDecision): string {
  const by = decision.outcome === 'rejected' ? decidedBy(decision) : '';
  if (by === '' || decision.reason.includes(by)) return decision.reason;
  return `${by}: ${decision.reason}`;
}

/** How the demo shows an execution as recorded: who, when (UTC), how it ended, and what it said. */
export function executionText(execution: ExecutionRecord): string {
  const ran = (Date.parse(execution.finishedAt) - Date.parse(execution.startedAt)) / 1000;
  const said = execution.error === null ? execution.resultSummary : `${execution.error.code}: ${execution.error.message}`;
  return `executed by ${execution.agentId} at ${execution.startedAt} (${ran} s), ${execution.status}${said === null ? '' : `: ${said}`}`;
}

/** The violation alert in the local Slack workspace for `actionId`, and its channel, once posted. */
interface PostedAlert { channel: string; text: string }

async function violationAlert(endpoint: string, actionId: string): Promise<PostedAlert | undefined> {
  const response = await fetch(`${endpoint}/slack/state`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
  if (!response.ok) return undefined;
  const state = await response.json() as { channels?: { name: string; messages: { text: string }[] }[] };
  for (const channel of state.channels ?? []) {
    const message = channel.messages.find((m) => m.text.startsWith('Execution violation [') && m.text.includes(actionId));
    if (message !== undefined) return { channel: channel.name, text: message.text };
  }
  return undefined;
}

async function poll<T>(what: string, timeoutMs: number, read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await read();
    if (found !== undefined) return found;
    if (Date.now() >= deadline) throw new CountersignClientError(`${what} did not appear within ${timeoutMs / 1000} s: is the local stack recording Action Executed?`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

/** The export, after it ran: its execution read back, then a second report that is a violation, and its alert. */
async function followExecution(scenario: Scenario, approval: GuardedApproval, client: AgentClient, endpoint: string, print: Printer, timeoutMs: number): Promise<void> {
  const { actionId } = approval;
  const execution = await poll(`the execution of ${actionId}`, timeoutMs, async () => (await client.waitForDecision(actionId)).execution ?? undefined);
  print('<=', scenario.name, 'recorded', executionText(execution));
  if (scenario.misuse === undefined) return;
  print('->', scenario.name, '', `${scenario.agentId} ${scenario.misuse.says}`);
  const changed = { ...structuredClone(approval.request), parameters: scenario.misuse.parameters } as ActionRequest;
  const now = new Date().toISOString();
  await client.reportExecution({ actionId, payloadSha256: payloadSha256(changed), status: 'succeeded', startedAt: now, finishedAt: now, result: { summary: `exported ${text(scenario.misuse.parameters.table)}` } });
  const alert = await poll(`the violation alert for ${actionId}`, timeoutMs, () => violationAlert(endpoint, actionId));
  print('<=', scenario.name, 'violation', `recorded, and alerted in #${alert.channel}: ${alert.text}`);
}

async function playGuarded(scenario: Scenario, client: AgentClient, print: Printer, hooks: Pick<WaitOptions, 'onPending' | 'onVote'>, follow: { endpoint: string; timeoutMs: number }): Promise<void> {
  const perform = scenario.perform ?? (() => 'done (fake)');
  let ran: GuardedApproval | undefined;
  try {
    const result = await client.guard(scenario.spec, (approval) => {
      print('<=', scenario.name, approval.outcome, `${decidedBy(approval)}: running it (payload ${short(approval.payloadSha256)})`);
      ran = approval;
      return perform(approval);
    }, { ...hooks, summarize: (said) => said });
    print('  ', scenario.name, 'ran', result);
    print('  ', scenario.name, 'reported', `Action Executed: succeeded, with the result's SHA-256 (guard reports every run)`);
    if (ran !== undefined && scenario.misuse !== undefined) await followExecution(scenario, ran, client, follow.endpoint, print, follow.timeoutMs);
  } catch (error) {
    if (!(error instanceof ActionNotPermittedError)) throw error;
    const { decision } = error;
    print('<=', scenario.name, decision.outcome, refusalText(decision));
  }
}

async function playMalformed(scenario: Scenario, client: AgentClient, endpoint: string, print: Printer): Promise<void> {
  const actionId = `${scenario.agentId}-${randomUUID()}`;
  const spec = { ...scenario.spec, actionId };
  let clientReason: string;
  try {
    await client.requestAction(spec);
    throw new CountersignClientError('the client sent a request that breaks the contract; it should have refused it');
  } catch (error) {
    if (!(error instanceof InvalidActionRequestError)) throw error;
    clientReason = error.message;
  }
  print('..', scenario.name, 'refused', `the client refuses to send it: ${clientReason}`);

  // The same detail the client built, sent with the plain SDK: nothing checks it before the server.
  const { agent, actionId: _id, ...rest } = spec;
  const detail = { specVersion: SPEC_VERSION, actionId, agent: { ...agent, id: scenario.agentId }, ...rest };
  const events = new EventBridgeClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  try {
    const response = await events.send(new PutEventsCommand({ Entries: [{
      EventBusName: 'countersign', Source: `${AGENT_SOURCE_PREFIX}${scenario.agentId}`, DetailType: DETAIL_TYPE_REQUESTED, Detail: JSON.stringify(detail),
    }] }));
    if ((response.FailedEntryCount ?? 0) > 0) throw new CountersignClientError(`the bus refused the raw request: ${response.Entries?.[0]?.ErrorMessage ?? 'no message'}`);
  } catch (error) {
    if (error instanceof CountersignClientError) throw error;
    throw new CountersignClientError(`sending the raw request failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, { cause: error });
  } finally {
    events.destroy();
  }
  print('..', scenario.name, 'sent', `sent anyway with the raw EventBridge SDK (no validation), actionId ${actionId}`);
  const decision = await client.waitForDecision(actionId);
  const same = decision.reason === clientReason ? 'the same reason the client gave' : `the client said: ${clientReason}`;
  print('<=', scenario.name, decision.outcome, `${decision.reason} (${same})`);
}

type Preflight = { ok: true } | { ok: false; message: string };

async function preflight(endpoint: string, startupWaitMs: number, print: Printer): Promise<Preflight> {
  const url = new URL('health', endpoint.endsWith('/') ? endpoint : `${endpoint}/`);
  const deadline = Date.now() + startupWaitMs;
  let saidStarting = false;
  for (;;) {
    let response: Response;
    let body: string;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      body = await response.text();
    } catch (error) {
      if (error instanceof Error && error.name === 'TimeoutError') {
        return { ok: false, message: `the Countersign local stack at ${endpoint} did not answer GET /health within ${HEALTH_TIMEOUT_MS / 1000} s: is it the local stack, and is \`npm start\` healthy? (or pass --endpoint URL)` };
      }
      const code = networkErrorCode(error);
      const why = code === 'ECONNREFUSED' ? 'connection refused' : code ?? (error instanceof Error ? error.message : String(error));
      return { ok: false, message: `cannot reach the Countersign local stack at ${endpoint} (${why}): is \`npm start\` running? (or pass --endpoint URL)` };
    }
    if (response.status === 200) return { ok: true };
    if (response.status === 503 && Date.now() < deadline) {
      if (!saidStarting) print('..', 'stack', 'waiting', `the local stack at ${endpoint} is starting`);
      saidStarting = true;
      await new Promise((done) => setTimeout(done, 500));
      continue;
    }
    const what = `${response.status} ${response.headers.get('content-type') ?? 'no content type'} ${JSON.stringify(body.replace(/\s+/g, ' ').slice(0, 60))}`;
    return { ok: false, message: `${endpoint} does not answer like the Countersign local stack (GET ${url.pathname} answered ${what}): check --endpoint, or run \`npm start\`` };
  }
}

/** Plays the scenarios against the stack at `options.endpoint`; resolves to the exit code. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const write = options.write ?? ((line: string) => { process.stdout.write(`${line}\n`); });
  const writeError = options.writeError ?? ((line: string) => { process.stderr.write(`${line}\n`); });
  const print = printer(write, options.colour ?? false);
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const chosen = scenarios().filter((scenario) => options.only === undefined || options.only.includes(scenario.name));
  const playsMcp = options.only?.includes('mcp') === true;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;

  const ready = await preflight(endpoint, options.startupWaitMs ?? 60_000, print);
  if (!ready.ok) {
    writeError(ready.message);
    return 1;
  }

  write(`Countersign demo against ${endpoint}: ${[...chosen.map((s) => s.name), ...(playsMcp ? ['mcp'] : [])].join(', ')}, at the same time (pending waits up to ${timeoutSeconds} s)`);
  for (const scenario of chosen) print('->', scenario.name, '', describe(scenario));

  const clients = new Map<string, AgentClient>();
  const clientFor = (agentId: string) => {
    let client = clients.get(agentId);
    if (client === undefined) {
      client = localAgentClient(agentId, endpoint, { waitTimeoutMs: timeoutSeconds * 1000, pollIntervalMs: options.pollIntervalMs ?? { initial: 200, max: 1000 } });
      clients.set(agentId, client);
    }
    return client;
  };

  const mcp = async (): Promise<boolean> => {
    try {
      await playMcpScenario(endpoint, (mark, word, message) => print(mark, 'mcp', word, message), { timeoutSeconds, ...(options.onMcpRequest === undefined ? {} : { onRequest: options.onMcpRequest }) });
      return true;
    } catch (error) {
      print('!!', 'mcp', 'error', (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '');
      return false;
    }
  };
  const results = await Promise.all([...(playsMcp ? [mcp()] : []), ...chosen.map(async (scenario): Promise<boolean> => {
    const client = clientFor(scenario.agentId);
    const onPending = (pending: PendingDecision) => {
      print('..', scenario.name, 'pending', `${pending.reason} [${pending.actionId}]`);
      if (scenario.approveHint !== undefined) print('..', scenario.name, 'waiting', scenario.approveHint(endpoint));
      options.onPending?.(scenario.name, pending);
    };
    // Progress on the way to a quorum: who has approved so far.
    const onVote = (pending: PendingDecision) => {
      const approvals = pending.reviewers.filter((vote) => vote.vote === 'approve').map((vote) => vote.id);
      print('..', scenario.name, 'vote', `${approvals.join(' and ')} approved so far; still pending: ${pending.reason}`);
    };
    try {
      if (scenario.name === 'malformed') await playMalformed(scenario, client, endpoint, print);
      else await playGuarded(scenario, client, print, { onPending, onVote }, { endpoint, timeoutMs: options.followTimeoutMs ?? 30_000 });
      return true;
    } catch (error) {
      const message = error instanceof CountersignClientError ? error.message : `unexpected ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      print('!!', scenario.name, 'error', message.split('\n')[0] ?? '');
      return false;
    }
  })]);
  for (const client of clients.values()) client.destroy();

  const failed = results.filter((ok) => !ok).length;
  if (failed > 0) {
    write(`${failed} of ${results.length} scenario${results.length === 1 ? '' : 's'} did not reach a final outcome`);
    return 1;
  }
  write(`every scenario reached a final outcome (${results.length})`);
  return 0;
}

class UsageError extends Error {
  constructor(message: string) {
    super(`${message} (npm run demo -- --help)`);
    this.name = 'UsageError';
  }
}

export function parseDemoArguments(argv: string[]): { help: true } | { help: false; endpoint: string; only?: ScenarioName[]; timeoutSeconds: number } {
  let values: { endpoint?: string; only?: string; timeout?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { endpoint: { type: 'string' }, only: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return { help: true };
  const endpoint = values.endpoint ?? DEFAULT_LOCAL_URL;
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) throw new UsageError(`--endpoint "${endpoint}" is not an http(s) URL`);
  let only: ScenarioName[] | undefined;
  if (values.only !== undefined) {
    const names = values.only.split(',').map((name) => name.trim()).filter((name) => name !== '');
    const unknown = names.filter((name) => !ALL_SCENARIO_NAMES.includes(name));
    if (names.length === 0 || unknown.length > 0) throw new UsageError(`--only: unknown scenario ${unknown.map((n) => `"${n}"`).join(', ') || '(none given)'}; the scenarios are ${ALL_SCENARIO_NAMES.join(', ')}`);
    only = names as ScenarioName[];
  }
  const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError(`--timeout "${values.timeout ?? ''}" is not a positive number of seconds`);
  return { help: false, endpoint, ...(only === undefined ? {} : { only }), timeoutSeconds };
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parseDemoArguments>;
  try {
    args = parseDemoArguments(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return runDemo({ ...args, colour: colourWanted(process.stdout) });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  process.exitCode = await main(process.argv.slice(2));
}
