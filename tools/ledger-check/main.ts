// `npm run check:ledger`: a bank test in the manner of Jepsen's. Many
// concurrent clients send debits, credits and statement reads through the
// public port for a bounded time (workload.ts); every request and its answer
// is recorded with its start and end time (history.ts); at the end the
// database is read (database.ts) and the history judged against the
// invariants in invariants.ts.
//
//   npm run check:ledger                          # against the running npm start
//   npm run check:ledger -- --start --faults      # own stack, with faults injected
//   npm run check:ledger -- --duration 60 --clients 32
//   npm run check:ledger -- --start --drill pitr      # restore drills (backup-drill.ts)
//   CREBITO_HA=on npm run check:ledger -- --start --drill failover   # HA only: backups across a failover
//
// With --faults, while the load runs, every fault of FAULT_SCHEDULE
// (faults.ts, the one list of them) is injected at its time; the run prints
// each by its name before it starts. Requests may fail meanwhile; the
// invariants must still hold, and the verdict says how long the service took
// to recover from each fault.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { waitFor } from '../../src/shared/wait.js';
import {
  numberOption,
  readTargetOptions,
  TARGET_OPTIONS,
  withTarget,
  type Target,
  type TargetOptions,
} from '../harness/target.js';
import { readBooks, readDatabaseState } from './database.js';
import { judgeAvailability, P99_RATIO_MAX, type Availability } from './availability.js';
import { FAULT_SCHEDULE, injectFaults, type FaultRecord } from './faults.js';
import { haFaultSchedule } from './ha-faults.js';
import { haVerdictHolds, haVerdictMarkdown, judgeHa, printHaVerdict } from './ha-verdict.js';
import { History, HISTORY_MAX_OPERATIONS } from './history.js';
import { judge, INVARIANTS, type Verdict } from './invariants.js';
import { allInstancesAnswer } from './probes.js';
import { heavyReader, seedLargeHistory } from './stack-faults.js';
import { runWorkload } from './workload.js';
import { DRILLS, runDrill, type Drill } from './backup-drill.js';
import { printStreamVerdict, StreamCheck } from './stream-check.js';
import { STREAM_FAULT_SCHEDULE } from './stream-faults.js';

const CLIENT_IDS = [1, 2, 3, 4, 5];
const SETTLE_TIMEOUT_MS = 30_000;
const SETTLE_POLL_MS = 50;
/** After every instance answers /health: time for what they hold to reach the database. */
const SETTLE_PAUSE_MS = 500;
// An HA fault's recovery (a rejoin, a re-clone) can take longer than its
// share of the run: the load then runs on until the last fault has
// recovered and this long after, so that no fault strikes, or recovers,
// with no load to measure it by. Bounded: never past this many durations.
const LOAD_AFTER_LAST_FAULT_MS = 10_000;
const LOAD_DURATIONS_MAX = 4;

interface CheckOptions {
  target: TargetOptions;
  durationMs: number;
  concurrency: number;
  faults: boolean;
  /** --only: run just this fault of FAULT_SCHEDULE (its kebab-case name, e.g. lock-row). */
  only: string | undefined;
  /** --ha-faults: the HA profile's faults by name, comma-separated, each --repeat times. */
  haFaults: string | undefined;
  repeat: number;
  maxOperations: number;
  /** --drill: a restore drill instead of the usual run. */
  drill: Drill | undefined;
}

/** The clock and the labels of one run. */
interface Run {
  /** Starts every descricao of this run, so its rows are told from any other's. */
  tag: string;
  /** performance.now() when it began: the zero of every time in the history. */
  started: number;
  elapsed: () => number;
  log: (line: string) => void;
  nextDescricao: () => string;
}

