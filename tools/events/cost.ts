// `npm run events:cost`: what the change stream costs, side by side in one
// run. The same stack (durable, nginx, two instances) is started with the
// stream off and on, alternately, --rounds times; each time the public test's
// mix at its rate (a new connection per request, as that test sends them)
// and then POSTs at saturation. With the stream on, a consumer reads every
// event and the lag from each row's realizada_em to its arrival is taken
// over the public-rate window. Writes results/events-cost.{json,md} with the
// machine's load average before and after (it is shared: say so).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { numberOption } from '../harness/target.js';
import { makeDataDirectory, stackPort, startStack } from '../harness/stack.js';
import { nodeLoad } from '../bench/load/node-load.js';
import { wrkLoad } from '../bench/load/wrk-load.js';
import { runHttpScenario, setupFor } from '../bench/run-scenario.js';
import { MIX, openAt, TRANSACOES } from '../bench/scenarios.js';
import { judgeStream, readLedgerRows } from '../ledger-check/stream-verdict.js';
import { StreamRecorder } from './recorder.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';

const BROKER_PORT = 22_682;
const SATURATION_CONNECTIONS = 32;
const CATCH_UP_MS = 5000;

interface Measured {
  events: 'on' | 'off';
  publicP99Ms: number;
  publicP50Ms: number;
  publicErrors: number;
  saturationPerSecond: number;
  /** From realizada_em to the consumer, rows of the public-rate window (on only). */
  lagMs?: { p50: number; p99: number; max: number; rows: number; missing: number };
}

const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');

async function measureOnce(events: 'on' | 'off', seconds: { public: number; saturation: number }): Promise<Measured> {
  const stack = await startStack({
    port: await stackPort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_EVENTS: events,
      CREBITO_EVENTS_BROKER_PORT: String(BROKER_PORT),
      CREBITO_EVENTS_ADMIN_PORT: '0',
      CREBITO_DATABASE_MODE: 'durable',
    },
  });
  try {
    const state = stack.state();
    const setup = setupFor(state);
    const recorder = events === 'on' ? new StreamRecorder(`amqp://127.0.0.1:${BROKER_PORT}`, 'events-cost') : undefined;
    await recorder?.start();
    const lastId = (await readLedgerRows(state.databaseUrl, 0)).at(-1)?.id ?? 0;
    const publicRate = openAt(MIX, 'public');
    const quiet = await runHttpScenario(setup, publicRate.scenario, {
      generator: nodeLoad,
      model: publicRate.model,
      durationSeconds: seconds.public,
    });
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_MS));
    let lagMs: Measured['lagMs'];
    if (recorder !== undefined) {
      const ledger = await readLedgerRows(state.databaseUrl, lastId);
      const verdict = judgeStream(recorder.deliveries, ledger, []);
      lagMs = { ...verdict.lagMs, rows: ledger.length, missing: verdict.missing.length };
    }
    const saturation = await runHttpScenario(setup, TRANSACOES, {
      generator: wrkLoad,
      model: { kind: 'closed', connections: SATURATION_CONNECTIONS },
      durationSeconds: seconds.saturation,
    });
    await recorder?.stop();
    return {
      events,
      publicP99Ms: quiet.latencyMs.p99,
      publicP50Ms: quiet.latencyMs.p50,
      publicErrors: quiet.errors + quiet.unexpectedStatuses,
      saturationPerSecond: saturation.requestsPerSecond,
      lagMs,
    };
  } finally {
    await stack.dispose();
  }
}

/** The middle value; with an even count, the mean of the two in the middle. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Report {
  date: string;
  loadBefore: string;
  loadAfter: string;
  rounds: number;
  seconds: object;
  runs: Measured[];
  /** Each round's on/off ratios (the rounds run one after the other, so each pair shares the machine's state). */
  perRound: { p99Ratio: number; saturationShare: number }[];
  p99Ratio: number;
  saturationShare: number;
  lagP99Ms: number;
}

