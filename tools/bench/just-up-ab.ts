// A stack just up, A against B: what the public test meets in its first
// seconds, which a side-by-side A/B of warm stacks (latency/ab.ts) cannot
// show. Each turn starts a fresh stack (a new data directory: initdb, the
// schema, the first backup when backups are on), sends the mix at the public
// rate the moment the launcher says "up", and stops it; turns alternate
// A B B A ..., one stack at a time, so that the machine's other work falls on
// both alike. Latencies are pooled per side; each turn's line says when its
// slowest answers came and when the launcher logged its start-up work (the
// first backup), in seconds from the start of the load.
//
//   node dist/tools/bench/just-up-ab.js --label backups --mode durable \
//     --a CREBITO_BACKUPS=on --b CREBITO_BACKUPS=off --rounds 4 --duration 30
//
// Writes results/stalls/just-up-<label>-<mode>.{json,md} with `uptime` before and after.

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { numberOption } from '../harness/target.js';
import { LatencyHistogram, type LatencySummary } from './load/latency-histogram.js';
import { nodeLoad } from './load/node-load.js';
import { milliseconds } from './report/report.js';
import { MIX, PUBLIC_TEST_RATE_PER_SECOND } from './scenarios.js';
import { uptime } from './latency/public-latency.js';
import { readAbOptions, type AbOptions } from './latency/ab-options.js';

const SLOWEST_SHOWN = 5;
// The launcher's log lines that mark start-up work still going on after "up".
const START_UP_WORK = ['full backup taken', 'backups on:', 'BACKUPS COULD NOT START'];

interface Turn {
  side: 'A' | 'B';
  upSeconds: number;
  latency: LatencySummary;
  sendLagP99Ms: number;
  /** Seconds into the load, slowest first. */
  slowest: { latencyMs: number; atS: number }[];
  /** The launcher's start-up work, in seconds from the start of the load (negative: before it). */
  startUpWork: { msg: string; atS: number }[];
  errors: number;
}

/** The launcher's JSON log lines about start-up work, with their times. */
function startUpWorkOf(output: string, loadStartMs: number): Turn['startUpWork'] {
  return output
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as { msg?: string; time?: string }];
      } catch {
        return [];
      }
    })
    .filter((entry) => START_UP_WORK.some((marker) => entry.msg?.startsWith(marker) === true))
    .map((entry) => ({ msg: entry.msg!.slice(0, 40), atS: (Date.parse(entry.time!) - loadStartMs) / 1000 }));
}

async function turn(
  side: 'A' | 'B',
  environment: Record<string, string>,
  options: JustUpOptions,
  pooled: LatencyHistogram,
): Promise<Turn> {
  const startedAt = performance.now();
  const stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: { CREBITO_DATABASE_MODE: options.mode, ...environment },
  });
  const upSeconds = (performance.now() - startedAt) / 1000;
  try {
    if (options.settleSeconds > 0) await new Promise((resolve) => setTimeout(resolve, options.settleSeconds * 1000));
    const loadStartMs = Date.now();
    const outcome = await nodeLoad.run({
      url: stack.baseUrl,
      model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
      durationSeconds: options.durationSeconds,
      requests: MIX.requests(),
    });
    pooled.add(outcome.latencyHistogram!);
    const unexpected = Object.entries(outcome.statusCounts)
      .filter(([status]) => status !== '200' && status !== '422')
      .reduce((sum, [, count]) => sum + count, 0);
    return {
      side,
      upSeconds,
      latency: outcome.latency,
      sendLagP99Ms: outcome.sendLag?.p99 ?? 0,
      slowest: (outcome.slowest ?? []).slice(0, SLOWEST_SHOWN).map((answer) => ({
        latencyMs: answer.latencyMs,
        atS: (Date.parse(answer.answeredAt) - loadStartMs) / 1000,
      })),
      startUpWork: startUpWorkOf(stack.output(), loadStartMs),
      errors: outcome.errors + unexpected,
    };
  } finally {
    await stack.dispose();
  }
}

