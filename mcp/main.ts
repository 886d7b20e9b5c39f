/**
 * countersign-mcp: the MCP gateway (README "Agents that speak MCP").
 *
 *   npm run mcp -- --config <file> [--http <port>] [--host <address>]
 *   countersign-mcp --config <file>            (the package's bin entry)
 *
 * Without --http it speaks MCP on stdin/stdout (what Claude Desktop, Claude Code and Cursor start);
 * with --http it serves Streamable HTTP at http://<host>:<port>/mcp (port 0: any free port). Its own
 * lines go to stderr. Exit codes: 2 bad arguments or configuration, 1 an upstream or Countersign
 * could not be set up.
 */
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createAgentClient, localAgentClient, type AgentClient } from '../client/index.js';
import { GatewayConfigError, loadGatewayConfig, type GatewayConfig } from './config.js';
import { reportedExecutions } from './execution-report.js';
import { CountersignGateway } from './gateway.js';
import { serveStreamableHttp } from './http.js';
import { connectUpstreams, UpstreamConnectError } from './upstreams.js';

const USAGE = `usage: npm run mcp -- --config <file> [--http <port>] [--host <address>]
  --config FILE    the gateway's JSON configuration (README "Agents that speak MCP")
  --http PORT      serve Streamable HTTP at http://<host>:PORT/mcp instead of stdio (0: any free port)
  --host ADDRESS   the address --http listens on (default 127.0.0.1)
  --help           this text`;

function log(line: string): void {
  process.stderr.write(`countersign-mcp: ${line}\n`);
}

function agentClientFor(config: GatewayConfig): AgentClient {
  const { countersign } = config;
  if ('local' in countersign) return localAgentClient(config.agentId, countersign.local, { pollIntervalMs: { initial: 200, max: 2000 } });
  return createAgentClient({
    agentId: config.agentId,
    decisionApiUrl: countersign.decisionApiUrl,
    ...(countersign.eventBusName === undefined ? {} : { eventBusName: countersign.eventBusName }),
    ...(countersign.busEndpoint === undefined ? {} : { busEndpoint: countersign.busEndpoint }),
    ...(countersign.region === undefined ? {} : { region: countersign.region }),
  });
}

async function main(): Promise<number> {
  let values: { config?: string; http?: string; host?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { config: { type: 'string' }, http: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false }));
  } catch (error) {
    log(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stderr.write(`${USAGE}\n`);
    return 0;
  }
  if (values.config === undefined) {
    log(`--config is required\n${USAGE}`);
    return 2;
  }
  const port = values.http === undefined ? undefined : Number(values.http);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    log(`--http ${values.http}: must be a port number (0 for any free port)`);
    return 2;
  }

  let config: GatewayConfig;
  try {
    config = loadGatewayConfig(values.config);
  } catch (error) {
    if (!(error instanceof GatewayConfigError)) throw error;
    log(`the configuration cannot be used: ${error.message}`);
    return 2;
  }

  // Upstreams may ask the agent's side for sampling or elicitation once the gateway exists.
  const late: { gateway?: CountersignGateway } = {};
  let upstreams;
  try {
    upstreams = await connectUpstreams(config.upstreams, { log, downstream: () => late.gateway?.downstream() });
  } catch (error) {
    if (!(error instanceof UpstreamConnectError)) throw error;
    log(error.message);
    return 1;
  }
  const agent = agentClientFor(config);
  const gateway = new CountersignGateway({ config, agent, upstreams, reporter: reportedExecutions(agent, log), log });
  late.gateway = gateway;
  const names = [...upstreams.keys()].join(', ');

  let stop: () => Promise<void>;
  if (port === undefined) {
    const transport = new StdioServerTransport();
    const server = gateway.createServer();
    await server.connect(transport);
    log(`agent ${config.agentId}: serving MCP on stdio in front of ${names}`);
    stop = async () => {
      await server.close();
    };
    process.stdin.once('end', () => void shutdown());
  } else {
    const http = await serveStreamableHttp(gateway, { port, ...(values.host === undefined ? {} : { host: values.host }), log });
    log(`agent ${config.agentId}: serving MCP at ${http.url} in front of ${names}`);
    stop = http.close;
  }

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    await gateway.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  return -1;
}

main().then((code) => {
  if (code >= 0) process.exit(code);
}, (error: unknown) => {
  log(`failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exit(1);
});
