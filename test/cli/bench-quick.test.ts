import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';

// `npm run bench` prints figures and is never a test of speed; this only proves that every part of
// it runs, on small sizes, and that it ends (it once stopped half way through).
describe('npm run bench -- --quick', () => {
  it('runs every part and exits 0', () => {
    const result = spawnSync('npm', ['run', '--silent', 'bench', '--', '--quick'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 600_000 });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    for (const part of [
      'Policy decisions, narrowed by action',
      'Policy decisions, every policy evaluated',
      "Where one decision's time goes",
      'Lambda bundles: module init in a fresh process (1 import each), real synthesized assets',
      'baseline (ESM bundle importing the DynamoDB client alone)',
      'evaluate-action CPU per auto-decided action',
      'with the shadow set: CPU',
      'local stack end to end',
      'approvals on the local stack (8 requests, 1 in flight',
      'approvals on the local stack (8 requests, 4 in flight',
      // The approval targets are for 1 in flight: the 4-in-flight lines show queueing and say so.
      '(the 150 ms target is for 1 in flight)',
      'audit verify: 5,000 records',
      'audit query one agent, one day',
      'audit columnar copy: ',
      'audit bytes scanned per saved query',
      'where the time goes (each step p50 / p99)',
      'bare DynamoDB Local round trip (consistent GetItem of the request item',
      'serial DynamoDB round trips x bare GetItem p50',
      'cost of auto-decided actions',
      'per 1M auto-decided actions',
      "evaluate-action's own CPU, measured in a process of its own (10 invocations against this stack)",
      'per 1,000 approvals',
    ]) expect(result.stdout).toContain(part);
    expect(result.stdout).toContain('log whole');
  }, 610_000);

  it('runs the audit part alone at a given size, as the README gives it for 10M records (here 3,000)', () => {
    const result = spawnSync('npx', ['tsx', 'bench/audit-bench.ts', '--records', '3000'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('audit verify: 3,000 records');
    expect(result.stdout).toContain('log whole');
  }, 310_000);

  it('runs the approval part alone, as the README gives it (here 3 requests, 1 in flight), with its floor and each step\'s round trips', () => {
    const result = spawnSync('npx', ['tsx', 'bench/approval-bench.ts', '--requests', '3', '--concurrency', '1'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 300_000 });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('approvals on the local stack (3 requests, 1 in flight');
    expect(result.stdout).toMatch(/button tap -> Action Decided +p50 \d+ ms +p99 \d+ ms +target p99 <= 150 ms: (met|NOT met)/);
    expect(result.stdout).toMatch(/floor: \d+ serial DynamoDB round trips x bare GetItem p50 [\d.]+ ms/);
    expect(result.stdout).toMatch(/request-review: store review, post to Slack .* DynamoDB: \d+ serial round trips/);
    expect(result.stdout).not.toContain('4 in flight');
  }, 310_000);

  it('refuses an unknown argument with exit 2', () => {
    const result = spawnSync('npm', ['run', '--silent', 'bench', '--', '--quik'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown argument "--quik"; usage: npm run bench [-- --quick]');
  });
});
