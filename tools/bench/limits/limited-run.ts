// The bench's run under the public test's resource limits: a stack of its
// own with every part in cgroups (limited-stack.ts), the mix at saturation
// and at the public test's rate, each part's peak memory and CPU throttling
// against its compose limits, and the books.

import type { DatabaseMode } from '../../../src/stack/config.js';
import { checkBooks } from '../books.js';
import { cgroupsUnavailableReason, type GroupCounters } from './cgroups.js';
import { startLimitedStack, type LimitedStack } from './limited-stack.js';
import { nodeLoad } from '../load/node-load.js';
import { printScenario } from '../report/publish.js';
import type { LimitedComponent, LimitedRun, ScenarioResult } from '../report/report.js';
import { runHttpScenario, setupFor, type Drive } from '../run-scenario.js';
import { MIX, openAt } from '../scenarios.js';
import { wrkLoad } from '../load/wrk-load.js';

export const LIMITS = ['compose', 'off'] as const;
export type Limits = (typeof LIMITS)[number];

const MEGABYTE = 2 ** 20;

export interface LimitedOptions {
  limits: Limits;
  mode: DatabaseMode;
  connections: number;
  durationSeconds: number;
  publicRateDurationSeconds: number;
  /** Launchers of other stacks this process started: not part of the load generator. */
  otherLauncherPids: number[];
}

const skipped = (reason: string): LimitedRun => ({
  skipped: reason,
  scenarios: [],
  components: [],
  consistency: undefined,
  leftovers: [],
});

export async function runLimited(options: LimitedOptions): Promise<LimitedRun> {
  if (options.limits === 'off') return skipped('--limits off');
  const unavailable = cgroupsUnavailableReason();
  if (unavailable !== undefined) return skipped(unavailable);
  console.log('under the compose limits: starting a stack of its own in cgroups');
  const limited = await startLimitedStack({ mode: options.mode });
  let measured: Omit<LimitedRun, 'leftovers'>;
  try {
    measured = await measureLimited(limited, options);
  } catch (error) {
    await limited.dispose();
    throw error;
  }
  return { ...measured, leftovers: await limited.dispose() };
}

async function measureLimited(limited: LimitedStack, options: LimitedOptions): Promise<Omit<LimitedRun, 'leftovers'>> {
  const state = limited.stack.state();
  const setup = setupFor(state, options.otherLauncherPids);
  const groups = limited.cgroups.groups;
  const before = groups.map((group) => group.counters());
  const peakCharged = groups.map(() => 0);
  const publicRate = openAt(MIX, 'public');
  // The public test's rate first, on the fresh stack, as the public test
  // meets it; then saturation. Reported in the other order.
  const runs: [typeof MIX, Drive][] = [
    [
      publicRate.scenario,
      { generator: nodeLoad, model: publicRate.model, durationSeconds: options.publicRateDurationSeconds },
    ],
    [
      MIX,
      {
        generator: wrkLoad,
        model: { kind: 'closed', connections: options.connections },
        durationSeconds: options.durationSeconds,
      },
    ],
  ];
  const scenarios: ScenarioResult[] = [];
  for (const [scenario, drive] of runs) {
    for (const group of groups) group.resetPeak();
    scenarios.unshift(printScenario(await runHttpScenario(setup, scenario, drive)));
    groups.forEach((group, index) => {
      peakCharged[index] = Math.max(peakCharged[index]!, group.counters().peakChargeBytes);
    });
  }
  const components = groups.map((group, index): LimitedComponent => {
    const usage = scenarios.flatMap((scenario) =>
      scenario.usage.filter((each) => each.name === group.limits.component),
    );
    const counted = difference(before[index]!, group.counters());
    return {
      name: group.limits.component,
      service: group.limits.service,
      cpus: group.limits.cpus,
      memoryLimitMegabytes: group.limits.memoryBytes / MEGABYTE,
      peakChargedMegabytes: peakCharged[index]! / MEGABYTE,
      peakAnonymousMegabytes: Math.max(...usage.map((each) => each.peakAnonymousMegabytes)),
      peakRssMegabytes: Math.max(...usage.map((each) => each.peakRssMegabytes)),
      limitHits: counted.limitHits,
      oomKills: counted.oomKills,
      throttledShare: counted.periods === 0 ? 0 : counted.throttledPeriods / counted.periods,
      joinedLate: limited.joinedLate.includes(group.limits.component),
    };
  });
  return { skipped: undefined, scenarios, components, consistency: await checkBooks(state.databaseUrl) };
}

/** What the counters that only grow counted between two readings. */
function difference(before: GroupCounters, after: GroupCounters): Omit<GroupCounters, 'peakChargeBytes'> {
  return {
    limitHits: after.limitHits - before.limitHits,
    oomKills: after.oomKills - before.oomKills,
    periods: after.periods - before.periods,
    throttledPeriods: after.throttledPeriods - before.throttledPeriods,
  };
}
