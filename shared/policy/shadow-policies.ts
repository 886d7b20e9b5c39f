import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { CedarPolicyEngine } from './cedar-policy-engine.js';
import { loadPolicySource, POLICY_FILE_SUFFIX, PolicyLoadError, type PolicySource } from './load-policies.js';
import { loadPreparedFile, PREPARED_POLICIES_FILE } from './prepared-policies.js';

/**
 * Shadow policies (issue 16): `policies/shadow/*.cedar`, evaluated on every request beside the enforced
 * set and never deciding anything. The shadow set is the enforced set with the shadow files laid over
 * it by file name: `shadow/data.cedar` replaces `data.cedar` (an empty one removes its policies), any
 * other name adds its policies. So a shadow file can try a new rule, a changed rule, or a removed one,
 * and the shadow set is always a whole policy set, validated against the enforced schema.
 */
export const SHADOW_DIR = 'shadow';

/** The shadow set's source, or undefined when `<policyDir>/shadow/` holds no `*.cedar` file. */
export function loadShadowSource(policyDir: string): PolicySource | undefined {
  const dir = join(resolve(policyDir), SHADOW_DIR);
  if (!existsSync(dir)) return undefined;
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith(POLICY_FILE_SUFFIX)).sort();
  } catch (error) {
    throw new PolicyLoadError(dir, [`cannot read the shadow policy directory: ${(error as Error).message}`]);
  }
  if (names.length === 0) return undefined;
  const enforced = loadPolicySource(policyDir);
  const overlay = new Map(enforced.policies.map((file) => [file.file, file]));
  for (const name of names) overlay.set(name, { file: `${SHADOW_DIR}/${name}`, text: readFileSync(join(dir, name), 'utf8') });
  return { schema: enforced.schema, policies: [...overlay.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, file]) => file) };
}

/**
 * The shadow set as an engine, or undefined when there is none. A shadow set that cannot be used throws
 * `PolicyLoadError` naming the shadow set, with every problem (its file names start with `shadow/`).
 */
export function shadowPolicyEngine(policyDir: string): CedarPolicyEngine | undefined {
  const source = loadShadowSource(policyDir);
  if (source === undefined) return undefined;
  // A bundled Lambda has the shadow set's prepared form (made and validated at synth) beside its files; a
  // stale one is refused naming that file.
  const prepared = loadPreparedFile(join(resolve(policyDir), SHADOW_DIR, PREPARED_POLICIES_FILE), () => source, cedar.getCedarVersion());
  try {
    return new CedarPolicyEngine(prepared === undefined ? { source } : { prepared });
  } catch (error) {
    if (!(error instanceof PolicyLoadError)) throw error;
    throw new PolicyLoadError(`the shadow set of ${resolve(policyDir)} (its ${SHADOW_DIR}/ files laid over the enforced ones)`, error.problems);
  }
}
