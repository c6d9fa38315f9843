import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // tfjs keeps one global engine per process: run test files in separate forks.
    pool: 'forks',
  },
});
