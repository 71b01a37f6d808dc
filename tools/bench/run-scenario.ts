// Runs one benchmark scenario and measures it: its throughput and latency,
// its errors and unexpected answers, and the CPU time and peak memory of
// every process of the stack (and of the load generator) while it ran. HTTP
// scenarios go through a LoadGenerator; the database ceilings call
// PostgreSQL straight through a pg pool, no HTTP.

import pg from 'pg';
import type { StackState } from '../../src/stack/state.js';
import { LatencyHistogram, type LatencySummary } from './load/latency-histogram.js';
import type { LoadGenerator, LoadModel, LoadRequest } from './load/load-generator.js';
import {
  ownCpuSeconds,
  SAMPLE_INTERVAL_MS,
  SAMPLER_GROUP,
  startSampling,
  type GroupUsage,
  type ProcessGroup,
} from './process-stats.js';
import type { ScenarioResult } from './report/report.js';

/** What every scenario against one stack shares. */
export interface BenchSetup {
  url: string;
  databaseUrl: string;
  /** The stack's processes, sampled while each scenario runs. */
  groups: ProcessGroup[];
}

export interface HttpScenario {
  name: string;
  description: string;
  /** The statuses a correct service answers; any other counts as unexpected. */
  expected: ReadonlySet<number>;
  /** A sample of what it sends, in order; a generator goes around it. */
  requests: () => LoadRequest[];
}

export interface DatabaseScenario {
  name: string;
  /** The SQL function it calls, for the description. */
  calls: string;
  /** Resolves when the call applied; may say how often it was sent again on the way. */
  call: (pool: pg.Pool) => Promise<unknown>;
}

/** What a database call reports besides its latency: how often it was sent again. */
export interface DatabaseCallOutcome {
  busyRetries: number;
}

/** The status-count key under which a database scenario reports its busy retries (not counted as calls). */
export const BUSY_RETRIES_KEY = 'cliente_ocupado, sent again';

/** How a scenario is driven: by which generator, under which model, for how long. */
export interface Drive {
  generator: LoadGenerator;
  model: LoadModel;
  durationSeconds: number;
}

export const LOAD_GENERATOR_GROUP = 'load generator';

export async function runHttpScenario(
  setup: BenchSetup,
  scenario: HttpScenario,
  drive: Drive,
): Promise<ScenarioResult> {
  const startedAt = new Date().toISOString();
  const { outcome, usage } = await measured(
    setup.groups,
    () =>
      drive.generator.run({
        url: setup.url,
        model: drive.model,
        durationSeconds: drive.durationSeconds,
        requests: scenario.requests(),
      }),
    drive.model.kind === 'open' ? SAMPLE_INTERVAL_MS.latency : SAMPLE_INTERVAL_MS.saturation,
  );
  let unexpectedStatuses = 0;
  for (const [status, count] of Object.entries(outcome.statusCounts)) {
    if (!scenario.expected.has(Number(status))) unexpectedStatuses += count;
  }
  return {
    name: scenario.name,
    description: scenario.description,
    generator: drive.generator.name,
    model: drive.model,
    ...throughput(outcome.latency, outcome.elapsedSeconds),
    sendLagMs: outcome.sendLag,
    errors: outcome.errors,
    unexpectedStatuses,
    statusCounts: outcome.statusCounts,
    usage,
    slowest: outcome.slowest,
    startedAt,
  };
}

