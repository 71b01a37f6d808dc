// Owns stopping what a launcher killed with SIGKILL left running: its nginx
// and any instance that has not yet noticed it is gone, as its state.json
// recorded them. A recorded process is stopped only while it is still that
// process (same pid, start time and boot: processes.ts); whatever holds one of
// those pids now, after a reboot say, belongs to someone else and is left
// alone. A state.json without identities (from an older launcher, or damaged)
// names nothing we can be sure of. The embedded PostgreSQL's leftover is found
// by embedded-postgres.ts, from its own postmaster.pid.

import type { StackLog } from '../shared/log.js';
import fs from 'node:fs';
import {
  identifyProcess,
  isSameProcess,
  processCommandName,
  processGroupMembers,
  waitForExit,
  type ProcessIdentity,
} from './processes.js';
import { stateFilePath, type StackState } from './state.js';

const LEFTOVER_STOP_TIMEOUT_MS = 15_000;

interface Leftover {
  identity: ProcessIdentity;
  /** Each one's graceful stop: nginx finishes its requests, an instance drains. */
  signal: NodeJS.Signals;
}

/** The processes state.json records that still run as recorded. */
function findLeftovers(runDirectory: string): Leftover[] {
  let state: Partial<StackState>;
  try {
    state = JSON.parse(fs.readFileSync(stateFilePath(runDirectory), 'utf8')) as Partial<StackState>;
  } catch {
    // No state from an earlier run (or none we can read): nothing of ours can be left.
    return [];
  }
  const recorded = [
    { record: state.nginx, signal: 'SIGQUIT' as const },
    ...(Array.isArray(state.instances) ? state.instances : []).map((record) => ({
      record,
      signal: 'SIGTERM' as const,
    })),
    // The change stream's broker outlives a killed launcher and holds its port.
    { record: state.events?.broker, signal: 'SIGTERM' as const },
    { record: state.events?.publisher, signal: 'SIGTERM' as const },
  ];
  return [
    ...recorded.flatMap(({ record, signal }) => (isSameProcess(record) ? [{ identity: record, signal }] : [])),
    ...orphanedNginxWorkers(state.nginx),
  ];
}

/**
 * The workers of a recorded nginx whose master is gone (killed with SIGKILL
 * along with its launcher): they still hold the public port. They are in the
 * master's process group, started after it, on this boot; a group id is not
 * reused while a member lives, so nothing else can match.
 */
function orphanedNginxWorkers(master: Partial<ProcessIdentity> | null | undefined): Leftover[] {
  if (typeof master?.pid !== 'number' || !Number.isInteger(master.pid) || master.pid <= 0 || isSameProcess(master))
    return [];
  return processGroupMembers(master.pid).flatMap((pid) => {
    const identity = identifyProcess(pid);
    const ours =
      identity !== undefined &&
      processCommandName(pid) === 'nginx' &&
      identity.bootId === master.bootId &&
      identity.startTime >= (master.startTime ?? Infinity);
    return ours ? [{ identity, signal: 'SIGKILL' as const }] : [];
  });
}

/** Stops, one by one, the processes an earlier launcher of this data directory left running. */
export async function stopLeftovers(runDirectory: string, log: StackLog): Promise<void> {
  for (const { identity, signal } of findLeftovers(runDirectory)) {
    const { pid } = identity;
    log.warn(`stopping pid ${pid} (${processCommandName(pid)}) left running by a crebito that did not stop cleanly`);
    process.kill(pid, signal);
    if (!(await waitForExit(pid, LEFTOVER_STOP_TIMEOUT_MS)) && isSameProcess(identity)) process.kill(pid, 'SIGKILL');
  }
}
