import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-postgres.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Servers and databases start for real; give them time on a busy machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