/** The database ceiling: the same function, the same concurrency, no HTTP and no instances. */
export async function runDatabaseScenario(
  setup: BenchSetup,
  scenario: DatabaseScenario,
  options: { poolSize: number; callers: number; durationSeconds: number },
): Promise<ScenarioResult> {
  const pool = new pg.Pool({
    connectionString: setup.databaseUrl,
    max: options.poolSize,
    application_name: 'crebito-bench',
  });
  try {
    // Open every connection first so the measurement does not include it.
    await Promise.all(Array.from({ length: options.poolSize }, () => pool.query('SELECT 1')));
    const { outcome, usage } = await measured(setup.groups, () => callUntil(pool, scenario.call, options));
    return {
      name: scenario.name,
      description: `${scenario.calls} through a pg pool of ${options.poolSize}, no HTTP`,
      generator: 'pg pool, in the bench',
      model: { kind: 'closed', connections: options.callers },
      ...throughput(outcome.latency.summary(), options.durationSeconds),
      sendLagMs: undefined,
      errors: outcome.errors,
      unexpectedStatuses: 0,
      statusCounts: { [BUSY_RETRIES_KEY]: outcome.busyRetries },
      usage,
    };
  } finally {
    await pool.end();
  }
}

function throughput(
  latency: LatencySummary,
  elapsedSeconds: number,
): Pick<ScenarioResult, 'requestsPerSecond' | 'latencyMs' | 'requests'> {
  return { requestsPerSecond: latency.count / elapsedSeconds, latencyMs: latency, requests: latency.count };
}

/** `callers` callers, each calling again as soon as its call returns, until the duration has passed. */
async function callUntil(
  pool: pg.Pool,
  call: DatabaseScenario['call'],
  options: { callers: number; durationSeconds: number },
): Promise<{ latency: LatencyHistogram; errors: number; busyRetries: number }> {
  const latency = new LatencyHistogram();
  let errors = 0;
  let busyRetries = 0;
  const deadline = Date.now() + options.durationSeconds * 1000;
  const caller = async () => {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint();
      try {
        const outcome = await call(pool);
        latency.record(Number(process.hrtime.bigint() - started) / 1e6);
        busyRetries += (outcome as Partial<DatabaseCallOutcome> | undefined)?.busyRetries ?? 0;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.callers }, caller));
  return { latency, errors, busyRetries };
}

/**
 * Runs work() while sampling the stack's processes and the load
 * generator's. The generator's CPU comes from this process's own counters,
 * which include the children it reaped (wrk exits before sampling ends),
 * less what the sampling itself took.
 */
export async function measured<T>(
  groups: ProcessGroup[],
  work: () => Promise<T>,
  intervalMs: number = SAMPLE_INTERVAL_MS.saturation,
): Promise<{ outcome: T; usage: GroupUsage[] }> {
  const stop = startSampling(groups, intervalMs);
  const cpuBefore = ownCpuSeconds();
  try {
    const outcome = await work();
    const ownSeconds = ownCpuSeconds() - cpuBefore;
    const usage = stop();
    const samplingSeconds = usage.find((group) => group.name === SAMPLER_GROUP)!.cpuSeconds;
    return {
      outcome,
      usage: usage.map((group) =>
        group.name === LOAD_GENERATOR_GROUP
          ? { ...group, cpuSeconds: Math.max(0, ownSeconds - samplingSeconds) }
          : group,
      ),
    };
  } catch (error) {
    stop(); // the sampling timer must not outlive a failed scenario
    throw error;
  }
}

/**
 * What the scenarios against a running stack need: its address, and its
 * processes by part, then the load generator (this process and its
 * children, less the launchers of the stacks this process started).
 */
export function setupFor(state: StackState, otherLauncherPids: number[] = []): BenchSetup {
  const groups: ProcessGroup[] = [];
  if (state.nginx?.pid !== undefined) groups.push({ name: 'nginx', rootPid: state.nginx.pid });
  for (const instance of state.instances)
    if (instance.pid !== undefined) groups.push({ name: instance.name, rootPid: instance.pid });
  if (state.postgres !== null) groups.push({ name: 'postgres', rootPid: state.postgres.pid });
  groups.push({
    name: LOAD_GENERATOR_GROUP,
    rootPid: process.pid,
    excludedPids: [state.launcherPid, ...otherLauncherPids],
  });
  // As the instances log in, so that the database ceilings measure what they run.
  return { url: `http://127.0.0.1:${state.port}`, databaseUrl: state.instanceDatabaseUrl, groups };
}
