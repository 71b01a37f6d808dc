// The latency limit's arithmetic (tools/bench/latency/limit.ts) and the
// parsers that feed the breakdown: a wrong sum, ratio or parsed line would
// make the bench's verdict say something other than what was measured.

import { describe, expect, it } from 'vitest';
import { agreement, judge, limitOf, overLimit, type Percentiles } from '../../tools/bench/latency/limit.js';
import { latencyUsOfLogLine, timesUsOfLogLine } from '../../tools/bench/latency/pgbench.js';
import { parseNginxTiming, parsePostgresLog } from '../../tools/bench/latency/hop-sources.js';
import { bucketsBetween, bucketsOf, percentileBound, sumOf } from '../../tools/bench/latency/prometheus-text.js';
import { parseWrkPaced } from '../../tools/bench/latency/wrk-paced.js';
import { nextIntervalMs } from '../../tools/bench/latency/db-alone.js';

const floor: Percentiles = { p50: 0.27, p99: 0.71, p999: 4.15, max: 9 };
const database: Percentiles = { p50: 0.54, p99: 1.25, p999: 2.8, max: 4 };

describe('the limit', () => {
  it('adds the floor and PostgreSQL alone percentile by percentile', () => {
    const limit = limitOf(floor, database);
    expect(limit.p50).toBeCloseTo(0.81, 10);
    expect(limit.p99).toBeCloseTo(1.96, 10);
    expect(limit.p999).toBeCloseTo(6.95, 10);
    expect(limit.max).toBeCloseTo(13, 10);
  });

  it('divides crebito by the limit, and refuses a limit of nothing', () => {
    const ratios = overLimit({ p50: 1.62, p99: 1.96, p999: 20.85, max: 13 }, limitOf(floor, database));
    expect(ratios).toEqual({
      p50: expect.closeTo(2, 10),
      p99: expect.closeTo(1, 10),
      p999: expect.closeTo(3, 10),
      max: expect.closeTo(1, 10),
    });
    expect(() => overLimit(floor, { ...floor, p99: 0 })).toThrow(/p99/);
  });

  it('judges p50, p99 and p99.9 against 1.2x, 1.5x and 2x, and never the maximum', () => {
    const verdicts = judge({ p50: 1.2, p99: 1.51, p999: 1.99, max: 50 });
    expect(verdicts.map((each) => [each.percentile, each.goal, each.met])).toEqual([
      ['p50', 1.2, true],
      ['p99', 1.5, false],
      ['p999', 2, true],
    ]);
  });

  it('holds two generators to 10% at p50 and p99', () => {
    const result = agreement({ p50: 1.09, p99: 1.2, p999: 99, max: 99 }, { p50: 1, p99: 1, p999: 1, max: 1 });
    expect(result.map((each) => [each.percentile, each.within])).toEqual([
      ['p50', true],
      ['p99', false],
    ]);
  });
});

