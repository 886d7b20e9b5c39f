import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The lint rule that keeps shared/domain pure (CONVENTIONS.md rule 3) must actually fire.
describe('domain purity lint rule', () => {
  const eslint = new ESLint();
  const lint = async (code: string, filePath: string) => {
    const [result] = await eslint.lintText(code, { filePath });
    return (result?.messages ?? []).map((m) => m.ruleId);
  };

  it('refuses AWS SDK, Lambda types, Slack and process.env in shared/domain', async () => {
    expect(await lint("import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const c = DynamoDBClient;\n", 'shared/domain/x.ts')).toContain('no-restricted-imports');
    expect(await lint("import type { Context } from 'aws-lambda';\nexport type C = Context;\n", 'shared/domain/x.ts')).toContain('no-restricted-imports');
    expect(await lint("import { WebClient } from '@slack/web-api';\nexport const w = WebClient;\n", 'shared/domain/x.ts')).toContain('no-restricted-imports');
    expect(await lint('export const t = process.env.TABLE;\n', 'shared/domain/x.ts')).toContain('no-restricted-properties');
  });

  it('allows the same imports in adapters', async () => {
    expect(await lint("import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const c = DynamoDBClient;\n", 'shared/adapters/aws/x.ts')).toEqual([]);
  });
});
