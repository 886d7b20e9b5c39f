import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { readmeBlock } from './readme.js';

/**
 * The README's "Write and test a policy", done as written on a copy of policies/: add the policy,
 * watch `npm run policies:check` fail on the case it changes, replace the case, watch it pass, then
 * put the shipped policies back with the README's own commands. The copy sits in a git repository of
 * its own, as policies/ sits in the checkout.
 */

const root = mkdtempSync(join(tmpdir(), 'countersign-policies-'));
const dir = join(root, 'policies');
cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
const git = (...args: string[]) => spawnSync('git', ['-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd: root, encoding: 'utf8' });
git('init', '-q');
git('add', '.');
git('commit', '-qm', 'the shipped policies');
afterAll(() => rmSync(root, { recursive: true, force: true }));

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

  it("the README's revert puts the shipped policies back, byte for byte", () => {
    const revert = readmeBlock('sh', 'git checkout -- policies/cases.json');
    const result = spawnSync('bash', ['-c', revert], { cwd: root, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(dir, 'staging-exports.cedar'))).toBe(false);
    expect(readFileSync(join(dir, 'cases.json'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'policies', 'cases.json'), 'utf8'));
    expect(git('status', '--porcelain').stdout).toBe('');
    const after = check();
    expect(after.status, after.stdout + after.stderr).toBe(0);
    expect(after.stdout).toContain('✓ db.export in staging is allowed');
  });
});
