// The benchmark's latency histogram: percentiles as close to the exact ones
// as it promises, and memory that does not grow with the number of requests.

import { describe, expect, it } from 'vitest';
import { LATENCY_MAX_US, LatencyHistogram } from '../../tools/bench/load/latency-histogram.js';

// The report's percentiles, and a thousand more between, so a bucket off by half its width shows.
const FRACTIONS = [0.5, 0.9, 0.99, 0.999, ...Array.from({ length: 1001 }, (_, index) => index / 1000)];

/** What the bench reported before the histogram: the value at rank floor(fraction × n) of the sorted list. */
function exactPercentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** A deterministic spread of latencies from a few µs to seconds, heavier at the fast end as real ones are. */
function latenciesMs(count: number): Float64Array {
  let seed = 42;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Float64Array.from({ length: count }, () => 0.002 * 10 ** (next() * 6));
}

describe('LatencyHistogram', () => {
  it('reports every percentile within 1/256 of the exact value, and 1 µs below 256 µs', () => {
    const values = latenciesMs(200_000);
    const histogram = new LatencyHistogram();
    for (const value of values) histogram.record(value);
    const sorted = Float64Array.from(values).sort();
    expect(histogram.count).toBe(values.length);
    for (const fraction of FRACTIONS) {
      const exact = exactPercentile(sorted, fraction);
      // Half a microsecond from rounding to whole µs, then half a bucket.
      expect(Math.abs(histogram.percentileMs(fraction) - exact), `fraction ${fraction}`).toBeLessThanOrEqual(
        exact / 256 + 0.0005,
      );
    }
  });

  it('is exact for whole microseconds below 256 µs', () => {
    const histogram = new LatencyHistogram();
    for (let microseconds = 0; microseconds < 256; microseconds++) histogram.record(microseconds / 1000);
    expect(histogram.percentileMs(0)).toBe(0);
    expect(histogram.percentileMs(0.5)).toBe(0.128);
    expect(histogram.percentileMs(1)).toBe(0.255);
  });

  it('keeps the same few kilobytes however many latencies it records', () => {
    const histogram = new LatencyHistogram();
    const bytes = histogram.byteLength;
    expect(bytes).toBeLessThanOrEqual(32 * 1024);
    for (let index = 0; index < 2_000_000; index++) histogram.record((index % 100_000) * 0.37);
    expect(histogram.byteLength).toBe(bytes);
    expect(histogram.count).toBe(2_000_000);
  });

  it('counts latencies past its range as the longest it tells apart, and says how many', () => {
    const histogram = new LatencyHistogram();
    histogram.record(1);
    histogram.record((LATENCY_MAX_US / 1000) * 3);
    expect(histogram.clamped).toBe(1);
    const longestMs = LATENCY_MAX_US / 1000;
    expect(Math.abs(histogram.percentileMs(1) - longestMs)).toBeLessThanOrEqual(longestMs / 256);
  });

  it('reports 0 for an empty histogram and refuses a negative or missing latency', () => {
    const histogram = new LatencyHistogram();
    expect(histogram.percentileMs(0.99)).toBe(0);
    expect(() => histogram.record(-1)).toThrow(/latency/);
    expect(() => histogram.record(Number.NaN)).toThrow(/latency/);
    expect(() => histogram.percentileMs(1.5)).toThrow(/fraction/);
  });
});

describe('LatencyHistogram across threads', () => {
  it('adds histograms as if every latency had been recorded in one, through a snapshot', () => {
    const values = latenciesMs(30_000);
    const whole = new LatencyHistogram();
    const parts = [new LatencyHistogram(), new LatencyHistogram(), new LatencyHistogram()];
    values.forEach((value, index) => {
      whole.record(value);
      parts[index % parts.length]!.record(value);
    });
    const merged = new LatencyHistogram();
    for (const part of parts) merged.add(LatencyHistogram.fromSnapshot(part.snapshot()));
    expect(merged.summary()).toEqual(whole.summary());
    for (const fraction of FRACTIONS) expect(merged.percentileMs(fraction)).toBe(whole.percentileMs(fraction));
  });

  it("keeps the exact maximum, not its bucket's middle", () => {
    const histogram = new LatencyHistogram();
    for (const value of [0.5, 123.4567, 7]) histogram.record(value);
    expect(histogram.maxMs).toBe(123.4567);
    expect(histogram.summary()).toMatchObject({ count: 3, max: 123.4567 });
  });

  it('refuses a snapshot of another size', () => {
    expect(() => LatencyHistogram.fromSnapshot({ counts: new Float64Array(10), clamped: 0, maxMs: 0 })).toThrow(
      /buckets/,
    );
  });
});
