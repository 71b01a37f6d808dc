// Where one request's time goes at the public test's rate, hop by hop: the
// mix at that rate once more, with nginx's timing log, PostgreSQL's
// statement log and the instances' metrics read around it (hop-sources.ts).
// Logging every request and statement costs a little itself, so this run is
// its own, after the limit's runs, and its client-side figures are shown
// beside the hops so that the two can be set against each other.

import path from 'node:path';
import { getFromListenAddress } from '../../../src/stack/http.js';
import type { StackState } from '../../../src/stack/state.js';
import { LatencyHistogram } from '../load/latency-histogram.js';
import { nodeLoad } from '../load/node-load.js';
import { runHttpScenario, type BenchSetup } from '../run-scenario.js';
import { MIX, openAt } from '../scenarios.js';
import type { ScenarioResult } from '../report/report.js';
import { nginxTimingLog, postgresTiming, type NginxTiming, type PostgresTiming } from './hop-sources.js';
import { bucketsBetween, bucketsOf, percentileBound, sumOf } from './prometheus-text.js';
import {
  countOf,
  fineBucketsBetween,
  finePercentileMs,
  readInstanceTiming,
  type FineBuckets,
  type InstanceTiming,
} from './instance-timing.js';

const METRICS_TIMEOUT_MS = 2000;

/** One hop's percentiles in ms; `atMost`: the figures are histogram bucket bounds (the true value is at most this). */
export interface HopRow {
  hop: string;
  source: string;
  count: number;
  p50: number | undefined;
  p99: number | undefined;
  p999: number | undefined;
  max: number | undefined;
  atMost: boolean;
}

export interface Breakdown {
  scenario: ScenarioResult;
  hops: HopRow[];
  /** Figures that are counts or averages rather than percentiles. */
  facts: string[];
  /** What PostgreSQL logged during the run besides statements (checkpoints, autovacuum). */
  databaseEvents: string[];
}

function exactRow(hop: string, source: string, histogram: LatencyHistogram): HopRow {
  const summary = histogram.summary();
  return {
    hop,
    source,
    count: summary.count,
    p50: summary.p50,
    p99: summary.p99,
    p999: summary.p999,
    max: summary.count === 0 ? undefined : summary.max,
    atMost: false,
  };
}

async function scrapeAll(state: StackState): Promise<string> {
  const pages = await Promise.all(
    state.instances.map((instance) =>
      instance.admin === null ? undefined : getFromListenAddress(instance.admin, '/metrics', METRICS_TIMEOUT_MS),
    ),
  );
  return pages.map((page) => page?.body ?? '').join('\n');
}

/** A histogram of the instances' metrics over the run, as bucket bounds in ms. */
function metricRow(
  hop: string,
  before: string,
  after: string,
  histogram: string,
  match: Record<string, string> = {},
): HopRow {
  const buckets = bucketsBetween(bucketsOf(before, histogram, match), bucketsOf(after, histogram, match));
  const ms = (fraction: number) => {
    const bound = percentileBound(buckets, fraction);
    return bound === undefined ? undefined : bound * 1000;
  };
  return {
    hop,
    source: `instances' /metrics (${histogram})`,
    count: buckets.get(Infinity) ?? 0,
    p50: ms(0.5),
    p99: ms(0.99),
    p999: ms(0.999),
    max: ms(1),
    atMost: true,
  };
}

export async function measureBreakdown(
  setup: BenchSetup,
  state: StackState,
  options: { runDirectory: string; durationSeconds: number },
): Promise<Breakdown> {
  const stopNginx = await nginxTimingLog(state, options.runDirectory);
  const stopPostgres = await postgresTiming(state);
  const metricsBefore = await scrapeAll(state);
  const timingBefore = await readInstanceTiming(state);
  const { scenario: mix, model } = openAt(MIX, 'public');
  const scenario = await runHttpScenario(
    setup,
    { ...mix, name: `${mix.name}, breakdown` },
    { generator: nodeLoad, model, durationSeconds: options.durationSeconds },
  );
  const metricsAfter = await scrapeAll(state);
  const timingAfter = await readInstanceTiming(state);
  const nginx = await stopNginx();
  const postgres = await stopPostgres();
  const { p50, p99, p999, max } = scenario.latencyMs;
  const hops: HopRow[] = [
    {
      hop: 'client: sent to last byte (new connection each)',
      source: scenario.generator,
      count: scenario.requests,
      p50,
      p99,
      p999,
      max,
      atMost: false,
    },
  ];
  if (nginx !== undefined) hops.push(...nginxRows(nginx));
  const fine = instanceRows(timingBefore, timingAfter);
  if (fine.length > 0) hops.push(...fine);
  else
    hops.push(
      metricRow('instance: first byte to answer', metricsBefore, metricsAfter, 'crebito_http_request_duration_seconds'),
      metricRow(
        'instance: event-loop delay (sampled every 100 ms)',
        metricsBefore,
        metricsAfter,
        'crebito_event_loop_delay_seconds',
      ),
    );
  hops.push(metricRow('instance: GC pauses', metricsBefore, metricsAfter, 'crebito_gc_pause_seconds'));
  if (postgres !== undefined) hops.push(...postgresRows(postgres));
  return {
    scenario,
    hops,
    facts: facts(metricsBefore, metricsAfter, postgres),
    databaseEvents: postgres?.events ?? [],
  };
}

