import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/house-function.js';
import { CountersignStack } from '../../infra/countersign-stack.js';
import { ENV } from '../../shared/config.js';
import { CedarPolicyEngine } from '../../shared/policy/cedar-policy-engine.js';
import { PREPARED_POLICIES_FILE, type PreparedPolicies } from '../../shared/policy/prepared-policies.js';
import { cdkJsonContext } from '../support/cdk-app.js';

/**
 * The one infra test that bundles for real (local esbuild): the evaluate-action asset must carry the Cedar
 * policies and cedar-wasm's .wasm binary, the review functions' assets the approver directory, and each
 * bundled module must load in a bare directory (no node_modules to fall back on), which compiles the wasm,
 * loads the prepared policies (checked against the shipped sources) and reads the directory at module scope.
 */

type Fn = { Properties: { Code: { S3Key: string }; Handler: string; Environment: { Variables: Record<string, unknown> } } };

const workDir = mkdtempSync(join(tmpdir(), 'countersign-bundle-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

let bundled: ReturnType<typeof synthWithBundling> | undefined;
/** Bundling all six functions takes a while: once for the file. */
function bundle() {
  return (bundled ??= synthWithBundling());
}

function synthWithBundling() {
  const outdir = join(workDir, 'cdk.out');
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new CountersignStack(app, 'Countersign-test', { stage: 'test' });
  const template = Template.fromStack(stack);
  const fnOf = (service: string) =>
    Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Environment: { Variables: { POWERTOOLS_SERVICE_NAME: service } } } }))[0] as Fn;
  const assetOf = (fn: Fn) => join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  return { template, fnOf, assetOf };
}

/** Copies an asset to a directory outside the repository and imports its index.mjs with the function's environment. */
function loadInBareDirectory(assetDir: string, fn: Fn, name: string, prepare: (dir: string) => void = () => {}) {
  const dir = join(workDir, name);
  cpSync(assetDir, dir, { recursive: true });
  prepare(dir);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'eu-west-1',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  for (const [key, value] of Object.entries(fn.Properties.Environment.Variables)) {
    // Tokens (table and bus names) become placeholders; Lambda's /var/task becomes the copy.
    env[key] = typeof value === 'string' ? value.replace(/^\/var\/task(?=\/|$)/, dir) : `placeholder-${key.toLowerCase()}`;
  }
  const script = `import(${JSON.stringify(pathToFileURL(join(dir, 'index.mjs')).href)}).then((m) => console.log('handler:' + typeof m.handler))`;
  return spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
}

