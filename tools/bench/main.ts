// `npm run bench`: measures crebito against its two ceilings in one run: the
// HTTP floor (nginx, no database) and the database ceiling (the SQL functions
// through a pg pool, no HTTP). The scenarios are in scenarios.ts.
//
// Each scenario runs for --duration seconds at --connections concurrent
// requests, while the CPU time and peak memory of every process of the stack
// (and of this load generator) are sampled from /proc. Afterwards the books
// are checked in the database. Results go to results/ as JSON, Markdown
// and an SVG chart. Run it against `npm start`, or with --start to bring up a
// stack of its own in a temporary directory (tools/harness/target.ts).
//
//   npm run bench                          # against the running npm start
//   npm run bench -- --start --mode fast   # its own stack, fsync off
//   npm run bench -- --duration 30 --connections 64 --readme
//   npm run bench -- --start --smoke       # a few seconds; fails on any error

import { parseArgs } from 'node:util';
import type { StackState } from '../../src/stack/state.js';
import { numberOption, readTargetOptions, TARGET_OPTIONS, withTarget, type Target, type TargetOptions } from '../harness/target.js';
import { autocannonLoad } from './autocannon-load.js';
import { checkBooks } from './books.js';
import { describeMachine, type ProcessGroup } from './process-stats.js';
import { printScenario, printSummary, writeReport } from './publish.js';
import { scenarioNamed, type BenchReport, type ScenarioResult } from './report.js';
import { runDatabaseScenario, runHttpScenario, type BenchSetup, type DatabaseScenario } from './run-scenario.js';
import { compare } from './targets.js';
import { atHalfRate, DB_EXTRATO, DB_TRANSACAO, EXTRATO, HTTP_FLOOR, MIX, TRANSACOES } from './scenarios.js';

/** On two cores fewer connections can be faster; the best of these is the ceiling crebito is compared with. */
const CEILING_POOL_SIZES = [4, 8, 16];
/** --smoke: every scenario, briefly, to prove the bench and the stack work. */
const SMOKE = { durationSeconds: 1, connections: 8, rounds: 1 };
const FAILURE_OUTPUT_LINES = 40;

interface BenchOptions {
  target: TargetOptions;
  durationSeconds: number;
  connections: number;
  rounds: number;
  smoke: boolean;
  readme: boolean;
}

function readOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      ...TARGET_OPTIONS,
      duration: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '1' },
      connections: { type: 'string', default: '32' },
      smoke: { type: 'boolean', default: false },
      readme: { type: 'boolean', default: false },
    },
  });
  const chosen = values.smoke ? SMOKE : {
    durationSeconds: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: false }),
    connections: numberOption(values.connections, 'connections', { min: 1, max: 1000, whole: true }),
    rounds: numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true }),
  };
  return { target: readTargetOptions(values), ...chosen, smoke: values.smoke, readme: values.readme };
}

async function main(): Promise<void> {
  const options = readOptions();
  await withTarget(options.target, async (target) => {
    const report = await measure(target.state(), options);
    printSummary(report);
    writeReport(report, { out: options.target.out, name: options.smoke ? 'smoke' : `bench-${report.databaseMode}`, updateReadme: options.readme });
    failOnErrors(report, target);
  });
}

/** Every scenario, then the books: the whole report. */
async function measure(state: StackState, options: BenchOptions): Promise<BenchReport> {
  const setup: BenchSetup = {
    url: `http://127.0.0.1:${state.port}`,
    databaseUrl: state.databaseUrl,
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    groups: processGroups(state),
    load: autocannonLoad,
  };
  const databaseMode = state.databaseMode ?? 'external';
  console.log(`bench: ${setup.durationSeconds} s per scenario, ${setup.connections} connections, ${options.rounds} round(s), against ${setup.url} (${state.mode}, database ${databaseMode})`);
  const scenarios = medianRound(await runRounds(setup, options.rounds));
  // Latency below saturation: the floor and the mix at the same offered
  // rate, half of what the mix sustained.
  const halfRate = scenarioNamed(scenarios, MIX.name).requestsPerSecond / 2;
  scenarios.push(printScenario(await runHttpScenario(setup, atHalfRate(HTTP_FLOOR, halfRate))));
  scenarios.push(printScenario(await runHttpScenario(setup, atHalfRate(MIX, halfRate))));
  return {
    date: new Date().toISOString(),
    machine: describeMachine(),
    databaseMode,
    connections: setup.connections,
    durationSeconds: setup.durationSeconds,
    rounds: options.rounds,
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    scenarios,
    ...compare(scenarios, { databaseMode, instanceNames: state.instances.map((instance) => instance.name) }),
    consistency: await checkBooks(state.databaseUrl),
  };
}

/** Each round: the floor, the two database ceilings, then crebito's three saturating scenarios. */
async function runRounds(setup: BenchSetup, rounds: number): Promise<ScenarioResult[][]> {
  const perRound: ScenarioResult[][] = [];
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) console.log(`round ${round} of ${rounds}`);
    perRound.push([
      printScenario(await runHttpScenario(setup, HTTP_FLOOR)),
      printScenario(await bestCeiling(setup, DB_TRANSACAO)),
      printScenario(await bestCeiling(setup, DB_EXTRATO)),
      printScenario(await runHttpScenario(setup, TRANSACOES)),
      printScenario(await runHttpScenario(setup, EXTRATO)),
      printScenario(await runHttpScenario(setup, MIX)),
    ]);
  }
  return perRound;
}

/** The database ceiling: PostgreSQL alone at the same concurrency, through the fastest of a few pool sizes. */
async function bestCeiling(setup: BenchSetup, scenario: DatabaseScenario): Promise<ScenarioResult> {
  let best: ScenarioResult | undefined;
  for (const poolSize of CEILING_POOL_SIZES) {
    const result = await runDatabaseScenario(setup, scenario, poolSize);
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

function processGroups(state: StackState): ProcessGroup[] {
  const groups: ProcessGroup[] = [];
  if (state.nginx?.pid !== undefined) groups.push({ name: 'nginx', rootPid: state.nginx.pid });
  for (const instance of state.instances) if (instance.pid !== undefined) groups.push({ name: instance.name, rootPid: instance.pid });
  if (state.postgres !== null) groups.push({ name: 'postgres', rootPid: state.postgres.pid });
  return groups;
}

/** Any error, unexpected answer or inconsistency fails the run (the smoke test relies on it). */
function failOnErrors(report: BenchReport, target: Target): void {
  const errors = report.scenarios.reduce((sum, scenario) => sum + scenario.errors + scenario.unexpectedStatuses, 0);
  if (errors === 0 && report.consistency.inconsistencies === 0) return;
  console.error(`bench: ${errors} errors or unexpected answers, ${report.consistency.inconsistencies} inconsistencies`);
  // The stack's own words (nginx's error log, the instances) say why.
  const output = target.outputTail(FAILURE_OUTPUT_LINES);
  if (output !== '') console.error(output);
  process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
