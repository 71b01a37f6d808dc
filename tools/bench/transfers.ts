// `npm run bench -- --transfers`: what transfers cost next to transactions,
// measured in the same run on the same stack. At saturation (closed model,
// wrk): transactions, then transfers in three contention shapes, each round
// in that order, the median round kept:
//
//   transacoes                 POST transacoes, 2 debits : 1 credit, random clients (the yardstick)
//   transferencias-pares       POST transferencias between random distinct clients
//   transferencias-ab          an A<->B storm: clients 1 and 2 paying each other, nothing else
//   transferencias-comerciante everyone (clients 1-4) paying one merchant (client 5): the hot payee
//
// then a mix with transfers at the public test's rate (a new connection per
// request). Amounts are small (1 to 10 cents) so that no payer runs into its
// limit during the run: refusals are cheap and would flatter a rate. Rates
// count applied answers (200) only. Deadlocks are read from PostgreSQL
// itself (pg_stat_database) and from its log; the goals are the issue's.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { checkBooks } from './books.js';
import type { LoadRequest } from './load/load-generator.js';
import { nodeLoad } from './load/node-load.js';
import { wrkLoad } from './load/wrk-load.js';
import { printScenario } from './report/publish.js';
import type { Consistency, ScenarioResult } from './report/report.js';
import { runHttpScenario, type BenchSetup, type HttpScenario } from './run-scenario.js';
import { PUBLIC_TEST_RATE_PER_SECOND } from './scenarios.js';

const CLIENT_COUNT = 5;
const MERCHANT = 5;
const VALOR_MAX = 10;
/** Requests in a scenario's sample (generators go around it). */
const SAMPLE_LENGTH = 600;
/** The goals: random pairs and the hot payee against transactions' applied rate. */
export const GOALS = { pairsShareMin: 0.7, hotPayeeShareMin: 0.5, deadlocks: 0 } as const;

const pick = (count: number) => 1 + Math.floor(Math.random() * count);
const valor = () => pick(VALOR_MAX);
const descricao = () => Math.random().toString(36).slice(2, 12).padEnd(10, 'x');

const transaction = (): LoadRequest => ({
  method: 'POST',
  path: `/clientes/${pick(CLIENT_COUNT)}/transacoes`,
  body: JSON.stringify({ valor: valor(), tipo: Math.random() < 2 / 3 ? 'd' : 'c', descricao: descricao() }),
});
const transfer = (from: number, to: number): LoadRequest => ({
  method: 'POST',
  path: `/clientes/${from}/transferencias`,
  body: JSON.stringify({ para: to, valor: valor(), descricao: descricao() }),
});
function randomPair(): LoadRequest {
  const from = pick(CLIENT_COUNT);
  const to = 1 + ((from - 1 + pick(CLIENT_COUNT - 1)) % CLIENT_COUNT);
  return transfer(from, to);
}

const scenario = (name: string, description: string, make: (index: number) => LoadRequest): HttpScenario => ({
  name,
  description,
  expected: new Set([200, 422]),
  requests: () => Array.from({ length: SAMPLE_LENGTH }, (_, index) => make(index)),
});

export const TRANSFER_SCENARIOS = {
  transactions: scenario(
    'transacoes',
    `POST transacoes, 2 debits : 1 credit, ${VALOR_MAX} cents at most, random clients`,
    transaction,
  ),
  pairs: scenario('transferencias-pares', 'POST transferencias between random distinct clients', randomPair),
  storm: scenario('transferencias-ab', 'an A<->B storm: clients 1 and 2 paying each other, alternately', (index) =>
    index % 2 === 0 ? transfer(1, 2) : transfer(2, 1),
  ),
  hotPayee: scenario(
    'transferencias-comerciante',
    `everyone (clients 1-${MERCHANT - 1}) paying one merchant (client ${MERCHANT})`,
    () => transfer(pick(MERCHANT - 1), MERCHANT),
  ),
};

