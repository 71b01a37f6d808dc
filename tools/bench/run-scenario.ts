// Runs one benchmark scenario and measures it: its throughput and latency,
// its errors and unexpected answers, and the CPU time and peak memory of
// every process of the stack (and of this process, the load generator)
// while it ran. HTTP scenarios go through a LoadGenerator; the database
// ceilings call PostgreSQL straight through a pg pool, no HTTP.

import pg from 'pg';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadGenerator, LoadRequest } from './load-generator.js';
import { startSampling, type GroupUsage, type ProcessGroup } from './process-stats.js';
import type { ScenarioResult } from './report.js';

/** What every scenario of one bench run shares. */
export interface BenchSetup {
  url: string;
  databaseUrl: string;
  connections: number;
  durationSeconds: number;
  /** The stack's processes, sampled while each scenario runs. */
  groups: ProcessGroup[];
  load: LoadGenerator;
}

export interface HttpScenario {
  name: string;
  description: string;
  /** The statuses a correct service answers; any other counts as unexpected. */
  expected: ReadonlySet<number>;
  /** Offered load in requests per second; unset: as fast as answered. */
  overallRate: number | undefined;
  nextRequest: () => LoadRequest;
}

export interface DatabaseScenario {
  name: string;
  /** The SQL function it calls, for the description. */
  calls: string;
  call: (pool: pg.Pool) => Promise<unknown>;
}

export async function runHttpScenario(setup: BenchSetup, scenario: HttpScenario): Promise<ScenarioResult> {
  const { outcome, usage } = await measured(setup.groups, () => setup.load({
    url: setup.url,
    connections: setup.connections,
    durationSeconds: setup.durationSeconds,
    overallRate: scenario.overallRate,
    nextRequest: scenario.nextRequest,
  }));
  let unexpectedStatuses = 0;
  for (const [status, count] of Object.entries(outcome.statusCounts)) {
    if (!scenario.expected.has(Number(status))) unexpectedStatuses += count;
  }
  return scenarioResult({ ...scenario, durationSeconds: setup.durationSeconds }, outcome.latency, {
    errors: outcome.errors, unexpectedStatuses, statusCounts: outcome.statusCounts, usage,
  });
}

/** The database ceiling: the same function, the same concurrency, no HTTP and no instances. */
export async function runDatabaseScenario(setup: BenchSetup, scenario: DatabaseScenario, poolSize: number): Promise<ScenarioResult> {
  const pool = new pg.Pool({ connectionString: setup.databaseUrl, max: poolSize, application_name: 'crebito-bench' });
  try {
    // Open every connection first so the measurement does not include it.
    await Promise.all(Array.from({ length: poolSize }, () => pool.query('SELECT 1')));
    const { outcome, usage } = await measured(setup.groups, () => callUntil(pool, scenario.call, setup));
    const description = `${scenario.calls} through a pg pool of ${poolSize}, no HTTP`;
    return scenarioResult({ name: scenario.name, description, durationSeconds: setup.durationSeconds }, outcome.latency, {
      errors: outcome.errors, unexpectedStatuses: 0, statusCounts: {}, usage,
    });
  } finally {
    await pool.end();
  }
}

/** `connections` callers, each calling again as soon as its call returns, until the duration has passed. */
async function callUntil(pool: pg.Pool, call: DatabaseScenario['call'], setup: BenchSetup): Promise<{ latency: LatencyHistogram; errors: number }> {
  const latency = new LatencyHistogram();
  let errors = 0;
  const deadline = Date.now() + setup.durationSeconds * 1000;
  const caller = async () => {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint();
      try {
        await call(pool);
        latency.record(Number(process.hrtime.bigint() - started) / 1e6);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: setup.connections }, caller));
  return { latency, errors };
}

/** Runs work() while sampling the stack's processes, and adds this process's own usage last. */
async function measured<T>(groups: ProcessGroup[], work: () => Promise<T>): Promise<{ outcome: T; usage: GroupUsage[] }> {
  const stop = startSampling(groups);
  const cpuBefore = process.cpuUsage();
  try {
    const outcome = await work();
    return { outcome, usage: [...stop(), loadGeneratorUsage(cpuBefore)] };
  } catch (error) {
    stop(); // the sampling timer must not outlive a failed scenario
    throw error;
  }
}

function loadGeneratorUsage(cpuBefore: NodeJS.CpuUsage): GroupUsage {
  const cpu = process.cpuUsage(cpuBefore);
  const rss = process.memoryUsage().rss / 2 ** 20;
  return { name: 'load generator', cpuSeconds: (cpu.user + cpu.system) / 1e6, peakMemoryMegabytes: rss, peakRssMegabytes: rss };
}

function scenarioResult(
  scenario: { name: string; description: string; durationSeconds: number },
  latency: LatencyHistogram,
  outcome: Pick<ScenarioResult, 'errors' | 'unexpectedStatuses' | 'statusCounts' | 'usage'>,
): ScenarioResult {
  return {
    name: scenario.name,
    description: scenario.description,
    requestsPerSecond: latency.count / scenario.durationSeconds,
    latencyMs: { p50: latency.percentileMs(0.5), p90: latency.percentileMs(0.9), p99: latency.percentileMs(0.99), p999: latency.percentileMs(0.999) },
    requests: latency.count,
    ...outcome,
  };
}
