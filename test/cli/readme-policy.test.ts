import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { readmeBlock } from './readme.js';

/**
 * The README's "Write and test a policy", done as written on a copy of policies/: add the policy,
 * watch `npm run policies:check` fail on the case it changes, replace the case, watch it pass.
 */

const dir = mkdtempSync(join(tmpdir(), 'countersign-policies-'));
cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = () => spawnSync('npm', ['run', '--silent', 'policies:check', '--', '--dir', dir], { cwd: REPO_ROOT, encoding: 'utf8' });

interface PolicyCase {
  name: string;
  request: { action: string; environment: string };
}

describe("the README's policy change", () => {
  it('fails the case it changes, naming what it expected and what it got', () => {
    const policy = readmeBlock('cedar', 'so that exports from `staging` also need a data owner');
    expect(policy).toContain('@id("db-export-staging-needs-data-owners")');
    writeFileSync(join(dir, 'staging-exports.cedar'), policy);
    const result = check();
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('✗ db.export in staging is allowed');
    expect(result.stdout).toContain('actual:   approval, approvers data-owners, quorum 1, timeout PT2H');
    expect(result.stdout).toMatch(/\d+ cases: \d+ passed, 1 failed/);
  });

  it('passes once the case says what is now expected', () => {
    const replacement = JSON.parse(readmeBlock('json', 'replace that case with')) as PolicyCase;
    const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as PolicyCase[];
    const index = cases.findIndex((c) => c.name === 'db.export in staging is allowed');
    expect(index).toBeGreaterThanOrEqual(0);
    cases[index] = replacement;
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases, null, 2));
    const result = check();
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('✓ db.export in staging needs a data owner');
    expect(result.stdout).toMatch(/(\d+) cases: \1 passed, 0 failed/);
  });
});
