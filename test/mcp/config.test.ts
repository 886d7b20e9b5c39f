import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { GatewayConfigError, parseGatewayConfig } from '../../mcp/config.js';
import { namespacedName, planToolCall, splitNamespacedName, toolPatternMatches } from '../../mcp/mapping.js';
import { GATEWAY_ARGS } from './support.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'countersign-mcp-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALID = {
  agentId: 'billing-agent',
  countersign: { local: 'http://127.0.0.1:4010' },
  upstreams: {
    filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv'], environment: 'prod' },
    tickets: { url: 'https://tickets.example.com/mcp', environment: 'staging', mode: 'defer' },
  },
  rules: [{ tool: 'db/run_query', action: 'db.query', resource: { type: 'Database', idFrom: 'database' } }],
};

function problemsOf(json: unknown): string[] {
  try {
    parseGatewayConfig(json, 'gateway.json');
  } catch (error) {
    if (error instanceof GatewayConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('the gateway configuration', () => {
  it('accepts a stdio and an HTTP upstream, in AWS or locally', () => {
    const withDb = { ...VALID, upstreams: { ...VALID.upstreams, db: { url: 'http://127.0.0.1:9000/mcp', environment: 'prod' } } };
    expect(problemsOf(withDb)).toEqual([]);
    expect(problemsOf({ ...withDb, countersign: { decisionApiUrl: 'https://abc.lambda-url.eu-west-1.on.aws/', eventBusName: 'countersign', region: 'eu-west-1' } })).toEqual([]);
  });

  it('names every problem on its own line, by field', () => {
    const problems = problemsOf({
      agentId: 'Billing Agent',
      countersign: { local: 'not a url' },
      upstreams: {
        'file__system': { command: 'x', environment: 'prod' },
        github: { command: 'npx', environment: 'Prod', mode: 'later', shell: true },
        web: { url: 'ftp://example.com', environment: 'dev' },
        nothing: { environment: 'dev' },
      },
      rules: [{ tool: 'jira/*', action: 'Jira' }],
      extra: 1,
    });
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^agentId: must be 1-64 characters/),
      expect.stringMatching(/^countersign\.local: must be the local stack's URL/),
      expect.stringMatching(/^upstreams\.file__system: upstream names must be .* \(no "__"/),
      expect.stringMatching(/^upstreams\.github\.environment: must be 1-32 characters/),
      expect.stringMatching(/^upstreams\.github\.mode: must be "wait" .* or "defer"/),
      expect.stringMatching(/^upstreams\.github: unknown field "shell"/),
      expect.stringMatching(/^upstreams\.web\.url: must be an http\(s\) URL/),
      expect.stringMatching(/^upstreams\.nothing: must have either "command" .* or "url"/),
      expect.stringMatching(/^rules\.0\.action: must be a dotted lower-case verb/),
      expect.stringMatching(/^\(the file\): unknown field "extra"/),
    ]));
    expect(problems).toHaveLength(10);
  });

  it('refuses a rule for an upstream the file does not name', () => {
    expect(problemsOf({ ...VALID, rules: [{ tool: 'jira/create_issue' }] })).toEqual([expect.stringMatching(/^rules\.0\.tool: "jira" is not an upstream in "upstreams" \(filesystem, tickets\)/)]);
  });

  it('stops the gateway at start, one line per problem, exit code 2', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ agentId: 'billing-agent', countersign: { local: 'http://127.0.0.1:4010' }, upstreams: { fs: { command: 'x' } }, defaults: { waitSeconds: 0 } }));
    const failed = await exec(process.execPath, [...GATEWAY_ARGS, '--config', file], { cwd: REPO_ROOT, timeout: 30_000 }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failed?.code).toBe(2);
    const lines = (failed?.stderr ?? '').split('\n').filter((line) => line.startsWith('  '));
    expect(lines).toEqual([
      '  upstreams.fs.environment: is required: the environment this server\'s tools act on, e.g. "prod"',
      '  defaults.waitSeconds: must be at least 1',
    ]);
    expect(failed?.stderr).toContain(`${file}: 2 problems:`);
  });

  it('stops the gateway at start when an upstream cannot be started, exit code 1', async () => {
    const file = join(dir, 'missing-upstream.json');
    writeFileSync(file, JSON.stringify({ agentId: 'billing-agent', countersign: { local: 'http://127.0.0.1:4010' }, upstreams: { fs: { command: 'countersign-no-such-command', environment: 'prod' } } }));
    const failed = await exec(process.execPath, [...GATEWAY_ARGS, '--config', file], { cwd: REPO_ROOT, timeout: 30_000 }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/upstream "fs" \(command "countersign-no-such-command"\) could not be connected: .*ENOENT/);
  });
});

describe('the mapping of a tool call to a request', () => {
  const config = parseGatewayConfig({ ...VALID, upstreams: { ...VALID.upstreams, db: { url: 'http://127.0.0.1:9000/mcp', environment: 'prod', waitSeconds: 60 } } }, 'gateway.json');

  it('names tools <server>__<tool> and splits them back at the first separator', () => {
    expect(namespacedName('filesystem', 'read_file')).toBe('filesystem__read_file');
    expect(splitNamespacedName('filesystem__read__file')).toEqual({ server: 'filesystem', tool: 'read__file' });
    expect(splitNamespacedName('read_file')).toBeUndefined();
  });

  it('by default: mcp.call on McpTool::"S/T", in the upstream\'s environment, with the arguments as parameters', () => {
    const planned = planToolCall(config, 'filesystem', 'write_file', { path: '/srv/a', content: 'b' }, { name: 'claude-code', version: '2.0' });
    expect(planned).toMatchObject({ ok: true, plan: { mode: 'wait', waitSeconds: 300, spec: {
      action: 'mcp.call',
      resource: { type: 'McpTool', id: 'filesystem/write_file' },
      environment: 'prod',
      parameters: { path: '/srv/a', content: 'b' },
      context: { mcp: { server: 'filesystem', tool: 'write_file', client: 'claude-code 2.0' } },
    } } });
  });

  it('a rule maps a tool to a richer request, its resource id from an argument; mode and wait come from the upstream', () => {
    const planned = planToolCall(config, 'db', 'run_query', { database: 'orders', sql: 'select 1' });
    expect(planned).toMatchObject({ ok: true, plan: { ruleIndex: 0, mode: 'wait', waitSeconds: 60, spec: { action: 'db.query', resource: { type: 'Database', id: 'orders' } } } });
    expect(planToolCall(config, 'tickets', 'create', {})).toMatchObject({ ok: true, plan: { mode: 'defer' } });
  });

  it('says what is missing when the rule\'s argument is not there', () => {
    expect(planToolCall(config, 'db', 'run_query', { sql: 'select 1' })).toEqual({ ok: false, problem: expect.stringMatching(/takes the Database id from the argument "database", which this call does not give/) });
  });

  it('matches patterns with * only', () => {
    expect(toolPatternMatches('db/*', 'db/run_query')).toBe(true);
    expect(toolPatternMatches('*/delete_*', 'files/delete_file')).toBe(true);
    expect(toolPatternMatches('db/run.query', 'db/run_query')).toBe(false);
  });
});
