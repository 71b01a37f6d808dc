// `npm run bench`: measures crebito against its two ceilings, the HTTP floor
// (nginx, no database) and the database ceiling (the SQL functions through a
// pg pool, no HTTP), at saturation and at fixed arrival rates, then again
// under the public test's resource limits, all in one run (measure.ts,
// limited-run.ts). The saturation runs' generator is checked against a
// second one on the same floor: the calibration line.
//
// The CPU time and peak memory of every process of the stack (and of the
// load generator) are sampled from /proc while each scenario runs; the books
// are checked afterwards. Results go to results/ as JSON, Markdown and an
// SVG chart. Run it against `npm start`, or with --start to bring up a stack
// of its own in a temporary directory (tools/harness/target.ts).
//
//   npm run bench                          # against the running npm start
//   npm run bench -- --start --mode fast   # its own stack, fsync off
//   npm run bench -- --duration 10 --public-duration 60 --rounds 3 --publish
//                                          # also rewrites docs/performance.md's published run
//                                          # (--readme, its old name, still works)
//   npm run bench -- --limits off          # without the run under compose limits
//   npm run bench -- --start --smoke       # a few seconds; fails on any error

import { parseArgs } from 'node:util';
import { numberOption, readTargetOptions, TARGET_OPTIONS, withTarget, type Target, type TargetOptions } from '../harness/target.js';
import { LIMITS, runLimited, type Limits } from './limits/limited-run.js';
import { CEILING_POOL_SIZES, measure, type MeasureOptions } from './measure.js';
import { describeMachine } from './process-stats.js';
import { printSummary, writeReport } from './report/publish.js';
import type { BenchReport } from './report/report.js';
import { setupFor } from './run-scenario.js';
import { compare } from './report/targets.js';
import { measureInstanceRestart, type Startup } from './startup.js';

/** --smoke: every scenario, briefly, to prove the bench and the stack work. */
const SMOKE: MeasureOptions = { durationSeconds: 1, publicRateDurationSeconds: 1, connections: 8, rounds: 1, ceilingPoolSizes: [8] };
const FAILURE_OUTPUT_LINES = 40;

interface BenchOptions {
  target: TargetOptions;
  measure: MeasureOptions;
  limits: Limits;
  smoke: boolean;
  publish: boolean;
}

function readOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      ...TARGET_OPTIONS,
      duration: { type: 'string', default: '4' },
      'public-duration': { type: 'string', default: '30' },
      rounds: { type: 'string', default: '1' },
      connections: { type: 'string', default: '32' },
      limits: { type: 'string', default: 'compose' },
      smoke: { type: 'boolean', default: false },
      publish: { type: 'boolean', default: false },
      readme: { type: 'boolean', default: false },
    },
  });
  const limits = LIMITS.find((known) => known === values.limits);
  if (limits === undefined) throw new Error(`--limits is ${LIMITS.join(' or ')}, got ${values.limits}`);
  // Whole seconds: wrk takes no fractions.
  const chosen: MeasureOptions = values.smoke ? SMOKE : {
    durationSeconds: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
    publicRateDurationSeconds: numberOption(values['public-duration'], 'public-duration', { min: 1, max: 3600, whole: true }),
    connections: numberOption(values.connections, 'connections', { min: 1, max: 1000, whole: true }),
    rounds: numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true }),
    ceilingPoolSizes: CEILING_POOL_SIZES,
  };
  const publish = values.publish || values.readme;
  return { target: readTargetOptions(values), measure: chosen, limits, smoke: values.smoke, publish };
}

async function main(): Promise<void> {
  const options = readOptions();
  await withTarget(options.target, async (target) => {
    const report = await run(target, options).catch((error: unknown) => {
      printStackOutput(target);
      throw error;
    });
    printSummary(report);
    const name = options.smoke ? 'smoke' : `bench-${report.databaseMode}`;
    writeReport(report, { out: options.target.out, name, publish: options.publish });
    failOnErrors(report, target);
  });
}

/** Every measurement, then the targets: the whole report. */
async function run(target: Target, options: BenchOptions): Promise<BenchReport> {
  const state = target.state();
  const setup = setupFor(state);
  const databaseMode = state.databaseMode ?? options.target.mode;
  const { measure: chosen } = options;
  console.log(`bench: ${chosen.durationSeconds} s per scenario (${chosen.publicRateDurationSeconds} s at the public test's rate), ${chosen.connections} connections, ${chosen.rounds} round(s), against ${setup.url} (${state.mode}, database ${state.databaseMode ?? 'external'})`);
  const measured = await measure(setup, chosen);
  const startup: Startup = { upSeconds: target.upSeconds, instanceRestartSeconds: target.upSeconds === undefined ? undefined : await measureInstanceRestart(() => target.state()) };
  console.log(`start-up: launcher to up ${startup.upSeconds?.toFixed(2) ?? '(not measured)'} s, instance killed to ready ${startup.instanceRestartSeconds?.toFixed(2) ?? '(not measured)'} s`);
  const limited = await runLimited({ ...chosen, limits: options.limits, mode: databaseMode, otherLauncherPids: [state.launcherPid] });
  return {
    date: new Date().toISOString(),
    machine: describeMachine(),
    databaseMode: state.databaseMode ?? 'external',
    connections: chosen.connections,
    durationSeconds: chosen.durationSeconds,
    publicRateDurationSeconds: chosen.publicRateDurationSeconds,
    rounds: chosen.rounds,
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    ...measured,
    startup,
    ...compare({ scenarios: measured.scenarios, calibration: measured.calibration, limited, databaseMode }),
    limited,
  };
}

/** Any error, unexpected answer or inconsistency, under limits too, fails the run (the smoke test relies on it). */
function failOnErrors(report: BenchReport, target: Target): void {
  const scenarios = [...report.scenarios, ...report.limited.scenarios];
  const errors = scenarios.reduce((sum, scenario) => sum + scenario.errors + scenario.unexpectedStatuses, 0);
  const inconsistencies = report.consistency.inconsistencies + (report.limited.consistency?.inconsistencies ?? 0);
  if (errors === 0 && inconsistencies === 0) return;
  console.error(`bench: ${errors} errors or unexpected answers, ${inconsistencies} inconsistencies`);
  printStackOutput(target);
  process.exitCode = 1;
}

/** The stack's own words (nginx's error log, the instances, the launcher) say why something failed. */
function printStackOutput(target: Target): void {
  const output = target.outputTail(FAILURE_OUTPUT_LINES);
  if (output !== '') console.error(output);
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
