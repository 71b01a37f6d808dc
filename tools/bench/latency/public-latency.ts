// One request at the public test's rate against the limit the machine
// allows (limit.ts): crebito's mix just up and warm, the HTTP floor, and
// PostgreSQL alone (db-alone.ts), each percentile side by side; each of the
// two references confirmed by a second generator (pgbench, wrk); then the
// breakdown of where the time goes (breakdown.ts).

import { execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { LatencyHistogram } from '../load/latency-histogram.js';
import { DB_ALONE_WORKER_ENTRY } from '../paths.js';
import type { DbAloneTask, DbAloneWorkerResult } from './db-alone-worker.js';
import type { StackState } from '../../../src/stack/state.js';
import type { ScenarioResult } from '../report/report.js';
import { measured, type BenchSetup } from '../run-scenario.js';
import { SAMPLE_INTERVAL_MS } from '../process-stats.js';
import { PUBLIC_TEST_RATE_PER_SECOND, WARM_PUBLIC_MIX } from '../scenarios.js';
import { measureBreakdown, runDirectoryOf, type Breakdown } from './breakdown.js';
import { DB_ALONE_CONNECTIONS, DB_ALONE_NAME, type DbAloneOutcome } from './db-alone.js';
import {
  agreement,
  judge,
  limitOf,
  PERCENTILE_LABELS,
  overLimit,
  percentilesOf,
  type GoalVerdict,
  type Percentile,
  type Percentiles,
} from './limit.js';
import { PGBENCH_NAME, runPgbench } from './pgbench.js';
import { runWrkPaced, WRK_FLOOR_GENERATOR, WRK_FLOOR_NAME, WRK_FLOOR_NOTE, WRK_FLOOR_POLICY } from './wrk-paced.js';
import { milliseconds } from '../report/report.js';

export const JUST_UP_MIX = 'mix@public';
export const PUBLIC_FLOOR = 'http-floor@public';

export interface Reference {
  name: string;
  generator: string;
  latencyMs: Percentiles;
  requestsPerSecond: number;
  errors: number;
  /** The bench's own figure over this one's, at p50 and p99. */
  agreement: { percentile: Percentile; ratio: number; within: boolean }[];
  /** What both time, and what differs between them that the figures carry. */
  note: string;
}

export interface LatencyLimit {
  databaseMode: string;
  /** `uptime` before and after the runs: the machine's load, which the figures carry. */
  uptime: { before: string; after: string };
  justUp: Percentiles;
  warm: Percentiles;
  floor: Percentiles;
  database: Percentiles;
  limit: Percentiles;
  /** crebito just up and warm, over the limit. */
  overLimit: { justUp: Percentiles; warm: Percentiles };
  verdicts: { justUp: GoalVerdict[]; warm: GoalVerdict[] };
  /** The stall the public test meets on a stack just up: p99.9 just up over warm. */
  justUpOverWarmP999: number;
  references: Reference[];
  breakdown: Breakdown | undefined;
  stalls: StallEvidence;
  /** How late the generator sent its p99 request in each run: on a busy machine, its own share of the figures. */
  sendLagP99Ms: { justUp: number; warm: number; floor: number; database: number };
}

/**
 * What to line a stall up with: the slowest answers of the runs at the public rate, and what PostgreSQL logged
 * meanwhile.
 */
export interface StallEvidence {
  slowest: { scenario: string; answers: { latencyMs: number; secondsIntoRun: number }[] }[];
  databaseEvents: string[];
}

/** Generators start their load this long after they are started (node-load.ts's START_DELAY_MS). */
const LOAD_START_DELAY_S = 0.15;

export function stallEvidence(scenarios: ScenarioResult[], databaseEvents: string[]): StallEvidence {
  const slowest = scenarios
    .filter(
      (scenario) =>
        scenario.slowest !== undefined && scenario.startedAt !== undefined && scenario.name.includes('@public'),
    )
    .map((scenario) => {
      const startedMs = Date.parse(scenario.startedAt!);
      return {
        scenario: scenario.name,
        answers: scenario.slowest!.map((answer) => ({
          latencyMs: answer.latencyMs,
          secondsIntoRun: (Date.parse(answer.answeredAt) - answer.latencyMs - startedMs) / 1000 - LOAD_START_DELAY_S,
        })),
      };
    });
  return { slowest, databaseEvents };
}

export function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime: not available';
  }
}

/** db-alone.ts in a worker thread (db-alone-worker.ts says why). */
function runDbAloneInWorker(task: DbAloneTask): Promise<DbAloneOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(DB_ALONE_WORKER_ENTRY, { workerData: task });
    worker.once('message', (result: DbAloneWorkerResult) => {
      resolve({
        latency: LatencyHistogram.fromSnapshot(result.latency),
        sendLag: LatencyHistogram.fromSnapshot(result.sendLag),
        errors: result.errors,
        firstError: result.firstError,
      });
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the PostgreSQL-alone worker exited (${code}) before it reported`)));
  });
}

/** PostgreSQL alone at the public rate, as a scenario of the report (its CPU sampled like the others'). */
export async function runDbAloneScenario(setup: BenchSetup, durationSeconds: number): Promise<ScenarioResult> {
  const { outcome, usage } = await measured(
    setup.groups,
    () =>
      runDbAloneInWorker({
        databaseUrl: setup.databaseUrl,
        ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND,
        durationSeconds,
      }),
    SAMPLE_INTERVAL_MS.latency,
  );
  if (outcome.firstError !== undefined)
    console.log(`${DB_ALONE_NAME}: ${outcome.errors} errors, the first: ${outcome.firstError}`);
  const latency = outcome.latency.summary();
  return {
    name: DB_ALONE_NAME,
    description:
      `the public mix as the instances' own prepared calls, ${PUBLIC_TEST_RATE_PER_SECOND} ` +
      `calls/s, ${DB_ALONE_CONNECTIONS} connections each on its own client row (no call waits for another's ` +
      `lock), no HTTP`,
    generator: 'pg clients, in the bench',
    model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'keep-alive' },
    requestsPerSecond: latency.count / durationSeconds,
    latencyMs: latency,
    requests: latency.count,
    sendLagMs: outcome.sendLag.summary(),
    errors: outcome.errors,
    unexpectedStatuses: 0,
    statusCounts: {},
    usage,
  };
}

