import { defineConfig } from 'vitest/config';

// Tests by kind, each kind a folder and a project (`vitest run --project unit`):
//   unit      in one process, no database, no nginx: `npm run test:unit`
//   system    real processes, sockets or kernel limits, still no database
//   database  SQL against the run's PostgreSQL, no HTTP
//   instance  real instances (child processes) on the run's PostgreSQL
//   stack     whole stacks as `npm start` runs them, and the tools run on them
// Only the projects that need PostgreSQL name the global setup that starts it.
// The pure tests run first, two threads at a time (they only compute).
const WITH_POSTGRES = ['test/support/global-postgres.ts'];
// Files that start processes run after them, one at a time, as before:
// two at a time was tried, and on a shared two-core machine it pushed
// requests past their 1 s deadline (503s in the race tables).
const PROCESSES = { sequence: { groupOrder: 1 } };

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Servers and databases start for real; give them time on a busy machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          pool: 'threads',
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'system', ...PROCESSES, include: ['test/system/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'database', ...PROCESSES, include: ['test/database/**/*.test.ts'], globalSetup: WITH_POSTGRES },
      },
      {
        extends: true,
        test: { name: 'instance', ...PROCESSES, include: ['test/instance/**/*.test.ts'], globalSetup: WITH_POSTGRES },
      },
      {
        extends: true,
        test: { name: 'stack', ...PROCESSES, include: ['test/stack/**/*.test.ts'], globalSetup: WITH_POSTGRES },
      },
    ],
  },
});
