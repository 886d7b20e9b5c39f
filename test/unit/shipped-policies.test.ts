/**
 * Many tests pin what the shipped policies decide (the policy cases, the engine's examples, the local
 * stack's outcomes, the demo, the README's walkthroughs). After editing policies/ (the README's
 * "Write and test a policy" does, on purpose) they fail; this test fails with them and says why.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DIR = new URL('../../policies/', import.meta.url);
const SHIPPED_SHA256 = '8c2e2fa238decdc06a60183ae51b07396008de7f20115ead5924dc6180002ccc';

function policiesSha256(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(DIR).filter((n) => /\.(cedar|cedarschema|json)$/.test(n)).sort()) {
    hash.update(`${name}\n`).update(readFileSync(new URL(name, DIR)));
  }
  return hash.digest('hex');
}

describe('the shipped policies', () => {
  it('are what the tests that pin their decisions expect', () => {
    expect(
      policiesSha256(),
      'policies/ differs from the shipped policy set, so the tests that pin its decisions (policy cases, the engine, the local stack, '
      + 'the demo, the README walkthroughs) fail too. If you tried the README\'s "Write and test a policy", revert it: git checkout -- policies/. '
      + 'If you meant to change the shipped policies, update those tests and this hash.',
    ).toBe(SHIPPED_SHA256);
  });
});