describe('bundled functions', () => {
  it('evaluate-action carries the policies and the wasm, and its bundle loads (and fails without the wasm)', { timeout: 240_000 }, () => {
    const { fnOf, assetOf } = bundle();
    const evaluate = fnOf('evaluate-action');
    const asset = assetOf(evaluate);
    expect(evaluate.Properties.Handler).toBe('index.handler');

    const policySources = readdirSync(join(PROJECT_ROOT, 'policies')).filter((f) => f.endsWith('.cedar') || f === 'schema.cedarschema').sort();
    expect(policySources.length).toBeGreaterThan(1);
    // The shadow set (policies/shadow/, issue 16) rides along in its own folder; the handler loads it at module scope.
    expect(readdirSync(join(asset, 'policies')).sort()).toEqual([...policySources, PREPARED_POLICIES_FILE, 'shadow'].sort());
    const shadowSources = readdirSync(join(PROJECT_ROOT, 'policies', 'shadow')).filter((f) => f.endsWith('.cedar')).sort();
    expect(shadowSources.length).toBeGreaterThan(0);
    // with its own prepared form, so the cold start parses and validates neither set
    expect(readdirSync(join(asset, 'policies', 'shadow')).sort()).toEqual([...shadowSources, PREPARED_POLICIES_FILE].sort());
    // The prepared form is the shipped policies, validated at synth: the same ids, effects and approvals.
    const prepared = JSON.parse(readFileSync(join(asset, 'policies', PREPARED_POLICIES_FILE), 'utf8')) as PreparedPolicies;
    expect(prepared.policies).toEqual(new CedarPolicyEngine({ policyDir: join(PROJECT_ROOT, 'policies') }).policies);
    expect(readdirSync(asset).sort()).toEqual(['cedar_wasm_bg.wasm', 'config', 'index.mjs', 'index.mjs.map', 'policies']);
    // The approver directory, for its flood-control limits.
    expect(readdirSync(join(asset, 'config'))).toEqual(['directory.json']);

    const loaded = loadInBareDirectory(asset, evaluate, 'evaluate');
    expect(loaded.stderr).toBe('');
    expect(loaded.stdout.trim()).toBe('handler:function');
    expect(loaded.status).toBe(0);

    // A prepared form that does not match the sources beside it fails the cold start, naming the file.
    const stale = loadInBareDirectory(asset, evaluate, 'evaluate-stale-prepared', (dir) => appendFileSync(join(dir, 'policies', 'guardrails.cedar'), '\n// edited after synth\n'));
    expect(stale.status).not.toBe(0);
    expect(stale.stderr).toContain('not made from the policy files beside it');

    const withoutWasm = loadInBareDirectory(asset, evaluate, 'evaluate-without-wasm', (dir) => rmSync(join(dir, 'cedar_wasm_bg.wasm')));
    expect(withoutWasm.status).not.toBe(0);
    expect(withoutWasm.stderr).toMatch(/cedar_wasm_bg\.wasm/);

    const decisionApi = fnOf('decision-api');
    const apiAsset = assetOf(decisionApi);
    expect(existsSync(join(apiAsset, 'cedar_wasm_bg.wasm'))).toBe(false);
    // No source map on the polled read path; the directory, for its agents' identities (who reads what).
    expect(readdirSync(apiAsset).sort()).toEqual(['config', 'index.mjs']);
    expect(readdirSync(join(apiAsset, 'config'))).toEqual(['directory.json']);
    const api = loadInBareDirectory(apiAsset, decisionApi, 'decision-api');
    expect(api.stderr).toBe('');
    expect(api.stdout.trim()).toBe('handler:function');
    const apiWithoutDirectory = loadInBareDirectory(apiAsset, decisionApi, 'decision-api-without-directory', (dir) => rmSync(join(dir, 'config', 'directory.json')));
    expect(apiWithoutDirectory.status).not.toBe(0);
    expect(apiWithoutDirectory.stderr).toContain('cannot read the approver directory');
  });
});

describe('bundle sizes', () => {
  // Sizes, not timings (those are in npm run bench): an import that drags a library in whole (zod through
  // `import { z }`, the Powertools parser, the X-Ray SDK on the decision API) shows here.
  it('every function\'s index.mjs stays under 1 MB, and the decision API (one GetItem) under 400 KB', { timeout: 240_000 }, () => {
    const { template, assetOf } = bundle();
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Fn[];
    expect(functions.length).toBeGreaterThan(10);
    for (const fn of functions) {
      const service = String(fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME);
      const bytes = statSync(join(assetOf(fn), 'index.mjs')).size;
      expect(bytes, service).toBeLessThan(service === 'decision-api' ? 400 * 1024 : 1024 * 1024);
    }
  });
});

