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
//   npm run bench -- --start --latency-only # the public rate against its limit, and the breakdown
//   npm run bench -- --start --transfers   # transfers against transactions only (transfers.ts)
//
// Every run also writes results/latency-<mode>.{json,md} and (but --smoke)
// the mode's section of docs/latency.md: one request at the public rate
// against the limit the machine allows, and where its time goes (latency/).

import { parseArgs } from 'node:util';
import {
  numberOption,
  readTargetOptions,
  TARGET_OPTIONS,
  withTarget,
  type Target,
  type TargetOptions,
} from '../harness/target.js';
import { LIMITS, runLimited, type Limits } from './limits/limited-run.js';
import { CEILING_POOL_SIZES, measure, type MeasureOptions } from './measure.js';
import { describeMachine } from './process-stats.js';
import { printSummary, writeReport } from './report/publish.js';
import type { BenchReport } from './report/report.js';
import { setupFor } from './run-scenario.js';
import { compare } from './report/targets.js';
import { measureInstanceRestart, type Startup } from './startup.js';
import { printLatency, writeLatency } from './latency/latency-report.js';
import {
  latencyLimit,
  runBreakdown,
  runReferences,
  uptime,
  type LatencyLimit,
  type Reference,
} from './latency/public-latency.js';
import type { Breakdown } from './latency/breakdown.js';
import { percentilesOf } from './latency/limit.js';
import { measurePublic } from './measure.js';
import { scenarioNamed, type ScenarioResult } from './report/report.js';
import { DB_ALONE_NAME } from './latency/db-alone.js';
import { markPostgresLog } from './latency/hop-sources.js';
import { runTransferBench } from './transfer-run.js';

/** --smoke: every scenario, briefly, to prove the bench and the stack work. */
const SMOKE: MeasureOptions = {
  durationSeconds: 1,
  publicRateDurationSeconds: 1,
  connections: 8,
  rounds: 1,
  ceilingPoolSizes: [8],
};
const FAILURE_OUTPUT_LINES = 40;

interface BenchOptions {
  target: TargetOptions;
  measure: MeasureOptions;
  limits: Limits;
  smoke: boolean;
  publish: boolean;
  latencyOnly: boolean;
  breakdown: boolean;
  transfers: boolean;
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
      'latency-only': { type: 'boolean', default: false },
      breakdown: { type: 'string', default: 'on' },
      transfers: { type: 'boolean', default: false },
    },
  });
  const limits = LIMITS.find((known) => known === values.limits);
  if (limits === undefined) throw new Error(`--limits is ${LIMITS.join(' or ')}, got ${values.limits}`);
  // Whole seconds: wrk takes no fractions.
  const chosen: MeasureOptions = values.smoke
    ? SMOKE
    : {
        durationSeconds: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
        publicRateDurationSeconds: numberOption(values['public-duration'], 'public-duration', {
          min: 1,
          max: 3600,
          whole: true,
        }),
        connections: numberOption(values.connections, 'connections', { min: 1, max: 1000, whole: true }),
        rounds: numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true }),
        ceilingPoolSizes: CEILING_POOL_SIZES,
      };
  if (values.breakdown !== 'on' && values.breakdown !== 'off')
    throw new Error(`--breakdown is on or off, got ${values.breakdown}`);
  const publish = values.publish || values.readme;
  return {
    target: readTargetOptions(values),
    measure: chosen,
    limits,
    smoke: values.smoke,
    publish,
    latencyOnly: values['latency-only'],
    breakdown: values.breakdown === 'on',
    transfers: values.transfers,
  };
}

