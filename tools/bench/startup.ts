// What start-up costs, in seconds: the launcher's start to its `up` line (a
// stack of the bench's own: creating the cluster, the schema, the
// instances opening and warming their pools), and an instance killed to
// its successor answering /ready (the launcher's restart, the process
// starting, its pool opened and warmed). Measured on the bench's own stack
// only: killing an instance of a stack someone else runs is not the bench's
// to do.

import type { StackState } from '../../src/stack/state.js';
import { waitFor } from '../../src/shared/wait.js';
import { getFromListenAddress } from '../harness/stack.js';

const RESTART_TIMEOUT_MS = 60_000;
const RESTART_POLL_INTERVAL_MS = 20;
const READY_PROBE_TIMEOUT_MS = 1000;

export interface Startup {
  /** The launcher started to its `up` line; undefined against a stack the bench did not start. */
  upSeconds: number | undefined;
  /** An instance killed (SIGKILL) to its successor's 200 on /ready; undefined against a stack the bench did not start. */
  instanceRestartSeconds: number | undefined;
}

/** Kills the first instance and times its successor to ready. */
export async function measureInstanceRestart(state: () => StackState): Promise<number> {
  const victim = state().instances[0]!;
  const killedAt = performance.now();
  process.kill(victim.pid!, 'SIGKILL');
  const ready = await waitFor(
    async () => {
      const successor = state().instances[0]!;
      if (
        successor.pid === victim.pid ||
        successor.pid === undefined ||
        successor.admin === null ||
        successor.admin === undefined
      )
        return false;
      return (await getFromListenAddress(successor.admin, '/ready', READY_PROBE_TIMEOUT_MS))?.status === 200;
    },
    { timeoutMs: RESTART_TIMEOUT_MS, intervalMs: RESTART_POLL_INTERVAL_MS },
  );
  if (ready === undefined)
    throw new Error(`${victim.name}, killed, was not ready again within ${RESTART_TIMEOUT_MS} ms`);
  return (performance.now() - killedAt) / 1000;
}
