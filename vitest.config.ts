import { configDefaults, defineConfig } from 'vitest/config';

/** The benchmark's smoke run takes minutes: `npm run test:bench` runs it (CI does, as its own step). */
export const BENCH_SMOKE_TESTS = ['test/cli/bench-quick.test.ts'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'policies/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...BENCH_SMOKE_TESTS],
    setupFiles: ['test/setup.ts'],
    // Integration tests start DynamoDB Local (a JVM) and the local stack; infra tests synthesize.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    env: {
      POWERTOOLS_TRACE_ENABLED: 'false',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_REGION: 'us-east-1',
    },
  },
});
