import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.countersign/', 'scratch/', 'test-results/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The domain is pure: no cloud SDKs, no Lambda types, no Slack, no environment (CONVENTIONS.md rule 3).
    files: ['shared/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@aws-sdk/*', '@smithy/*', 'aws-lambda', '@slack/*', '@aws-lambda-powertools/*', 'aws-cdk-lib', 'aws-cdk-lib/*'], message: 'shared/domain is pure: reach the outside through a port in shared/ports.' },
          { group: ['**/adapters/**', '**/config.js'], message: 'shared/domain must not depend on adapters or configuration.' },
        ],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'shared/domain reads no environment; shared/config.ts does.' }],
    },
  },
);
