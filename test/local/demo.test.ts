import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAgentClient, type AgentClient } from '../../client/index.js';
import { freePort } from '../../local/dynamodb-local.js';
import { memoryLogger } from '../../local/log.js';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/local-stack.js';
import { runDemo, type ScenarioName } from '../../scripts/demo.js';
import { validateActionRequested } from '../../shared/domain/contract.js';
import { readmeBlock } from '../cli/readme.js';
import { eventually } from './support.js';

/**
 * `npm run demo` against the whole local stack: the demo agent plays every scenario at once while
 * this test votes through the votes API as the README's reviewers would in Slack (bob for the
 * export; dan and erin for the IAM change; dan for the 3 a.m. admin password reset). Workflow time
 * runs at the real pace, so nothing expires while the test votes.
 */

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const run = promisify(execFile);

const VOTERS: Partial<Record<ScenarioName, string[]>> = {
  export: ['bob'],
  iam: ['dan', 'erin'],
};
/** The scenario approved in Teams (its hint says so), by dan's Entra ID object id. */
const TEAMS_VOTERS: Partial<Record<ScenarioName, string>> = { password: '00000000-0000-4000-8000-000000000da0' };

let dataDir: string;
let stack: LocalStack;
const clients: AgentClient[] = [];

/** Votes approve; the decision API says pending a moment before the workflow opens the review, so ReviewNotOpen is retried. */
async function vote(actionId: string, reviewer: string): Promise<number> {
  return eventually(async () => {
    const response = await fetch(`${stack.url}/actions/${encodeURIComponent(actionId)}/votes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-countersign-reviewer': reviewer },
      body: JSON.stringify({ vote: 'approve', comment: 'checked in the demo test' }),
    });
    const body = await response.json() as { error?: string };
    // The MCP scenario names its request as the gateway sends it, before intake has recorded it: wait for
    // the request as for its review.
    return body.error === 'ReviewNotOpen' || body.error === 'ActionNotFound' ? undefined : response.status;
  }, `the review of ${actionId} to open for ${reviewer}`, 20_000);
}

/** Taps Approve on the request's card in the Teams emulator, as the /teams page does; answers the bot's HTTP status. */
async function voteInTeams(actionId: string, aadObjectId: string): Promise<number> {
  const thread = await eventually(() => stack.teams.allThreads().find((t) => JSON.stringify(t.root).includes(actionId)), `the Teams card of ${actionId}`, 20_000);
  const card = (thread.root.attachments[0] as { content: { actions: Array<{ data?: { reviewId?: string } }> } }).content;
  const response = await fetch(`${stack.url}/teams/act`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: aadObjectId, conversationId: thread.conversationId, verb: 'approve', data: { reviewId: card.actions[0]?.data?.reviewId } }),
  });
  const body = await response.json() as { status: number; card?: unknown };
  return JSON.stringify(body.card).includes('Your approval counted') ? body.status : 500;
}

/** An npm command's exit code and output; never throws on a non-zero exit. */
async function outcomeOf(running: Promise<{ stdout: string; stderr: string }>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await running;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const CLI_OPTIONS = { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 50_000, encoding: 'utf8' as const };

/** Runs the demo CLI as a person would. */
async function demoCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return outcomeOf(run('npm', ['run', '--silent', 'demo', '--', ...args], CLI_OPTIONS));
}

/** Runs another npm command as a person would. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return outcomeOf(run('npm', args, CLI_OPTIONS));
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-demo-'));
  stack = await startLocalStack({ port: 0, dataDir, log: memoryLogger(), timeScale: 1 });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('plays every scenario to its outcome while reviewers vote', async () => {
    const lines: string[] = [];
    const votes: Promise<number>[] = [];
    const code = await runDemo({
      endpoint: stack.url,
      timeoutSeconds: 40,
      write: (line) => lines.push(line),
      writeError: (line) => lines.push(`stderr: ${line}`),
      onPending: (scenario, pending) => {
        // One after the other: the IAM change needs two distinct reviewers.
        votes.push((async () => {
          let last = 200;
          for (const reviewer of VOTERS[scenario] ?? []) last = Math.max(last, await vote(pending.actionId, reviewer));
          const teamsVoter = TEAMS_VOTERS[scenario];
          if (teamsVoter !== undefined) {
            last = Math.max(last, await voteInTeams(pending.actionId, teamsVoter));
            // The same review in the group's Slack channel shows the outcome too.
            await eventually(() => stack.slack.workspace.messages('C0SECURITY').find((m) => JSON.stringify(m.blocks ?? []).includes(pending.actionId) && m.edited !== undefined && !JSON.stringify(m.blocks ?? []).includes('"action_id":"approve"')), `the Slack message of ${pending.actionId} to show the outcome`, 20_000);
          }
          return last;
        })());
      },
    });
    const output = lines.join('\n');
    expect(await Promise.all(votes), output).toEqual([200, 200, 200]);
    expect(code, output).toBe(0);

    for (const scenario of ['query', 'export', 'iam', 'password', 'delete-audit', 'malformed']) {
      expect(lines.some((line) => line.startsWith(`-> ${scenario} `)), `header of ${scenario}\n${output}`).toBe(true);
    }
    const outcome = (scenario: string) => lines.find((line) => new RegExp(`^<= ${scenario}\\s`).test(line));
    expect(outcome('query')).toMatch(/^<= query\s+allowed\s+by policy db-query: running it/);
    expect(outcome('export')).toMatch(/^<= export\s+approved\s+by bob: running it \(payload [0-9a-f]{8}…\)$/);
    expect(outcome('iam')).toMatch(/^<= iam\s+approved\s+by dan and erin: running it/);
    expect(outcome('password')).toMatch(/^<= password\s+approved\s+by dan: running it/);
    expect(outcome('delete-audit')).toMatch(/^<= delete-audit\s+denied\s+forbidden by polic/);
    expect(lines.some((line) => /^\s+export\s+ran\s+exported customers as csv/.test(line)), output).toBe(true);
    // The approved export ran through guard, which reported it; the demo reads the execution back, then
    // the agent reports a second run with other parameters: a violation, recorded and alerted.
    expect(lines.some((line) => /^\s+export\s+reported\s+Action Executed: succeeded/.test(line)), output).toBe(true);
    expect(lines.find((line) => /^<= export\s+recorded/.test(line)), output).toMatch(/^<= export\s+recorded\s+executed by billing-agent at \S+Z \([\d.]+ s\), succeeded: exported customers as csv/);
    expect(lines.some((line) => /^-> export\s+billing-agent reports running it again on customers_with_cards/.test(line)), output).toBe(true);
    expect(lines.find((line) => /^<= export\s+violation/.test(line)), output).toMatch(/^<= export\s+violation\s+recorded, and alerted in #approvals-data-owners: Execution violation \[payload_mismatch\]: agent billing-agent reported executing billing-agent-/);
    expect(lines.some((line) => /^\s+query\s+reported\s+Action Executed: succeeded/.test(line)), output).toBe(true);
    expect(lines.some((line) => /^\.\. export\s+waiting\s+open .*\/slack, channel #approvals-data-owners, act as bob and tap Approve/.test(line)), output).toBe(true);

    // The client refused the malformed request with the very reason the server then recorded.
    const refused = /^\.\. malformed\s+refused\s+the client refuses to send it: (.+)$/.exec(lines.find((line) => line.startsWith('.. malformed') && line.includes('refused')) ?? '')?.[1];
    const invalid = /^<= malformed\s+invalid\s+(.+) \(the same reason the client gave\)$/.exec(outcome('malformed') ?? '')?.[1];
    expect(refused, output).toBeDefined();
    expect(invalid, output).toBe(refused);
  });

  it("replays the demo's history against the README's policy changes, and shows the shipped shadow rule's divergence in shadow-diff", async () => {
    // The README's walkthrough on a copy of policies/: first its staging change, then the shadow rule promoted.
    const dir = join(dataDir, 'candidate-policies');
    cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    writeFileSync(join(dir, 'staging-exports.cedar'), readmeBlock('cedar', 'so that exports from `staging` also need a data owner'));
    const replay = async (...extra: string[]) => cli(['run', '--silent', 'policies:replay', '--', '--dir', dir, '--from', '24h', '--log', stack.auditDir!, ...extra]);
    // The audit writer follows the table's stream: wait until the log holds the demo's six requests.
    await eventually(async () => {
      const report = JSON.parse((await replay('--json')).stdout) as { requests: number; problems: unknown[] };
      return report.requests === 6 && report.problems.length === 0 ? report : undefined;
    }, "the demo's six requests and their decisions in the audit log", 30_000);

    const unchanged = await replay();
    expect(unchanged.code, unchanged.stdout + unchanged.stderr).toBe(0);
    expect(unchanged.stdout).toMatch(/^Replayed 5 of 6 requests in .+: 0 would change, 5 would not; 1 refused by the contract \(no policy saw them\)\.$/m);

    const promote = readmeBlock('sh', 'cp policies/shadow/customer-queries.cedar policies/').split('\n')[0]!;
    expect(promote).toBe('cp policies/shadow/customer-queries.cedar policies/');
    cpSync(join(dir, 'shadow', 'customer-queries.cedar'), join(dir, 'customer-queries.cedar'));
    const changed = await replay();
    expect(changed.code, changed.stdout + changed.stderr).toBe(1);
    expect(changed.stdout).toMatch(/^Replayed 5 of 6 requests in .+: 1 would change, 4 would not; 1 refused by the contract \(no policy saw them\)\.$/m);
    // The README's expected diff, line for line, with the demo's own actionId in place of <actionId>.
    const expected = readmeBlock('text', 'would now wait for a data owner').trimEnd().split('\n');
    const queryId = /^(billing-agent-\S+)\s+billing-agent\s+db\.query/m.exec(changed.stdout)?.[1];
    expect(queryId, changed.stdout).toBeDefined();
    // Whitespace and the rule under the header (its width follows the actionId) aside.
    const normalise = (lines: string[]) => lines.map((line) => line.replace(/\s+/g, ' ').trim()).filter((line) => !/^[- ]+$/.test(line));
    expect(normalise(changed.stdout.trimEnd().split('\n').slice(2))).toEqual(normalise(expected.map((line) => line.replace('<actionId>', queryId!))));

    // The shipped shadow set saw the same thing live: shadow-diff lists the query, allowed vs needs approval.
    const diff = await cli(['run', '--silent', 'audit', '--', 'query', '--saved', 'shadow-diff', '--dir', stack.auditDir!, '--json']);
    expect(diff.code, diff.stderr).toBe(0);
    const rows = JSON.parse(diff.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => [r.action_id, r.outcome, r.shadow_outcome, r.shadow_policy_ids])).toEqual([[queryId, 'allowed', 'pending', ['db-query-customers-prod-needs-data-owners', 'db-query']]]);
  });

  it('plays the MCP scenario when named: an MCP client through countersign-mcp, bob approving the write', async () => {
    const lines: string[] = [];
    const votes: Promise<number>[] = [];
    const code = await runDemo({
      endpoint: stack.url,
      only: ['mcp'],
      timeoutSeconds: 40,
      write: (line) => lines.push(line),
      writeError: (line) => lines.push(`stderr: ${line}`),
      onMcpRequest: (actionId, tool) => {
        // bob votes once the demo has said the call waits for approval, as a person reading it would: voting
        // at once could approve it before the gateway's first look, and the waiting line would never come.
        if (tool !== 'filesystem__write_file') return;
        votes.push(eventually(() => (lines.some((line) => /^\.\. mcp\s+pending\s+filesystem__write_file/.test(line)) ? true : undefined), 'the demo to say the write waits for approval', 30_000)
          .then(() => vote(actionId, 'bob')));
      },
    });
    const output = lines.join('\n');
    expect(code, output).toBe(0);
    expect(await Promise.all(votes)).toEqual([200]);
    expect(output).toMatch(/^<= mcp\s+ran\s+filesystem__read_file: quarterly notes: revenue up$/m);
    expect(output).toMatch(/^\.\. mcp\s+pending\s+filesystem__write_file: waiting for approval: needs 1 approval from data-owners/m);
    expect(output).toMatch(/^<= mcp\s+ran\s+filesystem__write_file: wrote 17 characters to \/srv\/q3-summary\.txt$/m);
    expect(output).toMatch(/^<= mcp\s+refused\s+filesystem__delete_file: Countersign denied this call: no policy permits mcp\.call/m);
  });

  it('exits 0 from the command line when its scenarios reach an outcome', async () => {
    const result = await demoCli(['--endpoint', stack.url, '--only', 'query,delete-audit']);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^<= query\s+allowed/m);
    expect(result.stdout).toMatch(/^<= delete-audit\s+denied/m);
    expect(result.stdout).not.toContain('\u001b[');
  });

  it('says in one line to run npm start, and exits 1, when no stack answers', async () => {
    const port = await freePort();
    const result = await demoCli(['--endpoint', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(`cannot reach the Countersign local stack at http://127.0.0.1:${port} (connection refused): is \`npm start\` running? (or pass --endpoint URL)`);
  });

  it('prints its usage for --help, and exits 2 on a bad argument', async () => {
    const help = await demoCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: npm run demo');
    const bad = await demoCli(['--only', 'query,nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('--only: unknown scenario "nope"; the scenarios are query, export, iam, password, delete-audit, malformed, mcp (npm run demo -- --help)');
  });
});

describe('what only the server can tell', () => {
  // The client runs the contract checks (validateActionRequested) before sending. Whether the policy
  // schema knows the verb and the environment is the server's to say: such a request passes the
  // client and comes back `invalid`, with the server's reason, as a decision (not an exception).
  it.each([
    ['an environment the schema does not know', { environment: 'production', action: 'db.query' }, 'environment: "production" is not an environment the policy schema knows'],
    ['a verb the schema does not know', { environment: 'prod', action: 'db.explode' }, 'db.explode'],
  ])('%s passes the client and is answered invalid', async (_name, change, reason) => {
    const client = localAgentClient('billing-agent', stack.url, { pollIntervalMs: { initial: 50, max: 500 }, waitTimeoutMs: 30_000 });
    clients.push(client);
    const spec = { resource: { type: 'Database', id: 'customers' }, parameters: { sql: 'SELECT 1' }, justification: 'schema check', ...change };
    expect(validateActionRequested({ specVersion: '1', actionId: 'x', agent: { id: 'billing-agent' }, ...spec }).ok).toBe(true);
    const decision = await client.requestAction(spec);
    expect(decision.outcome).toBe('invalid');
    expect(decision.reason).toContain(reason);
  });
});
