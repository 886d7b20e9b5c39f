import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { readmeBlock } from './readme.js';

/**
 * The README's "Try it locally" path, run as a newcomer runs it: `npm start` in one process, the
 * README's own `try.mjs` and `curl` lines in others, then Ctrl-C and the audit commands. The README
 * text is the script: change a command there and this test runs the new one.
 */

const README_URL = 'http://127.0.0.1:4010';
const dataDir = mkdtempSync(join(tmpdir(), 'countersign-readme-'));
const scratch = join(REPO_ROOT, 'test-results');
let start: ChildProcess | undefined;
let output = '';
let url = '';
let exited: Promise<number | null> = Promise.resolve(null);

function waitForOutput(pattern: RegExp, what: string, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const match = pattern.exec(output);
      if (match !== null) {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve(match);
      }
    };
    const timer = setInterval(check, 100);
    const deadline = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`npm start never printed ${what}; it printed:\n${output}`));
    }, timeoutMs);
    check();
  });
}

function run(command: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, input, timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `npm run audit -- …` exactly as the README writes it, on this test's audit folder. */
function audit(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return run('npm', ['run', '--silent', 'audit', '--', ...args, '--dir', join(dataDir, 'audit-bucket')]);
}

beforeAll(async () => {
  mkdirSync(scratch, { recursive: true });
  // detached: its own process group, so the test can press Ctrl-C on the whole group as a terminal does.
  // The README's options, pointed at a free port (PORT=0) and a folder of this test's own.
  start = spawn('npm', ['start', '--', '--fresh', '--data-dir', dataDir, '--time-scale', '2'], {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: 'true', PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  start.stdout?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  start.stderr?.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  const child = start;
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const [, found] = await waitForOutput(/bus endpoint\s+(http:\/\/127\.0\.0\.1:\d+)/, 'its banner');
  url = found ?? '';
  await waitForOutput(/Ctrl-C to stop/, 'the end of its banner');
}, 120_000);

afterAll(() => {
  if (start?.pid !== undefined && start.exitCode === null) {
    try {
      process.kill(-start.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the README, followed step by step', () => {
  let actionId = '';

  it('npm start prints the short banner: where the bus, Slack, the decision API and the audit log are, and how to stop', () => {
    expect(output).toContain('Countersign local stack is up');
    for (const line of ['bus endpoint', 'Slack ', 'decision API', 'audit ', 'Ctrl-C to stop']) expect(output).toContain(line);
    expect(output).toContain(`${url}/slack`);
    expect(output).toContain(`${url}/audit`);
    expect(output).toContain(`npm run demo -- --endpoint ${url}`);
    expect(output).not.toMatch(/\u001b\[/); // plain text with CI=true
  });

  it("the README's try.mjs sends an export and gets pending", () => {
    const script = readmeBlock('js', 'save as `try.mjs`');
    expect(script).toContain(README_URL);
    const file = join(scratch, `readme-try-${process.pid}.mjs`);
    writeFileSync(file, script.replaceAll(README_URL, url));
    const result = run('node', [file]);
    rmSync(file, { force: true });
    expect(result.stderr).not.toMatch(/Error/);
    expect(result.stdout).toMatch(/EventId: '[0-9a-f-]+'/);
    expect(result.stdout).toContain("outcome: 'pending'");
    actionId = /actionId: '(export-\d+)'/.exec(result.stdout)?.[1] ?? '';
    expect(actionId).not.toBe('');
  });

  it("the README's curl line approves it as bob", async () => {
    // As a reviewer would: once the review is posted (the votes API refuses votes until it is open).
    await waitForOutput(new RegExp(`review\\s+${actionId}\\s+posted`), `the review of ${actionId} posted`);
    const curl = readmeBlock('sh', 'curl -X POST');
    expect(curl).toContain(`${README_URL}/actions/<actionId>/votes`);
    const result = run('bash', ['-c', curl.replaceAll(README_URL, url).replaceAll('<actionId>', actionId)]);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'approved' });
    const decision = await (await fetch(`${url}/actions/${actionId}`)).json() as { outcome: string; reviewers: Array<{ id: string }> };
    expect(decision.outcome).toBe('approved');
    expect(decision.reviewers.map((r) => r.id)).toEqual(['bob']);
  });

  it("the README's agent client example runs its guarded query", () => {
    const example = readmeBlock('ts', "import { localAgentClient } from './client/index.js';");
    expect(example).toContain("localAgentClient('billing-agent')");
    // Saved outside the repository, with its `./client/index.js` import pointed at this repository's client.
    const file = join(dataDir, 'readme-agent.mts'); // .mts: an ES module, outside the repository's package.json
    const client = pathToFileURL(join(REPO_ROOT, 'client', 'index.ts')).href;
    writeFileSync(file, example
      .replace("from './client/index.js'", `from '${client}'`)
      .replace("localAgentClient('billing-agent')", `localAgentClient('billing-agent', '${url}')`));
    try {
      const result = run('npx', ['tsx', file]);
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^allowed \(payload [0-9a-f]{8}…\): running SELECT count\(\*\) FROM customers$/m);
      expect(result.stdout.trim().split('\n').at(-1)).toBe('42');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('npm start printed one line per step of the request, up to audited', async () => {
    const steps = ['requested', 'decided', 'review', 'vote', 'outcome', 'audited'];
    await waitForOutput(new RegExp(`audited\\s+${actionId}\\s.*outcome`), `the audited line with the outcome of ${actionId}`);
    const lines = output.split('\n').filter((line) => line.includes(actionId));
    const at = (step: string) => lines.findIndex((line) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${step}`).test(line));
    for (const step of steps) expect(at(step), `a "${step}" line for ${actionId} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
    // In the order they happened: the vote before the outcome it led to.
    expect(at('requested')).toBeLessThan(at('decided'));
    expect(at('decided')).toBeLessThan(at('review'));
    expect(at('vote'), lines.join('\n')).toBeLessThan(at('outcome'));
    expect(lines.some((line) => /^\d\d:\d\d:\d\d vote +\S+ +bob: approve, counted; closes it: approved$/.test(line)), lines.join('\n')).toBe(true);
  });

  it('Ctrl-C stops everything, DynamoDB Local included, and signs a last digest', async () => {
    if (start?.pid === undefined) throw new Error('npm start did not run');
    process.kill(-start.pid, 'SIGINT');
    await exited;
    expect(output).toContain('stopped');
    expect(output).toMatch(/digest\s+audit\s+signed digests\//);
    const left = run('pgrep', ['-f', dataDir]);
    expect(left.stdout.trim()).toBe('');
  });

  it('npm run audit -- verify proves the log whole, and the saved queries answer who asked and who approved', () => {
    const verify = audit(['verify']);
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/verified: .* no problems/);

    const queries = run('npm', ['run', '--silent', 'audit', '--', 'queries']);
    expect(queries.status).toBe(0);
    expect(queries.stdout).toContain('who-approved');

    const byAgent = audit(['query', '--saved', 'actions-by-agent']);
    expect(byAgent.status, byAgent.stderr).toBe(0);
    expect(byAgent.stdout).toContain(actionId);

    const approved = audit(['query', '--saved', 'who-approved', '--param', `action_id=${actionId}`]);
    expect(approved.status, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('bob');

    const refused = audit(['query', '--saved', 'refused-votes', '--csv']);
    expect(refused.status, refused.stderr).toBe(0);
    expect(refused.stdout.split('\n')[0]).toMatch(/,/);

    const sql = audit(['query', 'SELECT event_type, count(*) AS n FROM audit_events GROUP BY 1 ORDER BY 1', '--json']);
    expect(sql.status, sql.stderr).toBe(0);
    const rows = JSON.parse(sql.stdout) as Array<{ event_type: string; n: number }>;
    expect(rows.map((row) => row.event_type)).toEqual(expect.arrayContaining(['requested', 'decided', 'vote', 'outcome']));
  });

  it('npm start -- --help prints the usage and what each option does; a mistyped option is one line and exit 1', () => {
    const help = run('npm', ['start', '--silent', '--', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: npm start [-- --fresh] [-- --port N] [-- --time-scale N] [-- --data-dir DIR]');
    for (const option of ['--fresh', '--port N', '--time-scale N', '--data-dir DIR', '--help, -h']) {
      expect(help.stdout, help.stdout).toMatch(new RegExp(`^  ${option.replace(/[-,]/g, '\\$&')} +\\S`, 'm'));
    }
    const wrong = run('npm', ['start', '--silent', '--', '--frseh']);
    expect(wrong.status).toBe(1);
    expect(wrong.stdout.trim()).toMatch(/^error: Unknown option '--frseh'.*usage: npm start/);
    expect(wrong.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('keeps the data where --data-dir said', () => {
    expect(readFileSync(join(dataDir, 'audit-bucket', 'digests', 'public-key.pem'), 'utf8')).toContain('PUBLIC KEY');
  });
});
