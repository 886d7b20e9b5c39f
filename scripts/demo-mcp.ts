/**
 * The demo's MCP scenario (`npm run demo -- --only mcp`): an MCP client, as an agent's host would
 * be, starts countersign-mcp on stdio in front of the example filesystem server
 * (scripts/mcp-example-server.ts) as billing-agent, and calls three tools through it: a read the
 * policies allow, a write that waits for a data owner (progress shows while it waits), and a delete
 * no policy permits.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { REPO_ROOT } from '../local/local-stack.js';

export type McpPrinter = (mark: '->' | '..' | '<=' | '  ' | '!!', word: string, message: string) => void;

const CALLS: { name: string; arguments: Record<string, unknown> }[] = [
  { name: 'filesystem__read_file', arguments: { path: '/srv/notes.txt' } },
  { name: 'filesystem__write_file', arguments: { path: '/srv/q3-summary.txt', content: 'Q3: revenue up 4%' } },
  { name: 'filesystem__delete_file', arguments: { path: '/srv/notes.txt' } },
];

function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join(' ');
}

/** Plays the scenario against the local stack at `endpoint`; throws when the gateway cannot be used. */
export async function playMcpScenario(endpoint: string, print: McpPrinter, options: { timeoutSeconds: number; onRequest?: (actionId: string, tool: string) => void }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-demo-mcp-'));
  const config = join(dir, 'gateway.json');
  writeFileSync(config, JSON.stringify({
    agentId: 'billing-agent',
    countersign: { local: endpoint },
    upstreams: { filesystem: { command: process.execPath, args: ['--import', 'tsx', join(REPO_ROOT, 'scripts/mcp-example-server.ts')], cwd: REPO_ROOT, environment: 'prod' } },
    defaults: { waitSeconds: options.timeoutSeconds, progressEverySeconds: 30 },
  }, null, 2));
  const client = new Client({ name: 'countersign-demo', version: '1.0.0' });
  try {
    await client.connect(new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', join(REPO_ROOT, 'mcp/main.ts'), '--config', config], cwd: REPO_ROOT, stderr: 'ignore' }));
    const { tools } = await client.listTools();
    print('..', 'sent', `countersign-mcp lists ${tools.map((t) => t.name).join(', ')}`);
    await Promise.all(CALLS.map(async (call) => {
      print('->', '', `billing-agent calls MCP tool ${call.name} ${JSON.stringify(call.arguments)}`);
      let said = '';
      const result = await client.callTool(call, undefined, {
        timeout: (options.timeoutSeconds + 30) * 1000,
        resetTimeoutOnProgress: true,
        onprogress: (progress) => {
          const message = progress.message ?? '';
          const sent = /sent to Countersign as request (\S+)/.exec(message);
          if (sent?.[1] !== undefined) options.onRequest?.(sent[1], call.name);
          if (message.startsWith('waiting for approval') && said === '') {
            said = message;
            print('..', 'pending', `${call.name}: ${message}`);
            print('..', 'waiting', `open ${endpoint}/slack, channel #approvals-data-owners, act as bob and tap Approve (alice owns billing-agent)`);
          }
        },
      }) as CallToolResult;
      if (result.isError === true) print('<=', 'refused', `${call.name}: ${textOf(result)}`);
      else print('<=', 'ran', `${call.name}: ${textOf(result)}`);
    }));
  } finally {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
