import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../local/local-stack.js';
import { DETAIL_TYPE_EXECUTED, DETAIL_TYPE_REQUESTED } from '../../shared/domain/contract.js';

/**
 * The README's "Let an agent in" statement is what operators paste into an agent's role: it must allow
 * every detail type the agent client sends, or reports of executions are denied by IAM after the act.
 */
describe('the README\'s PutEvents statement for an agent\'s role', () => {
  it('allows the detail types the agent client sends, as the agent\'s own source only', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Let an agent in'));
    const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
    if (block === undefined) throw new Error('the README has no JSON block under "Let an agent in"');
    const statement = JSON.parse(block) as { Action: string; Condition: { StringEquals: Record<string, string>; StringEqualsIfExists: Record<string, string | string[]> } };
    expect(statement.Action).toBe('events:PutEvents');
    expect(statement.Condition.StringEquals['events:source']).toBe('agent.billing-agent');
    const allowed = [statement.Condition.StringEqualsIfExists['events:detail-type']].flat();
    expect([...allowed].sort()).toEqual([DETAIL_TYPE_EXECUTED, DETAIL_TYPE_REQUESTED].sort());
  });
});
