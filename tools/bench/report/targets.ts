// crebito against its ceilings: the ratios the report shows, and the
// project's performance targets, each a ratio or a bound measured
// within one run, because these two-core machines are shared and noisy.

import type { DatabaseMode } from '../../../src/stack/config.js';
import { PERCENTILE_LABELS } from '../latency/limit.js';
import type { LatencyLimit } from '../latency/public-latency.js';
import { WARM_PUBLIC_MIX } from '../scenarios.js';
import {
  scenarioNamed,
  type BenchReport,
  type Calibration,
  type LimitedRun,
  type ScenarioResult,
  type Target,
} from './report.js';

/** The bench's floor and a second generator's agree this closely, or the generator may be what was measured. */
export const CALIBRATION_TOLERANCE = 0.1;
/** At the public test's rate, the mix's p99 against the floor's at the same rate. */
const PUBLIC_P99_OVER_FLOOR_MAX = 2.5;
const PUBLIC_P999_MS_MAX = 10;
/** At the public rate, on a stack just up against the same stack warm. */
const COLD_P999_OVER_WARM_MAX = 1.2;
/** Saturation through nginx against the HTTP floor. Durable commits wait on the disk, hence a lower bar for POSTs there. */
const POSTS_OVER_FLOOR_MIN: Record<DatabaseMode, number> = { fast: 0.45, durable: 0.25 };
/** Statements never wait on a commit, so one bar in both modes. */
const STATEMENTS_OVER_FLOOR_MIN = 0.4;

export function calibrationRatio(calibration: Calibration): number {
  return calibration.requestsPerSecond / calibration.secondRequestsPerSecond;
}

export function compare(input: {
  scenarios: ScenarioResult[];
  calibration: Calibration;
  limited: LimitedRun;
  databaseMode: DatabaseMode;
  latencyLimit: LatencyLimit;
}): Pick<BenchReport, 'ratios' | 'targets'> {
  const rate = (name: string) => scenarioNamed(input.scenarios, name).requestsPerSecond;
  const latency = (name: string) => scenarioNamed(input.scenarios, name).latencyMs;
  const ratios = [
    { name: 'transacoes / db-transacao', value: rate('transacoes') / rate('db-transacao') },
    { name: 'transacoes / http-floor', value: rate('transacoes') / rate('http-floor') },
    { name: 'extrato / db-extrato', value: rate('extrato') / rate('db-extrato') },
    { name: 'extrato / http-floor', value: rate('extrato') / rate('http-floor') },
    { name: 'mix / http-floor', value: rate('mix') / rate('http-floor') },
  ];
  const calibration = calibrationRatio(input.calibration);
  const tail = latency('mix@public').p99 / latency('http-floor@public').p99;
  const p999 = latency('mix@public').p999;
  const posts = rate('transacoes') / rate('http-floor');
  const postsGoal = POSTS_OVER_FLOOR_MIN[input.databaseMode];
  const statements = rate('extrato') / rate('http-floor');
  const targets: Target[] = [
    {
      name: "calibration: http-floor, the bench's generator / a second one",
      value: calibration,
      goal: `${100 - CALIBRATION_TOLERANCE * 100}–${100 + CALIBRATION_TOLERANCE * 100}%`,
      met: Math.abs(calibration - 1) <= CALIBRATION_TOLERANCE,
      unit: '%',
    },
    {
      name: 'p99 mix@public / p99 http-floor@public',
      value: tail,
      goal: `<= ${PUBLIC_P99_OVER_FLOOR_MAX}x`,
      met: tail <= PUBLIC_P99_OVER_FLOOR_MAX,
      unit: 'x',
    },
    {
      name: `p99.9 mix@public${input.databaseMode === 'durable' ? '' : ' (the goal is for durable mode)'}`,
      value: p999,
      goal: `<= ${PUBLIC_P999_MS_MAX} ms`,
      met: p999 <= PUBLIC_P999_MS_MAX,
      unit: 'ms',
    },
    {
      name: `transacoes / http-floor, ${input.databaseMode} mode`,
      value: posts,
      goal: `>= ${postsGoal * 100}%`,
      met: posts >= postsGoal,
      unit: '%',
    },
    {
      name: 'extrato / http-floor',
      value: statements,
      goal: `>= ${STATEMENTS_OVER_FLOOR_MIN * 100}%`,
      met: statements >= STATEMENTS_OVER_FLOOR_MIN,
      unit: '%',
    },
    ...tailTargets(input.latencyLimit),
    ...limitedTargets(input.limited),
  ];
  return { ratios, targets };
}

/** The public rate's tail against its limit (latency/limit.ts), warm, each goal its own target; and just up against warm. */
function tailTargets(limit: LatencyLimit): Target[] {
  const verdicts = limit.verdicts.warm.map((verdict) => ({
    name: `${PERCENTILE_LABELS[verdict.percentile]} ${WARM_PUBLIC_MIX} / the limit (floor + PostgreSQL alone, same percentile)`,
    value: verdict.ratio,
    goal: `<= ${verdict.goal}x`,
    met: verdict.met,
    unit: 'x' as const,
  }));
  const coldOverWarm = limit.justUpOverWarmP999;
  return [
    ...verdicts,
    {
      name: `p99.9 mix@public (just up) / p99.9 ${WARM_PUBLIC_MIX}`,
      value: coldOverWarm,
      goal: `<= ${COLD_P999_OVER_WARM_MAX}x`,
      met: coldOverWarm <= COLD_P999_OVER_WARM_MAX,
      unit: 'x',
    },
  ];
}

/**
 * Every part fits its compose limit: the larger of what its cgroup was
 * charged and its anonymous memory (the part no limit can reclaim), against
 * the limit; and no OOM kill.
 */
function limitedTargets(limited: LimitedRun): Target[] {
  if (limited.skipped !== undefined) return [];
  const worst = Math.max(
    ...limited.components.map(
      (part) => Math.max(part.peakChargedMegabytes, part.peakAnonymousMegabytes) / part.memoryLimitMegabytes,
    ),
  );
  const oomKills = limited.components.reduce((sum, part) => sum + part.oomKills, 0);
  return [
    {
      name: `under compose limits: the fullest part's memory / its limit${oomKills > 0 ? ` (${oomKills} OOM kills)` : ''}`,
      value: worst,
      goal: '< 100%, no OOM kill',
      met: worst < 1 && oomKills === 0,
      unit: '%',
    },
  ];
}
