// The instance's fine per-request timing (src/instance/timing.ts) and the
// bench's reading of it (tools/bench/latency/instance-timing.ts): a bucket
// that held the wrong values, or a percentile read from the wrong rank, would
// put a p99's extra in the wrong phase.

import { describe, expect, it } from 'vitest';
import { bucketIndexOf, bucketUpperUs, FineHistogram, RequestTiming } from '../../src/instance/timing.js';
import {
  countOf,
  fineBucketsBetween,
  finePercentileMs,
  parseTimingPages,
} from '../../tools/bench/latency/instance-timing.js';
import { instanceRows } from '../../tools/bench/latency/breakdown.js';

describe("the instance's fine buckets", () => {
  it('give every value below 128 µs its own bucket, and each bucket above holds values within 1/64 of its bound', () => {
    for (const us of [0, 1, 63, 64, 127]) expect(bucketUpperUs(bucketIndexOf(us))).toBe(us);
    for (const us of [128, 129, 255, 256, 1000, 1234, 4095, 4096, 123_456, 59_999_999]) {
      const upper = bucketUpperUs(bucketIndexOf(us));
      expect(upper).toBeGreaterThanOrEqual(us);
      expect((upper - us) / us).toBeLessThan(1 / 64);
    }
  });

  it('are contiguous: each bucket starts just past the one before it', () => {
    for (let index = 1; index < bucketIndexOf(60_000_000); index++)
      expect(bucketIndexOf(bucketUpperUs(index - 1) + 1)).toBe(index);
  });

  it('count what was recorded, rounding to the microsecond and clamping below 0', () => {
    const histogram = new FineHistogram();
    histogram.record(0.0004);
    histogram.record(-0);
    histogram.record(1.2);
    histogram.record(1.2);
    expect(histogram.sparse()).toEqual([
      [0, 2],
      [bucketUpperUs(bucketIndexOf(1200)), 2],
    ]);
  });
});

describe('a request timed in its phases', () => {
  it('records before, after and around its call, and only the total for a request with no call', () => {
    const timing = new RequestTiming();
    timing.answered('transacoes', { startedMs: 10, submittedMs: 10.05, answeredMs: 11.05 }, 11.1);
    timing.waited('transacoes', 0.2);
    timing.called('transacoes', 0.8, 2);
    timing.answered('health', { startedMs: 5, submittedMs: 0, answeredMs: 0 }, 5.01);
    const page = JSON.parse(timing.render()) as { series: Record<string, Record<string, [number, number][]>> };
    expect(page.series.transacoes!.total).toEqual([[bucketUpperUs(bucketIndexOf(1100)), 1]]);
    expect(page.series.transacoes!.received).toEqual([[50, 1]]);
    expect(page.series.transacoes!.replied).toEqual([[50, 1]]);
    expect(page.series.transacoes!.waited).toEqual([[bucketUpperUs(bucketIndexOf(200)), 1]]);
    expect(page.series.transacoes!.database).toEqual([[bucketUpperUs(bucketIndexOf(800)), 2]]);
    expect(Object.keys(page.series.health!)).toEqual(['total']);
  });
});

describe("the bench's reading of /timing", () => {
  const page = (total: [number, number][], loop: [number, number][] = []) =>
    JSON.stringify({ series: { transacoes: { total } }, eventLoopDelay: loop });

  it('sums the instances, subtracts two reads and takes the percentile at its rank', () => {
    const before = parseTimingPages([page([[500, 10]]), page([[900, 5]]), '']);
    const after = parseTimingPages([
      page([
        [500, 60],
        [1000, 30],
      ]),
      page([
        [900, 15],
        [5000, 1],
      ]),
    ]);
    const run = fineBucketsBetween(
      before.series.get('transacoes')!.get('total'),
      after.series.get('transacoes')!.get('total'),
    );
    expect([...run].sort((a, b) => a[0] - b[0])).toEqual([
      [500, 50],
      [900, 10],
      [1000, 30],
      [5000, 1],
    ]);
    expect(countOf(run)).toBe(91);
    expect(finePercentileMs(run, 0.5)).toBe(0.5);
    expect(finePercentileMs(run, 0.6)).toBe(0.9);
    expect(finePercentileMs(run, 0.98)).toBe(1);
    expect(finePercentileMs(run, 0.99)).toBe(5);
    expect(finePercentileMs(run, 1)).toBe(5);
    expect(finePercentileMs(new Map(), 0.5)).toBeUndefined();
  });

  it('refuses a count that went down (an instance restarted between the reads) and a bucket it cannot read', () => {
    expect(() => fineBucketsBetween(new Map([[500, 3]]), new Map([[500, 2]]))).toThrow(/restart/);
    expect(() => parseTimingPages([page([[-1, 2]])])).toThrow(/cannot read/);
  });

  it("gives the breakdown one row per timed route's phase, and the event loop's, or none without /timing", () => {
    const before = parseTimingPages([page([[500, 1]], [[100, 1]])]);
    const after = parseTimingPages([
      page(
        [[500, 3]],
        [
          [100, 1],
          [2000, 1],
        ],
      ),
    ]);
    const rows = instanceRows(before, after);
    expect(rows.map((row) => [row.hop, row.count, row.p50])).toEqual([
      ['instance, transacoes: first byte to reply written', 2, 0.5],
      ['instance: event-loop delay (a timer every 100 ms)', 1, 2],
    ]);
    expect(instanceRows(parseTimingPages([]), parseTimingPages([]))).toEqual([]);
  });
});
