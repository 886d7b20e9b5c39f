import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ApprovalDefinition } from './workflow-definition.js';

/**
 * Synthesizing the CDK app for the approval workflow's definition takes 7 to 15 s of a 2-core
 * machine's start. Its result depends only on the source it is synthesized from, so it is kept,
 * keyed by the SHA-256 of that source, in `node_modules/.cache/countersign/`: any change to the
 * infrastructure, the shared code, the functions, the policies, the configuration or the locked
 * dependencies synthesizes again.
 */

const SOURCES = ['infra', 'shared', 'functions', 'policies', 'config'];
const FILES = ['package-lock.json', 'cdk.json', 'tsconfig.json'];

function filesUnder(root: string, dir: string, out: string[]): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) filesUnder(root, path, out);
    else if (entry.isFile()) out.push(relative(root, path));
  }
}

/** The SHA-256 of every source file the synthesis reads (names and contents), in a fixed order. */
export function definitionSourceKey(root: string): string {
  const files: string[] = [];
  for (const source of SOURCES) filesUnder(root, join(root, source), files);
  for (const file of FILES) if (existsSync(join(root, file))) files.push(file);
  const hash = createHash('sha256');
  for (const file of files.sort()) {
    hash.update(`${file}\0${statSync(join(root, file)).size}\0`);
    hash.update(readFileSync(join(root, file)));
  }
  return hash.digest('hex');
}

export function definitionCacheFile(root: string, key: string): string {
  return join(root, 'node_modules', '.cache', 'countersign', `approval-definition-${key.slice(0, 32)}.json`);
}

/** The definition synthesized from this very source, or `synthesize()`'s, which is then kept. */
export async function cachedDefinition(root: string, synthesize: () => Promise<ApprovalDefinition>): Promise<ApprovalDefinition> {
  const file = definitionCacheFile(root, definitionSourceKey(root));
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ApprovalDefinition;
  } catch {
    // Not kept yet, or unreadable: synthesize.
  }
  const definition = await synthesize();
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, JSON.stringify(definition));
    renameSync(partial, file);
  } catch {
    // A read-only node_modules only costs the next start a synthesis.
  }
  return definition;
}
