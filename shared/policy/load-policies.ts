import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The file the schema is read from, inside a policy directory. */
export const SCHEMA_FILE = 'schema.cedarschema';
/** Policy files end in this; every one in the directory is loaded, in name order. */
export const POLICY_FILE_SUFFIX = '.cedar';

/**
 * The repo's `policies/` folder, resolved from this module's own location so it works whatever the
 * working directory. A function, not a constant: in a bundled Lambda there is no such folder (the
 * handler passes the directory the files were copied to), and `import.meta.url` may not even be set
 * in a CommonJS bundle, so it must not be touched at import time.
 */
export function defaultPolicyDir(): string {
  return fileURLToPath(new URL('../../policies/', import.meta.url));
}

export interface PolicyFile {
  /** Where the text came from, as shown in error messages (a file name, or a label for inline text). */
  file: string;
  text: string;
}

/** A schema and its policies as text, before any parsing. */
export interface PolicySource {
  schema: PolicyFile;
  policies: PolicyFile[];
}

/**
 * The policy set cannot be used. `problems` lists every problem found, each naming its file (and line
 * where Cedar reports one); the message lists them too, so a log line or a failed deploy says it all.
 */
export class PolicyLoadError extends Error {
  constructor(
    readonly where: string,
    readonly problems: readonly string[],
  ) {
    super(`The policy set in ${where} cannot be used (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyLoadError';
  }
}

/**
 * Reads `schema.cedarschema` and every `*.cedar` file of a directory (not recursive, sorted by name).
 * Throws `PolicyLoadError` when the directory, the schema or every policy file is missing.
 */
export function loadPolicySource(policyDir?: string): PolicySource {
  const dir = resolve(policyDir ?? defaultPolicyDir());
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new PolicyLoadError(dir, [`cannot read the policy directory: ${(error as Error).message}`]);
  }
  const problems: string[] = [];
  let schema: PolicyFile | undefined;
  if (names.includes(SCHEMA_FILE)) {
    schema = { file: SCHEMA_FILE, text: readFileSync(join(dir, SCHEMA_FILE), 'utf8') };
  } else {
    problems.push(`${SCHEMA_FILE} is missing; the policies are validated against it`);
  }
  const policies = names
    .filter((name) => name.endsWith(POLICY_FILE_SUFFIX))
    .sort()
    .map((name) => ({ file: name, text: readFileSync(join(dir, name), 'utf8') }));
  if (policies.length === 0) problems.push(`no *${POLICY_FILE_SUFFIX} policy files; without policies every request would be denied`);
  if (problems.length > 0 || schema === undefined) throw new PolicyLoadError(dir, problems);
  return { schema, policies };
}

/**
 * SHA-256 (hex) over the schema and every policy file, names and texts, in order: ties a prepared form
 * to the exact sources it was made from.
 */
export function policySourceSha256(source: PolicySource): string {
  const hash = createHash('sha256');
  for (const file of [source.schema, ...source.policies]) {
    hash.update(`${file.file.length}:${file.file}${Buffer.byteLength(file.text)}:`);
    hash.update(file.text);
  }
  return hash.digest('hex');
}
