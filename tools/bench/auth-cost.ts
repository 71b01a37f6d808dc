// What API keys cost (CREBITO_AUTH=keys; docs/performance.md, What API keys cost), measured the
// that matters: the public test's mix at saturation (closed model) and
// at the public test's rate (open model, a new connection per request), with
// auth off and on, alternated on one data directory in the same run (off, on,
// then on, off, ...), so that a drift of the shared machine falls on both.
// The same generator (our own, node-load.ts) drives both, each request with
// a key when auth is on. Prints each run, the load average beside it, and
// the medians' ratios and the median of each round's ratio:
//
//   npm run build && node dist/tools/bench/auth-cost.js --rounds 3 --duration 5 --public-duration 10

import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { waitForOrThrow } from '../../src/shared/wait.js';
import { readStackState } from '../../src/stack/state.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { numberOption } from '../harness/target.js';
import { createKey } from '../keys/keys.js';
import { nodeLoad } from './load/node-load.js';
import type { LoadModel, LoadRequest } from './load/load-generator.js';
import { MIX, PUBLIC_TEST_RATE_PER_SECOND } from './scenarios.js';

type Auth = 'off' | 'keys';
interface Measured {
  auth: Auth;
  round: number;
  throughputPerS: number;
  publicP99Ms: number;
  unexpected: number;
  loadAverage: string;
}

const EXPECTED = new Set(['200', '422']);
const READY_WAIT = { timeoutMs: 20_000, intervalMs: 100 };

async function runLoad(url: string, model: LoadModel, durationSeconds: number, requests: LoadRequest[]) {
  const outcome = await nodeLoad.run({ url, model, durationSeconds, requests });
  const unexpected =
    outcome.errors +
    Object.entries(outcome.statusCounts)
      .filter(([status]) => !EXPECTED.has(status))
      .reduce((sum, [, count]) => sum + count, 0);
  return { outcome, unexpected };
}

async function measureOnce(
  auth: Auth,
  round: number,
  options: {
    dataDirectory: string;
    port: number;
    key: () => Promise<string>;
    connections: number;
    durationS: number;
    publicDurationS: number;
  },
): Promise<Measured> {
  const stack = await startStack({
    port: options.port,
    dataDirectory: options.dataDirectory,
    environment: { CREBITO_AUTH: auth },
  });
  try {
    const authorization = auth === 'keys' ? `Bearer ${await options.key()}` : undefined;
    const requests = MIX.requests().map((request) => ({ ...request, authorization }));
    // The instances read the keys every 250 ms: wait until the key works.
    await waitForOrThrow(
      'the bench key to be accepted',
      async () => {
        const response = await fetch(`${stack.baseUrl}/clientes/1/extrato`, {
          headers: authorization === undefined ? {} : { authorization },
        });
        return response.status === 200;
      },
      READY_WAIT,
    );
    const saturation = await runLoad(
      stack.baseUrl,
      { kind: 'closed', connections: options.connections },
      options.durationS,
      requests,
    );
    const atPublicRate = await runLoad(
      stack.baseUrl,
      { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
      options.publicDurationS,
      requests,
    );
    return {
      auth,
      round,
      throughputPerS: saturation.outcome.latency.count / saturation.outcome.elapsedSeconds,
      publicP99Ms: atPublicRate.outcome.latency.p99,
      unexpected: saturation.unexpected + atPublicRate.unexpected,
      loadAverage: os
        .loadavg()
        .map((load) => load.toFixed(2))
        .join(' '),
    };
  } finally {
    await stack.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '5' },
      'public-duration': { type: 'string', default: '10' },
      connections: { type: 'string', default: '32' },
    },
  });
  const rounds = numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true });
  const options = {
    dataDirectory: makeDataDirectory(),
    port: await freePort(),
    connections: numberOption(values.connections, 'connections', { min: 1, max: 1000, whole: true }),
    durationS: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
    publicDurationS: numberOption(values['public-duration'], 'public-duration', { min: 1, max: 3600, whole: true }),
  };
  let key: Promise<string> | undefined;
  const runs: Measured[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const order: Auth[] = round % 2 === 1 ? ['off', 'keys'] : ['keys', 'off'];
      for (const auth of order) {
        const measured = await measureOnce(auth, round, {
          ...options,
          key: () => (key ??= makeKey(options.dataDirectory)),
        });
        runs.push(measured);
        console.log(
          `round ${round} auth=${auth}: saturation ${measured.throughputPerS.toFixed(0)} req/s, ` +
            `p99 at ${PUBLIC_TEST_RATE_PER_SECOND} req/s ${measured.publicP99Ms.toFixed(2)} ms, ` +
            `unexpected ${measured.unexpected}, load average ${measured.loadAverage}`,
        );
      }
    }
  } finally {
    fs.rmSync(options.dataDirectory, { recursive: true, force: true });
  }
  const of = (auth: Auth) => runs.filter((run) => run.auth === auth);
  const throughputRatio =
    median(of('keys').map((run) => run.throughputPerS)) / median(of('off').map((run) => run.throughputPerS));
  const p99Ratio = median(of('keys').map((run) => run.publicP99Ms)) / median(of('off').map((run) => run.publicP99Ms));
  console.log(
    `medians: saturation with keys / without = ${throughputRatio.toFixed(3)} (bound >= 0.95); ` +
      `p99 at the public rate with keys / without = ${p99Ratio.toFixed(3)} (bound <= 1.10)`,
  );
  // The two modes of one round run minutes apart at most, so a drift of the
  // shared machine between rounds cancels in a round's ratio; the median of
  // those ratios is the figure to hold against the bounds when rounds differ.
  const perRound = Array.from({ length: rounds }, (_, index) => {
    const [keys, off] = [of('keys')[index]!, of('off')[index]!];
    return { throughput: keys.throughputPerS / off.throughputPerS, p99: keys.publicP99Ms / off.publicP99Ms };
  });
  console.log(
    `ratios per round (keys / off): saturation ${perRound.map((ratio) => ratio.throughput.toFixed(3)).join(' ')}; ` +
      `p99 ${perRound.map((ratio) => ratio.p99.toFixed(3)).join(' ')}`,
  );
  console.log(
    `median of the rounds' ratios: saturation ${median(perRound.map((ratio) => ratio.throughput)).toFixed(3)} ` +
      '(bound >= 0.95); ' +
      `p99 at the public rate ${median(perRound.map((ratio) => ratio.p99)).toFixed(3)} (bound <= 1.10)`,
  );
  if (runs.some((run) => run.unexpected > 0)) process.exitCode = 1;
}

/** The key is made once, in the first stack with keys on; the data directory keeps it for the later ones. */
async function makeKey(dataDirectory: string): Promise<string> {
  const owner = new pg.Client({ connectionString: readStackState(dataDirectory).databaseUrl });
  await owner.connect();
  try {
    return await createKey(owner, {
      name: `bench-${Date.now()}`,
      clients: 'all',
      scope: 'read-write',
      expiresInS: undefined,
    });
  } finally {
    await owner.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