function readOptions(): CheckOptions {
  const { values } = parseArgs({
    options: {
      ...TARGET_OPTIONS,
      duration: { type: 'string', default: '20' },
      clients: { type: 'string', default: '16' },
      faults: { type: 'boolean', default: false },
      // One fault of the schedule by its record name (e.g. lock-row): to
      // measure one fault's fix without running the others.
      only: { type: 'string' },
      'ha-faults': { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'max-operations': { type: 'string', default: String(HISTORY_MAX_OPERATIONS) },
      drill: { type: 'string' },
    },
  });
  const drill = values.drill === undefined ? undefined : DRILLS.find((known) => known === values.drill);
  if (values.drill !== undefined && drill === undefined)
    throw new Error(`--drill is ${DRILLS.join(' or ')}, got ${values.drill}`);
  return {
    target: readTargetOptions(values),
    durationMs: numberOption(values.duration, 'duration', { min: 1, max: 3600, whole: false }) * 1000,
    concurrency: numberOption(values.clients, 'clients', { min: 1, max: 1000, whole: true }),
    faults: values.faults || values.only !== undefined,
    only: values.only,
    haFaults: values['ha-faults'],
    repeat: numberOption(values.repeat, 'repeat', { min: 1, max: 20, whole: true }),
    maxOperations: numberOption(values['max-operations'], 'max-operations', {
      min: 1,
      max: HISTORY_MAX_OPERATIONS,
      whole: true,
    }),
    drill,
  };
}

async function main(): Promise<void> {
  const options = readOptions();
  const valid = await withTarget(options.target, (target) =>
    options.drill === undefined
      ? check(target, options)
      : runDrill(target, options.drill, {
          durationMs: options.durationMs,
          concurrency: options.concurrency,
          out: options.target.out,
        }),
  );
  process.exitCode = valid ? 0 : 1;
}

/** The fault schedule, or only the fault whose injector is named `only` (lock-row is lockRow). */
function faultsNamed(only: string | undefined): typeof FAULT_SCHEDULE {
  if (only === undefined) return FAULT_SCHEDULE;
  const chosen = FAULT_SCHEDULE.filter(
    (fault) => fault.inject.name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`) === only,
  );
  if (chosen.length === 0) throw new Error(`--only ${only}: no such fault`);
  return chosen;
}

/** One whole run: load (and faults), settle, read the database, judge, report. True when valid. */
async function check(target: Target, options: CheckOptions): Promise<boolean> {
  const state = target.state();
  const schedule = faultSchedule(options, state);
  // Before the books are read (its rows are the history the run begins
  // with), and before the run's clock starts.
  if (schedule.some((fault) => fault.inject === heavyReader))
    await seedLargeHistory(state.databaseUrl, (line) => console.log(line));
  const initial = await readBooks(state.databaseUrl, CLIENT_IDS);
  // The machine is shared: say how busy it was beside every figure.
  const loadAverage = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
  const run = startRun();
  announce(options, state, run.tag, schedule);

  const stream = await StreamCheck.start(state, run.tag);
  const history = new History(options.maxOperations);
  const load = loadDeadline(run, options);
  const [, faults] = await Promise.all([
    runWorkload({
      baseUrl: `http://127.0.0.1:${state.port}`,
      clientIds: CLIENT_IDS,
      limits: initial.limits,
      concurrency: options.concurrency,
      get deadline() {
        return load.deadline();
      },
      elapsed: run.elapsed,
      nextDescricao: run.nextDescricao,
      history,
    }),
    injectFaults(
      schedule,
      { dataDirectory: target.dataDirectory, port: state.port, elapsed: run.elapsed, log: run.log },
      options.durationMs,
    ).finally(load.faultsDone),
  ]);
  await settle(target.dataDirectory, run.log);

  const database = await readDatabaseState(state.databaseUrl, CLIENT_IDS, initial);
  const verdict = judge(history.operations, database, run.tag);
  const ha = options.haFaults === undefined ? undefined : judgeHa(history.operations, database, faults);
  const streamVerdict = await stream?.finish(state.databaseUrl, initial.lastId, history.operations);
  const valid =
    verdict.valid &&
    (ha === undefined || haVerdictHolds(ha)) &&
    (streamVerdict?.holds ?? true) &&
    (schedule.length === 0 ||
      faults.every((record) => record.recoveryMs !== null || record.detail.startsWith('skipped')));
  const historyCap = { maxOperations: history.maxOperations, fullAtMs: history.fullAtMs };
  const availability = judgeAvailability(
    history.operations,
    faults.map((record) => record.window),
  );
  printVerdict(verdict, faults, valid, historyCap);
  if (options.faults) printAvailability(availability);
  if (ha !== undefined) printHaVerdict(ha);
  if (streamVerdict !== undefined) printStreamVerdict(streamVerdict);
  const databaseMode = state.databaseMode;
  const summary = { loadAverage, runTag: run.tag, valid, verdict, ha, faults, availability, historyCap, databaseMode };
  record(options, summary, streamVerdict, history);
  return valid;
}

