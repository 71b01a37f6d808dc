// How the checker asks the stack whether it serves: one GET, straight to a
// listen address (the public port, or one instance's own socket), that must
// answer 200 within a short timeout.

import { waitFor } from '../../src/shared/wait.js';
import { readStackState } from '../../src/stack/state.js';
import { getFromListenAddress } from '../harness/stack.js';

const PROBE_TIMEOUT_MS = 2_000;
const RECOVERY_TIMEOUT_MS = 60_000;
const RECOVERY_POLL_MS = 50;

/** Milliseconds until condition() holds, or null when it did not within the recovery timeout. */
export async function recoveryMs(condition: () => Promise<boolean>): Promise<number | null> {
  return (await waitFor(condition, { timeoutMs: RECOVERY_TIMEOUT_MS, intervalMs: RECOVERY_POLL_MS })) ?? null;
}

/** A GET to a listen address answered 200 within the probe timeout. */
export async function probe(listen: string, pathName: string): Promise<boolean> {
  return (await getFromListenAddress(listen, pathName, PROBE_TIMEOUT_MS))?.status === 200;
}

/** Every instance the state file names is running and answers pathName through its own socket. */
export async function allInstancesAnswer(dataDirectory: string, pathName: string): Promise<boolean> {
  const state = readStackState(dataDirectory);
  if (state.instances.some((instance) => instance.pid === undefined)) return false;
  const answers = await Promise.all(state.instances.map((instance) => probe(instance.listen, pathName)));
  return answers.every(Boolean);
}

/** Every instance answers a statement read, which needs the database. */
export function allInstancesServe(dataDirectory: string): Promise<boolean> {
  return allInstancesAnswer(dataDirectory, '/clientes/1/extrato');
}
