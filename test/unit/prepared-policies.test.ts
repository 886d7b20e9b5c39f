import { appendFileSync, cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCedarVersion } from '@cedar-policy/cedar-wasm/nodejs';
import { afterAll, describe, expect, it } from 'vitest';
import { CedarPolicyEngine, preparePolicies } from '../../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir, loadPolicySource, PolicyLoadError } from '../../shared/policy/load-policies.js';
import { loadPreparedPolicies, PREPARED_POLICIES_FILE } from '../../shared/policy/prepared-policies.js';
import { loadShadowSource, SHADOW_DIR, shadowPolicyEngine } from '../../shared/policy/shadow-policies.js';

/** The prepared form evaluate-action loads at cold start: used when it matches its sources, refused when it does not. */

const workDir = mkdtempSync(join(tmpdir(), 'countersign-prepared-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let copies = 0;
function policyCopy(prepared: (dir: string) => unknown = (dir) => preparePolicies(loadPolicySource(dir))): string {
  const dir = join(workDir, `copy-${++copies}`);
  cpSync(defaultPolicyDir(), dir, { recursive: true, filter: (source) => !source.endsWith('cases.json') && !source.endsWith('.ts') });
  writeFileSync(join(dir, PREPARED_POLICIES_FILE), JSON.stringify(prepared(dir)));
  return dir;
}

function loadError(run: () => unknown): PolicyLoadError {
  try {
    run();
  } catch (error) {
    if (error instanceof PolicyLoadError) return error;
    throw error;
  }
  throw new Error('expected a PolicyLoadError');
}

const request = { specVersion: '1', actionId: 'a-1', agent: { id: 'report-bot' }, action: 'db.export', resource: { type: 'Database', id: 'orders' }, environment: 'prod', parameters: { table: 'orders' }, justification: 'test' } as const;

describe('CedarPolicyEngine.load', () => {
  it('runs from the prepared file when it matches the sources beside it, deciding as an engine built from the sources', () => {
    const dir = policyCopy((d) => ({ ...preparePolicies(loadPolicySource(d)), warnings: ['marker: read from the prepared file'] }));
    const engine = CedarPolicyEngine.load(dir);
    expect(engine.warnings).toEqual(['marker: read from the prepared file']);
    expect(engine.decide(request)).toEqual(new CedarPolicyEngine({ policyDir: dir }).decide(request));
    expect(engine.decide(request).kind).toBe('approval');
  });

  it('prepares the sources itself when the directory has no prepared file (the local stack, the tests)', () => {
    const engine = CedarPolicyEngine.load(defaultPolicyDir());
    expect(readdirSync(defaultPolicyDir())).not.toContain(PREPARED_POLICIES_FILE);
    expect(engine.decide(request).kind).toBe('approval');
  });

  it('refuses a prepared file made from other sources, naming the file and what to do', () => {
    const dir = policyCopy();
    appendFileSync(join(dir, 'data.cedar'), '\n// edited after the synth\n');
    const error = loadError(() => CedarPolicyEngine.load(dir));
    expect(error.where).toBe(join(dir, PREPARED_POLICIES_FILE));
    expect(error.problems).toEqual(['not made from the policy files beside it (they changed since)', 'prepare the policies again: npx cdk synth writes the file into the bundle']);
  });

  it('refuses a prepared file from another Cedar version, or of another format, or unreadable', () => {
    const other = policyCopy((d) => ({ ...preparePolicies(loadPolicySource(d)), cedarVersion: '0.0.1' }));
    expect(loadError(() => loadPreparedPolicies(other, getCedarVersion())).problems[0]).toBe(`prepared with Cedar 0.0.1, running Cedar ${getCedarVersion()}`);
    const format = policyCopy((d) => ({ ...preparePolicies(loadPolicySource(d)), format: 'something-else/9' }));
    expect(loadError(() => loadPreparedPolicies(format, getCedarVersion())).problems[0]).toBe('format "something-else/9" is not countersign-prepared-policies/1');
    const broken = policyCopy();
    writeFileSync(join(broken, PREPARED_POLICIES_FILE), '{"format": ');
    expect(loadError(() => CedarPolicyEngine.load(broken)).problems[0]).toMatch(/^cannot read the prepared policies: /);
  });
});

describe('shadowPolicyEngine with a prepared shadow set', () => {
  it('runs from policies/shadow/prepared-policies.json when it matches the shadow sources, and refuses it when a shadow file changed', () => {
    const dir = policyCopy();
    const shadowFile = join(dir, SHADOW_DIR, PREPARED_POLICIES_FILE);
    const shadowSource = loadShadowSource(dir);
    if (shadowSource === undefined) throw new Error('the shipped policies have a shadow set');
    writeFileSync(shadowFile, JSON.stringify({ ...preparePolicies(shadowSource), warnings: ['marker: the shadow set read from its prepared file'] }));
    const engine = shadowPolicyEngine(dir);
    expect(engine?.warnings).toEqual(['marker: the shadow set read from its prepared file']);
    expect(engine?.decide(request)).toEqual(new CedarPolicyEngine({ source: shadowSource }).decide(request));
    const [firstShadow] = readdirSync(join(dir, SHADOW_DIR)).filter((name) => name.endsWith('.cedar'));
    appendFileSync(join(dir, SHADOW_DIR, firstShadow ?? 'missing.cedar'), '\n// edited after the synth\n');
    const error = loadError(() => shadowPolicyEngine(dir));
    expect(error.problems[0]).toBe('not made from the policy files beside it (they changed since)');
    expect(error.where).toContain(shadowFile);
  });
});
