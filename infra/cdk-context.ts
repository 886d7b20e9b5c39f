import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './constructs/house-function.js';

/**
 * cdk.json's context without its default stage: the feature flags `cdk synth` runs with. For code that makes
 * an App itself (the local stack's synthesis of the approval workflow, tests), so that it builds what the CLI
 * builds.
 */
export function cdkJsonContext(): Record<string, unknown> {
  const { context } = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  const { stage: _stage, ...flags } = context;
  return flags;
}