/** The public test's rate, a third of its debits and credits made transfers, with its statements. */
const transactionBody = (tipo: 'c' | 'd') => JSON.stringify({ valor: valor(), tipo, descricao: descricao() });

export const MIX_WITH_TRANSFERS: HttpScenario = {
  name: 'mix-transferencias@public',
  description:
    `${PUBLIC_TEST_RATE_PER_SECOND} req/s, a new connection each: ` +
    '150 debits : 70 credits : 110 transfers : 10 statements',
  expected: new Set([200, 422]),
  requests: () =>
    Array.from({ length: SAMPLE_LENGTH }, (_, index) => {
      const slot = index % 34;
      if (slot < 15) return { ...transaction(), body: transactionBody('d') };
      if (slot < 22) return { ...transaction(), body: transactionBody('c') };
      if (slot < 33) return randomPair();
      return { method: 'GET' as const, path: `/clientes/${pick(CLIENT_COUNT)}/extrato` };
    }).sort(() => Math.random() - 0.5),
};

export interface TransferBenchOptions {
  connections: number;
  durationSeconds: number;
  publicRateDurationSeconds: number;
  rounds: number;
}

export interface TransferBenchReport {
  date: string;
  command: string;
  uptimeBefore: string;
  uptimeAfter: string;
  connections: number;
  durationSeconds: number;
  rounds: number;
  /** Per scenario: the median round, its applied (200) rate, and its share of transactions'. */
  saturation: { result: ScenarioResult; appliedPerSecond: number; shareOfTransactions: number }[];
  publicRate: ScenarioResult;
  deadlocks: { pgStatDatabase: number; logLines: number };
  consistency: Consistency;
  goals: { pairs: boolean; hotPayee: boolean; deadlocks: boolean };
}

const appliedPerSecond = (result: ScenarioResult) =>
  (result.statusCounts['200'] ?? 0) / (result.requests / result.requestsPerSecond);

async function deadlocksSoFar(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-bench' });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>('SELECT sum(deadlocks) AS n FROM pg_stat_database');
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** Lines of PostgreSQL's logs under the stack's data directory that report a deadlock. */
function deadlockLogLines(dataDirectory: string): number {
  let lines = 0;
  const walk = (directory: string, depth: number) => {
    if (depth > 4) return;
    for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
      const full = path.join(directory, entry.name);
      if (entry.isDirectory()) walk(full, depth + 1);
      else if (/^postgresql-.*\.log$/.test(entry.name)) {
        lines += fs
          .readFileSync(full, 'utf8')
          .split('\n')
          .filter((line) => line.includes('deadlock detected')).length;
      }
    }
  };
  walk(dataDirectory, 0);
  return lines;
}

function medianBy(results: ScenarioResult[]): ScenarioResult {
  return [...results].sort((a, b) => appliedPerSecond(a) - appliedPerSecond(b))[Math.floor(results.length / 2)]!;
}

