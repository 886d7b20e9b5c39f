/**
 * Cold start of every Lambda function: the real bundles the CDK synthesizes (local esbuild, the house
 * NodejsFunction options), each copied to a bare directory (no node_modules to fall back on) and imported
 * in a fresh Node process, N times, with the function's own environment (and, for a function that ships a
 * source map, once more with NODE_OPTIONS=--enable-source-maps, the flag's cost).
 * Printed next to a baseline bundled with the same esbuild options: an ESM module that imports the AWS SDK
 * DynamoDB client and builds one client, nothing else. Ratios to it are what count on a busy machine.
 *
 *   npx tsx bench/bundle-bench.ts [runs] [service...]
 *
 * "init" is the time from the start of `import()` of the bundle to its end (module evaluation included:
 * wasm instantiation, policy loading, SDK clients), the part of a Lambda INIT phase the project controls.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { build } from 'esbuild';
import { cdkJsonContext } from '../infra/cdk-context.js';
import { ESM_COMMONJS_SHIM, PROJECT_ROOT } from '../infra/constructs/house-function.js';
import { CountersignStack } from '../infra/countersign-stack.js';

export interface BundleInitRow {
  service: string;
  /** index.mjs, the JavaScript Node parses at init. */
  jsBytes: number;
  /** Everything in the asset (source map, wasm, policies, config). */
  assetBytes: number;
  p50ms: number;
  p99ms: number;
  shipsSourceMap: boolean;
  /** Only for a function that ships a source map: the same bundle imported with `--enable-source-maps`. */
  withSourceMapsP50ms?: number;
  targetMs: number;
  targetBytes: number;
}

export interface BundleBench {
  runs: number;
  baseline: { jsBytes: number; p50ms: number; p99ms: number };
  rows: BundleInitRow[];
}

type Fn = { Properties: { Code: { S3Key: string }; Environment: { Variables: Record<string, unknown> } } };

/** The issue's targets: evaluate-action carries Cedar; the decision API is one GetItem. */
const INIT_TARGET_MS: Record<string, number> = { 'evaluate-action': 250 };
const DEFAULT_INIT_TARGET_MS = 150;
const DEFAULT_BYTES_TARGET = 1024 * 1024;
/**
 * "The decision API far below" the 1 MB: it carries the DynamoDB client and one GetItem, so its floor is
 * the baseline bundle (the client alone, measured in the same run), and its mark is a ratio to that floor:
 * at most a quarter more than the client it cannot do without. (An absolute 300 KB was below the floor:
 * the client alone bundles to about 320 KB.)
 */
const BYTES_TARGET_OVER_BASELINE: Record<string, number> = { 'decision-api': 1.25 };

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

/** Imports `dir/index.mjs` in `runs` fresh processes; returns the sorted import times in ms. */
function timeImports(dir: string, env: Record<string, string>, runs: number): number[] {
  const url = pathToFileURL(join(dir, 'index.mjs')).href;
  const script = `const t0 = performance.now(); await import(${JSON.stringify(url)}); console.log('init-ms:' + (performance.now() - t0));`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    const match = /init-ms:([\d.]+)/.exec(run.stdout);
    if (run.status !== 0 || match === null) throw new Error(`importing ${dir}/index.mjs failed (exit ${run.status}): ${run.stderr.slice(0, 2000)}`);
    times.push(Number(match[1]));
  }
  return times.sort((a, b) => a - b);
}

/** The environment Lambda would give the function, with tokens as placeholders and /var/task as `dir`. */
function functionEnvironment(fn: Fn, dir: string): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: 'true',
  };
  for (const [key, value] of Object.entries(fn.Properties.Environment.Variables)) {
    env[key] = typeof value === 'string' ? value.replace(/^\/var\/task(?=\/|$)/, dir) : `placeholder-${key.toLowerCase()}`;
  }
  // issue-credentials reads a JSON map of role ARNs (a token at synth).
  if (env.COUNTERSIGN_EXECUTION_ROLE_ARNS?.startsWith('placeholder-')) env.COUNTERSIGN_EXECUTION_ROLE_ARNS = '{}';
  return env;
}

/**
 * `only`: the services to measure (all when absent); the stack is synthesized whole either way.
 * `sourceMaps`: also import each bundle that ships a map with `--enable-source-maps` (default true).
 */
