// Reads the instances' /timing (src/instance/timing.ts): each request's
// phases inside an instance in fine buckets (within 1/64 of the value), so
// that the breakdown can say which phase holds a percentile. Two reads around
// a run, subtracted bucket by bucket and summed over instances, give the run
// alone; a percentile is the upper bound of the bucket holding its rank.

import { getFromListenAddress } from '../../../src/stack/http.js';
import type { StackState } from '../../../src/stack/state.js';

const TIMING_TIMEOUT_MS = 2000;

/** Count per bucket upper bound, in µs. */
export type FineBuckets = Map<number, number>;

export interface InstanceTiming {
  /** By route or operation label, then phase. */
  series: Map<string, Map<string, FineBuckets>>;
  eventLoopDelay: FineBuckets;
}

interface TimingPage {
  series?: Record<string, Record<string, [number, number][]>>;
  eventLoopDelay?: [number, number][];
}

function bucketsOfPairs(pairs: [number, number][] | undefined, into: FineBuckets = new Map()): FineBuckets {
  for (const [bound, count] of pairs ?? []) {
    if (!(Number.isFinite(bound) && bound >= 0 && Number.isFinite(count) && count >= 0))
      throw new Error(`a /timing bucket the bench cannot read: [${bound}, ${count}]`);
    into.set(bound, (into.get(bound) ?? 0) + count);
  }
  return into;
}

/** Every instance's /timing page, summed. An empty page (metrics off, or an older instance) adds nothing. */
export function parseTimingPages(pages: string[]): InstanceTiming {
  const timing: InstanceTiming = { series: new Map(), eventLoopDelay: new Map() };
  for (const page of pages) {
    if (page.trim() === '') continue;
    const parsed = JSON.parse(page) as TimingPage;
    for (const [label, phases] of Object.entries(parsed.series ?? {})) {
      let byPhase = timing.series.get(label);
      if (byPhase === undefined) timing.series.set(label, (byPhase = new Map()));
      for (const [phase, pairs] of Object.entries(phases)) {
        byPhase.set(phase, bucketsOfPairs(pairs, byPhase.get(phase)));
      }
    }
    bucketsOfPairs(parsed.eventLoopDelay, timing.eventLoopDelay);
  }
  return timing;
}

/** after - before, bucket by bucket: what the run alone recorded. */
export function fineBucketsBetween(before: FineBuckets | undefined, after: FineBuckets | undefined): FineBuckets {
  const between: FineBuckets = new Map();
  for (const [bound, count] of after ?? []) {
    const difference = count - (before?.get(bound) ?? 0);
    if (difference < 0) throw new Error(`a /timing bucket went down between two reads (${bound} µs): a restart?`);
    if (difference > 0) between.set(bound, difference);
  }
  return between;
}

export function countOf(buckets: FineBuckets): number {
  let total = 0;
  for (const count of buckets.values()) total += count;
  return total;
}

/**
 * The upper bound, in ms, of the bucket holding rank floor(fraction × count)
 * in ascending order (as a sorted list of every value would give it); the
 * true percentile is within 1/64 below it. undefined when nothing was counted.
 */
export function finePercentileMs(buckets: FineBuckets, fraction: number): number | undefined {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`fraction must be within 0..1, got ${fraction}`);
  const total = countOf(buckets);
  if (total === 0) return undefined;
  const rank = Math.min(total - 1, Math.floor(fraction * total));
  let seen = 0;
  for (const bound of [...buckets.keys()].sort((a, b) => a - b)) {
    seen += buckets.get(bound)!;
    if (seen > rank) return bound / 1000;
  }
  throw new Error('unreachable: the counts add up to less than their total');
}

export async function readInstanceTiming(state: StackState): Promise<InstanceTiming> {
  const pages = await Promise.all(
    state.instances.map((instance) =>
      instance.admin === null ? undefined : getFromListenAddress(instance.admin, '/timing', TIMING_TIMEOUT_MS),
    ),
  );
  return parseTimingPages(pages.map((page) => (page?.status === 200 ? page.body : '')));
}