/** The faults of this run, in the order they come: the chosen ones, and the stream's on a stack that streams. */
function faultSchedule(options: CheckOptions, state: ReturnType<Target['state']>) {
  const planned =
    options.haFaults !== undefined
      ? haFaultSchedule(options.haFaults, options.repeat)
      : options.faults
        ? faultsNamed(options.only)
        : [];
  // A stack that streams gets the stream's faults too (stream-faults.ts).
  const streamFaults =
    options.faults && options.only === undefined && state.events !== undefined ? STREAM_FAULT_SCHEDULE : [];
  return [...planned, ...streamFaults].sort((a, b) => a.atFraction - b.atFraction);
}

function announce(
  options: CheckOptions,
  state: ReturnType<Target['state']>,
  runTag: string,
  schedule: ReturnType<typeof faultSchedule>,
): void {
  console.log(
    `check:ledger: ${options.concurrency} clients for ${options.durationMs / 1000} s against ` +
      `http://127.0.0.1:${state.port}, database ${state.databaseMode ?? 'external'}, run tag ${runTag}`,
  );
  for (const fault of schedule)
    console.log(`  fault at ${((fault.atFraction * options.durationMs) / 1000).toFixed(1)} s: ${fault.name}`);
}

/** Writes the run's summary and history to results/ (and the HA verdict's Markdown). */
function record(
  options: CheckOptions,
  run: {
    loadAverage: string;
    runTag: string;
    valid: boolean;
    verdict: ReturnType<typeof judge>;
    ha: ReturnType<typeof judgeHa> | undefined;
    faults: unknown[];
    availability: ReturnType<typeof judgeAvailability>;
    historyCap: { maxOperations: number; fullAtMs: History['fullAtMs'] };
    databaseMode: ReturnType<Target['state']>['databaseMode'];
  },
  streamVerdict: Awaited<ReturnType<NonNullable<Awaited<ReturnType<typeof StreamCheck.start>>>['finish']>> | undefined,
  history: History,
): void {
  const { loadAverage, valid, ha } = run;
  const stream_ =
    streamVerdict === undefined
      ? undefined
      : {
          ...streamVerdict,
          missing: streamVerdict.missing.slice(0, 100),
          invented: streamVerdict.invented.slice(0, 100),
          acknowledgedMissing: streamVerdict.acknowledgedMissing.slice(0, 100),
        };
  const summary = {
    date: new Date().toISOString(),
    loadAverage,
    runTag: run.runTag,
    durationMs: options.durationMs,
    concurrency: options.concurrency,
    databaseMode: run.databaseMode,
    valid,
    verdict: run.verdict,
    ha,
    faults: run.faults,
    availability: run.availability,
    historyCap: run.historyCap,
    stream: stream_,
  };
  const base =
    ha !== undefined
      ? `ledger-check-ha-${options.haFaults!.replaceAll(',', '+')}`
      : options.faults
        ? 'ledger-check-faults'
        : 'ledger-check';
  const name = streamVerdict === undefined ? base : `${base}-events`;
  writeResults(summary, history, { out: options.target.out, name });
  if (ha !== undefined) {
    const command = `npm run check:ledger -- ${process.argv.slice(2).join(' ')}`;
    const file = path.join(options.target.out, `${name}-verdict.md`);
    fs.writeFileSync(file, haVerdictMarkdown(ha, { date: summary.date, command, loadAverage, valid }));
    console.log(`wrote ${file}`);
  }
}

/** When the load stops: after --duration, and with --ha-faults not before the last fault recovered (see LOAD_AFTER_LAST_FAULT_MS). */
function loadDeadline(run: Run, options: CheckOptions): { deadline: () => number; faultsDone: () => void } {
  const nominal = run.started + options.durationMs;
  if (options.haFaults === undefined) return { deadline: () => nominal, faultsDone: () => undefined };
  const cap = run.started + options.durationMs * LOAD_DURATIONS_MAX;
  let doneAt: number | undefined;
  return {
    deadline: () => (doneAt === undefined ? cap : Math.min(cap, Math.max(nominal, doneAt + LOAD_AFTER_LAST_FAULT_MS))),
    faultsDone: () => {
      doneAt ??= performance.now();
    },
  };
}

function startRun(): Run {
  const tag = Math.random().toString(36).slice(2, 5).padEnd(3, '0');
  let serial = 0;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  return {
    tag,
    started,
    elapsed,
    log: (line) => console.log(`[${(elapsed() / 1000).toFixed(1).padStart(5)} s] ${line}`),
    nextDescricao: () => `${tag}${(serial++).toString(36).padStart(7, '0')}`,
  };
}

