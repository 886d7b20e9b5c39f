import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type CallToolResult,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { JsonSchemaType } from '@modelcontextprotocol/sdk/validation/types.js';
import * as z from 'zod';
import {
  CountersignClientError,
  DecisionTimeoutError,
  InvalidActionRequestError,
  isApproval,
  PayloadMismatchError,
  type AgentClient,
  type ApprovalDecision,
  type FinalDecision,
  type PendingDecision,
} from '../client/index.js';
import { LIMITS, payloadSha256, type ActionRequest } from '../shared/domain/contract.js';
import { DEFAULT_AWAIT_MAX_SECONDS, DEFAULT_PROGRESS_EVERY_SECONDS, type GatewayConfig } from './config.js';
import { digestToolResult, reportableText, summarizeToolResult, toolResultSha256, type ExecutionReport, type ExecutionReporter } from './execution-report.js';
import { namespacedName, planToolCall, splitNamespacedName, type CallMode } from './mapping.js';
import { GATEWAY_NAME, GATEWAY_VERSION, type DownstreamRequests, type Upstream } from './upstreams.js';

export const AWAIT_TOOL = 'countersign_await';
/** How long a `defer` call waits to learn whether the request is decided at once (allowed, denied) or goes to review. */
const DEFER_PROBE_MS = 10_000;
/** Requests kept for `countersign_await` to answer "already ran" or "was refused" about. */
const SETTLED_KEPT = 1000;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A request this gateway sent, from the moment it is sent until it ran or was refused. */
interface GatewayRequest {
  actionId: string;
  server: string;
  tool: string;
  /** The request exactly as sent: its `parameters` are the arguments that run, and nothing else does. */
  request: Readonly<ActionRequest>;
  payloadSha256: string;
  state: 'pending' | 'waiting' | 'ran' | 'refused';
  /** What the agent was told when it settled. */
  settled?: string;
}

const AwaitArgumentsSchema = z.strictObject({
  requestId: z.string('is required: the request id a pending tool result gave').min(1, 'must not be empty'),
  seconds: z.number('must be a number of seconds').int('must be a whole number').min(1, 'must be at least 1').optional(),
});

function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Sends `notifications/progress` for one call, when its client gave a progress token; the count only grows. */
class CallProgress {
  #count = 0;
  constructor(private readonly extra: Extra) {}

  async send(message: string): Promise<void> {
    const progressToken = this.extra._meta?.progressToken;
    if (progressToken === undefined || this.extra.signal.aborted) return;
    this.#count += 1;
    try {
      await this.extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: this.#count, message } });
    } catch {
      // The client went away; the wait goes on (the request stays awaitable), nothing to tell it.
    }
  }
}

function describeWaiting(pending: PendingDecision | undefined): string {
  if (pending === undefined) return 'waiting for Countersign to record the request';
  const approvals = pending.reviewers.filter((r) => r.vote === 'approve').map((r) => r.id);
  return `waiting for approval: ${pending.reason}${approvals.length > 0 ? `; approved so far by ${approvals.join(', ')}` : ''}`;
}

function refusalText(actionId: string, decision: FinalDecision): string {
  const why: Record<string, string> = {
    denied: 'Countersign denied this call',
    rejected: 'a reviewer rejected this call',
    expired: 'no reviewer decided in time, so this call expired',
    invalid: 'Countersign refused this call as invalid',
  };
  const by = decision.reviewers.filter((r) => r.vote === 'deny').map((r) => `${r.id}${r.comment === undefined ? '' : ` ("${r.comment}")`}`);
  return `${why[decision.outcome] ?? `Countersign answered ${decision.outcome}`}: ${decision.reason}${by.length > 0 ? `; denied by ${by.join(', ')}` : ''}. `
    + `The tool did not run (request ${actionId}). Do not retry the same call unchanged: it would be refused again; ask the user or change the approach.`;
}

/** What the gateway needs of the agent client: send a request, wait for its decision. */
export type GatewayAgent = Pick<AgentClient, 'sendAction' | 'waitForDecision' | 'destroy'>;

export interface GatewayOptions {
  config: GatewayConfig;
  agent: GatewayAgent;
  upstreams: Map<string, Upstream>;
  reporter: ExecutionReporter;
  log?: (line: string) => void;
}

/**
 * The gateway: one per agent. It holds the upstream connections and the requests it sent, and makes
 * an MCP server for each agent-side session (`createServer`), over stdio or Streamable HTTP.
 */
