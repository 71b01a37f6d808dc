import { defineConfig } from 'vitest/config';
import PacedFirst, { PACED_PROJECT } from './test/support/paced-first.js';

// Tests by kind, each kind a folder and a project (`vitest run --project unit`):
//   unit      in one process, no database, no nginx: `npm run test:unit`
//   system    real processes, sockets or kernel limits, still no database
//   database  SQL against the run's PostgreSQL, no HTTP
//   instance  real instances (child processes) on the run's PostgreSQL
//             (its paced files are the project instance-paced: `--project 'instance*'` runs both)
//   stack     whole stacks as `npm start` runs them, and the tools run on them
// Only the projects that need PostgreSQL name the global setup that starts it.
const WITH_POSTGRES = ['test/support/global-postgres.ts'];
// First, two files at a time: the pure tests, the system and database files (none serves HTTP under a deadline),
// and the paced instance files, which spend a minute mostly waiting on a clock; these start first (PacedFirst),
// and the rest fill the other worker beside them.
const BESIDE = { sequence: { groupOrder: 0 }, maxWorkers: 2 };
// Files that start servers answering under a deadline run after them, one at a time, as before:
// two at a time was tried, and on a shared two-core machine it pushed
// requests past their 1 s deadline (503s in the race tables).
// One at a time by name, not by vitest's default (the cores less one: one here, more on a bigger machine).
const PROCESSES = { sequence: { groupOrder: 1 }, maxWorkers: 1 };
const PACED = ['test/instance/key-expiry-keeps-up.test.ts'];

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    sequence: { sequencer: PacedFirst },
    // Servers and databases start for real; give them time on a busy machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'threads', ...BESIDE } },
      { extends: true, test: { name: 'system', ...BESIDE, include: ['test/system/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'database', ...BESIDE, include: ['test/database/**/*.test.ts'], globalSetup: WITH_POSTGRES },
      },
      { extends: true, test: { name: PACED_PROJECT, ...BESIDE, include: PACED, globalSetup: WITH_POSTGRES } },
      {
        extends: true,
        test: {
          name: 'instance',
          ...PROCESSES,
          include: ['test/instance/**/*.test.ts'],
          exclude: PACED,
          globalSetup: WITH_POSTGRES,
        },
      },
      {
        extends: true,
        test: { name: 'stack', ...PROCESSES, include: ['test/stack/**/*.test.ts'], globalSetup: WITH_POSTGRES },
      },
    ],
  },
});