/** The phases of a request inside an instance, in the order it meets them, as the breakdown names them. */
const INSTANCE_PHASES: [phase: string, hop: string][] = [
  ['received', 'first byte to its call submitted (body read, checked)'],
  ['waited', 'submitted to its call sent (waiting for a slot or a batch)'],
  ['database', 'call sent to answer (pg, the socket, PostgreSQL, the loop)'],
  ['replied', 'answer to reply written (JSON, the write)'],
  ['total', 'first byte to reply written'],
];
/** The API's routes whose phases the breakdown shows (the mix's). */
const TIMED_ROUTES = ['transacoes', 'extrato'];
const TIMING_SOURCE = "instances' /timing (buckets within 1/64)";

function fineRow(hop: string, buckets: FineBuckets): HopRow {
  return {
    hop,
    source: TIMING_SOURCE,
    count: countOf(buckets),
    p50: finePercentileMs(buckets, 0.5),
    p99: finePercentileMs(buckets, 0.99),
    p999: finePercentileMs(buckets, 0.999),
    max: finePercentileMs(buckets, 1),
    atMost: true,
  };
}

/** Each timed route's phases over the run, and the event loop's lateness; none when the instances serve no /timing. */
export function instanceRows(before: InstanceTiming, after: InstanceTiming): HopRow[] {
  const rows: HopRow[] = [];
  for (const route of TIMED_ROUTES) {
    const phases = after.series.get(route);
    if (phases === undefined) continue;
    for (const [phase, hop] of INSTANCE_PHASES) {
      const buckets = fineBucketsBetween(before.series.get(route)?.get(phase), phases.get(phase));
      if (countOf(buckets) > 0) rows.push(fineRow(`instance, ${route}: ${hop}`, buckets));
    }
  }
  if (rows.length === 0) return rows;
  const loop = fineBucketsBetween(before.eventLoopDelay, after.eventLoopDelay);
  rows.push(fineRow('instance: event-loop delay (a timer every 100 ms)', loop));
  return rows;
}

function nginxRows(nginx: NginxTiming): HopRow[] {
  const source = 'nginx access log, 1 ms resolution';
  return [
    exactRow('nginx: request in to response out ($request_time)', source, nginx.total),
    exactRow('nginx → instance → nginx ($upstream_response_time)', source, nginx.upstream),
    exactRow('nginx itself (the difference, per request)', source, nginx.nginxOwn),
  ];
}

function postgresRows(postgres: PostgresTiming): HopRow[] {
  // The bench's own statements (bench_*) and the superuser's are not the instances'.
  return [...postgres.executeByStatement]
    .filter(([name]) => !name.includes(' bench_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, histogram]) =>
      exactRow(
        `PostgreSQL: ${name}${name.startsWith('execute') ? ' (the function, before its commit)' : ''}`,
        "server log, every statement's duration",
        histogram,
      ),
    );
}

function facts(before: string, after: string, postgres: PostgresTiming | undefined): string[] {
  const lines: string[] = [];
  const calls = bucketsBetween(
    bucketsOf(before, 'crebito_database_call_size', { operation: 'transacoes' }),
    bucketsOf(after, 'crebito_database_call_size', { operation: 'transacoes' }),
  );
  const callCount = calls.get(Infinity) ?? 0;
  const requests =
    sumOf(after, 'crebito_database_call_size_sum', { operation: 'transacoes' }) -
    sumOf(before, 'crebito_database_call_size_sum', { operation: 'transacoes' });
  const alone = calls.get(1) ?? 0;
  if (callCount > 0) {
    const shared = requests - alone;
    lines.push(
      `transaction calls: ${callCount} carrying ${requests} requests; ${alone} went alone, ${shared} ` +
        `(${((shared / requests) * 100).toFixed(1)}%) shared a call: each of those found no call slot it ` +
        `could take and waited for a call in flight to finish first.`,
    );
  }
  const retries =
    sumOf(after, 'crebito_requests_busy_retries_total', { outcome: 'retried' }) -
    sumOf(before, 'crebito_requests_busy_retries_total', { outcome: 'retried' });
  lines.push(
    `requests sent again because another session held their client's row (no lock waits: the functions never ` +
      `wait for a row): ${retries}.`,
  );
  const wal = postgres?.wal;
  if (wal !== undefined) {
    const average = (ms: number, count: number) => (count > 0 ? `${(ms / count).toFixed(3)} ms on average` : 'none');
    lines.push(
      `WAL: ${wal.writes} writes (${average(wal.writeMs, wal.writes)}), ${wal.fsyncs} fsyncs ` +
        `(${average(wal.fsyncMs, wal.fsyncs)}): the commit's cost, after the function (PostgreSQL counts no ` +
        `per-commit percentiles).`,
    );
  }
  return lines;
}

/** The run directory of a stack: where the launcher renders nginx.conf. */
export const runDirectoryOf = (dataDirectory: string) => path.join(dataDirectory, 'run');
