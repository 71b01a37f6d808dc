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
import pg from 'pg';
import { parseArgs } from 'node:util';
import { numberOption } from '../harness/target.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { nodeLoad } from '../bench/load/node-load.js';
import { wrkLoad } from '../bench/load/wrk-load.js';
import { runHttpScenario, setupFor } from '../bench/run-scenario.js';
import { MIX, openAt, TRANSACOES } from '../bench/scenarios.js';
import { judgeStream, readLedgerRows, type StreamVerdict } from '../ledger-check/stream-verdict.js';
import { ConsumerProcess } from './consumer-process.js';
import { place, preparePlacement, type StreamCpuMode } from '../../src/events/cpu.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { SETTINGS } from '../../src/shared/settings.js';

const BROKER_PORT = 22_682;
const SATURATION_CONNECTIONS = 32;
const CATCH_UP_MS = 5000;
// After saturation the stream may be far behind (it yields to the ledger): how long it may take to catch up.
const CATCH_UP_AFTER_SATURATION_MAX_MS = 300_000;
const CATCH_UP_POLL_MS = 100;

/** The stream's CPU mode and cap (CREBITO_EVENTS_CPU, CREBITO_EVENTS_CPU_CAP). */
interface StreamCpu {
  cpu: StreamCpuMode;
  cap: number;
}

const cpuKey = ({ cpu, cap }: StreamCpu) => (cpu === 'normal' ? cpu : `${cpu}/${cap}`);

type StreamLag = { p50: number; p99: number; max: number; rows: number; missing: number };

interface Measured {
  events: 'on' | 'off';
  /** CREBITO_EVENTS_CPU of an "on" run: how the stream's processes share the CPU. */
  cpu?: StreamCpuMode;
  /** CREBITO_EVENTS_CPU_CAP of an "on" run (runs from before the cap have none). */
  cpuCap?: number;
  publicP99Ms: number;
  publicP50Ms: number;
  publicErrors: number;
  saturationPerSecond: number;
  /** WAL written per second at saturation: how long the slot's bound holds while the stream waits. */
  walMbPerSecond?: number;
  /** From realizada_em to the consumer, rows of the public-rate window (on only). */
  lagMs?: StreamLag;
  /** The same for the rows written at saturation (on only): how far behind the stream fell. */
  saturationLagMs?: StreamLag;
  /** From the end of saturation to the consumer holding every row (on only). */
  catchUpMs?: number;
  /** The whole run's stream, judged (on only): duplicates, and whether it holds (0 missing, 0 invented, order). */
  stream?: { holds: boolean; duplicates: number; invented: number; outOfOrderClients: number };
}

const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');

const lagOf = (verdict: StreamVerdict): StreamLag => ({
  ...verdict.lagMs,
  rows: verdict.ledgerRows,
  missing: verdict.missing.length,
});

/** The server's WAL position in bytes. */
async function walPosition(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(
      "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS bytes",
    );
    return Number(rows[0]!.bytes);
  } finally {
    await client.end();
  }
}

/** Waits until the consumer holds every row of the ledger since lastId; ms from `since` to then. */
async function waitForStream(consumer: ConsumerProcess, databaseUrl: string, lastId: number): Promise<number> {
  const rows = (await readLedgerRows(databaseUrl, lastId)).length;
  const startedAt = performance.now();
  while (consumer.distinct < rows && performance.now() - startedAt < CATCH_UP_AFTER_SATURATION_MAX_MS)
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_POLL_MS));
  return performance.now() - startedAt;
}