/** The two references again, by their second generators, each timed as the bench's own generator times it. */
export async function runReferences(
  setup: BenchSetup,
  measuredFloor: Percentiles,
  measuredDatabase: Percentiles,
  durationSeconds: number,
): Promise<Reference[]> {
  const rate = { ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, durationSeconds };
  const pgbench = await runPgbench(setup.databaseUrl, rate);
  const pgbenchLatency = percentilesOf(pgbench.latency.summary());
  // The bench's own generator again, with pgbench's arrivals: the same thing measured by both.
  const poisson = await runDbAloneInWorker({ databaseUrl: setup.databaseUrl, ...rate, arrivals: 'poisson' });
  const poissonLatency = percentilesOf(poisson.latency.summary());
  const evenOverPgbench = agreement(measuredDatabase, pgbenchLatency);
  const wrk = await runWrkPaced(setup.url, {
    ...rate,
    ...WRK_FLOOR_POLICY,
    expectedLatencyUs: measuredFloor.p50 * 1000,
  });
  return [
    {
      name: PGBENCH_NAME,
      generator: `pgbench ${pgbench.version}, -M prepared --rate, timed from each call's start`,
      latencyMs: pgbenchLatency,
      requestsPerSecond: pgbench.latency.count / durationSeconds,
      errors: pgbench.failed,
      agreement: agreement(poissonLatency, pgbenchLatency),
      note:
        "the bench's own generator with pgbench's arrivals (Poisson-spaced, on whichever connection is free, timed " +
        `from each call's start) measured p50 ${milliseconds(poissonLatency.p50)}, p99 ` +
        `${milliseconds(poissonLatency.p99)} ms, held to pgbench's in the agreement column. Its reference for the ` +
        'limit sends evenly spaced calls, in turn, as the mix is sent; at Poisson times calls overlap more often, and in ' +
        "durable mode an overlapping commit waits on another's fsync: the reference / pgbench is " +
        `${evenOverPgbench.map((each) => `${PERCENTILE_LABELS[each.percentile]} ${(each.ratio * 100).toFixed(0)}%`).join(', ')}. ` +
        `pgbench from its schedule, as --rate reports it: p50 ${milliseconds(pgbench.fromSchedule.summary().p50)}, ` +
        `p99 ${milliseconds(pgbench.fromSchedule.summary().p99)} ms (schedule lag p99 ` +
        `${milliseconds(pgbench.scheduleLag.summary().p99)} ms)`,
    },
    {
      name: WRK_FLOOR_NAME,
      generator: WRK_FLOOR_GENERATOR,
      latencyMs: wrk.latency,
      requestsPerSecond: wrk.requestsPerSecond,
      errors: wrk.errors,
      agreement: agreement(measuredFloor, wrk.latency),
      note: WRK_FLOOR_NOTE,
    },
  ];
}

export function latencyLimit(input: {
  scenarios: ScenarioResult[];
  references: Reference[];
  breakdown: Breakdown | undefined;
  databaseMode: string;
  uptime: LatencyLimit['uptime'];
  databaseEvents: string[];
}): LatencyLimit {
  const of = (name: string) => {
    const scenario = input.scenarios.find((candidate) => candidate.name === name);
    if (scenario === undefined) throw new Error(`no scenario named ${name} was measured`);
    return percentilesOf(scenario.latencyMs);
  };
  const [justUp, warm, floor, database] = [of(JUST_UP_MIX), of(WARM_PUBLIC_MIX), of(PUBLIC_FLOOR), of(DB_ALONE_NAME)];
  const lag = (name: string) => input.scenarios.find((candidate) => candidate.name === name)?.sendLagMs?.p99 ?? 0;
  const limit = limitOf(floor, database);
  const ratios = { justUp: overLimit(justUp, limit), warm: overLimit(warm, limit) };
  return {
    databaseMode: input.databaseMode,
    uptime: input.uptime,
    justUp,
    warm,
    floor,
    database,
    limit,
    overLimit: ratios,
    verdicts: { justUp: judge(ratios.justUp), warm: judge(ratios.warm) },
    justUpOverWarmP999: justUp.p999 / warm.p999,
    references: input.references,
    breakdown: input.breakdown,
    stalls: stallEvidence(input.scenarios, input.databaseEvents),
    sendLagP99Ms: {
      justUp: lag(JUST_UP_MIX),
      warm: lag(WARM_PUBLIC_MIX),
      floor: lag(PUBLIC_FLOOR),
      database: lag(DB_ALONE_NAME),
    },
  };
}

export async function runBreakdown(
  setup: BenchSetup,
  state: StackState,
  dataDirectory: string,
  durationSeconds: number,
): Promise<Breakdown> {
  return measureBreakdown(setup, state, { runDirectory: runDirectoryOf(dataDirectory), durationSeconds });
}
