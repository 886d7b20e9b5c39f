import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { parseGatewayConfig } from '../../mcp/config.js';
import { planToolCall } from '../../mcp/mapping.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { readmeBlock } from './readme.js';

/**
 * The README's "Agents that speak MCP" says what the code does: its config file is one the gateway
 * accepts and maps as the table says, the host snippet starts the bin that exists, and its policy for a
 * tool validates against the shipped schema and decides as the text says.
 */

const root = mkdtempSync(join(tmpdir(), 'countersign-readme-mcp-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the README's MCP gateway section", () => {
  it('shows a config file the gateway accepts, with the rule it describes', () => {
    const config = parseGatewayConfig(JSON.parse(readmeBlock('json', 'Save its configuration as `gateway.json`')), 'gateway.json');
    expect(Object.keys(config.upstreams)).toEqual(['filesystem', 'github', 'warehouse']);
    expect(planToolCall(config, 'warehouse', 'run_query', { database: 'orders', sql: 'select 1' })).toMatchObject({ ok: true, plan: { spec: { action: 'db.query', resource: { type: 'Database', id: 'orders' }, environment: 'staging' } } });
    expect(planToolCall(config, 'github', 'create_issue', { title: 'x' })).toMatchObject({ ok: true, plan: { mode: 'defer', spec: { action: 'mcp.call', resource: { type: 'McpTool', id: 'github/create_issue' } } } });
  });

  it('starts the countersign-mcp bin from the host snippet', () => {
    const snippet = JSON.parse(readmeBlock('json', "Claude Code's `.mcp.json`")) as { mcpServers: Record<string, { command: string; args: string[] }> };
    const server = snippet.mcpServers.countersign;
    expect(server?.command).toBe('node');
    expect(server?.args[0]).toMatch(/\/bin\/countersign-mcp\.js$/);
    expect(existsSync(join(REPO_ROOT, 'bin', 'countersign-mcp.js'))).toBe(true);
    expect(server?.args.slice(1, 2)).toEqual(['--config']);
  });

  it('writes a policy for a tool that validates and decides as it says', () => {
    const dir = join(root, 'policies');
    cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    writeFileSync(join(dir, 'github.cedar'), readmeBlock('cedar', 'A policy for a GitHub server'));
    const engine = new CedarPolicyEngine({ policyDir: dir });
    const call = (tool: string, environment = 'prod') => engine.decide({
      specVersion: '1', actionId: `readme-${tool}`, agent: { id: 'billing-agent' }, action: 'mcp.call',
      resource: { type: 'McpTool', id: `github/${tool}` }, environment, parameters: {}, justification: 'readme',
    });
    expect(call('create_issue').kind).toBe('allow');
    expect(call('merge_pull_request')).toMatchObject({ kind: 'approval', approval: { approvers: 'platform', quorum: 1 } });
    expect(call('merge_pull_request', 'dev').kind).toBe('deny');
    expect(call('delete_repository').kind).toBe('deny');
  });
});
