// Owns the facts about other processes that the launcher needs: whether a pid
// is alive, what tells one process from a later one given the same pid, what
// it was started with, and waiting for one to exit. Linux (/proc), which is
// where crebito runs.

import fs from 'node:fs';
import { waitFor } from '../shared/wait.js';

const EXIT_POLL_INTERVAL_MS = 50;
// /proc/<pid>/stat: "pid (comm) state ..."; after the comm, field 3 (state)
// comes first, and field 22 (starttime, clock ticks after boot) 19 later.
const STAT_STATE_INDEX = 0;
const STAT_PARENT_INDEX = 1;
const STAT_START_TIME_INDEX = 19;

/**
 * What tells a process from every other that has had or will have its pid:
 * the pid, when it started (clock ticks after boot) and which boot that was.
 * A pid alone cannot: after a reboot, or enough new processes, it names
 * someone else's.
 */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
  bootId: string;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user, which still means alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // An orphan that exited but was never reaped (a container whose pid 1 does
  // not reap) still answers signal 0; it is not running.
  return statFields(pid)?.[STAT_STATE_INDEX] !== 'Z';
}

/** The fields of /proc/<pid>/stat from the third (state) on; the command name before them may hold spaces. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

let bootId: string | undefined;
function currentBootId(): string {
  bootId ??= fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return bootId;
}

/** The identity of a running process (or one exited but not yet reaped), or undefined when there is none. */
export function identifyProcess(pid: number): ProcessIdentity | undefined {
  const startTime = Number(statFields(pid)?.[STAT_START_TIME_INDEX]);
  return Number.isInteger(startTime) ? { pid, startTime, bootId: currentBootId() } : undefined;
}

/**
 * Whether a process recorded earlier (read back from a file, so any field may
 * be missing or wrong) still runs: only then may the launcher signal its pid.
 */
export function isSameProcess(recorded: Partial<ProcessIdentity> | null | undefined): recorded is ProcessIdentity {
  const pid = recorded?.pid;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  const now = identifyProcess(pid);
  return (
    now !== undefined && isProcessAlive(pid) && now.startTime === recorded?.startTime && now.bootId === recorded.bootId
  );
}

/** The arguments a process was started with (argv, program first), or undefined when they cannot be read. */
export function processArguments(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return undefined;
  }
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

/** Whether pid exited within timeoutMs. For a process that is not our child, so no exit event. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  return (await waitFor(() => !isProcessAlive(pid), { timeoutMs, intervalMs: EXIT_POLL_INTERVAL_MS })) !== undefined;
}

/** A process and all of its descendants (the postmaster and every backend it forked, say), from /proc. */
export function processTree(rootPid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    // Field 4 (ppid) follows the state; a process that exited meanwhile has none.
    const parent = /^\d+$/.test(entry) ? Number(statFields(Number(entry))?.[STAT_PARENT_INDEX]) : Number.NaN;
    if (Number.isInteger(parent)) parents.set(Number(entry), parent);
  }
  const members = [rootPid];
  for (let index = 0; index < members.length; index++) {
    for (const [pid, parent] of parents) if (parent === members[index]) members.push(pid);
  }
  return members;
}

// /proc/<pid>/stat field 5 (pgrp) follows the state and the parent.
const STAT_GROUP_INDEX = 2;
// /proc/net/tcp{,6}: "sl local_address rem_address st ... inode"; 0A is LISTEN.
const TCP_LISTEN_STATE = '0A';

/** The processes in a process group, other than those that already exited. */
export function processGroupMembers(groupId: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => Number(statFields(pid)?.[STAT_GROUP_INDEX]) === groupId && isProcessAlive(pid));
}

/** The inodes of the sockets listening on a TCP port, on any address. */
function listeningSocketInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = fs.readFileSync(table, 'utf8').trim().split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const localPort = Number.parseInt(fields[1]!.split(':')[1]!, 16);
      if (localPort === port && fields[3] === TCP_LISTEN_STATE) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/**
 * Whether this very process holds a socket listening on the port: not merely
 * whether something answers there, which an orphan of an earlier nginx would.
 */
export function holdsListeningPort(pid: number, port: number): boolean {
  const inodes = listeningSocketInodes(port);
  if (inodes.size === 0) return false;
  let descriptors: string[];
  try {
    descriptors = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return descriptors.some((descriptor) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${descriptor}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}
