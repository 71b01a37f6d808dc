// cgroup v1 groups for the bench's resource-limited run: one per part of the
// stack, with the CPU quota (CFS, over docker's 100 ms period) and the
// memory limit docker would give its container. They are made below this
// process's own groups, named after its pid, and removed afterwards; groups
// a killed bench left behind are removed the next time.
//
// A process's memory is charged to the group it was in when it touched it,
// and a move does not carry old charges along (this kernel refuses
// memory.move_charge_at_immigrate). So each part should join its group before
// it allocates: see limited-stack.ts for how each one does.

import fs from 'node:fs';
import path from 'node:path';
import type { ComponentLimits } from './compose-limits.js';
import { SETTINGS } from '../../../src/shared/settings.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['cpu', 'memory'] as const;
type Controller = (typeof CONTROLLERS)[number];
/** Docker's CFS period; a compose `cpus: 0.3` is a quota of 0.3 of it. */
export const CFS_PERIOD_US = 100_000;
const GROUP_PREFIX = 'crebito-bench-';

/** The variable that tells join-cgroup.ts, loaded into each instance, which groups to join. */
export const JOIN_CGROUP_ENV = SETTINGS.benchCgroups.env;
/** The cgroup.procs files each instance writes its pid to, by instance name. */
export type JoinCgroupPlan = Record<string, string[]>;

/** Why the limited run cannot run here, or undefined when it can. */
export function cgroupsUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'it needs root, to create cgroups';
  for (const controller of CONTROLLERS) {
    const probe = controller === 'cpu' ? 'cpu.cfs_quota_us' : 'memory.limit_in_bytes';
    if (!fs.existsSync(path.join(CGROUP_ROOT, controller, probe)))
      return `no cgroup v1 ${controller} controller at ${path.join(CGROUP_ROOT, controller)}`;
  }
  return undefined;
}

/** This process's group in a controller's hierarchy, as a directory. */
function ownGroupDirectory(controller: Controller): string {
  for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, groupPath] = line.split(':');
    if (controllers?.split(',').includes(controller)) return path.join(CGROUP_ROOT, controller, groupPath ?? '/');
  }
  throw new Error(`this process is in no cgroup of the ${controller} controller`);
}

const readNumber = (file: string) => Number(fs.readFileSync(file, 'utf8').trim());

/** A `key value` line of a cgroup file such as cpu.stat or memory.oom_control. */
function readField(file: string, key: string): number {
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(fs.readFileSync(file, 'utf8'));
  if (match === null) throw new Error(`${file} has no ${key}`);
  return Number(match[1]);
}

/** Counters of one group; the CPU ones only ever grow, so a scenario reads their difference. */
export interface GroupCounters {
  /** memory.max_usage_in_bytes: the most ever charged to it at once (reset before each scenario). */
  peakChargeBytes: number;
  /** memory.failcnt: how often a charge hit the limit and the kernel had to reclaim. */
  limitHits: number;
  oomKills: number;
  periods: number;
  throttledPeriods: number;
}

export class ComponentGroup {
  constructor(
    readonly limits: ComponentLimits,
    private readonly directories: Record<Controller, string>,
  ) {}

  /** The files a process writes its pid to, to join: what a wrapper or a preload does for itself. */
  get procsFiles(): string[] {
    return CONTROLLERS.map((controller) => path.join(this.directories[controller], 'cgroup.procs'));
  }

  join(pid: number): void {
    for (const file of this.procsFiles) fs.writeFileSync(file, String(pid));
  }

  /** Whether the process is in this group in every controller. */
  holds(pid: number): boolean {
    const lines = fs
      .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .map((line) => line.split(':'));
    return CONTROLLERS.every((controller) => {
      const expected = `/${path.relative(path.join(CGROUP_ROOT, controller), this.directories[controller])}`;
      return lines.some(
        ([, controllers, groupPath]) => controllers?.split(',').includes(controller) && groupPath === expected,
      );
    });
  }

  resetPeak(): void {
    fs.writeFileSync(path.join(this.directories.memory, 'memory.max_usage_in_bytes'), '0');
  }

  counters(): GroupCounters {
    const memory = (file: string) => path.join(this.directories.memory, file);
    const cpuStat = path.join(this.directories.cpu, 'cpu.stat');
    return {
      peakChargeBytes: readNumber(memory('memory.max_usage_in_bytes')),
      limitHits: readNumber(memory('memory.failcnt')),
      oomKills: readField(memory('memory.oom_control'), 'oom_kill'),
      periods: readField(cpuStat, 'nr_periods'),
      throttledPeriods: readField(cpuStat, 'nr_throttled'),
    };
  }
}

/** One group per component, below a parent named after this process. */
export class BenchCgroups {
  private constructor(
    readonly groups: ComponentGroup[],
    private readonly parents: string[],
  ) {}

  static create(limits: ComponentLimits[]): BenchCgroups {
    const parents = CONTROLLERS.map((controller) => {
      removeStaleGroups(ownGroupDirectory(controller));
      return path.join(ownGroupDirectory(controller), `${GROUP_PREFIX}${process.pid}`);
    });
    const groups = limits.map((component) => {
      const [cpu, memory] = parents.map((parent) => path.join(parent, component.component)) as [string, string];
      for (const directory of [cpu, memory]) fs.mkdirSync(directory, { recursive: true });
      fs.writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      fs.writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), String(Math.round(component.cpus * CFS_PERIOD_US)));
      fs.writeFileSync(path.join(memory, 'memory.limit_in_bytes'), String(component.memoryBytes));
      return new ComponentGroup(component, { cpu, memory });
    });
    return new BenchCgroups(groups, parents);
  }

  group(component: string): ComponentGroup {
    const group = this.groups.find((candidate) => candidate.limits.component === component);
    if (group === undefined)
      throw new Error(
        `no cgroup for ${component}: docker-compose.yml declares ${this.groups.map((each) => each.limits.component).join(', ')}`,
      );
    return group;
  }

  /** Removes the groups; they must be empty by now (the stack stopped). Returns what could not be removed. */
  remove(): string[] {
    return this.parents.flatMap((parent) => removeTree(parent));
  }
}

/** rmdir of a group and its children, deepest first; a group still holding a process stays, and is named. */
function removeTree(directory: string): string[] {
  if (!fs.existsSync(directory)) return [];
  const left: string[] = [];
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    if (entry.isDirectory()) left.push(...removeTree(path.join(directory, entry.name)));
  }
  try {
    fs.rmdirSync(directory);
  } catch (error) {
    left.push(`${directory} (${(error as NodeJS.ErrnoException).code})`);
  }
  return left;
}

/** Groups of earlier benches whose process is gone. */
function removeStaleGroups(parent: string): void {
  for (const entry of fs.readdirSync(parent)) {
    const pid = Number(entry.slice(GROUP_PREFIX.length));
    if (!entry.startsWith(GROUP_PREFIX) || !(pid > 0) || fs.existsSync(`/proc/${pid}`)) continue;
    removeTree(path.join(parent, entry));
  }
}