async function measureOnce(
  events: 'on' | 'off',
  { cpu, cap }: StreamCpu,
  seconds: { public: number; saturation: number },
): Promise<Measured> {
  const stack = await startStack({
    // Not 9999: another stack on the machine may take it between the check and nginx's start.
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      CREBITO_EVENTS: events,
      CREBITO_EVENTS_CPU: cpu,
      CREBITO_EVENTS_CPU_CAP: String(cap),
      CREBITO_EVENTS_BROKER_PORT: String(BROKER_PORT),
      CREBITO_EVENTS_ADMIN_PORT: '0',
      CREBITO_DATABASE_MODE: 'durable',
    },
  });
  try {
    const state = stack.state();
    const setup = setupFor(state);
    const consumer =
      events === 'on' ? new ConsumerProcess(`amqp://127.0.0.1:${BROKER_PORT}`, 'events-cost') : undefined;
    await consumer?.start();
    // The consumer is part of the stream: it yields as the stream's processes do.
    if (consumer?.pid !== undefined) place(consumer.pid, preparePlacement(cpu, BROKER_PORT), false);
    const lastId = (await readLedgerRows(state.databaseUrl, 0)).at(-1)?.id ?? 0;
    const publicRate = openAt(MIX, 'public');
    const quiet = await runHttpScenario(setup, publicRate.scenario, {
      generator: nodeLoad,
      model: publicRate.model,
      durationSeconds: seconds.public,
    });
    await new Promise((resolve) => setTimeout(resolve, CATCH_UP_MS));
    const lastPublicId = (await readLedgerRows(state.databaseUrl, 0)).at(-1)?.id ?? 0;
    const walBefore = await walPosition(state.databaseUrl);
    const saturation = await runHttpScenario(setup, TRANSACOES, {
      generator: wrkLoad,
      model: { kind: 'closed', connections: SATURATION_CONNECTIONS },
      durationSeconds: seconds.saturation,
    });
    const walMbPerSecond = ((await walPosition(state.databaseUrl)) - walBefore) / 2 ** 20 / seconds.saturation;
    const measured: Measured = {
      events,
      ...(events === 'on' ? { cpu, cpuCap: cap } : {}),
      publicP99Ms: quiet.latencyMs.p99,
      publicP50Ms: quiet.latencyMs.p50,
      publicErrors: quiet.errors + quiet.unexpectedStatuses,
      saturationPerSecond: saturation.requestsPerSecond,
      walMbPerSecond: Math.round(walMbPerSecond * 10) / 10,
    };
    if (consumer === undefined) return measured;
    const catchUpMs = await waitForStream(consumer, state.databaseUrl, lastId);
    const deliveries = await consumer.stop();
    const ledger = await readLedgerRows(state.databaseUrl, lastId);
    const publicRows = ledger.filter((row) => row.id <= lastPublicId);
    const whole = judgeStream(deliveries, ledger, [], lastId);
    return {
      ...measured,
      lagMs: lagOf(
        judgeStream(
          deliveries.filter((d) => d.event.id <= lastPublicId),
          publicRows,
          [],
          lastId,
        ),
      ),
      saturationLagMs: lagOf(judgeStream(deliveries, ledger, [], lastPublicId)),
      catchUpMs: Math.round(catchUpMs),
      stream: {
        holds: whole.holds,
        duplicates: whole.duplicates,
        invented: whole.invented.length,
        outOfOrderClients: whole.outOfOrderClients.length,
      },
    };
  } finally {
    await stack.dispose();
  }
}

/** Runs from before the CPU setting have no cpu (they ran as "normal"), and from before the cap no cap. */
const cpuOf = (run: Measured): string =>
  run.cpu === undefined ? 'normal' : run.cpuCap === undefined ? run.cpu : cpuKey({ cpu: run.cpu, cap: run.cpuCap });

/** The middle value; with an even count, the mean of the two in the middle. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface RoundRatios {
  p99Ratio: number;
  saturationShare: number;
}

interface Report {
  date: string;
  loadBefore: string;
  loadAfter: string;
  rounds: number;
  seconds: object;
  /** The stream's CPU mode the verdicts are about (the others, if any, are measured beside it for comparison). */
  cpu?: string;
  runs: Measured[];
  /** Each round's on/off ratios (the rounds run one after the other, so each pair shares the machine's state). */
  perRound: RoundRatios[];
  p99Ratio: number;
  saturationShare: number;
  lagP99Ms: number;
  /** The same ratios for each compared CPU mode. */
  compared?: Record<string, { perRound: RoundRatios[]; p99Ratio: number; saturationShare: number }>;
}

