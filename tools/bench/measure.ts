// The bench's measurements against one stack, in order:
//
//   1. the mix at the public test's rate, first, on the stack as the public
//      test meets it: just up, not right after a minute of saturation (whose
//      checkpoint and writeback would land in the middle); then the floor at
//      that rate, the same mix again on the now warm stack, and PostgreSQL
//      alone at that rate (the limit: floor + PostgreSQL alone; see
//      latency/), then whatever the caller adds there (afterPublic: the
//      references' second generators and the breakdown);
//   2. saturation rounds: the floor (wrk, then the second generator: the
//      calibration), the database ceilings, then crebito's POSTs,
//      statements and mix; each scenario's median round is kept;
//   3. fixed arrival rates at shares of the mix's saturation rate;
//   4. the books.

import { checkBooks } from './books.js';
import { nodeLoad } from './load/node-load.js';
import { printScenario } from './report/publish.js';
import { scenarioNamed, type Calibration, type Consistency, type ScenarioResult } from './report/report.js';
import { runDatabaseScenario, runHttpScenario, type BenchSetup, type DatabaseScenario } from './run-scenario.js';
import {
  DB_EXTRATO,
  DB_TRANSACAO,
  EXTRATO,
  WARM_PUBLIC_MIX,
  HTTP_FLOOR,
  MIX,
  openAt,
  SATURATION_SHARES,
  TRANSACOES,
  type OpenScenario,
} from './scenarios.js';
import { wrkLoad } from './load/wrk-load.js';
import { runDbAloneScenario } from './latency/public-latency.js';

/** On two cores fewer connections can be faster; the best of these is the ceiling crebito is compared with. */
export const CEILING_POOL_SIZES = [4, 8, 16];

export interface MeasureOptions {
  connections: number;
  durationSeconds: number;
  publicRateDurationSeconds: number;
  rounds: number;
  /** The pool sizes the database ceilings try (CEILING_POOL_SIZES; the smoke run tries one). */
  ceilingPoolSizes: number[];
  /** Runs after the public-rate scenarios, before any saturation, with them. */
  afterPublic?: (open: ScenarioResult[]) => Promise<void>;
}

export interface Measured {
  scenarios: ScenarioResult[];
  calibration: Calibration;
  consistency: Consistency;
}

/** The mix at the public rate just up, the floor, the mix warm, PostgreSQL alone; then afterPublic. */
export async function measurePublic(
  setup: BenchSetup,
  options: Pick<MeasureOptions, 'durationSeconds' | 'publicRateDurationSeconds' | 'afterPublic'>,
): Promise<ScenarioResult[]> {
  const open: ScenarioResult[] = [];
  for (const { scenario, model } of publicRateScenarios()) {
    open.push(
      printScenario(
        await runHttpScenario(setup, scenario, {
          generator: nodeLoad,
          model,
          durationSeconds: options.publicRateDurationSeconds,
        }),
      ),
    );
  }
  open.push(printScenario(await runDbAloneScenario(setup, options.publicRateDurationSeconds)));
  await options.afterPublic?.(open);
  return open;
}

export async function measure(setup: BenchSetup, options: MeasureOptions): Promise<Measured> {
  const open = await measurePublic(setup, options);
  const runOpen = async ({ scenario, model }: OpenScenario) => {
    open.push(
      printScenario(
        await runHttpScenario(setup, scenario, {
          generator: nodeLoad,
          model,
          durationSeconds: options.durationSeconds,
        }),
      ),
    );
  };
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) console.log(`round ${round} of ${options.rounds}`);
    rounds.push(await saturationRound(setup, options));
  }
  const saturation = medianRound(rounds.map((round) => round.scenarios));
  for (const scenario of shareScenarios(scenarioNamed(saturation, MIX.name).requestsPerSecond)) await runOpen(scenario);
  const floor = scenarioNamed(saturation, HTTP_FLOOR.name);
  const calibration: Calibration = {
    scenario: HTTP_FLOOR.name,
    generator: floor.generator,
    requestsPerSecond: floor.requestsPerSecond,
    secondGenerator: nodeLoad.name,
    secondRequestsPerSecond: median(rounds.map((round) => round.secondFloor.requestsPerSecond)),
  };
  return { scenarios: [...saturation, ...open], calibration, consistency: await checkBooks(setup.databaseUrl) };
}

interface RoundResult {
  scenarios: ScenarioResult[];
  /** The floor measured by the second generator, right after wrk's. */
  secondFloor: ScenarioResult;
}

async function saturationRound(setup: BenchSetup, options: MeasureOptions): Promise<RoundResult> {
  const closed = { kind: 'closed', connections: options.connections } as const;
  const byWrk = { generator: wrkLoad, model: closed, durationSeconds: options.durationSeconds };
  const floor = printScenario(await runHttpScenario(setup, HTTP_FLOOR, byWrk));
  const secondFloor = await runHttpScenario(setup, HTTP_FLOOR, { ...byWrk, generator: nodeLoad });
  console.log(`  calibration: the floor by ${nodeLoad.name}: ${secondFloor.requestsPerSecond.toFixed(0)} req/s`);
  const scenarios = [floor];
  for (const ceiling of [DB_TRANSACAO, DB_EXTRATO])
    scenarios.push(printScenario(await bestCeiling(setup, ceiling, options)));
  for (const scenario of [TRANSACOES, EXTRATO, MIX])
    scenarios.push(printScenario(await runHttpScenario(setup, scenario, byWrk)));
  return { scenarios, secondFloor };
}

/** The mix at the public test's rate on a stack just up, the floor, then the mix again once warm. */
function publicRateScenarios(): OpenScenario[] {
  const warmMix = openAt(MIX, 'public');
  return [
    openAt(MIX, 'public'),
    openAt(HTTP_FLOOR, 'public'),
    {
      ...warmMix,
      scenario: {
        ...warmMix.scenario,
        name: WARM_PUBLIC_MIX,
        description: `${warmMix.scenario.description}, again, once warm`,
      },
    },
  ];
}

/** The floor and the mix at each share of the mix's saturation rate. */
function shareScenarios(mixSaturationRate: number): OpenScenario[] {
  return SATURATION_SHARES.flatMap((share) => [
    openAt(HTTP_FLOOR, { share, saturationRate: mixSaturationRate }),
    openAt(MIX, { share, saturationRate: mixSaturationRate }),
  ]);
}

/** The database ceiling: PostgreSQL alone at the same concurrency, through the fastest of a few pool sizes. */
async function bestCeiling(
  setup: BenchSetup,
  scenario: DatabaseScenario,
  options: MeasureOptions,
): Promise<ScenarioResult> {
  let best: ScenarioResult | undefined;
  for (const poolSize of options.ceilingPoolSizes) {
    const result = await runDatabaseScenario(setup, scenario, {
      poolSize,
      callers: options.connections,
      durationSeconds: options.durationSeconds,
    });
    if (best === undefined || result.requestsPerSecond > best.requestsPerSecond) best = result;
  }
  return best!;
}

/** Each scenario's median round by throughput, so one noisy round does not decide. */
function medianRound(perRound: ScenarioResult[][]): ScenarioResult[] {
  return perRound[0]!.map((_, index) => {
    const results = perRound.map((round) => round[index]!).sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    return results[Math.floor(results.length / 2)]!;
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
