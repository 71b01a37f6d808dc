import { defineConfig } from 'vitest/config';

// Tests by kind, each kind a folder and a project (`vitest run --project unit`):
//   unit      in one process, no database, no nginx: `npm run test:unit`
//   system    real processes, sockets or kernel limits, still no database
//   database  SQL against the run's PostgreSQL, no HTTP
//   instance  real instances (child processes) on the run's PostgreSQL
//   stack     whole stacks as `npm start` runs them, and the tools run on them
// Only the projects that need PostgreSQL name the global setup that starts it.
// The pure tests run first, two threads at a time (they only compute); the
// rest after them, as one group.
const WITH_POSTGRES = ['test/support/global-postgres.ts'];
// Two files at a time: a test that starts processes spends most of its time
// waiting for them (to start, to recover, for a run's fixed duration), so a
// second file fits beside it even on two cores. vitest's default, one fewer
// than the cores, ran these files one at a time here.
const PROCESSES = { sequence: { groupOrder: 1 }, maxWorkers: 2 };

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // Servers and databases start for real; give them time on a busy machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'threads', maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'system', ...PROCESSES, include: ['test/system/**/*.test.ts'] } },
      { extends: true, test: { name: 'database', ...PROCESSES, include: ['test/database/**/*.test.ts'], globalSetup: WITH_POSTGRES } },
      { extends: true, test: { name: 'instance', ...PROCESSES, include: ['test/instance/**/*.test.ts'], globalSetup: WITH_POSTGRES } },
      { extends: true, test: { name: 'stack', ...PROCESSES, include: ['test/stack/**/*.test.ts'], globalSetup: WITH_POSTGRES } },
    ],
  },
});
