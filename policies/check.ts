/**
 * npm run policies:check [-- --dir <path>]
 *
 * Validates the Cedar schema and policies of a policy directory (default: this folder), then runs the
 * cases in its cases.json and prints one line per case. Exits 1 on a validation error or a failed case.
 * A shadow set (`shadow/*.cedar`, laid over the enforced files) is validated too, and the cases it would
 * decide differently are listed: they inform, they do not fail (a shadow set is meant to differ).
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CedarPolicyEngine } from '../shared/policy/cedar-policy-engine.js';
import { defaultPolicyDir, PolicyLoadError } from '../shared/policy/load-policies.js';
import { loadShadowSource, SHADOW_DIR, shadowPolicyEngine } from '../shared/policy/shadow-policies.js';
import { CASES_FILE, describeActual, describeExpected, loadPolicyCases, PolicyCasesError, runPolicyCases } from '../shared/policy/run-cases.js';

const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
const paint = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const green = paint(32);
const red = paint(31);
const yellow = paint(33);
const dim = paint(2);
const bold = paint(1);

function main(): number {
  let dir: string;
  try {
    const { values } = parseArgs({ options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: false });
    if (values.help === true) {
      console.log('usage: npm run policies:check [-- --dir <policy directory>]');
      return 0;
    }
    dir = resolve(values.dir ?? defaultPolicyDir());
  } catch (error) {
    console.error(`${(error as Error).message}\nusage: npm run policies:check [-- --dir <policy directory>]`);
    return 2;
  }
  const fromHere = relative(process.cwd(), dir);
  const shown = fromHere === '' ? '.' : fromHere.startsWith('..') ? dir : fromHere;
  console.log(bold(`Countersign policy check: ${shown}`));

  let engine: CedarPolicyEngine;
  try {
    engine = new CedarPolicyEngine({ policyDir: dir });
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    console.log(red(`✗ the policy set cannot be used (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}):`));
    for (const problem of error.problems) console.log(`    ${problem}`);
    return 1;
  }

  const files = new Map<string, number>();
  for (const policy of engine.policies) files.set(policy.file, (files.get(policy.file) ?? 0) + 1);
  const approvals = engine.policies.filter((p) => p.approval !== undefined).length;
  const forbids = engine.policies.filter((p) => p.effect === 'forbid').length;
  console.log(`${green('✓')} schema: ${engine.verbs.size} verbs (${[...engine.verbs.keys()].join(', ')})`);
  console.log(`${green('✓')} environments: ${engine.environments.join(', ')} ${dim('(any other is answered invalid)')}`);
  console.log(`${green('✓')} policies: ${engine.policies.length} in ${files.size} files (${[...files].map(([f, n]) => `${f} ${n}`).join(', ')}); ${approvals} need approval, ${forbids} forbid; all validate against the schema (strict)`);
  for (const warning of engine.warnings) console.log(`${yellow('!')} warning: ${warning}`);

  const casesFile = join(dir, CASES_FILE);
  if (!existsSync(casesFile)) {
    console.log(red(`✗ ${CASES_FILE} is missing: policies ship with their test cases`));
    return 1;
  }
  let cases;
  let results;
  try {
    cases = loadPolicyCases(casesFile);
    results = runPolicyCases(engine, cases);
  } catch (error) {
    if (!(error instanceof PolicyCasesError)) throw error;
    console.log(red(`✗ ${error.message}`));
    return 1;
  }

  console.log(`\n${CASES_FILE}:`);
  for (const result of results) {
    if (result.passed) {
      console.log(`${green('✓')} ${result.name} ${dim(`(${result.actual.kind})`)}`);
      continue;
    }
    console.log(`${red('✗')} ${result.name}`);
    console.log(`    expected: ${describeExpected(result.expected)}`);
    console.log(`    actual:   ${describeActual(result.actual)}`);
    for (const mismatch of result.mismatches) console.log(`    ${dim(mismatch)}`);
  }
  const failed = results.filter((r) => !r.passed).length;
  const summary = `${results.length} cases: ${results.length - failed} passed, ${failed} failed`;
  console.log(`\n${failed === 0 ? green(summary) : red(summary)}`);

  const shadowFailed = checkShadow(dir, cases);

  const unexercised = engine.policies.filter((policy) => !results.some((r) => r.actual.policyIds.some((id) => id === policy.id)));
  for (const policy of unexercised) console.log(`${yellow('!')} no case is decided by policy ${policy.id} (${policy.file}:${policy.line})`);
  const untried = engine.environments.filter((environment) => !cases.some((c) => c.request.environment === environment));
  for (const environment of untried) console.log(`${yellow('!')} no case names environment ${environment}`);
  return failed === 0 && !shadowFailed ? 0 : 1;
}

/** Validates the shadow set and lists the cases it decides differently; true when it cannot be used. */
function checkShadow(dir: string, cases: Parameters<typeof runPolicyCases>[1]): boolean {
  let shadow;
  try {
    shadow = shadowPolicyEngine(dir);
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    console.log(red(`\n✗ ${error.where} cannot be used (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}):`));
    for (const problem of error.problems) console.log(`    ${problem}`);
    return true;
  }
  if (shadow === undefined) return false;
  // From the source, not the policies: an empty shadow file (one that removes an enforced file's policies) counts.
  const files = (loadShadowSource(dir)?.policies ?? []).map((f) => f.file).filter((f) => f.startsWith(`${SHADOW_DIR}/`));
  console.log(`\n${green('✓')} shadow set: ${files.join(', ')} laid over the enforced files; ${shadow.policies.length} policies validate against the schema (strict). It is evaluated on every request and never decides.`);
  for (const warning of shadow.warnings) console.log(`${yellow('!')} shadow warning: ${warning}`);
  const results = runPolicyCases(shadow, cases);
  const differing = results.filter((r) => !r.passed);
  console.log(`  ${differing.length} of ${results.length} cases decide differently in the shadow set${differing.length === 0 ? '' : ' (shadow-diff will show such requests):'}`);
  for (const result of differing) console.log(`  ${yellow('~')} ${result.name}: ${describeActual(result.actual)}`);
  return false;
}

process.exitCode = main();