type Base = Omit<Report, 'perRound' | 'p99Ratio' | 'saturationShare' | 'lagP99Ms' | 'compared'>;

function ratios(
  off: Measured[],
  on: Measured[],
): { perRound: RoundRatios[]; p99Ratio: number; saturationShare: number } {
  const perRound = on.map((run, index) => ({
    p99Ratio: run.publicP99Ms / off[index]!.publicP99Ms,
    saturationShare: run.saturationPerSecond / off[index]!.saturationPerSecond,
  }));
  return {
    perRound,
    p99Ratio: median(perRound.map((round) => round.p99Ratio)),
    saturationShare: median(perRound.map((round) => round.saturationShare)),
  };
}

function summarise(base: Base): Report {
  const primary = base.cpu ?? 'normal';
  const off = base.runs.filter((run) => run.events === 'off');
  const onWith = (cpu: string) => base.runs.filter((run) => run.events === 'on' && cpuOf(run) === cpu);
  const on = onWith(primary);
  const others = [...new Set(base.runs.filter((run) => run.events === 'on').map(cpuOf))].filter((c) => c !== primary);
  return {
    ...base,
    ...ratios(off, on),
    lagP99Ms: median(on.map((run) => run.lagMs!.p99)),
    ...(others.length === 0 ? {} : { compared: Object.fromEntries(others.map((c) => [c, ratios(off, onWith(c))])) }),
  };
}

const lag = (lagMs: StreamLag | undefined): string =>
  lagMs === undefined
    ? '-'
    : `${lagMs.p50} / ${lagMs.p99} / ${lagMs.max} (${lagMs.rows} rows, ${lagMs.missing} missing)`;

function runRow(run: Measured): string {
  const stream =
    run.stream === undefined
      ? '-'
      : `${run.stream.holds ? 'holds' : '**broken**'}, ${run.stream.duplicates} dup., ${run.stream.invented} invented`;
  return (
    `| ${run.events} | ${run.events === 'on' ? cpuOf(run) : '-'} | ${run.publicP50Ms.toFixed(2)} | ${run.publicP99Ms.toFixed(2)}` +
    ` | ${run.publicErrors} | ${run.saturationPerSecond.toFixed(0)} | ${run.walMbPerSecond ?? '-'} | ${lag(run.lagMs)}` +
    ` | ${run.saturationLagMs === undefined ? '-' : `${run.saturationLagMs.p99} / ${run.saturationLagMs.max}`}` +
    ` | ${run.catchUpMs === undefined ? '-' : (run.catchUpMs / 1000).toFixed(1)} | ${stream} |`
  );
}

const roundsText = (perRound: RoundRatios[]) =>
  perRound
    .map(
      (round, index) =>
        `round ${index + 1}: p99 ${round.p99Ratio.toFixed(2)}x, saturation ${(round.saturationShare * 100).toFixed(0)}%`,
    )
    .join('; ');

/** While the stream yields, the slot holds the WAL written meanwhile: for how long, at saturation, before its bound. */
function boundText(report: Report): string[] {
  const rates = report.runs.flatMap((run) =>
    run.events === 'on' && cpuOf(run) === report.cpu && run.walMbPerSecond !== undefined ? [run.walMbPerSecond] : [],
  );
  if (rates.length === 0) return [];
  const rate = median(rates);
  const minutes = Number(SETTINGS.eventsWalKeepMb.default) / rate / 60;
  return [
    `WAL written at saturation, stream on: median ${rate} MB/s; the slot's default bound` +
      ` (${SETTINGS.eventsWalKeepMb.default} MB) holds about ${minutes.toFixed(0)} minutes of uninterrupted saturation` +
      ' while the stream waits (more than that and the slot is lost: docs/events.md).',
    '',
  ];
}

const verdict = (met: boolean) => (met ? '**met**' : '**missed**');

