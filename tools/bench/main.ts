// `npm run bench`: measures crebito against its two ceilings in one run.
//
//   http-floor      GET /health through nginx: HTTP and proxying, no database
//   db-transacao    registrar_transacao straight through a pg pool, no HTTP
//   db-extrato      extrato straight through a pg pool, no HTTP
//   transacoes      POST through nginx, 2 debits : 1 credit, random clients
//   extrato         GET statements through nginx, random clients
//   mix             transactions and a few statements (2 : 1 : 0.3)
//
// Each scenario runs for --duration seconds at --connections concurrent
// requests, while the CPU time and peak memory of every process of the stack
// (and of this load generator) are sampled from /proc. Afterwards the books
// are checked in the database. Results go to results/ as JSON, Markdown
// and an SVG chart. Run it against `npm start`, or with --start to bring up a
// stack of its own in a temporary directory.
//
//   npm run bench                          # against the running npm start
//   npm run bench -- --start --mode fast   # its own stack, fsync off
//   npm run bench -- --duration 30 --connections 64 --readme
//   npm run bench -- --start --smoke       # a few seconds; fails on any error

import autocannon from 'autocannon';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { EXTRATO_TRANSACTIONS_MAX } from '../../src/shared/contract.js';
import { readLauncherConfig } from '../../src/stack/config.js';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { readStackState, type StackState } from '../../src/stack/state.js';
import { describeMachine, startSampling, type GroupUsage, type ProcessGroup } from './process-stats.js';
import { formatTarget, renderChart, renderMarkdown, type BenchReport, type ScenarioResult } from './report.js';
import { makeDataDirectory, stackPort, startStack } from '../harness/stack.js';

const CEILING_POOL_SIZES = [4, 8, 16];

const randomClient = () => 1 + Math.floor(Math.random() * 5);
const randomValor = () => 1 + Math.floor(Math.random() * 10000);
const randomDescricao = () => Math.random().toString(36).slice(2, 12).padEnd(10, 'x');

/** 2 debits : 1 credit, as the public test's load does. */
function randomTransaction(): { valor: number; tipo: 'c' | 'd'; descricao: string } {
  return { valor: randomValor(), tipo: Math.random() < 2 / 3 ? 'd' : 'c', descricao: randomDescricao() };
}

function percentiles(latencies: number[]): ScenarioResult['latencyMs'] {
  const sorted = Float64Array.from(latencies).sort();
  const at = (fraction: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999) };
}

async function runHttpScenario(options: {
  name: string;
  description: string;
  url: string;
  connections: number;
  durationSeconds: number;
  groups: ProcessGroup[];
  expected: Set<number>;
  nextRequest: () => { method: 'GET' | 'POST'; path: string; body?: string };
  /** Offered load in requests per second across all connections; unset: as fast as answered. */
  overallRate?: number | undefined;
}): Promise<ScenarioResult> {
  const stop = startSampling(options.groups);
  const cpuBefore = process.cpuUsage();
  // autocannon's own histogram keeps whole milliseconds; a local service
  // answers in fractions of one, so latencies are recorded here, exactly.
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url: options.url,
      connections: options.connections,
      duration: options.durationSeconds,
      ...(options.overallRate === undefined ? {} : { overallRate: Math.max(1, Math.round(options.overallRate)) }),
      requests: [{
        setupRequest: (request) => {
          const next = options.nextRequest();
          // A fresh headers object each time: autocannon writes Content-Length
          // into it, and a GET must not inherit the previous POST's length.
          return { ...request, method: next.method, path: next.path, body: next.body ?? '', headers: { 'content-type': 'application/json' } };
        },
      }],
    }, (error, finished) => (error ? reject(error) : resolve(finished)));
    instance.on('response', (_client, _status, _bytes, responseTimeMs) => latencies.push(responseTimeMs));
  });
  const usage = stop();
  usage.push(loadGeneratorUsage(cpuBefore));
  const statusCounts: Record<string, number> = {};
  let unexpected = 0;
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {}) as [string, { count: number }][]) {
    statusCounts[status] = Number(count);
    if (!options.expected.has(Number(status))) unexpected += Number(count);
  }
  return scenarioResult(options, latencies, { errors: result.errors + result.timeouts, unexpectedStatuses: unexpected, statusCounts, usage });
}

/** The result of one scenario from its recorded latencies (milliseconds, one per answered request). */
function scenarioResult(
  scenario: { name: string; description: string; durationSeconds: number },
  latencies: number[],
  outcome: Pick<ScenarioResult, 'errors' | 'unexpectedStatuses' | 'statusCounts' | 'usage'>,
): ScenarioResult {
  return {
    name: scenario.name,
    description: scenario.description,
    requestsPerSecond: latencies.length / scenario.durationSeconds,
    latencyMs: percentiles(latencies),
    requests: latencies.length,
    ...outcome,
  };
}