export async function benchBundles(runs = 15, only?: readonly string[], sourceMaps = true): Promise<BundleBench> {
  const workDir = mkdtempSync(join(tmpdir(), 'countersign-bundle-bench-'));
  try {
    const outdir = join(workDir, 'cdk.out');
    const app = new App({ outdir, context: cdkJsonContext() });
    const template = Template.fromStack(new CountersignStack(app, 'Countersign-bench', { stage: 'bench' }));
    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Fn[];

    // The baseline, bundled as the house wrapper bundles (ESM, node22, minified, the SDK inside).
    const baselineDir = join(workDir, 'baseline');
    mkdirSync(baselineDir);
    const entry = join(workDir, 'baseline-entry.mjs');
    writeFileSync(entry, "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const client = new DynamoDBClient({});\n");
    await build({
      entryPoints: [entry], outfile: join(baselineDir, 'index.mjs'), bundle: true, platform: 'node', format: 'esm', target: 'node22',
      mainFields: ['module', 'main'], minify: true, banner: { js: ESM_COMMONJS_SHIM }, nodePaths: [join(PROJECT_ROOT, 'node_modules')], logLevel: 'error',
    });
    const baselineTimes = timeImports(baselineDir, { PATH: process.env.PATH ?? '', AWS_REGION: 'eu-west-1' }, runs);
    const baseline = { jsBytes: sizeOf(join(baselineDir, 'index.mjs')), p50ms: quantile(baselineTimes, 0.5), p99ms: quantile(baselineTimes, 0.99) };

    const rows: BundleInitRow[] = [];
    for (const fn of functions) {
      const variables = fn.Properties.Environment.Variables;
      const service = String(variables.POWERTOOLS_SERVICE_NAME);
      if (only !== undefined && !only.includes(service)) continue;
      const asset = join(outdir, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
      const dir = join(workDir, service);
      cpSync(asset, dir, { recursive: true });
      const env = functionEnvironment(fn, dir);
      const times = timeImports(dir, env, runs);
      const row: BundleInitRow = {
        service,
        jsBytes: sizeOf(join(dir, 'index.mjs')),
        assetBytes: sizeOf(dir),
        p50ms: quantile(times, 0.5),
        p99ms: quantile(times, 0.99),
        targetMs: INIT_TARGET_MS[service] ?? DEFAULT_INIT_TARGET_MS,
        targetBytes: service in BYTES_TARGET_OVER_BASELINE ? Math.round(BYTES_TARGET_OVER_BASELINE[service]! * baseline.jsBytes) : DEFAULT_BYTES_TARGET,
        shipsSourceMap: existsSync(join(dir, 'index.mjs.map')),
      };
      // A function that ships a map: the same bundle imported with Node reading it (the flag no function sets).
      if (sourceMaps && row.shipsSourceMap) {
        row.withSourceMapsP50ms = quantile(timeImports(dir, { ...env, NODE_OPTIONS: '--enable-source-maps' }, runs), 0.5);
      }
      rows.push(row);
    }
    rows.sort((a, b) => a.service.localeCompare(b.service));
    return { runs, baseline, rows };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

export function formatBundleBench(bench: BundleBench): string {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
  const ms = (value: number) => value.toFixed(0);
  const { baseline } = bench;
  const header = ['function', 'index.mjs', 'asset', 'init p50 ms', 'p99 ms', 'p50 / baseline', 'with --enable-source-maps p50', 'target', 'met'];
  const body = bench.rows.map((row) => [
    row.service,
    kb(row.jsBytes),
    kb(row.assetBytes),
    ms(row.p50ms),
    ms(row.p99ms),
    `${(row.p50ms / baseline.p50ms).toFixed(2)}×`,
    row.withSourceMapsP50ms === undefined ? (row.shipsSourceMap ? '(not measured)' : '(no map shipped)') : `${ms(row.withSourceMapsP50ms)} (${(row.withSourceMapsP50ms / row.p50ms).toFixed(2)}×)`,
    `p99 ≤ ${row.targetMs} ms, js ≤ ${kb(row.targetBytes)}${row.service in BYTES_TARGET_OVER_BASELINE ? ` (${BYTES_TARGET_OVER_BASELINE[row.service]}× baseline)` : ''}`,
    row.p99ms <= row.targetMs && row.jsBytes <= row.targetBytes ? 'met' : 'NOT met',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => (cells[i] as string).length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  return [
    `Lambda bundles: module init in a fresh process (${bench.runs} import${bench.runs === 1 ? '' : 's'} each), real synthesized assets`,
    `baseline (ESM bundle importing the DynamoDB client alone): ${kb(baseline.jsBytes)}, init p50 ${ms(baseline.p50ms)} ms, p99 ${ms(baseline.p99ms)} ms`,
    line(header),
    ...body.map(line),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
    const [runs, ...only] = process.argv.slice(2);
  console.log(formatBundleBench(await benchBundles(Number(runs ?? 15), only.length > 0 ? only : undefined)));
}
