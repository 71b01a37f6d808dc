// Samples CPU time and memory of the stack's processes from /proc while a
// benchmark scenario runs: each named group is a root pid and all of its
// descendants (nginx's workers, PostgreSQL's backends). Memory is PSS, the
// process's fair share of pages, so PostgreSQL's shared buffers are counted
// once across its backends rather than once per backend.

import fs from 'node:fs';
import os from 'node:os';

const CLOCK_TICKS_PER_SECOND = 100;
const SAMPLE_INTERVAL_MS = 200;

export interface ProcessGroup {
  name: string;
  rootPid: number;
}

export interface GroupUsage {
  name: string;
  cpuSeconds: number;
  /** Peak of the group's summed PSS. */
  peakMemoryMegabytes: number;
  /** Peak of the group's summed RSS (counts shared pages once per process). */
  peakRssMegabytes: number;
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

function descendantsOf(rootPid: number, processes: Map<number, ProcessSample>): number[] {
  const members = [rootPid];
  for (let index = 0; index < members.length; index++) {
    for (const [pid, sample] of processes) if (sample.parent === members[index]) members.push(pid);
  }
  return members.filter((pid) => processes.has(pid));
}

function memoryKilobytes(pid: number): { pss: number; rss: number } {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const read = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
    return { pss: read('Pss'), rss: read('Rss') };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

/** Starts sampling; the returned function stops and reports each group's usage. */
export function startSampling(groups: ProcessGroup[]): () => GroupUsage[] {
  const firstTicks = new Map<number, number>();
  const lastTicks = new Map<number, number>();
  const peakKilobytes = new Map<string, number>();
  const peakRssKilobytes = new Map<string, number>();

  const sample = () => {
    const processes = readAllProcesses();
    for (const group of groups) {
      let kilobytes = 0;
      let rssKilobytes = 0;
      for (const pid of descendantsOf(group.rootPid, processes)) {
        const ticks = processes.get(pid)!.cpuTicks;
        if (!firstTicks.has(pid)) firstTicks.set(pid, ticks);
        lastTicks.set(pid, ticks);
        const memory = memoryKilobytes(pid);
        kilobytes += memory.pss;
        rssKilobytes += memory.rss;
      }
      peakKilobytes.set(group.name, Math.max(peakKilobytes.get(group.name) ?? 0, kilobytes));
      peakRssKilobytes.set(group.name, Math.max(peakRssKilobytes.get(group.name) ?? 0, rssKilobytes));
    }
  };
  sample();
  const timer = setInterval(sample, SAMPLE_INTERVAL_MS);

  return () => {
    clearInterval(timer);
    sample();
    const processes = readAllProcesses();
    return groups.map((group) => {
      let ticks = 0;
      for (const pid of descendantsOf(group.rootPid, processes)) ticks += (lastTicks.get(pid) ?? 0) - (firstTicks.get(pid) ?? 0);
      return {
        name: group.name,
        cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND,
        peakMemoryMegabytes: (peakKilobytes.get(group.name) ?? 0) / 1024,
        peakRssMegabytes: (peakRssKilobytes.get(group.name) ?? 0) / 1024,
      };
    });
  };
}

/** A short description of the machine, for the report. */
export function describeMachine(): string {
  const cpus = os.cpus();
  return `${os.hostname()}: ${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}
