import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  McpError,
  type CreateMessageRequest,
  type CreateMessageResult,
  type ElicitRequest,
  type ElicitResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { isStdioUpstream, type UpstreamConfig } from './config.js';

export const GATEWAY_NAME = 'countersign-mcp';
export const GATEWAY_VERSION = '0.1.0';

/** Where an upstream's requests to the agent's side (sampling, elicitation) go, when its config allows them. */
export interface DownstreamRequests {
  createMessage(params: CreateMessageRequest['params']): Promise<CreateMessageResult>;
  elicitInput(params: ElicitRequest['params']): Promise<ElicitResult>;
}

/** An upstream could not be started or connected; the gateway does not start without it. */
export class UpstreamConnectError extends Error {
  constructor(readonly upstream: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamConnectError';
  }
}

/** One connected upstream MCP server. */
export interface Upstream {
  name: string;
  config: UpstreamConfig;
  client: Client;
  /** Every page of the upstream's tools, as it lists them now. */
  listTools(): Promise<Tool[]>;
  close(): Promise<void>;
}

function transportFor(name: string, config: UpstreamConfig, log: (line: string) => void): Transport {
  if (!isStdioUpstream(config)) {
    return new StreamableHTTPClientTransport(new URL(config.url), config.headers === undefined ? {} : { requestInit: { headers: config.headers } });
  }
  const passed: Record<string, string> = {};
  for (const variable of config.passEnv ?? []) {
    const value = process.env[variable];
    if (value !== undefined) passed[variable] = value;
  }
  const transport = new StdioClientTransport({
    command: config.command,
    args: config.args ?? [],
    // Only what the config names reaches the upstream: not the gateway's whole environment.
    env: { ...getDefaultEnvironment(), ...passed, ...config.env },
    ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') log(`[${name}] ${line}`);
  });
  return transport;
}

function refused(what: string, name: string, setting: string): McpError {
  return new McpError(ErrorCode.InvalidRequest, `${what} requests from upstream "${name}" are refused by countersign-mcp (set "${setting}": true for this upstream to allow them)`);
}

/**
 * Connects to one upstream. Sampling and elicitation are declared as capabilities only when the
 * config allows them, and even then answered only while the gateway has an agent-side session.
 */
export async function connectUpstream(
  name: string,
  config: UpstreamConfig,
  options: { log: (line: string) => void; downstream: () => DownstreamRequests | undefined },
): Promise<Upstream> {
  const client = new Client(
    { name: GATEWAY_NAME, version: GATEWAY_VERSION },
    { capabilities: { ...(config.allowSampling === true ? { sampling: {} } : {}), ...(config.allowElicitation === true ? { elicitation: {} } : {}) } },
  );
  if (config.allowSampling === true) {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const downstream = options.downstream();
      if (downstream === undefined) throw new McpError(ErrorCode.InvalidRequest, 'no agent is connected to countersign-mcp to answer a sampling request');
      return await downstream.createMessage(request.params);
    });
  }
  if (config.allowElicitation === true) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const downstream = options.downstream();
      if (downstream === undefined) throw new McpError(ErrorCode.InvalidRequest, 'no agent is connected to countersign-mcp to answer an elicitation request');
      return await downstream.elicitInput(request.params);
    });
  }
  // Without the capability the SDK answers "method not found"; say why instead.
  client.fallbackRequestHandler = async (request) => {
    if (request.method === 'sampling/createMessage') throw refused('sampling', name, 'allowSampling');
    if (request.method === 'elicitation/create') throw refused('elicitation', name, 'allowElicitation');
    throw new McpError(ErrorCode.MethodNotFound, `countersign-mcp does not pass ${request.method} from upstream "${name}" to the agent`);
  };
  const where = isStdioUpstream(config) ? `command ${JSON.stringify([config.command, ...(config.args ?? [])].join(' '))}` : config.url;
  try {
    await client.connect(transportFor(name, config, options.log));
  } catch (error) {
    throw new UpstreamConnectError(name, `upstream "${name}" (${where}) could not be connected: ${(error as Error).message}`, { cause: error });
  }
  return {
    name,
    config,
    client,
    async listTools() {
      if (client.getServerCapabilities()?.tools === undefined) return [];
      const tools: Tool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor });
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return tools;
    },
    async close() {
      await client.close();
    },
  };
}

/** Connects every upstream of the config, in parallel; closes the ones that connected if any fails. */
export async function connectUpstreams(
  upstreams: Record<string, UpstreamConfig>,
  options: { log: (line: string) => void; downstream: () => DownstreamRequests | undefined },
): Promise<Map<string, Upstream>> {
  const results = await Promise.allSettled(Object.entries(upstreams).map(([name, config]) => connectUpstream(name, config, options)));
  const connected = results.filter((r): r is PromiseFulfilledResult<Upstream> => r.status === 'fulfilled').map((r) => r.value);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0) {
    await Promise.allSettled(connected.map((upstream) => upstream.close()));
    throw failed[0]?.reason;
  }
  return new Map(connected.map((upstream) => [upstream.name, upstream]));
}