/** Lets every instance finish what it holds before the books are read. */
async function settle(dataDirectory: string, log: Run['log']): Promise<void> {
  const settledAfter = await waitFor(() => allInstancesAnswer(dataDirectory, '/health'), {
    timeoutMs: SETTLE_TIMEOUT_MS,
    intervalMs: SETTLE_POLL_MS,
  });
  if (settledAfter === undefined) log('warning: an instance did not answer /health after the run');
  await sleep(SETTLE_PAUSE_MS);
}

function printVerdict(
  verdict: Verdict,
  faults: FaultRecord[],
  valid: boolean,
  historyCap: { maxOperations: number; fullAtMs: number | null },
): void {
  console.log('');
  console.log(`valid: ${valid}`);
  const { transactions } = verdict;
  console.log(
    `operations: ${verdict.operations} (transactions: ${transactions.acknowledged} acknowledged, ` +
      `${transactions.refused} refused, ${transactions.invalid} invalid, ${transactions.notApplied} ` +
      `answered 503 not applied, ${transactions.unknown} unknown of which ${transactions.unknownApplied} ` +
      `applied; statements: ${verdict.statements.read} read, ${verdict.statements.unknown} unknown)`,
  );
  const { transfers } = verdict;
  console.log(
    `  of them transfers: ${transfers.acknowledged} acknowledged, ${transfers.refused} refused, ` +
      `${transfers.unknown} unknown of which ${transfers.unknownApplied} applied; ${transfers.stored} ` +
      `stored whole`,
  );
  console.log(
    `  keyed transactions: ${transactions.keyed}; ${transactions.retried} retried after an unknown ` +
      `outcome, ${transactions.retriedResolved} resolved by a retry, ${transactions.retriedReplayed} of ` +
      `them replays (applied by an attempt whose answer was lost)`,
  );
  if (historyCap.fullAtMs !== null) {
    console.log(
      `  history full: ${historyCap.maxOperations} operations at ` +
        `${(historyCap.fullAtMs / 1000).toFixed(1)} s; no request was sent after that (faults still ran on ` +
        `schedule)`,
    );
  }
  for (const [number, description] of Object.entries(INVARIANTS)) {
    const key = Number(number) as keyof typeof INVARIANTS;
    console.log(
      `  ${number}. ${verdict.violations[key] === 0 ? 'ok' : `${verdict.violations[key]} VIOLATIONS`}: ${description}`,
    );
    for (const example of verdict.examples[key]) console.log(`       ${example}`);
  }
  for (const fault of faults) {
    console.log(
      `  fault ${fault.name} at ${(fault.atMs / 1000).toFixed(1)} s: ${fault.detail}; recovered ` +
        `${fault.recoveryMs === null ? 'NEVER' : `in ${fault.recoveryMs.toFixed(0)} ms`}`,
    );
  }
}

/**
 * Availability is reported beside validity, not folded into it: money must
 * never be wrong, while a fault that spreads is a weakness to measure and fix.
 */
function printAvailability(availability: Availability): void {
  const ms = (value: number | null) => (value === null ? '-' : value.toFixed(1));
  console.log(
    `availability: ${availability.contained ? 'every fault contained' : 'NOT every fault contained'} ` +
      `(requests not touching the faulted part: no errors, p99 within ${P99_RATIO_MAX}x the quiet windows' ` +
      `${ms(availability.quiet.p99Ms)} ms over ${availability.quiet.requests} requests)`,
  );
  for (const fault of availability.faults) {
    const nothing = fault.touchesAll
      ? 'every request touches it: judged by its recovery'
      : 'no request of the load ran meanwhile';
    const judged =
      fault.contained === null
        ? nothing
        : `${fault.contained ? 'contained' : 'NOT contained'}: ${fault.requests} requests, ${fault.errors} ` +
          `errors, p99 ${ms(fault.p99Ms)} ms (${fault.p99Ratio === null ? '-' : fault.p99Ratio.toFixed(2)}x)`;
    console.log(`  ${fault.name}: ${judged}`);
  }
}

/** The verdict alone is small enough to keep in the repository; the full history (every request and answer) is written beside it for digging. */
function writeResults(summary: object, history: History, options: { out: string; name: string }): void {
  fs.mkdirSync(options.out, { recursive: true });
  const base = path.join(options.out, options.name);
  fs.writeFileSync(`${base}-verdict.json`, `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(`${base}-history.json`, `${JSON.stringify({ ...summary, history: history.operations }, null, 1)}\n`);
  console.log(`wrote ${base}-verdict.json and ${base}-history.json`);
}

main().catch((error: unknown) => {
  console.error(`check:ledger: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
