// Owns the small facts about other processes that the launcher and the
// embedded database need: is a pid alive, what program is it, and waiting for
// one to exit. Linux-first (/proc), which is where crebito runs.

import fs from 'node:fs';
import { waitFor } from '../shared/wait.js';

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user, which still means alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // An orphan that exited but was never reaped (a container whose pid 1 does
  // not reap) still answers signal 0; it is not running.
  return processState(pid) !== 'Z';
}

function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether pid is alive and still the program we think it is: a pid read from
 * an old pid file may since have been given to something else entirely.
 */
export function isRunningAs(pid: number | undefined, commandName: string): pid is number {
  return pid !== undefined && isProcessAlive(pid) && processCommandName(pid) === commandName;
}

/** The pid on the first line of a pid file (ours, nginx's, postmaster.pid), or undefined. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]!.trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The program name of a pid (from /proc), or undefined when it cannot be read. */
export function processCommandName(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const EXIT_POLL_INTERVAL_MS = 50;

/** Whether pid exited within timeoutMs. For a process that is not our child, so no exit event. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  return (await waitFor(() => !isProcessAlive(pid), { timeoutMs, intervalMs: EXIT_POLL_INTERVAL_MS })) !== undefined;
}
