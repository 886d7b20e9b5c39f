import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPO_ROOT, type LocalStack } from '../../local/local-stack.js';
import { eventually } from '../local/support.js';

export const GATEWAY_ARGS = ['--import', 'tsx', join(REPO_ROOT, 'mcp/main.ts')];
export const EXAMPLE_SERVER_ARGS = ['--import', 'tsx', join(REPO_ROOT, 'scripts/mcp-example-server.ts')];
export const DATA_OWNERS_CHANNEL = 'C0DATAOWNERS';

/** A gateway config for the local stack with the fixture as upstream "filesystem" (environment prod). */
export function gatewayConfig(stackUrl: string, callsFile: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    agentId: 'billing-agent',
    countersign: { local: stackUrl },
    upstreams: {
      filesystem: { command: process.execPath, args: EXAMPLE_SERVER_ARGS, cwd: REPO_ROOT, environment: 'prod', env: { EXAMPLE_SERVER_CALLS_FILE: callsFile } },
    },
    defaults: { progressEverySeconds: 1 },
    ...extra,
  };
}

export function writeConfig(dir: string, name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The tool calls the fixture upstream received, in order. */
export function upstreamCalls(callsFile: string): { tool: string; arguments: Record<string, unknown> }[] {
  if (!existsSync(callsFile)) return [];
  return readFileSync(callsFile, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as { tool: string; arguments: Record<string, unknown> });
}

export interface ConnectedGateway {
  client: Client;
  stderr(): string;
  close(): Promise<void>;
}

/**
 * Starts the gateway as the README's `npm run mcp -- --config gateway.json` (silent: npm's own lines
 * would break stdio), a child process on stdio as an MCP host runs it, and connects the SDK's client.
 */
export async function connectStdio(configFile: string): Promise<ConnectedGateway> {
  const transport = new StdioClientTransport({ command: 'npm', args: ['run', '--silent', 'mcp', '--', '--config', configFile], cwd: REPO_ROOT, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

/**
 * Starts the gateway as the README's `npm run mcp -- --config gateway.json --http 4020` does (any free
 * port here), in its own process group, and connects the SDK's client over Streamable HTTP.
 */
export async function connectHttp(configFile: string): Promise<ConnectedGateway & { url: string }> {
  const child = spawn('npm', ['run', '--silent', 'mcp', '--', '--config', configFile, '--http', '0'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
  const url = await eventually(() => /serving MCP at (http:\/\/\S+)/.exec(stderr)?.[1] ?? (child.exitCode !== null ? 'exited' : undefined), 'the gateway to listen', 30_000);
  if (url === 'exited') throw new Error(`the gateway exited:\n${stderr}`);
  const client = new Client({ name: 'gateway-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return {
    client,
    url,
    stderr: () => stderr,
    close: async () => {
      await client.close();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
      await exited;
    },
  };
}

export function textOf(result: unknown): string {
  return (result as CallToolResult).content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

/** The (first) request id of billing-agent a text names: a pending result, a progress message, a log line. */
export function requestIdIn(text: string): string | undefined {
  return /billing-agent-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(text)?.[0];
}

/**
 * A reviewer taps a button on the review message of `actionId` in the Slack emulator, as the page
 * does; a deny goes on through the reason modal, with `comment`.
 */
export async function tapReview(stack: LocalStack, actionId: string, user: string, button: 'approve' | 'deny', comment = 'not now', channel = DATA_OWNERS_CHANNEL): Promise<void> {
  const message = await eventually(
    () => stack.slack.workspace.messages(channel).find((m) => JSON.stringify(m.blocks ?? []).includes(actionId) && JSON.stringify(m.blocks ?? []).includes('"action_id":"approve"')),
    `the review of ${actionId} in ${channel}`,
  );
  const response = await fetch(`${stack.url}/slack/act`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, channel, ts: message.ts, actionId: button }) });
  const body = await response.json() as { status: number; problem?: string };
  if (response.status !== 200 || body.status !== 200) throw new Error(`the tap was refused: ${JSON.stringify(body)}`);
  if (button === 'approve') return;
  const modal = await eventually(() => stack.slack.workspace.openViewFor(user), `the deny modal for ${user}`);
  const input = (modal.view.blocks as { type: string; block_id: string; element?: { action_id: string } }[]).find((b) => b.type === 'input');
  const submit = await fetch(`${stack.url}/slack/views/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, viewId: modal.view.id, values: { [input?.block_id ?? '']: { [input?.element?.action_id ?? '']: comment } } }),
  });
  const submitted = await submit.json() as { status: number; closed?: boolean };
  if (submitted.status !== 200 || submitted.closed !== true) throw new Error(`the deny reason was refused: ${JSON.stringify(submitted)}`);
}

interface DecisionView {
  outcome: string;
  reason: string;
  payloadSha256: string | null;
  reviewers: { id: string; vote: string }[];
  execution?: { status: string; agentId: string; resultSummary: string | null } | null;
}

export async function decisionOf(stack: LocalStack, actionId: string): Promise<DecisionView> {
  const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}`);
  return await response.json() as DecisionView;
}
