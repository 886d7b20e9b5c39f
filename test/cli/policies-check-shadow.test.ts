import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';

/** `npm run policies:check` and the shadow set in `policies/shadow/` (issue 16), on a copy of policies/. */

const dir = mkdtempSync(join(tmpdir(), 'countersign-check-shadow-'));
cpSync(join(REPO_ROOT, 'policies'), dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const check = () => spawnSync('npm', ['run', '--silent', 'policies:check', '--', '--dir', dir], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

describe('policies:check with a shadow set', () => {
  it('validates the shipped shadow set beside the enforced one', () => {
    const result = check();
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('✓ shadow set: shadow/customer-queries.cedar laid over the enforced files; 16 policies validate against the schema (strict).');
    expect(result.stdout).toMatch(/^ {2}0 of \d+ cases decide differently in the shadow set$/m);
  });

  it('lists the cases a shadow set decides differently, without failing: a shadow set is meant to differ', () => {
    // An empty shadow data.cedar removes the enforced database rules from the shadow set.
    writeFileSync(join(dir, 'shadow', 'data.cedar'), '// trying: no database rules at all\n');
    const result = check();
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('✓ shadow set: shadow/customer-queries.cedar, shadow/data.cedar laid over the enforced files;');
    expect(result.stdout).toContain('  ~ db.query in prod is allowed: deny, policies [] — no policy permits db.query on Database in prod');
    rmSync(join(dir, 'shadow', 'data.cedar'));
  });

  it('fails on a shadow set that does not validate, naming the shadow file and line', () => {
    writeFileSync(join(dir, 'shadow', 'typo.cedar'), '@id("typo")\npermit (principal, action == Action::"db.query", resource is Database) when { resource.ownr == "x" };\n');
    const result = check();
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/✗ the shadow set of .+ cannot be used \(1 problem\):\n {4}shadow\/typo\.cedar:2:\d+: policy "typo": /);
  });
});