async function main(): Promise<void> {
  const options = readOptions();
  if (options.transfers)
    return withTarget(options.target, (target) => runTransferBench(target, options.measure, options.target.out));
  await withTarget(options.target, async (target) => {
    if (options.latencyOnly) return void (await latencyOnly(target, options));
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
  console.log(
    `bench: ${chosen.durationSeconds} s per scenario (${chosen.publicRateDurationSeconds} s at the public test's rate),` +
      ` ${chosen.connections} connections, ${chosen.rounds} round(s),` +
      ` against ${setup.url} (${state.mode}, database ${state.databaseMode ?? 'external'})`,
  );
  const latency = latencyParts(target, options);
  const uptimeBefore = uptime();
  const measured = await measure(setup, { ...chosen, afterPublic: latency.afterPublic });
  const latencyReport = latencyLimit({
    scenarios: measured.scenarios,
    ...latency.parts(),
    databaseMode,
    uptime: { before: uptimeBefore, after: latency.uptimeAfter() },
  });
  printLatency(latencyReport);
  writeLatency(latencyReport, {
    out: options.target.out,
    runLine: runLine(options),
    updateDocs: !options.smoke && options.target.out === TARGET_OPTIONS.out.default,
  });
  const startup: Startup = {
    upSeconds: target.upSeconds,
    instanceRestartSeconds:
      target.upSeconds === undefined ? undefined : await measureInstanceRestart(() => target.state()),
  };
  console.log(
    `start-up: launcher to up ${startup.upSeconds?.toFixed(2) ?? '(not measured)'} s,` +
      ` instance killed to ready ${startup.instanceRestartSeconds?.toFixed(2) ?? '(not measured)'} s`,
  );
  const limited = await runLimited({
    ...chosen,
    limits: options.limits,
    mode: databaseMode,
    otherLauncherPids: [state.launcherPid],
  });
  return {
    date: new Date().toISOString(),
    machine: describeMachine(),
    uptime: { before: uptimeBefore, after: uptime() },
    databaseMode: state.databaseMode ?? 'external',
    connections: chosen.connections,
    durationSeconds: chosen.durationSeconds,
    publicRateDurationSeconds: chosen.publicRateDurationSeconds,
    rounds: chosen.rounds,
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    ...measured,
    startup,
    ...compare({
      scenarios: measured.scenarios,
      calibration: measured.calibration,
      limited,
      databaseMode,
      latencyLimit: latencyReport,
    }),
    limited,
  };
}

/** What runs after the public-rate scenarios: the references' second generators, and the breakdown. */
function latencyParts(target: Target, options: BenchOptions): LatencyParts {
  let references: Reference[] = [];
  let breakdown: Breakdown | undefined;
  let databaseEvents: string[] = [];
  let uptimeAfter = '';
  const durationSeconds = options.measure.publicRateDurationSeconds;
  const databaseLog = markPostgresLog(target.state());
  return {
    uptimeAfter: () => uptimeAfter,
    afterPublic: async (open) => {
      const floor = percentilesOf(scenarioNamed(open, 'http-floor@public').latencyMs);
      const database = percentilesOf(scenarioNamed(open, DB_ALONE_NAME).latencyMs);
      references = await runReferences(setupFor(target.state()), floor, database, durationSeconds);
      if (options.breakdown)
        breakdown = await runBreakdown(setupFor(target.state()), target.state(), target.dataDirectory, durationSeconds);
      databaseEvents = databaseLog();
      uptimeAfter = uptime();
    },
    parts: () => ({ references, breakdown, databaseEvents }),
  };
}

interface LatencyParts {
  afterPublic: (open: ScenarioResult[]) => Promise<void>;
  parts: () => { references: Reference[]; breakdown: Breakdown | undefined; databaseEvents: string[] };
  /** `uptime` once the public-rate part is over. */
  uptimeAfter: () => string;
}

function runLine(options: BenchOptions): string {
  const command = ['npm run bench --', ...process.argv.slice(2)].join(' ');
  return (
    `Run ${new Date().toISOString()} with \`${command}\`: ${options.measure.publicRateDurationSeconds} s per scenario` +
    " at the public test's rate (340 req/s: 220 debits, 110 credits, 10 statements), one after another in one run."
  );
}

/** --latency-only: the public rate against its limit and the breakdown, nothing else. */
async function latencyOnly(target: Target, options: BenchOptions): Promise<LatencyLimit> {
  const state = target.state();
  const databaseMode = state.databaseMode ?? 'external';
  const latency = latencyParts(target, options);
  const before = uptime();
  const scenarios = await measurePublic(setupFor(state), { ...options.measure, afterPublic: latency.afterPublic });
  const report = latencyLimit({
    scenarios,
    ...latency.parts(),
    databaseMode,
    uptime: { before, after: latency.uptimeAfter() },
  });
  printLatency(report);
  writeLatency(report, {
    out: options.target.out,
    runLine: runLine(options),
    updateDocs: !options.smoke && options.target.out === TARGET_OPTIONS.out.default,
  });
  const errors = scenarios.reduce((sum, scenario) => sum + scenario.errors + scenario.unexpectedStatuses, 0);
  if (errors > 0) {
    console.error(`bench: ${errors} errors or unexpected answers`);
    process.exitCode = 1;
  }
  return report;
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
