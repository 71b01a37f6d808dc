// Samples CPU time and memory of the stack's processes from /proc while a
// benchmark scenario runs: each named group is a root pid and all of its
// descendants (nginx's workers, PostgreSQL's backends). Memory is PSS, the
// process's fair share of pages, so PostgreSQL's shared buffers are counted
// once across its backends rather than once per backend.

import fs from 'node:fs';
import os from 'node:os';

const CLOCK_TICKS_PER_SECOND = 100;
/**
 * How often the processes are read while a scenario runs. Reading every
 * process's memory costs the bench about 20 ms of CPU each time: at a
 * saturation run's pace that is noise, but beside a fixed-rate latency run
 * it made spikes of its own in the service's tail, so those are sampled
 * seldom (their memory peaks matter less than their latencies).
 */
export const SAMPLE_INTERVAL_MS = { saturation: 250, latency: 2000 } as const;
/** The sampling's own CPU, reported as a group of its own: it runs in the load generator's process, and is not load. */
export const SAMPLER_GROUP = 'sampling';

export interface ProcessGroup {
  name: string;
  rootPid: number;
  /** Descendants of rootPid that belong to another group, with their own descendants (the load generator's: the stack's launcher). */
  excludedPids?: number[];
}

export interface GroupUsage {
  name: string;
  cpuSeconds: number;
  /** Peak of the group's summed PSS. */
  peakMemoryMegabytes: number;
  /** Peak of the group's summed RSS (counts shared pages once per process). */
  peakRssMegabytes: number;
  /** Peak of the group's summed anonymous memory: what cannot be dropped and read again from a file. */
  peakAnonymousMegabytes: number;
}

interface ProcessSample {
  parent: number;
  cpuTicks: number;
}

function readAllProcesses(): Map<number, ProcessSample> {
  const processes = new Map<number, ProcessSample>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name, which may hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.set(Number(entry), { parent: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // The process ended between listing and reading.
    }
  }
  return processes;
}

function membersOf(group: ProcessGroup, processes: Map<number, ProcessSample>): number[] {
  const excluded = new Set(group.excludedPids ?? []);
  const members = [group.rootPid];
  for (let index = 0; index < members.length; index++) {
    for (const [pid, sample] of processes)
      if (sample.parent === members[index] && !excluded.has(pid)) members.push(pid);
  }
  return members.filter((pid) => processes.has(pid));
}

interface MemorySample {
  pss: number;
  rss: number;
  anonymous: number;
}

const MEMORY_FIELDS = { pss: 'Pss', rss: 'Rss', anonymous: 'Anonymous' } as const;

function memoryKilobytes(pid: number): MemorySample {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const read = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
    return { pss: read(MEMORY_FIELDS.pss), rss: read(MEMORY_FIELDS.rss), anonymous: read(MEMORY_FIELDS.anonymous) };
  } catch {
    return { pss: 0, rss: 0, anonymous: 0 };
  }
}

/** A process and its descendants, now; the process first. */
export function processTree(rootPid: number): number[] {
  return membersOf({ name: '', rootPid }, readAllProcesses());
}

/** Starts sampling; the returned function stops and reports each group's usage. */
export function startSampling(groups: ProcessGroup[], intervalMs: number): () => GroupUsage[] {
  const firstTicks = new Map<number, number>();
  const lastTicks = new Map<number, number>();
  const peaks = new Map<string, MemorySample>();
  // Every pid a group had while sampled: one that exits mid-scenario keeps the CPU it used.
  const members = new Map<string, Set<number>>(groups.map((group) => [group.name, new Set()]));

  let samplerCpuMicroseconds = 0;
  const sample = () => {
    const cpuBefore = process.cpuUsage();
    sampleOnce();
    const cpu = process.cpuUsage(cpuBefore);
    samplerCpuMicroseconds += cpu.user + cpu.system;
  };
  const sampleOnce = () => {
    const processes = readAllProcesses();
    for (const group of groups) {
      const sum: MemorySample = { pss: 0, rss: 0, anonymous: 0 };
      for (const pid of membersOf(group, processes)) {
        members.get(group.name)!.add(pid);
        const ticks = processes.get(pid)!.cpuTicks;
        if (!firstTicks.has(pid)) firstTicks.set(pid, ticks);
        lastTicks.set(pid, ticks);
        const memory = memoryKilobytes(pid);
        for (const key of Object.keys(sum) as (keyof MemorySample)[]) sum[key] += memory[key];
      }
      const peak = peaks.get(group.name) ?? { pss: 0, rss: 0, anonymous: 0 };
      peaks.set(group.name, {
        pss: Math.max(peak.pss, sum.pss),
        rss: Math.max(peak.rss, sum.rss),
        anonymous: Math.max(peak.anonymous, sum.anonymous),
      });
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);

  return () => {
    clearInterval(timer);
    sample();
    const usage = groups.map((group) => {
      let ticks = 0;
      for (const pid of members.get(group.name)!) ticks += lastTicks.get(pid)! - firstTicks.get(pid)!;
      const peak = peaks.get(group.name)!;
      return {
        name: group.name,
        cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND,
        peakMemoryMegabytes: peak.pss / 1024,
        peakRssMegabytes: peak.rss / 1024,
        peakAnonymousMegabytes: peak.anonymous / 1024,
      };
    });
    return [
      ...usage,
      {
        name: SAMPLER_GROUP,
        cpuSeconds: samplerCpuMicroseconds / 1e6,
        peakMemoryMegabytes: 0,
        peakRssMegabytes: 0,
        peakAnonymousMegabytes: 0,
      },
    ];
  };
}

/**
 * CPU seconds this process has used, its threads and the children it has
 * reaped included: the load generator's (worker threads, and wrk, which has
 * exited by the time a scenario ends and so escapes the sampling).
 */
export function ownCpuSeconds(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14 to 17 of stat, 11 to 14 after the name.
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS_PER_SECOND;
}

/** A short description of the machine, for the report. */
export function describeMachine(): string {
  const cpus = os.cpus();
  return (
    `${os.hostname()}: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
  );
}
