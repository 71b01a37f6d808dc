// `npm run bench:budget`: where a request's time goes at low load. The same
// requests, at the same fixed arrival rate (open model), are timed through
// one more layer at a time:
//
//   postgres   the same SQL from pgbench (C, libpq), when it is installed:
//              PostgreSQL alone
//   database   the SQL an instance sends, through the same driver (pg) and
//              session options, no HTTP
//   instance   HTTP straight to one instance, on kept-alive connections
//   nginx      through nginx, on kept-alive connections
//   public     through nginx, a new connection per request (the public test)
//
// Each layer's latency less the one before it is that layer's share: the
// budget. Rounds alternate the layers so that the machine's drift falls on
// all of them alike; each figure is the median of the rounds.
//
//   npm run bench:budget                          # its own stack, durable
//   npm run bench:budget -- --mode fast --rate 300 --duration 10 --rounds 3

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SESSION_OPTIONS } from '../../src/instance/database/pool.js';
import { STATEMENT_QUERY } from '../../src/instance/ledger/statements.js';
import { TRANSACTION_QUERY } from '../../src/instance/ledger/transactions.js';
import { STATEMENT_TRANSACTIONS_MAX } from '../../src/shared/limits.js';
import { INSTANCE_ENTRY } from '../../src/stack/paths.js';
import { freePort, startProcess } from '../harness/stack.js';
import { numberOption, readTargetOptions, TARGET_OPTIONS, withTarget } from '../harness/target.js';
import { LatencyHistogram, type LatencySummary } from './load/latency-histogram.js';
import { nodeLoad } from './load/node-load.js';
import { renderBudget, type BudgetReport, type Operation } from './report/budget-report.js';
import { describeMachine } from './process-stats.js';

const LAYERS = ['postgres', 'database', 'instance', 'nginx', 'public'] as const;
export type Layer = (typeof LAYERS)[number];
const OPERATIONS: readonly Operation[] = ['health', 'extrato', 'transacao'];
const CLIENTS = [1, 2, 3, 4, 5];

/** One request of each operation, by HTTP or straight to the database. */
function httpRequest(operation: Operation, index: number) {
  const clientId = CLIENTS[index % CLIENTS.length]!;
  if (operation === 'health') return { method: 'GET' as const, path: '/health' };
  if (operation === 'extrato') return { method: 'GET' as const, path: `/clientes/${clientId}/extrato` };
  // Credits: a budget run never meets a limit, whatever it is sent.
  return {
    method: 'POST' as const,
    path: `/clientes/${clientId}/transacoes`,
    body: JSON.stringify({ valor: 1 + (index % 1000), tipo: 'c', descricao: 'budget' }),
  };
}

function databaseCall(operation: Operation, index: number): { name: string; text: string; values: unknown[] } {
  const clientId = CLIENTS[index % CLIENTS.length]!;
  if (operation === 'extrato') return { ...STATEMENT_QUERY, values: [[clientId], STATEMENT_TRANSACTIONS_MAX] };
  return { ...TRANSACTION_QUERY, values: [clientId, 1 + (index % 1000), 'c', 'budget'] };
}

/** The database layer: each call sent at its planned time through a pool like an instance's, timed from when it left. */
async function timeDatabase(
  databaseUrl: string,
  operation: Operation,
  ratePerSecond: number,
  durationSeconds: number,
): Promise<LatencySummary> {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 4,
    options: SESSION_OPTIONS,
    application_name: 'crebito-budget',
  });
  await Promise.all(Array.from({ length: 4 }, () => pool.query('SELECT 1')));
  const latency = new LatencyHistogram();
  const calls: Promise<void>[] = [];
  const started = performance.now();
  for (let index = 0; index < ratePerSecond * durationSeconds; index++) {
    const dueMs = started + (index * 1000) / ratePerSecond;
    const waitMs = dueMs - performance.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const sentMs = performance.now();
    calls.push(pool.query(databaseCall(operation, index)).then(() => latency.record(performance.now() - sentMs)));
  }
  await Promise.all(calls);
  await pool.end();
  return latency.summary();
}

/** The pgbench script for an operation: the same SQL, a client chosen at random. */
function pgbenchScript(operation: Operation): string {
  const call =
    operation === 'extrato'
      ? STATEMENT_QUERY.text.replace('$1, $2', `ARRAY[:c]::integer[], ${STATEMENT_TRANSACTIONS_MAX}`)
      : TRANSACTION_QUERY.text.replace('$1, $2, $3, $4', ":c, 1, 'c', 'budget'");
  return `\\set c random(1, ${CLIENTS.length})\n${call};\n`;
}

/**
 * The postgres layer, from pgbench's own log: one line per call, its latency
 * less how late it was sent, so that it is timed from its send as the other
 * layers are. Undefined when pgbench is not installed.
 */
