import { defineConfig } from 'vitest/config';

// End-to-end tests on the virtual Pi: one VM at a time (2 cores), long timeouts.
export default defineConfig({
  test: {
    include: ['test/vm/**/*.test.ts'],
    fileParallelism: false,
    maxConcurrency: 1,
    testTimeout: 15 * 60_000,
    hookTimeout: 5 * 60_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
