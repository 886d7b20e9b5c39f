import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { LoadedPolicy } from './cedar-policy-engine.js';
import { loadPolicySource, PolicyLoadError, policySourceSha256, type PolicySource } from './load-policies.js';

/**
 * The policy set as the engine runs it, made once by `preparePolicies` (which parses and validates
 * everything) and written as JSON into the evaluate-action bundle at synth: a cold start then reads it
 * instead of parsing and validating the schema and every policy in Cedar's wasm, which was most of its
 * init time. The sources ship beside it; `loadPreparedPolicies` refuses a prepared form that was not
 * made from them.
 */
export const PREPARED_POLICIES_FORMAT = 'countersign-prepared-policies/1';
/** The prepared form's file name inside a policy directory. */
export const PREPARED_POLICIES_FILE = 'prepared-policies.json';

type AttributeType = 'String' | 'Long' | 'Bool';

export interface PreparedPolicies {
  format: typeof PREPARED_POLICIES_FORMAT;
  /** `getCedarVersion()` of the cedar-wasm that validated the policies. */
  cedarVersion: string;
  /** `policySourceSha256` of the sources it was made from. */
  sourceSha256: string;
  policies: LoadedPolicy[];
  /** Each policy in Cedar's JSON form (no text parser needed to load it), by @id. */
  policyJson: Record<string, PolicyJson>;
  warnings: string[];
  /** Verb -> the resource types it accepts. */
  verbs: Array<[string, string[]]>;
  /** Every action (verbs and action groups) -> its direct parent groups. */
  actionParents: Record<string, string[]>;
  /** Resource type -> the attributes a request may set besides `id`. */
  resourceTypes: Array<[string, Array<[string, { type: AttributeType; required: boolean }]>]>;
  environments: string[];
}

/**
 * The prepared form in `policyDir`, checked against the sources beside it and the running Cedar version,
 * or undefined when the directory has none (then the caller prepares the sources itself).
 * Throws `PolicyLoadError` when the prepared form is unreadable or stale.
 */
export function loadPreparedPolicies(policyDir: string, cedarVersion: string): PreparedPolicies | undefined {
  return loadPreparedFile(join(resolve(policyDir), PREPARED_POLICIES_FILE), () => loadPolicySource(policyDir), cedarVersion);
}

/**
 * The prepared form in `file`, checked against `source()` (the sources it must have been made from) and the
 * running Cedar version, or undefined when there is no such file. The shadow set's prepared form sits in
 * `<policyDir>/shadow/` and is checked against the shadow set's sources (the enforced files with the shadow
 * files laid over them).
 */
export function loadPreparedFile(file: string, source: () => PolicySource, cedarVersion: string): PreparedPolicies | undefined {
  if (!existsSync(file)) return undefined;
  let prepared: PreparedPolicies;
  try {
    prepared = JSON.parse(readFileSync(file, 'utf8')) as PreparedPolicies;
  } catch (error) {
    throw new PolicyLoadError(file, [`cannot read the prepared policies: ${(error as Error).message}`]);
  }
  const problems: string[] = [];
  if (prepared.format !== PREPARED_POLICIES_FORMAT) problems.push(`format "${String(prepared.format)}" is not ${PREPARED_POLICIES_FORMAT}`);
  if (prepared.cedarVersion !== cedarVersion) problems.push(`prepared with Cedar ${prepared.cedarVersion}, running Cedar ${cedarVersion}`);
  if (prepared.sourceSha256 !== policySourceSha256(source())) problems.push(`not made from the policy files beside it (they changed since)`);
  if (problems.length > 0) throw new PolicyLoadError(file, [...problems, 'prepare the policies again: npx cdk synth writes the file into the bundle']);
  return prepared;
}
