import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { cdkJsonContext } from '../support/cdk-app.js';

/**
 * A template synthesized in one region (CI offline, where the CLI's default region is us-east-1) must deploy
 * in any other: infra/app.ts synthesizes an environment-agnostic stack. Runs the app as `cdk synth` does
 * (CDK_OUTDIR, CDK_CONTEXT_JSON, CDK_DEFAULT_REGION), without bundling the functions.
 */

const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

async function synthIn(region: string): Promise<{ template: string; environment: string }> {
  const out = mkdtempSync(join(tmpdir(), `countersign-synth-${region}-`));
  dirs.push(out);
  await run(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['infra/app.ts'], {
    cwd: REPO_ROOT,
    env: { ...process.env, CDK_OUTDIR: out, CDK_DEFAULT_REGION: region, CDK_DEFAULT_ACCOUNT: '111122223333', CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [], stage: 'test' }) },
  });
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { artifacts: Record<string, { environment?: string }> };
  return { template: readFileSync(join(out, 'Countersign-test.template.json'), 'utf8'), environment: manifest.artifacts['Countersign-test']?.environment ?? '' };
}

describe('the synthesized template is region-agnostic', () => {
  it('is the same template whichever region the CLI defaults to, naming no region or account, with kms:ViaService built on AWS::Region', async () => {
    const [eu, us] = [await synthIn('eu-west-1'), await synthIn('us-east-1')];
    expect(eu.environment).toBe('aws://unknown-account/unknown-region');
    expect(us.template).toBe(eu.template);
    expect(eu.template).not.toMatch(/(us|eu|ap|sa|ca|me|af|il|mx)-(east|west|north|south|central|northeast|southeast)-\d/);
    expect(eu.template).not.toContain('111122223333');
    const viaService = [...eu.template.matchAll(/"kms:ViaService": (\{[^}]*\}[^}]*\}|"[^"]*")/g)].map((m) => m[1]);
    expect(viaService.length).toBeGreaterThan(0);
    for (const condition of viaService) expect(condition?.replace(/\s+/g, '')).toContain('{"Ref":"AWS::Region"}');
  }, 120_000);
});