export async function measureTransfers(
  setup: BenchSetup,
  dataDirectory: string,
  options: TransferBenchOptions,
): Promise<TransferBenchReport> {
  const uptimeBefore = uptime();
  const deadlocksBefore = await deadlocksSoFar(setup.databaseUrl);
  const closed = { kind: 'closed', connections: options.connections } as const;
  const drive = { generator: wrkLoad, model: closed, durationSeconds: options.durationSeconds };
  const perScenario = new Map<string, ScenarioResult[]>();
  for (let round = 1; round <= options.rounds; round++) {
    if (options.rounds > 1) console.log(`round ${round} of ${options.rounds}`);
    for (const each of Object.values(TRANSFER_SCENARIOS)) {
      const result = printScenario(await runHttpScenario(setup, each, drive));
      perScenario.set(each.name, [...(perScenario.get(each.name) ?? []), result]);
    }
  }
  const publicRate = printScenario(
    await runHttpScenario(setup, MIX_WITH_TRANSFERS, {
      generator: nodeLoad,
      model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
      durationSeconds: options.publicRateDurationSeconds,
    }),
  );
  const medians = Object.values(TRANSFER_SCENARIOS).map((each) => medianBy(perScenario.get(each.name)!));
  const yardstick = appliedPerSecond(medians[0]!);
  const saturation = medians.map((result) => ({
    result,
    appliedPerSecond: appliedPerSecond(result),
    shareOfTransactions: appliedPerSecond(result) / yardstick,
  }));
  const deadlocks = {
    pgStatDatabase: (await deadlocksSoFar(setup.databaseUrl)) - deadlocksBefore,
    logLines: deadlockLogLines(dataDirectory),
  };
  const share = (name: string) => saturation.find((entry) => entry.result.name === name)!.shareOfTransactions;
  return {
    date: new Date().toISOString(),
    command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
    uptimeBefore,
    uptimeAfter: uptime(),
    connections: options.connections,
    durationSeconds: options.durationSeconds,
    rounds: options.rounds,
    saturation,
    publicRate,
    deadlocks,
    consistency: await checkBooks(setup.databaseUrl),
    goals: {
      pairs: share(TRANSFER_SCENARIOS.pairs.name) >= GOALS.pairsShareMin,
      hotPayee: share(TRANSFER_SCENARIOS.hotPayee.name) >= GOALS.hotPayeeShareMin,
      deadlocks: deadlocks.pgStatDatabase === GOALS.deadlocks && deadlocks.logLines === GOALS.deadlocks,
    },
  };
}

function uptime(): string {
  const load = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
  return `${new Date().toISOString()} load average ${load}`;
}

const ms = (value: number) => value.toFixed(1);

export function transferReportMarkdown(report: TransferBenchReport): string {
  const rows = report.saturation.map(
    ({ result, appliedPerSecond: rate, shareOfTransactions }) =>
      `| ${result.name} | ${rate.toFixed(0)} | ${(shareOfTransactions * 100).toFixed(0)}% ` +
      `| ${ms(result.latencyMs.p50)} | ${ms(result.latencyMs.p99)} ` +
      `| ${result.statusCounts['422'] ?? 0} | ${result.errors + result.unexpectedStatuses} |`,
  );
  const met = (goal: boolean) => (goal ? 'met' : 'NOT met');
  const { publicRate } = report;
  return [
    `# Transfers against transactions (${report.date.slice(0, 10)})`,
    '',
    `Command: \`${report.command}\` (tools/bench/transfers.ts). ${report.connections} connections, ` +
      `${report.durationSeconds} s per scenario, ${report.rounds} round(s), median round kept.`,
    'The machine is a shared 2-core VM and other work ran on it: ' +
      `load before ${report.uptimeBefore}; after ${report.uptimeAfter}.`,
    '',
    '| scenario | applied/s | of transacoes | p50 ms | p99 ms | 422 | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `${publicRate.name}: ${publicRate.requests} requests, p50 ${ms(publicRate.latencyMs.p50)} ms, ` +
      `p99 ${ms(publicRate.latencyMs.p99)} ms, max ${ms(publicRate.latencyMs.max)} ms, ` +
      `${publicRate.errors + publicRate.unexpectedStatuses} errors (${publicRate.description}).`,
    '',
    `Deadlocks: ${report.deadlocks.pgStatDatabase} (pg_stat_database, over the run), ` +
      `${report.deadlocks.logLines} \`deadlock detected\` lines in PostgreSQL's log.`,
    `Books: ${report.consistency.inconsistencies} inconsistencies.`,
    '',
    `Goals: random pairs at least ${GOALS.pairsShareMin * 100}% of transacoes: ${met(report.goals.pairs)}; ` +
      `hot payee at least ${GOALS.hotPayeeShareMin * 100}%: ${met(report.goals.hotPayee)}; ` +
      `no deadlock: ${met(report.goals.deadlocks)}.`,
    '',
  ].join('\n');
}