function timePostgres(
  databaseUrl: string,
  operation: Operation,
  ratePerSecond: number,
  durationSeconds: number,
): LatencySummary | undefined {
  // An embedded database's URL has no host part (postgresql://user@/db?host=/socket/dir), which URL refuses; a placeholder host makes it parse.
  const url = new URL(databaseUrl.replace('@/', '@localhost/'));
  const host = url.searchParams.get('host') ?? url.hostname;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-budget-'));
  try {
    fs.writeFileSync(path.join(directory, 'script.sql'), pgbenchScript(operation));
    const result = spawnSync(
      'pgbench',
      [
        '-n',
        '-M',
        'prepared',
        '-c',
        '1',
        '-R',
        String(ratePerSecond),
        '-T',
        String(durationSeconds),
        '-f',
        'script.sql',
        '--log',
        '--log-prefix=calls',
        '-h',
        host,
        '-p',
        url.searchParams.get('port') ?? (url.port || '5432'),
        '-U',
        decodeURIComponent(url.username),
        url.pathname.slice(1),
      ],
      { cwd: directory, encoding: 'utf8', env: { ...process.env, PGOPTIONS: SESSION_OPTIONS } },
    );
    if (result.error !== undefined && (result.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (result.status !== 0) throw new Error(`pgbench failed: ${result.stderr}`);
    const latency = new LatencyHistogram();
    for (const file of fs.readdirSync(directory).filter((name) => name.startsWith('calls'))) {
      for (const line of fs.readFileSync(path.join(directory, file), 'utf8').split('\n').filter(Boolean)) {
        // client, transaction, latency µs, script, epoch s, epoch µs, schedule lag µs
        const fields = line.split(' ').map(Number);
        latency.record((fields[2]! - (fields[6] ?? 0)) / 1000);
      }
    }
    return latency.summary();
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

async function timeHttp(
  url: string,
  operation: Operation,
  connection: 'new' | 'keep-alive',
  ratePerSecond: number,
  durationSeconds: number,
): Promise<LatencySummary> {
  const requests = Array.from({ length: 100 }, (_, index) => httpRequest(operation, index));
  const outcome = await nodeLoad.run({
    url,
    model: { kind: 'open', ratePerSecond, connection },
    durationSeconds,
    requests,
  });
  const failed =
    outcome.errors +
    Object.entries(outcome.statusCounts)
      .filter(([status]) => status !== '200')
      .reduce((sum, [, count]) => sum + count, 0);
  if (failed > 0) throw new Error(`${operation} at ${url}: ${failed} requests failed or answered other than 200`);
  return outcome.latency;
}

interface Endpoints {
  databaseUrl: string;
  instanceUrl: string;
  nginxUrl: string;
}

function timeLayer(
  endpoints: Endpoints,
  layer: Layer,
  operation: Operation,
  rate: number,
  seconds: number,
): Promise<LatencySummary | undefined> | undefined {
  switch (layer) {
    case 'postgres':
      return operation === 'health'
        ? undefined
        : Promise.resolve(timePostgres(endpoints.databaseUrl, operation, rate, seconds));
    case 'database':
      return operation === 'health' ? undefined : timeDatabase(endpoints.databaseUrl, operation, rate, seconds);
    case 'instance':
      return timeHttp(endpoints.instanceUrl, operation, 'keep-alive', rate, seconds);
    case 'nginx':
      return timeHttp(endpoints.nginxUrl, operation, 'keep-alive', rate, seconds);
    case 'public':
      return timeHttp(endpoints.nginxUrl, operation, 'new', rate, seconds);
  }
}

/** Every round times every operation through every layer; each result is the median of its rounds, percentile by percentile. */
async function measure(
  endpoints: Endpoints,
  options: { rate: number; seconds: number; rounds: number },
): Promise<BudgetReport['results']> {
  const samples = new Map<string, LatencySummary[]>();
  for (let round = 1; round <= options.rounds; round++) {
    for (const operation of OPERATIONS) {
      for (const layer of LAYERS) {
        const summary = await timeLayer(endpoints, layer, operation, options.rate, options.seconds);
        if (summary === undefined) continue;
        console.log(
          `round ${round} ${operation.padEnd(9)} ${layer.padEnd(8)} p50 ${summary.p50.toFixed(3)}  ` +
            `p99 ${summary.p99.toFixed(3)}  p99.9 ${summary.p999.toFixed(3)} ms`,
        );
        samples.set(`${operation} ${layer}`, [...(samples.get(`${operation} ${layer}`) ?? []), summary]);
      }
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return [...samples].map(([key, summaries]) => {
    const [operation, layer] = key.split(' ') as [Operation, Layer];
    const at = (field: 'p50' | 'p90' | 'p99' | 'p999') => median(summaries.map((summary) => summary[field]));
    return { operation, layer, p50: at('p50'), p90: at('p90'), p99: at('p99'), p999: at('p999') };
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...TARGET_OPTIONS,
      start: { type: 'boolean', default: true },
      rate: { type: 'string', default: '300' },
      duration: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const target = readTargetOptions(values);
  const options = {
    rate: numberOption(values.rate, 'rate', { min: 1, max: 5000, whole: true }),
    seconds: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
    rounds: numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true }),
  };
  await withTarget(target, async (stack) => {
    const state = stack.state();
    const port = await freePort();
    // One more instance, on TCP, for the layer without nginx.
    const instance = await startProcess({
      name: "the budget's instance",
      entry: INSTANCE_ENTRY,
      readyWhen: { message: 'ready' },
      readyTimeoutMs: 30_000,
      environment: {
        DATABASE_URL: state.instanceDatabaseUrl,
        CREBITO_LISTEN: `127.0.0.1:${port}`,
        CREBITO_INSTANCE_NAME: 'budget',
      },
    });
    try {
      const results = await measure(
        {
          databaseUrl: state.instanceDatabaseUrl,
          instanceUrl: `http://127.0.0.1:${port}`,
          nginxUrl: `http://127.0.0.1:${state.port}`,
        },
        options,
      );
      const report: BudgetReport = {
        date: new Date().toISOString(),
        machine: describeMachine(),
        databaseMode: state.databaseMode ?? 'external',
        ...options,
        command: ['npm run bench:budget --', ...process.argv.slice(2)].join(' '),
        results,
      };
      fs.mkdirSync(target.out, { recursive: true });
      const base = path.join(target.out, `budget-${report.databaseMode}`);
      fs.writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
      fs.writeFileSync(`${base}.md`, renderBudget(report));
      console.log(`wrote ${base}.json and .md`);
    } finally {
      await instance.stop();
    }
  });
}

main().catch((error: unknown) => {
  console.error(`bench:budget: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
