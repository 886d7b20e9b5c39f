import { configDefaults, defineConfig } from 'vitest/config';
import base, { BENCH_SMOKE_TESTS } from './vitest.config.js';

/** `npm run test:bench`: only the benchmark's smoke run, which `npm test` leaves out. */
export default defineConfig({ ...base, test: { ...base.test, include: BENCH_SMOKE_TESTS, exclude: [...configDefaults.exclude] } });