export class CountersignGateway {
  readonly #config: GatewayConfig;
  readonly #agent: GatewayAgent;
  readonly #upstreams: Map<string, Upstream>;
  readonly #reporter: ExecutionReporter;
  readonly #log: (line: string) => void;
  readonly #requests = new Map<string, GatewayRequest>();
  readonly #tools = new Map<string, Map<string, Tool>>();
  readonly #resourceOwners = new Map<string, string>();
  readonly #validator = new AjvJsonSchemaValidator();
  #lastServer: Server | undefined;

  constructor(options: GatewayOptions) {
    this.#config = options.config;
    this.#agent = options.agent;
    this.#upstreams = options.upstreams;
    this.#reporter = options.reporter;
    this.#log = options.log ?? (() => undefined);
  }

  /** For upstreams allowed to sample or elicit: the agent-side session that last called a tool. */
  downstream(): DownstreamRequests | undefined {
    const server = this.#lastServer;
    if (server === undefined) return undefined;
    return {
      createMessage: async (params) => await server.createMessage(params),
      elicitInput: async (params) => await server.elicitInput(params as Parameters<Server['elicitInput']>[0]),
    };
  }

  /** A new MCP server for one agent-side session; all of them share the upstreams and the requests sent. */
  createServer(): Server {
    const capabilities = [...this.#upstreams.values()].map((u) => u.client.getServerCapabilities() ?? {});
    const server = new Server(
      { name: GATEWAY_NAME, version: GATEWAY_VERSION },
      {
        capabilities: {
          tools: {},
          ...(capabilities.some((c) => c.resources !== undefined) ? { resources: {} } : {}),
          ...(capabilities.some((c) => c.prompts !== undefined) ? { prompts: {} } : {}),
        },
        instructions: 'Every tool call goes through Countersign: policy decides, and some calls wait for a human approval. '
          + `A result marked as an error says why a call did not run. A call pending approval gives a request id: call ${AWAIT_TOOL} with it to wait for the decision; the call then runs exactly as it was asked.`,
      },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [...await this.#listTools(), this.#awaitTool()] }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      this.#lastServer = server;
      const args = request.params.arguments ?? {};
      if (request.params.name === AWAIT_TOOL) return await this.#await(args, extra);
      const client = server.getClientVersion();
      return await this.#callTool(request.params.name, args, extra, { name: client?.name, version: client?.version });
    });
    server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: await this.#listResources() }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: await this.#listResourceTemplates() }));
    server.setRequestHandler(ReadResourceRequestSchema, async (request) => await this.#readResource(request.params.uri));
    server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: await this.#listPrompts() }));
    server.setRequestHandler(GetPromptRequestSchema, async (request) => {
      const target = splitNamespacedName(request.params.name);
      const upstream = target === undefined ? undefined : this.#upstreams.get(target.server);
      if (target === undefined || upstream === undefined) throw new McpError(ErrorCode.InvalidParams, `no prompt "${request.params.name}": prompts are named <server>__<prompt>`);
      return await upstream.client.getPrompt({ ...request.params, name: target.tool });
    });
    return server;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#upstreams.values()].map((upstream) => upstream.close()));
    this.#agent.destroy();
  }

  // --- tools/list ---------------------------------------------------------------------------

  async #listTools(): Promise<Tool[]> {
    const lists = await Promise.all([...this.#upstreams.values()].map(async (upstream) => {
      const tools = await upstream.listTools();
      this.#tools.set(upstream.name, new Map(tools.map((tool) => [tool.name, tool])));
      return tools.map((tool) => ({ ...tool, name: namespacedName(upstream.name, tool.name), title: tool.title ?? `${tool.name} (${upstream.name})` }));
    }));
    return lists.flat();
  }