function loadGeneratorUsage(cpuBefore: NodeJS.CpuUsage): GroupUsage {
  const cpu = process.cpuUsage(cpuBefore);
  const rss = process.memoryUsage().rss / 2 ** 20;
  return { name: 'load generator', cpuSeconds: (cpu.user + cpu.system) / 1e6, peakMemoryMegabytes: rss, peakRssMegabytes: rss };
}

/** The database ceiling: the same function, the same concurrency, no HTTP and no instances. */
async function runDatabaseScenario(options: {
  name: string;
  description: string;
  databaseUrl: string;
  poolSize: number;
  connections: number;
  durationSeconds: number;
  groups: ProcessGroup[];
  call: (pool: pg.Pool) => Promise<unknown>;
}): Promise<ScenarioResult> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize, application_name: 'crebito-bench' });
  // Open every connection first so the measurement does not include it.
  await Promise.all(Array.from({ length: options.poolSize }, () => pool.query('SELECT 1')));
  const latencies: number[] = [];
  let errors = 0;
  const stop = startSampling(options.groups);
  const cpuBefore = process.cpuUsage();
  const deadline = Date.now() + options.durationSeconds * 1000;
  const worker = async () => {
    while (Date.now() < deadline) {
      const started = process.hrtime.bigint();
      try {
        await options.call(pool);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const usage = stop();
  usage.push(loadGeneratorUsage(cpuBefore));
  await pool.end();
  return scenarioResult(options, latencies, { errors, unexpectedStatuses: 0, statusCounts: {}, usage });
}

/** Every client's balance equals the sum of its transactions and stays within its limit. */
export async function checkBooks(databaseUrl: string): Promise<BenchReport['consistency']> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number; limite: number; saldo: string; soma: string }>(`
      SELECT c.id, c.limite, c.saldo,
             coalesce((SELECT sum(CASE t.tipo WHEN 'c' THEN t.valor ELSE -t.valor END)
                         FROM transacoes t WHERE t.cliente_id = c.id), 0) AS soma
        FROM clientes c ORDER BY c.id`);
    const details: string[] = [];
    for (const row of rows) {
      if (Number(row.saldo) !== Number(row.soma)) details.push(`client ${row.id}: saldo ${row.saldo} but transactions sum to ${row.soma}`);
      if (Number(row.saldo) < -row.limite) details.push(`client ${row.id}: saldo ${row.saldo} below -limite ${row.limite}`);
    }
    return { clients: rows.length, inconsistencies: details.length, details };
  } finally {
    await client.end();
  }
}