function summarise(base: Omit<Report, 'perRound' | 'p99Ratio' | 'saturationShare' | 'lagP99Ms'>): Report {
  const of = (events: 'on' | 'off') => base.runs.filter((run) => run.events === events);
  const [off, on] = [of('off'), of('on')];
  const perRound = on.map((run, index) => ({
    p99Ratio: run.publicP99Ms / off[index]!.publicP99Ms,
    saturationShare: run.saturationPerSecond / off[index]!.saturationPerSecond,
  }));
  return {
    ...base,
    perRound,
    p99Ratio: median(perRound.map((round) => round.p99Ratio)),
    saturationShare: median(perRound.map((round) => round.saturationShare)),
    lagP99Ms: median(on.map((run) => run.lagMs!.p99)),
  };
}

function markdown(report: Report, command: string): string {
  const lag = (lagMs: Measured['lagMs']): string =>
    lagMs === undefined
      ? '-'
      : `${lagMs.p50} / ${lagMs.p99} / ${lagMs.max} (${lagMs.rows} rows, ${lagMs.missing} missing)`;
  const rows = report.runs.map(
    (run) =>
      `| ${run.events} | ${run.publicP50Ms.toFixed(2)} | ${run.publicP99Ms.toFixed(2)}` +
      ` | ${run.publicErrors} | ${run.saturationPerSecond.toFixed(0)} | ${lag(run.lagMs)} |`,
  );
  return [
    `# Change stream cost (${report.date})`,
    '',
    `\`${command}\`: the same stack with the stream off and on, alternately, ${report.rounds} round(s);` +
      ` load average ${report.loadBefore} before and ${report.loadAfter} after (a shared two-core machine, other work running).`,
    '',
    '| events | public mix p50 (ms) | public mix p99 (ms) | errors | POSTs at saturation (/s) | stream lag p50 / p99 / max (ms) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `Each round on/off: ${report.perRound
      .map(
        (round, index) =>
          `round ${index + 1}: p99 ${round.p99Ratio.toFixed(2)}x,` +
          ` saturation ${(round.saturationShare * 100).toFixed(0)}%`,
      )
      .join('; ')}.`,
    '',
    `Medians over rounds: p99 at the public rate on/off ${report.p99Ratio.toFixed(2)}x (goal at most 1.1x);` +
      ` saturation on/off ${(report.saturationShare * 100).toFixed(0)}% (goal at least 90%);` +
      ` stream lag p99 at the public rate ${report.lagP99Ms} ms (goal at most 100 ms).`,
    '',
  ].join('\n');
}

function write(out: string, report: Report, command: string): void {
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'events-cost.json'), `${JSON.stringify({ ...report, command }, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'events-cost.md'), markdown(report, command));
  console.log(markdown(report, command));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '2' },
      'public-duration': { type: 'string', default: '30' },
      duration: { type: 'string', default: '10' },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'results') },
      // Renders the report again from an earlier run's JSON (its runs, load and command kept).
      'report-from': { type: 'string' },
    },
  });
  if (values['report-from'] !== undefined) {
    const earlier = JSON.parse(fs.readFileSync(values['report-from'], 'utf8')) as Report & { command: string };
    write(values.out!, summarise(earlier), earlier.command);
    return;
  }
  const rounds = numberOption(values.rounds, 'rounds', { min: 1, max: 10, whole: true });
  const seconds = {
    public: numberOption(values['public-duration'], 'public-duration', { min: 1, max: 600, whole: true }),
    saturation: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
  };
  const loadBefore = loadAverage();
  const runs: Measured[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const events of ['off', 'on'] as const) {
      const run = await measureOnce(events, seconds);
      console.log(JSON.stringify(run));
      runs.push(run);
    }
  }
  const command = `npm run events:cost -- ${process.argv.slice(2).join(' ')}`;
  write(
    values.out!,
    summarise({ date: new Date().toISOString(), loadBefore, loadAfter: loadAverage(), rounds, seconds, runs }),
    command,
  );
}

main().catch((error: unknown) => {
  console.error(`events:cost: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