  async #upstreamTool(server: string, tool: string): Promise<Tool | undefined> {
    const known = this.#tools.get(server)?.get(tool);
    if (known !== undefined) return known;
    const upstream = this.#upstreams.get(server);
    if (upstream === undefined) return undefined;
    const tools = await upstream.listTools();
    this.#tools.set(server, new Map(tools.map((t) => [t.name, t])));
    return this.#tools.get(server)?.get(tool);
  }

  #awaitTool(): Tool {
    const max = this.#config.defaults?.awaitMaxSeconds ?? DEFAULT_AWAIT_MAX_SECONDS;
    return {
      name: AWAIT_TOOL,
      title: 'Wait for a Countersign decision',
      description: 'Waits for the decision on a tool call that is pending approval, then runs the call exactly as it was asked '
        + '(the approved arguments; no others can be given) and returns its result. Answers "still pending" when the wait ends first: call again later. '
        + 'Only this agent\'s own pending requests can be awaited.',
      inputSchema: {
        type: 'object',
        properties: {
          requestId: { type: 'string', description: 'The request id a pending tool result gave.' },
          seconds: { type: 'integer', minimum: 1, maximum: max, description: `How long to wait, at most ${max} s. Default ${Math.min(60, max)}.` },
        },
        required: ['requestId'],
        additionalProperties: false,
      },
    };
  }

  // --- tools/call -----------------------------------------------------------------------------

  async #callTool(name: string, args: Record<string, unknown>, extra: Extra, client: { name?: string; version?: string }): Promise<CallToolResult> {
    const target = splitNamespacedName(name);
    if (target === undefined || !this.#upstreams.has(target.server)) {
      return errorResult(`no tool "${name}" behind countersign-mcp: tools are named <server>__<tool>, as tools/list shows them`);
    }
    const tool = await this.#upstreamTool(target.server, target.tool);
    if (tool === undefined) return errorResult(`upstream "${target.server}" has no tool "${target.tool}" (tools/list shows what it has)`);
    const valid = this.#validator.getValidator(tool.inputSchema as JsonSchemaType)(args);
    if (!valid.valid) return errorResult(`the arguments do not match ${name}'s input schema (${valid.errorMessage}); nothing was sent for approval`);
    const planned = planToolCall(this.#config, target.server, target.tool, args, client);
    if (!planned.ok) return errorResult(`${planned.problem}; nothing was sent for approval`);
    const { plan } = planned;

    let sent: { request: ActionRequest; payloadSha256: string };
    try {
      sent = await this.#agent.sendAction(plan.spec, { signal: extra.signal });
    } catch (error) {
      if (error instanceof InvalidActionRequestError) return errorResult(`this call cannot be sent to Countersign as a request: ${error.reason}. The tool did not run.`);
      if (error instanceof CountersignClientError) return errorResult(`Countersign could not be asked, so the tool did not run: ${error.message}`);
      throw error;
    }
    const entry: GatewayRequest = {
      actionId: sent.request.actionId,
      server: plan.server,
      tool: plan.tool,
      request: deepFreeze(structuredClone(sent.request)),
      payloadSha256: sent.payloadSha256,
      // Waiting from the start: no countersign_await may take it while this call still holds it.
      state: 'waiting',
    };
    this.#remember(entry);
    this.#log(`${entry.actionId}: ${name} sent as ${plan.spec.action} on ${plan.spec.resource.type}::"${plan.spec.resource.id}" (${plan.mode})`);
    const progress = new CallProgress(extra);
    await progress.send(`sent to Countersign as request ${entry.actionId}`);
    return await this.#settle(entry, plan.mode, plan.waitSeconds * 1000, extra, progress);
  }

  #remember(entry: GatewayRequest): void {
    this.#requests.set(entry.actionId, entry);
    const settled = [...this.#requests.values()].filter((r) => r.state === 'ran' || r.state === 'refused');
    for (const old of settled.slice(0, Math.max(0, settled.length - SETTLED_KEPT))) this.#requests.delete(old.actionId);
  }

  /** Waits for the decision (up to `waitMs`; in defer mode only until it is known to need a review), then runs or refuses. */
  async #settle(entry: GatewayRequest, mode: CallMode, waitMs: number, extra: Extra, progress: CallProgress): Promise<CallToolResult> {
    entry.state = 'waiting';
    const reviewOpened = new AbortController();
    let lastPending: PendingDecision | undefined;
    const heartbeat = setInterval(() => void progress.send(describeWaiting(lastPending)), (this.#config.defaults?.progressEverySeconds ?? DEFAULT_PROGRESS_EVERY_SECONDS) * 1000);
    let decision: FinalDecision;
    try {
      decision = await this.#agent.waitForDecision(entry.actionId, {
        payloadSha256: entry.payloadSha256,
        waitTimeoutMs: mode === 'defer' ? Math.min(waitMs, DEFER_PROBE_MS) : waitMs,
        signal: AbortSignal.any([extra.signal, reviewOpened.signal]),
        onPending: (pending) => {
          lastPending = pending;
          if (mode === 'defer') reviewOpened.abort();
          else void progress.send(describeWaiting(pending));
        },
        onVote: (pending) => {
          lastPending = pending;
          void progress.send(describeWaiting(pending));
        },
      });
    } catch (error) {
      if (reviewOpened.signal.aborted || error instanceof DecisionTimeoutError) return this.#pendingResult(entry, lastPending);
      if (extra.signal.aborted) return errorResult(`cancelled while waiting; request ${entry.actionId} stays pending: call ${AWAIT_TOOL} with it to wait again`);
      if (error instanceof PayloadMismatchError) return this.#refuse(entry, `Countersign's decision on ${entry.actionId} is for another payload than this gateway sent (${error.message}); nothing ran`);
      if (error instanceof CountersignClientError) {
        return errorResult(`the decision on request ${entry.actionId} could not be read (${error.message}); the tool has not run. Call ${AWAIT_TOOL} with {"requestId": "${entry.actionId}"} to try again.`);
      }
      throw error;
    } finally {
      clearInterval(heartbeat);
      // Whatever ended the wait, the request can be awaited again until it runs or is refused.
      if (entry.state === 'waiting') entry.state = 'pending';
    }
    if (!isApproval(decision)) return this.#refuse(entry, refusalText(entry.actionId, decision));
    return await this.#execute(entry, decision, extra, progress);
  }

  #pendingResult(entry: GatewayRequest, pending: PendingDecision | undefined): CallToolResult {
    const why = pending === undefined ? 'Countersign has not decided it yet' : `it ${pending.reason}`;
    return errorResult(`Pending approval: this call has not run yet; ${why}. Request id: ${entry.actionId}. `
      + `Call ${AWAIT_TOOL} with {"requestId": "${entry.actionId}", "seconds": 60} to wait for the decision; once approved it runs exactly as asked. `
      + 'Calling the tool again sends a new request that needs its own approval.');
  }

  #refuse(entry: GatewayRequest, text: string): CallToolResult {
    entry.state = 'refused';
    entry.settled = text;
    this.#log(`${entry.actionId}: refused: ${text}`);
    return errorResult(text);
  }

  /** Runs the approved call once: the arguments sent, re-hashed against the decision, and nothing else. */
  async #execute(entry: GatewayRequest, decision: ApprovalDecision, extra: Extra, progress: CallProgress): Promise<CallToolResult> {
    if (entry.state === 'ran' || entry.state === 'refused') return errorResult(`request ${entry.actionId} has already ${entry.state === 'ran' ? 'run' : 'been refused'}; an approval runs once: call the tool again for a new request`);
    const upstream = this.#upstreams.get(entry.server);
    if (upstream === undefined) return this.#refuse(entry, `upstream "${entry.server}" is gone; nothing ran`);
    const args = structuredClone(entry.request.parameters) as Record<string, unknown>;
    const hash = payloadSha256({ ...entry.request, parameters: args } as ActionRequest);
    if (hash !== decision.payloadSha256) {
      return this.#refuse(entry, `the arguments that would run hash to ${hash}, not to the approved payload ${decision.payloadSha256}; nothing ran (request ${entry.actionId})`);
    }
    // An approval is time-boxed: one awaited after its validUntil would be recorded as a violation if it ran.
    if (decision.validUntil !== null && Date.now() > Date.parse(decision.validUntil)) {
      return this.#refuse(entry, `request ${entry.actionId} was ${decision.outcome}, but only until ${decision.validUntil}; it has not run. Call the tool again for a new request`);
    }
    // One approval, one run: settled before the upstream is called, so no second await can run it again.
    entry.state = 'ran';
    await progress.send(`${decision.outcome}${decision.reviewers.length > 0 ? ` by ${decision.reviewers.filter((r) => r.vote === 'approve').map((r) => r.id).join(', ')}` : ''}; running ${entry.tool} on ${entry.server}`);
    const startedAt = new Date().toISOString();
    const digestOnly = upstream.config.reportResults === 'digest';
    let result: CallToolResult;
    try {
      result = await upstream.client.callTool({ name: entry.tool, arguments: args }, undefined, {
        signal: extra.signal,
        resetTimeoutOnProgress: true,
        onprogress: (p) => void progress.send(p.message ?? `${entry.tool}: ${p.progress}${p.total === undefined ? '' : ` of ${p.total}`}`),
      }) as CallToolResult;
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)) || 'no message';
      const code = error instanceof McpError ? `mcp_${error.code}` : extra.signal.aborted ? 'cancelled' : 'upstream_error';
      // An upstream's error message can quote what it read: reported only where its results are.
      const reported = digestOnly ? `the upstream failed (${code}); its message is not reported (reportResults: digest)` : message;
      await this.#report(entry, { status: 'failed', startedAt, error: { code, message: reportableText(reported, LIMITS.errorMessageMaxChars) } });
      entry.settled = `failed: ${message}`;
      return errorResult(`request ${entry.actionId} was ${decision.outcome}, but upstream "${entry.server}" failed running ${entry.tool}: ${message}`);
    }
    // In digest mode, no hash either (see digestToolResult).
    const summary = digestOnly ? { summary: digestToolResult(result) } : { summary: summarizeToolResult(result), sha256: toolResultSha256(result) };
    await this.#report(entry, result.isError === true
      ? { status: 'failed', startedAt, result: summary, error: { code: 'tool_error', message: summary.summary } }
      : { status: 'succeeded', startedAt, result: summary });
    entry.settled = result.isError === true ? 'ran; the tool answered an error' : 'ran';
    return result;
  }

  async #report(entry: GatewayRequest, outcome: Omit<ExecutionReport, 'actionId' | 'payloadSha256' | 'finishedAt'>): Promise<void> {
    try {
      await this.#reporter.report({ actionId: entry.actionId, payloadSha256: entry.payloadSha256, finishedAt: new Date().toISOString(), ...outcome });
    } catch (error) {
      this.#log(`${entry.actionId}: the execution could not be reported: ${(error as Error).message}`);
    }
  }

  // --- countersign_await ------------------------------------------------------------------------

  async #await(args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> {
    const parsed = AwaitArgumentsSchema.safeParse(args);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => (issue.code === 'unrecognized_keys'
        ? `${issue.keys.join(', ')}: not accepted (an approved call runs with the arguments it was approved with, never new ones)`
        : `${issue.path.join('.') || 'arguments'}: ${issue.message}`));
      return errorResult(`${AWAIT_TOOL}: ${problems.join('; ')}`);
    }
    const { requestId } = parsed.data;
    const max = this.#config.defaults?.awaitMaxSeconds ?? DEFAULT_AWAIT_MAX_SECONDS;
    const seconds = Math.min(parsed.data.seconds ?? 60, max);
    const entry = this.#requests.get(requestId);
    if (entry === undefined) {
      return errorResult(`${requestId} is not a request this gateway sent for agent ${this.#config.agentId}: only this agent's own pending tool calls can be awaited`);
    }
    if (entry.state === 'ran') return errorResult(`request ${requestId} has already run (${entry.settled ?? 'ran'}); an approval runs once: call the tool again for a new request`);
    if (entry.state === 'refused') return errorResult(entry.settled ?? `request ${requestId} was refused`);
    if (entry.state === 'waiting') return errorResult(`another call is already waiting for request ${requestId}; wait for it to finish`);
    // Claimed before the first await: two countersign_await calls handled in the same tick cannot both settle it.
    entry.state = 'waiting';
    const progress = new CallProgress(extra);
    await progress.send(`waiting up to ${seconds} s for the decision on ${requestId}`);
    return await this.#settle(entry, 'wait', seconds * 1000, extra, progress);
  }

  // --- resources and prompts, read-only ---------------------------------------------------------

  async #eachUpstream<T>(capability: 'resources' | 'prompts', list: (upstream: Upstream) => Promise<T[]>): Promise<{ upstream: Upstream; items: T[] }[]> {
    const upstreams = [...this.#upstreams.values()].filter((u) => u.client.getServerCapabilities()?.[capability] !== undefined);
    return await Promise.all(upstreams.map(async (upstream) => ({ upstream, items: await list(upstream) })));
  }

  async #listResources(): Promise<Resource[]> {
    const lists = await this.#eachUpstream('resources', async (upstream) => (await upstream.client.listResources()).resources);
    for (const { upstream, items } of lists) for (const resource of items) this.#resourceOwners.set(resource.uri, upstream.name);
    return lists.flatMap(({ upstream, items }) => items.map((resource) => ({ ...resource, description: `${resource.description ?? resource.name} (from ${upstream.name})` })));
  }

  async #listResourceTemplates(): Promise<ResourceTemplate[]> {
    const lists = await this.#eachUpstream('resources', async (upstream) => (await upstream.client.listResourceTemplates()).resourceTemplates);
    return lists.flatMap(({ items }) => items);
  }

  async #readResource(uri: string) {
    const owner = this.#resourceOwners.get(uri);
    const candidates = owner === undefined
      ? [...this.#upstreams.values()].filter((u) => u.client.getServerCapabilities()?.resources !== undefined)
      : [this.#upstreams.get(owner)].filter((u): u is Upstream => u !== undefined);
    let last: unknown;
    for (const upstream of candidates) {
      try {
        return await upstream.client.readResource({ uri });
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof McpError ? last : new McpError(ErrorCode.InvalidParams, `no upstream of countersign-mcp has the resource ${uri}`);
  }

  async #listPrompts(): Promise<Prompt[]> {
    const lists = await this.#eachUpstream('prompts', async (upstream) => (await upstream.client.listPrompts()).prompts);
    return lists.flatMap(({ upstream, items }) => items.map((prompt) => ({ ...prompt, name: namespacedName(upstream.name, prompt.name) })));
  }
}