describe('bundled review functions', () => {
  const services = ['request-review', 'record-outcome', 'slack-interactions', 'review-api', 'teams-interactions'];

  it('carry the approver directory where COUNTERSIGN_DIRECTORY_FILE points, and their bundles load', { timeout: 240_000 }, () => {
    const { fnOf, assetOf } = bundle();
    const directory = readFileSync(join(PROJECT_ROOT, 'config', 'directory.json'), 'utf8');
    for (const service of services) {
      const fn = fnOf(service);
      const asset = assetOf(fn);
      expect(fn.Properties.Environment.Variables[ENV.directoryFile], service).toBe('/var/task/config/directory.json');
      // slack-interactions and teams-interactions ship no source map (the invoke deadline includes the cold start).
      expect(readdirSync(asset).sort(), service).toEqual(['slack-interactions', 'teams-interactions'].includes(service) ? ['config', 'index.mjs'] : ['config', 'index.mjs', 'index.mjs.map']);
      expect(readFileSync(join(asset, 'config', 'directory.json'), 'utf8'), service).toBe(directory);

      const loaded = loadInBareDirectory(asset, fn, service);
      expect(loaded.stderr, service).toBe('');
      expect(loaded.stdout.trim(), service).toBe('handler:function');
      expect(loaded.status, service).toBe(0);
    }
  });

  it('fail to load without the directory, naming the file (so the bundled copy is what they read)', { timeout: 120_000 }, () => {
    const { fnOf, assetOf } = bundle();
    const fn = fnOf('slack-interactions');
    const loaded = loadInBareDirectory(assetOf(fn), fn, 'interactions-without-directory', (dir) => rmSync(join(dir, 'config', 'directory.json')));
    expect(loaded.status).not.toBe(0);
    expect(loaded.stderr).toMatch(/directory\.json/);
  });
});

describe('bundled audit functions', () => {
  it('audit-writer, audit-redrive, audit-digest and audit-compact bundles load in a bare directory with their environment', { timeout: 300_000 }, () => {
    const { fnOf, assetOf } = bundle();
    for (const service of ['audit-writer', 'audit-redrive', 'audit-digest', 'audit-compact']) {
      const fn = fnOf(service);
      const asset = assetOf(fn);
      expect(fn.Properties.Handler, service).toBe('index.handler');
      expect(readdirSync(asset).sort(), service).toEqual(['index.mjs', 'index.mjs.map']);
      const loaded = loadInBareDirectory(asset, fn, service);
      expect(loaded.stderr, service).toBe('');
      expect(loaded.stdout.trim(), service).toBe('handler:function');
      expect(loaded.status, service).toBe(0);
    }
  });
});

describe('bundled audit-compact', () => {
  it('carries the pure-JS Parquet writer, not DuckDB (a native binary no Lambda bundle can hold)', { timeout: 240_000 }, () => {
    const { fnOf, assetOf } = bundle();
    const code = readFileSync(join(assetOf(fnOf('audit-compact')), 'index.mjs'), 'utf8');
    expect(code).toContain('countersign audit-compact (hyparquet-writer');
    expect(code).not.toMatch(/@duckdb|duckdb\.node/);
  });
});

describe('bundled credentials function', () => {
  it('issue-credentials carries the directory and the execution grants where its environment points, and its bundle loads', { timeout: 240_000 }, () => {
    const { fnOf, assetOf } = bundle();
    const fn = fnOf('issue-credentials');
    const asset = assetOf(fn);
    const variables = fn.Properties.Environment.Variables;
    expect(variables[ENV.directoryFile]).toBe('/var/task/config/directory.json');
    expect(variables[ENV.executionGrantsFile]).toBe('/var/task/config/execution-grants.json');
    expect(readdirSync(join(asset, 'config')).sort()).toEqual(['directory.json', 'execution-grants.json']);
    expect(readFileSync(join(asset, 'config', 'execution-grants.json'), 'utf8')).toBe(readFileSync(join(PROJECT_ROOT, 'config', 'execution-grants.json'), 'utf8'));
    // The role ARNs are a CloudFormation token here: given as the stack would resolve them.
    const resolved = { Properties: { ...fn.Properties, Environment: { Variables: { ...variables, [ENV.executionRoleArns]: JSON.stringify({ 'countersign-exec-db-export': 'arn:aws:iam::123456789012:role/x' }) } } } };
    const loaded = loadInBareDirectory(asset, resolved, 'issue-credentials');
    expect(loaded.stderr).toBe('');
    expect(loaded.stdout.trim()).toBe('handler:function');
    expect(loaded.status).toBe(0);
  });
});
