import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../local/log.js';
import { REPO_ROOT, startLocalStack, type LocalStack } from '../../local/local-stack.js';

/**
 * `npm run smoke` against the local stack, run as the README writes it with the local endpoint overrides:
 * a real request through the bus and the decision API, the audit writer's records, and verify.
 */

const run = promisify(execFile);
const log = memoryLogger();
let dataDir: string;
let stack: LocalStack;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'countersign-smoke-'));
  stack = await startLocalStack({ port: 0, dataDir, log, timeScale: 600 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function smoke(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('npm', ['run', '--silent', 'smoke', '--', ...args], { cwd: REPO_ROOT, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('npm run smoke -- --endpoint (the local stack)', () => {
  it('passes every check: a request allowed end to end, its records in the audit log, the log verified', async () => {
    const result = await smoke(['--endpoint', stack.url, '--audit-dir', stack.auditDir!, '--key-dir', join(dataDir, 'keys'), '--agent', 'billing-agent', '--timeout', '60']);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toBe('○ bus policy: the local bus has no resource policy');
    expect(lines[1]).toMatch(/^✓ request: smoke-\d+-\w+ sent as agent\.billing-agent, allowed by db-query$/);
    expect(lines[2]).toMatch(/^✓ audit records: (requested, decided|decided, requested)\b.* of smoke-/);
    expect(lines[3]).toMatch(/^✓ verify: \d+ object\(s\), \d+ record\(s\) since .* whole;/);
    expect(lines).toHaveLength(4);
    expect(result.code).toBe(0);
  }, 150_000);

  it('fails the request check, with what to fix, for an agent the bus refuses, and exits 1', async () => {
    // The local bus checks the agent id's format as the contract does: "Bad Agent" is no agent id.
    const result = await smoke(['--endpoint', stack.url, '--audit-dir', stack.auditDir!, '--key-dir', join(dataDir, 'keys'), '--agent', 'Bad Agent', '--timeout', '10']);
    expect(result.stdout).toMatch(/^✗ request: .*the agent's role needs events:PutEvents with events:source agent\.Bad Agent/m);
    expect(result.stdout).not.toMatch(/audit records|verify/);
    expect(result.code).toBe(1);
  }, 60_000);

  it('refuses unusable arguments with the usage and exit 2', async () => {
    const result = await smoke(['--endpoint', stack.url]);
    expect(result.stderr).toMatch(/^smoke: the local stack needs --audit-dir and --key-dir/);
    expect(result.code).toBe(2);
  }, 60_000);
});
