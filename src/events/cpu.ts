// Owns how the change stream shares the CPU with the ledger
// (CREBITO_EVENTS_CPU, docs/events.md "Cost"). On a small machine the ledger
// comes first: the stream's processes (the local RabbitMQ, the publisher, the
// WAL sender that decodes for it, and a measuring consumer) may fall behind
// during a burst and catch up after it; the slot keeps the WAL meanwhile, up
// to its bound. Each process the launcher starts detached leads its own
// session, and Linux's autogroup scheduling gives every session an equal
// share whatever its processes' nice values, so a plain nice does little:
// the stream's processes go into a cgroup of their own (cgroup v1's cpu
// controller, as root) with a small `cpu.shares` (the default, `low`) or
// `cpu.idle` (only what nothing else wants). Without that permission, the
// fallback is the nice value of each thread and of the process's own autogroup.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type StreamCpuMode = 'idle' | 'low' | 'normal';

const CGROUP_CPU_ROOT = '/sys/fs/cgroup/cpu';
// A normal group weighs 1024: "low" asks for a sixteenth of one.
const LOW_SHARES = 64;
const NICE_OF: Record<StreamCpuMode, number> = { idle: 19, low: 10, normal: 0 };

/** Where the stream's processes go: a cgroup directory, a nice value, or nowhere. Passed on as text. */
export type Placement = { kind: 'cgroup'; directory: string } | { kind: 'nice'; nice: number } | { kind: 'none' };

export const placementText = (placement: Placement): string =>
  placement.kind === 'cgroup'
    ? `cgroup:${placement.directory}`
    : placement.kind === 'nice'
      ? `nice:${placement.nice}`
      : 'none';

export function parsePlacement(text: string | undefined): Placement {
  if (text === undefined || text === '' || text === 'none') return { kind: 'none' };
  if (text.startsWith('cgroup:')) return { kind: 'cgroup', directory: text.slice('cgroup:'.length) };
  const nice = Number(text.slice('nice:'.length));
  if (!text.startsWith('nice:') || !Number.isInteger(nice) || nice < 0 || nice > 19)
    throw new Error(`not a CPU placement: ${text}`);
  return { kind: 'nice', nice };
}

/** The stream's cgroup for a stack: named by the local broker's port, which no two stacks share. */
export const cgroupDirectoryFor = (brokerPort: number) => path.join(CGROUP_CPU_ROOT, `crebito-events-${brokerPort}`);

/**
 * Makes (or reuses) the stream's cgroup and sets its weight; falls back to
 * nice values where cgroups cannot be written (not root, no v1 cpu controller).
 */
export function preparePlacement(mode: StreamCpuMode, brokerPort: number): Placement {
  if (mode === 'normal') return { kind: 'none' };
  const directory = cgroupDirectoryFor(brokerPort);
  try {
    fs.mkdirSync(directory, { recursive: true });
    // Both, always: a cgroup left by an earlier start in the other mode is reused.
    fs.writeFileSync(path.join(directory, 'cpu.idle'), mode === 'idle' ? '1' : '0');
    fs.writeFileSync(path.join(directory, 'cpu.shares'), String(LOW_SHARES));
    return { kind: 'cgroup', directory };
  } catch {
    return { kind: 'nice', nice: NICE_OF[mode] };
  }
}

const RELEASE_ATTEMPTS = 20;
const RELEASE_RETRY_MS = 100;

/**
 * Removes the stream's cgroup once its processes are gone: the broker's
 * helpers (its port mapper) exit a moment after it, and until then the
 * kernel refuses. Left behind (empty) after that, the next start reuses it.
 */
export async function releasePlacement(placement: Placement): Promise<void> {
  if (placement.kind !== 'cgroup') return;
  for (let attempt = 0; attempt < RELEASE_ATTEMPTS; attempt++) {
    try {
      fs.rmdirSync(placement.directory);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') return;
      await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS));
    }
  }
}

function tasksOf(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [pid];
  }
}

/**
 * Puts a process (all its threads, and what it forks later) in its place.
 * ownSession: the process leads its own session, so its autogroup is its
 * own and may be niced too (never for a backend of the postmaster's).
 * Returns false when the system refused; the process then runs as before.
 */
export function place(pid: number, placement: Placement, ownSession: boolean): boolean {
  try {
    if (placement.kind === 'cgroup') fs.appendFileSync(path.join(placement.directory, 'cgroup.procs'), `${pid}\n`);
    if (placement.kind !== 'nice') return true;
    for (const task of tasksOf(pid)) os.setPriority(task, placement.nice);
    if (ownSession) fs.writeFileSync(`/proc/${pid}/autogroup`, String(placement.nice));
    return true;
  } catch {
    return false;
  }
}

/**
 * The WAL sender decoding for the publisher, when it runs on this machine:
 * pg_stat_replication's pid is another host's when the database is remote,
 * so the pid counts only if it is a PostgreSQL WAL sender here.
 */
export function isLocalWalSender(pid: number): boolean {
  try {
    const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    // "postgres: [cluster name: ]walsender user host ..."
    return title.startsWith('postgres:') && /\bwalsender\b/.test(title);
  } catch {
    return false;
  }
}
