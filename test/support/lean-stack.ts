// The environment of a stack whose test is about something else than how a stack is first made and backed up.
//   CREBITO_BACKUPS=off  Backups are on by default, and a stack with them archives its WAL and takes a first full
//                        backup (a fast checkpoint, the whole cluster read, compressed and encrypted) while its test
//                        runs: pgBackRest's CPU and disk beside the test on a shared two-core machine.
//   CREBITO_WARM_UP_REQUESTS=0  Each instance would first send itself 3,000 requests (a few seconds of both cores
//                        per stack) to have V8 compile its hot path: a latency matter, not what these tests check.
//   the cluster template  startStack copies a cluster the run made once with the launcher's own initdb
//                        (global-postgres.ts) instead of the launcher running initdb: about a second per stack.
// The defaults stay where a test meets them on its way: the backup tests, the events test, whole-stack (a stack as
// `npm start` runs it), launcher-after-sigkill (leftovers of a killed launcher), postgres-socket-after-restart
// (pgBackRest on the fallback socket) and the checker's run with faults (archiving through a PostgreSQL crash).
// docs/development.md#tests says so.

import { inject } from 'vitest';
import { CLUSTER_TEMPLATE_VARIABLE } from '../../tools/harness/stack.js';

export const LEAN_STACK: Record<string, string> = {
  CREBITO_BACKUPS: 'off',
  CREBITO_WARM_UP_REQUESTS: '0',
  [CLUSTER_TEMPLATE_VARIABLE]: inject('clusterTemplate'),
};
