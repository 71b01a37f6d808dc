// The limit one request at the public test's rate can be held to, per
// percentile: what HTTP through nginx costs with no database (the floor),
// plus what PostgreSQL alone needs for the same calls at the same rate,
// when no call waits for another. A request through crebito pays both, so
// its percentile against their sum says how much crebito adds of its own.
//
// Adding percentiles is not exact (the slowest HTTP hop and the slowest
// database call are rarely the same request), so the sum is a generous
// limit at the tail: a service that stays within it adds little. Each side
// is confirmed by a second, independent generator within AGREEMENT_TOLERANCE.

import type { LatencySummary } from '../load/latency-histogram.js';

export const PERCENTILES = ['p50', 'p99', 'p999', 'max'] as const;
export type Percentile = (typeof PERCENTILES)[number];
export type Percentiles = Record<Percentile, number>;

/** How far a measurement and its second generator's may differ before the reference is doubted. */
export const AGREEMENT_TOLERANCE = 0.1;

/** crebito against its limit, per percentile, same run, each mode. No goal for max: one sample. */
export const GOALS_OVER_LIMIT: Partial<Percentiles> = { p50: 1.2, p99: 1.5, p999: 2 };

export const PERCENTILE_LABELS: Record<Percentile, string> = { p50: 'p50', p99: 'p99', p999: 'p99.9', max: 'max' };

export function percentilesOf(summary: LatencySummary): Percentiles {
  return { p50: summary.p50, p99: summary.p99, p999: summary.p999, max: summary.max };
}

/** The floor's percentile plus PostgreSQL alone's, each percentile on its own. */
export function limitOf(floor: Percentiles, database: Percentiles): Percentiles {
  return mapPercentiles((name) => floor[name] + database[name]);
}

/** crebito's percentile over the limit's: 1 is the limit itself. */
export function overLimit(measured: Percentiles, limit: Percentiles): Percentiles {
  return mapPercentiles((name) => {
    if (!(limit[name] > 0)) throw new Error(`a limit's ${name} must be above 0, got ${limit[name]}`);
    return measured[name] / limit[name];
  });
}

export interface GoalVerdict {
  percentile: Percentile;
  ratio: number;
  goal: number;
  met: boolean;
}

/** Each percentile that has a goal, with whether crebito's ratio to the limit meets it. */
export function judge(ratios: Percentiles): GoalVerdict[] {
  return PERCENTILES.flatMap((percentile) => {
    const goal = GOALS_OVER_LIMIT[percentile];
    if (goal === undefined) return [];
    return [{ percentile, ratio: ratios[percentile], goal, met: ratios[percentile] <= goal }];
  });
}

/**
 * One generator's figure against a second one's: their ratio, and whether
 * it is within the tolerance. Compared at p50 and p99 only: p99.9 and the
 * maximum of a half-minute run are a few dozen requests and one, too few to
 * hold two generators to 10%.
 */
export function agreement(
  measured: Percentiles,
  reference: Percentiles,
): { percentile: Percentile; ratio: number; within: boolean }[] {
  return (['p50', 'p99'] as const).map((percentile) => {
    if (!(reference[percentile] > 0))
      throw new Error(`a reference's ${percentile} must be above 0, got ${reference[percentile]}`);
    const ratio = measured[percentile] / reference[percentile];
    return { percentile, ratio, within: Math.abs(ratio - 1) <= AGREEMENT_TOLERANCE };
  });
}

function mapPercentiles(value: (name: Percentile) => number): Percentiles {
  return { p50: value('p50'), p99: value('p99'), p999: value('p999'), max: value('max') };
}
