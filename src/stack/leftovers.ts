// Owns stopping what a launcher killed with SIGKILL left running: its nginx
// (from nginx.pid) and any instance that has not yet noticed it is gone (from
// state.json). The embedded PostgreSQL's leftover is found by
// embedded-postgres.ts, from its own postmaster.pid.

import fs from 'node:fs';
import path from 'node:path';
import { isRunningAs, processCommandName, readPidFile, waitForExit } from './processes.js';
import { stateFilePath, type StackState } from './state.js';

const LEFTOVER_STOP_TIMEOUT_MS = 15_000;

/** Stops, one by one, the processes an earlier launcher of this data directory left running. */
export async function stopLeftovers(runDirectory: string, log: (line: string) => void): Promise<void> {
  const leftovers: { pid: number; signal: NodeJS.Signals }[] = [];
  const nginxPid = readPidFile(path.join(runDirectory, 'nginx.pid'));
  if (isRunningAs(nginxPid, 'nginx')) {
    leftovers.push({ pid: nginxPid, signal: 'SIGQUIT' });
  }
  try {
    const state = JSON.parse(fs.readFileSync(stateFilePath(runDirectory), 'utf8')) as StackState;
    for (const instance of state.instances) {
      if (isRunningAs(instance.pid, 'node')) {
        leftovers.push({ pid: instance.pid, signal: 'SIGTERM' });
      }
    }
  } catch {
    // No state from an earlier run: nothing of ours can be left.
  }
  for (const { pid, signal } of leftovers) {
    log(`stopping pid ${pid} (${processCommandName(pid)}) left running by a crebito that did not stop cleanly`);
    process.kill(pid, signal);
    if (!(await waitForExit(pid, LEFTOVER_STOP_TIMEOUT_MS))) process.kill(pid, 'SIGKILL');
  }
}
