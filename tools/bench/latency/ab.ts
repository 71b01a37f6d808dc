// Before and after, in one run: two stacks side by side, A and B, differing
// only in the environment given to each (a setting, or a code path chosen
// by one), measured in turns, A B B A A B ..., so that whatever else the
// machine does in the meantime falls on both alike. Each turn is the mix at
// the public test's rate (a new connection per request) and a short burst
// at saturation (wrk, closed model); the turns' latencies are pooled per
// side, and each side's saturation is the median of its turns.
//
//   node dist/tools/bench/latency/ab.js --label in-flight-2 --mode durable \
//     --b CREBITO_BATCHES_IN_FLIGHT_MAX=2 --rounds 4 --duration 20
//
// Writes results/ab-<label>-<mode>.{json,md} with `uptime` before and after.

import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../../src/stack/paths.js';
import { makeDataDirectory, freePort, startStack, type RunningStack } from '../../harness/stack.js';
import { readAbOptions, type AbOptions } from './ab-options.js';
import { LatencyHistogram } from '../load/latency-histogram.js';
import { nodeLoad } from '../load/node-load.js';
import { wrkLoad } from '../load/wrk-load.js';
import { milliseconds } from '../report/report.js';
import { MIX, PUBLIC_TEST_RATE_PER_SECOND } from '../scenarios.js';
import { uptime } from './public-latency.js';

const SATURATION_SECONDS = 4;
const SATURATION_CONNECTIONS = 32;

interface Side {
  name: 'A' | 'B';
  environment: Record<string, string>;
  stack?: RunningStack;
  latency: LatencyHistogram;
  saturation: number[];
  errors: number;
}

async function turn(side: Side, durationSeconds: number): Promise<void> {
  const url = side.stack!.baseUrl;
  const open = await nodeLoad.run({
    url,
    model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
    durationSeconds,
    requests: MIX.requests(),
  });
  side.latency.add(open.latencyHistogram!);
  const closed = await wrkLoad.run({
    url,
    model: { kind: 'closed', connections: SATURATION_CONNECTIONS },
    durationSeconds: SATURATION_SECONDS,
    requests: MIX.requests(),
  });
  side.saturation.push(closed.latency.count / closed.elapsedSeconds);
  const unexpected = (statuses: Record<string, number>) =>
    Object.entries(statuses)
      .filter(([status]) => status !== '200' && status !== '422')
      .reduce((sum, [, count]) => sum + count, 0);
  side.errors += open.errors + closed.errors + unexpected(open.statusCounts) + unexpected(closed.statusCounts);
  const { p50, p99, p999 } = open.latency;
  console.log(
    `${side.name}: p50 ${p50.toFixed(2)} p99 ${p99.toFixed(2)} p99.9 ${p999.toFixed(2)} ms, saturation ` +
      `${side.saturation.at(-1)!.toFixed(0)} req/s`,
  );
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function render(
  label: string,
  mode: string,
  sides: Side[],
  meta: { rounds: number; durationSeconds: number; uptimeBefore: string; uptimeAfter: string },
): string {
  const [a, b] = sides.map((side) => ({ ...side, summary: side.latency.summary() }));
  const env = (side: Side) =>
    Object.keys(side.environment).length === 0
      ? 'as shipped'
      : Object.entries(side.environment)
          .map(([key, value]) => `\`${key}=${value}\``)
          .join(', ');
  const ratio = (x: number, y: number) => `${((y / x) * 100).toFixed(0)}%`;
  return [
    `# A/B: ${label}, ${mode} mode`,
    '',
    `Two stacks side by side, measured in turns (A B B A ...), ${meta.rounds} rounds: each turn the mix at ` +
      `${PUBLIC_TEST_RATE_PER_SECOND} req/s for ${meta.durationSeconds} s (a new connection per request; ` +
      `latencies pooled per side), then ${SATURATION_SECONDS} s at saturation (wrk, ` +
      `${SATURATION_CONNECTIONS} connections; the median turn). ` +
      `Load average before: \`${meta.uptimeBefore}\`; after: \`${meta.uptimeAfter}\`.`,
    '',
    '| side | environment | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | saturation req/s | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...[a!, b!].map(
      (side) =>
        `| ${side.name} | ${env(side)} | ${side.summary.count} | ${milliseconds(side.summary.p50)} | ` +
        `${milliseconds(side.summary.p90)} | ${milliseconds(side.summary.p99)} | ` +
        `${milliseconds(side.summary.p999)} | ${milliseconds(side.summary.max)} | ` +
        `${median(side.saturation).toFixed(0)} | ${side.errors} |`,
    ),
    `| B / A | | | ${ratio(a!.summary.p50, b!.summary.p50)} | ${ratio(a!.summary.p90, b!.summary.p90)} | ` +
      `${ratio(a!.summary.p99, b!.summary.p99)} | ${ratio(a!.summary.p999, b!.summary.p999)} | ` +
      `${ratio(a!.summary.max, b!.summary.max)} | ${ratio(median(a!.saturation), median(b!.saturation))} | |`,
    '',
  ].join('\n');
}

/** Both stacks up, one uncounted turn each (their first minute lands on both alike), then the rounds in turns. */
async function runTurns(sides: Side[], options: AbOptions): Promise<void> {
  try {
    for (const side of sides) {
      side.stack = await startStack({
        port: await freePort(),
        dataDirectory: makeDataDirectory(),
        environment: { CREBITO_DATABASE_MODE: options.mode, ...side.environment },
      });
    }
    for (const side of sides)
      await nodeLoad.run({
        url: side.stack!.baseUrl,
        model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
        durationSeconds: Math.min(10, options.durationSeconds),
        requests: MIX.requests(),
      });
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) await turn(side, options.durationSeconds);
    }
  } finally {
    for (const side of sides) await side.stack?.dispose();
  }
}

async function main(): Promise<void> {
  const { options } = readAbOptions({ durationSeconds: 20, out: path.join(PROJECT_ROOT, 'results') });
  const sides: Side[] = (
    [
      { name: 'A', environment: options.environments.a },
      { name: 'B', environment: options.environments.b },
    ] as const
  ).map((side) => ({ ...side, latency: new LatencyHistogram(), saturation: [], errors: 0 }));
  const uptimeBefore = uptime();
  await runTurns(sides, options);
  const { rounds, durationSeconds } = options;
  const markdown = render(options.label, options.mode, sides, {
    rounds,
    durationSeconds,
    uptimeBefore,
    uptimeAfter: uptime(),
  });
  fs.mkdirSync(options.out, { recursive: true });
  const base = path.join(options.out, `ab-${options.label}-${options.mode}`);
  fs.writeFileSync(`${base}.md`, markdown);
  const summaries = sides.map(({ stack: _stack, latency, ...side }) => ({
    ...side,
    latency: latency.summary(),
    saturationMedian: median(side.saturation),
  }));
  fs.writeFileSync(`${base}.json`, `${JSON.stringify(summaries, null, 2)}\n`);
  console.log(markdown);
  if (sides.some((side) => side.errors > 0)) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(`ab: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