function markdown(report: Report, command: string): string {
  const primary = report.cpu ?? 'normal';
  const compared = Object.entries(report.compared ?? {}).map(
    ([cpu, value]) =>
      `Compared, the stream's CPU \`${cpu}\`, each round on/off: ${roundsText(value.perRound)}; medians p99` +
      ` ${value.p99Ratio.toFixed(2)}x, saturation ${(value.saturationShare * 100).toFixed(0)}%.`,
  );
  return [
    `# Change stream cost (${report.date})`,
    '',
    `\`${command}\`: the same stack with the stream off and on, alternately, ${report.rounds} round(s);` +
      ` load average ${report.loadBefore} before and ${report.loadAfter} after` +
      ' (a two-core machine: the load average says what else ran).',
    '',
    '| events | stream CPU | public mix p50 (ms) | public mix p99 (ms) | errors | POSTs at saturation (/s)' +
      ' | WAL at saturation (MB/s)' +
      ' | stream lag at the public rate p50 / p99 / max (ms) | lag of saturation rows p99 / max (ms)' +
      ' | caught up after saturation (s) | stream (whole run) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...report.runs.map(runRow),
    '',
    `Each round on/off (stream CPU \`${primary}\`): ${roundsText(report.perRound)}.`,
    '',
    ...(compared.length === 0 ? [] : [...compared, '']),
    ...boundText(report),
    `Medians over rounds (stream CPU \`${primary}\`): p99 at the public rate on/off ${report.p99Ratio.toFixed(2)}x` +
      ` (goal at most 1.1x: ${verdict(report.p99Ratio <= 1.1)});` +
      ` saturation on/off ${(report.saturationShare * 100).toFixed(0)}%` +
      ` (goal at least 90%: ${verdict(report.saturationShare >= 0.9)});` +
      ` stream lag p99 at the public rate ${report.lagP99Ms} ms (goal at most 100 ms: ${verdict(report.lagP99Ms <= 100)}).`,
    '',
  ].join('\n');
}

function write(out: string, report: Report, command: string): void {
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'events-cost.json'), `${JSON.stringify({ ...report, command }, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'events-cost.md'), markdown(report, command));
  console.log(markdown(report, command));
}

const CPU_MODES: readonly StreamCpuMode[] = ['idle', 'low', 'normal'];

/** A CPU mode, optionally with its cap (CREBITO_EVENTS_CPU_CAP) after a slash: low, low/0, idle/10. */
function cpuMode(text: string): StreamCpu {
  const [mode, capText = String(SETTINGS.eventsCpuCap.default)] = text.split('/');
  if (!(CPU_MODES as readonly string[]).includes(mode!))
    throw new Error(`a CPU mode is one of ${CPU_MODES.join(', ')}, optionally /cap`);
  return { cpu: mode as StreamCpuMode, cap: numberOption(capText, 'cap', { min: 0, max: 400, whole: true }) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '2' },
      'public-duration': { type: 'string', default: '30' },
      duration: { type: 'string', default: '10' },
      // The stream's CPU mode the verdicts are about (CREBITO_EVENTS_CPU), and others measured beside it in each round.
      cpu: { type: 'string', default: String(SETTINGS.eventsCpu.default) },
      'compare-cpu': { type: 'string', default: '' },
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
  const cpu = cpuMode(values.cpu!);
  const compared = values['compare-cpu']!.split(',')
    .filter((text) => text !== '')
    .map(cpuMode);
  const loadBefore = loadAverage();
  const runs: Measured[] = [];
  for (let round = 0; round < rounds; round++) {
    const plan: ['on' | 'off', StreamCpu][] = [
      ['off', cpu],
      ['on', cpu],
      ...compared.map((c) => ['on', c] as ['on', StreamCpu]),
    ];
    for (const [events, mode] of plan) {
      const run = await measureOnce(events, mode, seconds);
      console.log(JSON.stringify(run));
      runs.push(run);
    }
  }
  const command = `npm run events:cost -- ${process.argv.slice(2).join(' ')}`;
  write(
    values.out!,
    summarise({
      date: new Date().toISOString(),
      loadBefore,
      loadAfter: loadAverage(),
      rounds,
      seconds,
      cpu: cpuKey(cpu),
      runs,
    }),
    command,
  );
}

main().catch((error: unknown) => {
  console.error(`events:cost: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