function describeTurn(turn: Turn): string {
  const { p50, p99, p999, max } = turn.latency;
  const slowest = turn.slowest.map((answer) => `${milliseconds(answer.latencyMs)} (${answer.atS.toFixed(1)} s)`);
  const work = turn.startUpWork.map((entry) => `${entry.msg} at ${entry.atS.toFixed(1)} s`);
  return (
    `| ${turn.side} | ${turn.upSeconds.toFixed(1)} | ${milliseconds(p50)} | ${milliseconds(p99)} | ` +
    `${milliseconds(p999)} | ${milliseconds(max)} | ${milliseconds(turn.sendLagP99Ms)} | ${slowest.join(', ')} | ` +
    `${work.join('; ') || 'none'} |`
  );
}

function render(options: JustUpOptions, turns: Turn[], pooled: Record<'A' | 'B', LatencyHistogram>, uptimes: string[]) {
  const env = (environment: Record<string, string>) =>
    Object.keys(environment).length === 0
      ? 'as shipped'
      : Object.entries(environment)
          .map(([key, value]) => `\`${key}=${value}\``)
          .join(', ');
  const [a, b] = [pooled.A.summary(), pooled.B.summary()];
  const ratio = (x: number, y: number) => `${((y / x) * 100).toFixed(0)}%`;
  const row = (name: string, environment: Record<string, string>, s: LatencySummary) =>
    `| ${name} | ${env(environment)} | ${s.count} | ${milliseconds(s.p50)} | ${milliseconds(s.p90)} | ` +
    `${milliseconds(s.p99)} | ${milliseconds(s.p999)} | ${milliseconds(s.max)} |`;
  return [
    `# Just up, A/B: ${options.label}, ${options.mode} mode`,
    '',
    `Each turn a fresh stack (new data directory), the mix at ${PUBLIC_TEST_RATE_PER_SECOND} req/s (a new ` +
      `connection per request) for ${options.durationSeconds} s from ${options.settleSeconds} s after the ` +
      `launcher's "up", then the stack stopped; ${options.rounds} rounds in turns (A B B A ...), one stack at a ` +
      `time, latencies pooled per side. Written by \`node dist/tools/bench/just-up-ab.js\`.`,
    '',
    `Load average before: \`${uptimes[0]}\`; after: \`${uptimes[1]}\`.`,
    '',
    '| side | environment | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    row('A', options.environments.a, a),
    row('B', options.environments.b, b),
    `| B / A | | | ${ratio(a.p50, b.p50)} | ${ratio(a.p90, b.p90)} | ${ratio(a.p99, b.p99)} | ` +
      `${ratio(a.p999, b.p999)} | ${ratio(a.max, b.max)} |`,
    '',
    'Each turn: seconds from the launcher\'s start to "up", percentiles (ms), the slowest answers (seconds into ' +
      "the load) and the launcher's start-up work logged after the load began.",
    '',
    '| side | up s | p50 | p99 | p99.9 | max | send lag p99 | slowest: ms (s) | start-up work |',
    '|---|---:|---:|---:|---:|---:|---:|---|---|',
    ...turns.map(describeTurn),
    '',
  ].join('\n');
}

interface JustUpOptions extends AbOptions {
  settleSeconds: number;
}

function readOptions(): JustUpOptions {
  const { options, extra } = readAbOptions(
    { durationSeconds: 30, out: path.join(PROJECT_ROOT, 'results', 'stalls') },
    { settle: { type: 'string', default: '0' } },
  );
  return { ...options, settleSeconds: numberOption(extra.settle, 'settle', { min: 0, max: 600, whole: false }) };
}

async function main(): Promise<void> {
  const options = readOptions();
  const pooled = { A: new LatencyHistogram(), B: new LatencyHistogram() };
  const turns: Turn[] = [];
  const uptimeBefore = uptime();
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
    for (const side of order) {
      const environment = side === 'A' ? options.environments.a : options.environments.b;
      turns.push(await turn(side, environment, options, pooled[side]));
      console.log(describeTurn(turns.at(-1)!));
    }
  }
  const markdown = render(options, turns, pooled, [uptimeBefore, uptime()]);
  fs.mkdirSync(options.out, { recursive: true });
  const base = path.join(options.out, `just-up-${options.label}-${options.mode}`);
  fs.writeFileSync(`${base}.md`, markdown);
  const summary = { options, pooled: { A: pooled.A.summary(), B: pooled.B.summary() }, turns };
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(markdown);
  if (turns.some((entry) => entry.errors > 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`just-up-ab: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
