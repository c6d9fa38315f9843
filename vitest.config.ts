import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // tfjs keeps one global engine per process: run test files in separate forks.
    pool: 'forks',
    // Presets put built-in envs on one worker thread per core; here many test runs share the
    // cores, so they run in the main thread unless a test asks for workers (results are the same).
    env: { METARL_WORKERS: '0' },
  },
});