describe('the parsers behind the references and the breakdown', () => {
  it("reads pgbench's per-transaction log from the call's actual start (time less its lag), and counts failures", () => {
    expect(latencyUsOfLogLine('0 12 450 1 1733450000 123456 50')).toBe(400);
    expect(latencyUsOfLogLine('1 3 skipped 0 1733450000 123456 9000')).toBe('failed');
    expect(latencyUsOfLogLine('')).toBeUndefined();
    expect(() => latencyUsOfLogLine('0 12 x 1 1733450000 123456 50')).toThrow(/cannot read/);
  });

  it("spaces PostgreSQL alone's calls evenly, or exponentially around the same mean as pgbench --rate does", () => {
    expect(nextIntervalMs(2.94, 'even', 0.99)).toBe(2.94);
    expect(nextIntervalMs(2.94, 'poisson', 0)).toBeCloseTo(0, 10);
    expect(nextIntervalMs(2.94, 'poisson', 1 - Math.exp(-1))).toBeCloseTo(2.94, 10);
    const draws = 100_000;
    let sum = 0;
    for (let index = 0; index < draws; index++) sum += nextIntervalMs(2.94, 'poisson', (index + 0.5) / draws);
    expect(sum / draws).toBeCloseTo(2.94, 1);
  });

  it("reads pgbench's time as from the schedule, its lag apart (the bench times from the send)", () => {
    expect(timesUsOfLogLine('0 12 450 1 1733450000 123456 50')).toEqual({ fromScheduleUs: 450, lagUs: 50 });
    expect(timesUsOfLogLine('1 3 failed 0 1733450000 123456 9000')).toBe('failed');
    expect(timesUsOfLogLine('0 12')).toBeUndefined();
    expect(() => timesUsOfLogLine('0 12 450 1 1733450000 123456 y')).toThrow(/cannot read/);
  });

  it("reads wrk-paced.lua's report in µs as ms", () => {
    const parsed = parseWrkPaced(
      'noise\nwrk-paced ' +
        '{"requests":3400,"durationUs":10000000,"errors":1,"non2xx":2,"p50":270,"p99":710,"p999":4150,"max":9000}\n',
    );
    expect(parsed).toEqual({
      latency: { p50: 0.27, p99: 0.71, p999: 4.15, max: 9 },
      requestsPerSecond: 340,
      errors: 3,
    });
  });

  it("splits nginx's time into the upstream's and its own, summing retried upstreams", () => {
    const timing = parseNginxTiming('0.003|0.002|200\n0.005|0.001, 0.003|200\n0.001|-|400\n');
    expect(timing.total.count).toBe(2);
    expect(timing.upstream.maxMs).toBeCloseTo(4, 6);
    expect(timing.nginxOwn.maxMs).toBeCloseTo(1, 6);
  });

  it("groups PostgreSQL's statement durations by phase and name, and keeps the notable lines", () => {
    const log = [
      '2026-12-06 02:43:55.465 UTC [1] LOG:  duration: 0.461 ms  bind extratos: SELECT 1',
      "2026-12-06 02:43:55.465 UTC [1] DETAIL:  Parameters: $1 = '{5}'",
      '2026-12-06 02:43:55.466 UTC [1] LOG:  duration: 0.110 ms  execute extratos: SELECT 1',
      '2026-12-06 02:43:55.467 UTC [1] LOG:  duration: 0.310 ms  execute registrar_transacao: SELECT 1',
      '2026-12-06 02:43:56.000 UTC [2] LOG:  checkpoint starting: time',
    ].join('\n');
    const parsed = parsePostgresLog(log);
    expect([...parsed.executeByStatement.keys()].sort()).toEqual([
      'bind extratos',
      'execute extratos',
      'execute registrar_transacao',
    ]);
    expect(parsed.executeByStatement.get('execute registrar_transacao')!.maxMs).toBeCloseTo(0.31, 6);
    expect(parsed.events).toEqual(['2026-12-06 02:43:56.000 UTC [2] LOG:  checkpoint starting: time']);
  });

  it("takes a histogram's run from two scrapes and bounds its percentiles by bucket", () => {
    const scrape = (counts: [number, number, number]) =>
      [
        `x_bucket{route="a",le="0.001"} ${counts[0]}`,
        `x_bucket{route="a",le="0.01"} ${counts[1]}`,
        `x_bucket{route="a",le="+Inf"} ${counts[2]}`,
        `x_sum{route="a"} ${counts[2]}`,
      ].join('\n');
    const between = bucketsBetween(bucketsOf(scrape([10, 10, 10]), 'x'), bucketsOf(scrape([100, 109, 110]), 'x'));
    expect(between.get(Infinity)).toBe(100);
    expect(percentileBound(between, 0.5)).toBe(0.001);
    expect(percentileBound(between, 0.95)).toBe(0.01);
    expect(percentileBound(between, 0.999)).toBe(Infinity);
    expect(percentileBound(new Map(), 0.5)).toBeUndefined();
    expect(sumOf(scrape([1, 2, 3]), 'x_sum', { route: 'a' })).toBe(3);
  });
});