function processGroups(state: StackState): ProcessGroup[] {
  const groups: ProcessGroup[] = [];
  if (state.nginx?.pid !== undefined) groups.push({ name: 'nginx', rootPid: state.nginx.pid });
  for (const instance of state.instances) if (instance.pid !== undefined) groups.push({ name: instance.name, rootPid: instance.pid });
  if (state.postgres !== null) groups.push({ name: 'postgres', rootPid: state.postgres.pid });
  return groups;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '4' },
      rounds: { type: 'string', default: '1' },
      connections: { type: 'string', default: '32' },
      start: { type: 'boolean', default: false },
      port: { type: 'string' },
      mode: { type: 'string', default: 'durable' },
      smoke: { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'results') },
      readme: { type: 'boolean', default: false },
    },
  });
  const durationSeconds = values.smoke ? 1 : Number(values.duration);
  const connections = values.smoke ? 8 : Number(values.connections);
  const rounds = values.smoke ? 1 : Number(values.rounds);
  if (!(rounds >= 1 && rounds <= 20)) throw new Error('--rounds must be 1..20');
  if (!(durationSeconds > 0 && durationSeconds <= 600) || !(connections > 0 && connections <= 1000)) {
    throw new Error('--duration must be 1..600 seconds and --connections 1..1000');
  }

  if (values.mode !== 'durable' && values.mode !== 'fast') throw new Error('--mode is durable or fast');
  const ownStack = values.start
    ? await startStack({ port: values.port === undefined ? await stackPort() : Number(values.port), dataDirectory: makeDataDirectory(), environment: { CREBITO_DATABASE_MODE: values.mode } })
    : undefined;
  try {
    const state = ownStack?.state() ?? readStackState(readLauncherConfig(process.env).dataDirectory);
    const url = `http://127.0.0.1:${state.port}`;
    const groups = processGroups(state);
    const common = { connections, durationSeconds, groups };
    const scenarios: ScenarioResult[] = [];
    const print = (result: ScenarioResult) => {
      console.log(`${result.name.padEnd(16)} ${result.requestsPerSecond.toFixed(0).padStart(7)} req/s  p50 ${result.latencyMs.p50.toFixed(2)} ms  p99 ${result.latencyMs.p99.toFixed(2)} ms  errors ${result.errors}  unexpected ${result.unexpectedStatuses}`);
      return result;
    };
    console.log(`bench: ${durationSeconds} s per scenario, ${connections} connections, ${rounds} round(s), against ${url} (${state.mode}, database ${state.databaseMode ?? 'external'})`);

    const transactionRequest = () => ({ method: 'POST' as const, path: `/clientes/${randomClient()}/transacoes`, body: JSON.stringify(randomTransaction()) });
    const statementRequest = () => ({ method: 'GET' as const, path: `/clientes/${randomClient()}/extrato` });
    const mixRequest = () => (Math.random() < 0.09 ? statementRequest() : transactionRequest());
    const floor = (overallRate?: number) => runHttpScenario({
      ...common, name: overallRate === undefined ? 'http-floor' : 'http-floor@half', url, overallRate,
      description: `GET /health through nginx (no database)${overallRate === undefined ? '' : `, at ${overallRate.toFixed(0)} req/s`}`,
      expected: new Set([200]), nextRequest: () => ({ method: 'GET', path: '/health' }),
    });
    const mix = (overallRate?: number) => runHttpScenario({
      ...common, name: overallRate === undefined ? 'mix' : 'mix@half', url, overallRate,
      description: `debits, credits and statements, 2 : 1 : 0.3${overallRate === undefined ? '' : `, at ${overallRate.toFixed(0)} req/s`}`,
      expected: new Set([200, 422]), nextRequest: mixRequest,
    });
    // The database ceilings: PostgreSQL alone, at the same concurrency,
    // through pools of several sizes (on two cores fewer connections can be
    // faster); the best is the ceiling crebito is compared with.
    const ceiling = async (name: string, describe: string, call: (pool: pg.Pool) => Promise<unknown>) => {
      let best: ScenarioResult | undefined;
      for (const poolSize of CEILING_POOL_SIZES) {
        const result = await runDatabaseScenario({ ...common, name, description: `${describe} through a pg pool of ${poolSize}, no HTTP`, databaseUrl: state.databaseUrl, poolSize, call });
        if (best === undefined || result.requestsPerSecond > best.requestsPerSecond) best = result;
      }
      return best!;
    };

    const perRound: ScenarioResult[][] = [];
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) console.log(`round ${round} of ${rounds}`);
      perRound.push([
        print(await floor()),
        print(await ceiling('db-transacao', 'registrar_transacao', (pool) => {
          const transaction = randomTransaction();
          return pool.query({ name: 'bench_transacao', text: 'SELECT * FROM registrar_transacao($1, $2, $3, $4)', values: [randomClient(), transaction.valor, transaction.tipo, transaction.descricao] });
        })),
        print(await ceiling('db-extrato', 'extratos', (pool) => pool.query({ name: 'bench_extrato', text: 'SELECT * FROM extratos(ARRAY[$1::integer], $2)', values: [randomClient(), EXTRATO_TRANSACTIONS_MAX] }))),
        print(await runHttpScenario({
          ...common, name: 'transacoes', description: 'POST transactions through nginx, 2 debits : 1 credit', url,
          expected: new Set([200, 422]), nextRequest: transactionRequest,
        })),
        print(await runHttpScenario({
          ...common, name: 'extrato', description: 'GET statements through nginx', url,
          expected: new Set([200]), nextRequest: statementRequest,
        })),
        print(await mix()),
      ]);
    }
    // Each scenario's median round by throughput, so one noisy round does not decide.
    for (let index = 0; index < perRound[0]!.length; index++) {
      const results = perRound.map((round) => round[index]!).sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
      scenarios.push(results[Math.floor(results.length / 2)]!);
    }
    const rate = (name: string) => scenarios.find((scenario) => scenario.name === name)!.requestsPerSecond;

    // Latency below saturation: the mix and the HTTP floor at the same
    // offered rate, half of what the mix sustained.
    const halfRate = rate('mix') / 2;
    scenarios.push(print(await floor(halfRate)), print(await mix(halfRate)));

    const ratios = [
      { name: 'transacoes / db-transacao', value: rate('transacoes') / rate('db-transacao') },
      { name: 'transacoes / http-floor', value: rate('transacoes') / rate('http-floor') },
      { name: 'extrato / db-extrato', value: rate('extrato') / rate('db-extrato') },
      { name: 'extrato / http-floor', value: rate('extrato') / rate('http-floor') },
    ];
    const p99 = (name: string) => scenarios.find((scenario) => scenario.name === name)!.latencyMs.p99;
    const instanceNames = state.instances.map((instance) => instance.name);
    const saturated = scenarios.filter((scenario) => !scenario.name.includes('@') && !scenario.name.startsWith('db-'));
    const instanceRss = Math.max(...saturated.flatMap((scenario) => scenario.usage.filter((usage) => instanceNames.includes(usage.name)).map((usage) => usage.peakRssMegabytes)));
    const transactionGoal = state.databaseMode === 'fast' ? 0.8 : 1;
    const targets: BenchReport['targets'] = [
      { name: 'transacoes / db-transacao', value: rate('transacoes') / rate('db-transacao'), goal: `>= ${transactionGoal * 100}%`, met: rate('transacoes') / rate('db-transacao') >= transactionGoal, unit: '%' },
      { name: 'extrato / min(http-floor, db-extrato)', value: rate('extrato') / Math.min(rate('http-floor'), rate('db-extrato')), goal: '>= 60%', met: rate('extrato') / Math.min(rate('http-floor'), rate('db-extrato')) >= 0.6, unit: '%' },
      { name: 'p99 mix@half / p99 http-floor@half', value: p99('mix@half') / p99('http-floor@half'), goal: '<= 3x', met: p99('mix@half') / p99('http-floor@half') <= 3, unit: 'x' },
      { name: 'peak RSS of an instance at saturation, MB', value: instanceRss, goal: '< 64', met: instanceRss < 64, unit: 'MB' },
    ];

    const consistency = await checkBooks(state.databaseUrl);
    const benchReport: BenchReport = {
      date: new Date().toISOString(),
      machine: describeMachine(),
      databaseMode: state.databaseMode ?? 'external',
      connections,
      durationSeconds,
      rounds,
      command: ['npm run bench --', ...process.argv.slice(2)].join(' '),
      scenarios,
      ratios,
      targets,
      consistency,
    };

    for (const ratio of ratios) console.log(`${ratio.name.padEnd(28)} ${(ratio.value * 100).toFixed(1)}%`);
    for (const target of targets) console.log(`target ${target.met ? 'met    ' : 'MISSED '} ${target.name}: ${formatTarget(target)} (goal ${target.goal})`);
    console.log(`books: ${consistency.clients} clients, ${consistency.inconsistencies} inconsistencies`);
    for (const detail of consistency.details) console.log(`  ${detail}`);

    fs.mkdirSync(values.out, { recursive: true });
    // One report per database mode, so a fast-mode run does not replace the durable one.
    const base = path.join(values.out, values.smoke ? 'smoke' : `bench-${benchReport.databaseMode}`);
    fs.writeFileSync(`${base}.json`, `${JSON.stringify(benchReport, null, 2)}\n`);
    fs.writeFileSync(`${base}.svg`, renderChart(benchReport));
    const markdown = renderMarkdown(benchReport, path.basename(`${base}.svg`));
    fs.writeFileSync(`${base}.md`, markdown);
    console.log(`wrote ${base}.json, .md and .svg`);
    if (values.readme) updateReadme(markdown);

    const errors = scenarios.reduce((sum, scenario) => sum + scenario.errors + scenario.unexpectedStatuses, 0);
    if (errors > 0 || consistency.inconsistencies > 0) {
      console.error(`bench: ${errors} errors or unexpected answers, ${consistency.inconsistencies} inconsistencies`);
      // The stack's own words (nginx's error log, the instances) say why.
      if (ownStack !== undefined) console.error(ownStack.output().split('\n').slice(-40).join('\n'));
      process.exitCode = 1;
    }
  } finally {
    await ownStack?.dispose();
  }
}

const README_START = '<!-- bench:start -->';
const README_END = '<!-- bench:end -->';

/** Replaces the results section of README.md with the latest report. */
function updateReadme(markdown: string): void {
  const readmePath = path.join(PROJECT_ROOT, 'README.md');
  const readme = fs.readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${README_START} … ${README_END} section`);
  const section = markdown.replace(/^# .*\n/, '').replace(/\]\((bench-[a-z]+\.svg)\)/, '](results/$1)');
  fs.writeFileSync(readmePath, `${readme.slice(0, start + README_START.length)}\n${section.trim()}\n${readme.slice(end)}`);
  console.log('updated the results section of README.md');
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
