// What a long history costs its readers and everyone else:
// one client (HEAVY_CLIENT_ID) is given --rows transactions straight in SQL,
// then the other clients' traffic runs at a fixed rate through nginx, in
// --rounds rounds of a phase alone and a phase beside --readers heavy readers
// of the long history (selective filters: the pages that read the most rows),
// taken in turn so that the machine's drift lands on both kinds alike. First
// phases have one reader alone: asking as fast as answered (paced by the
// budget), and asking --pages-per-second pages (within it), for what a page
// costs by itself. Prints
// the history's p99 per filter and pages per second, the others' p99 in each
// round and pooled per kind, with the load average beside each. The history's
// budget of database time is the stack's (CREBITO_HISTORY_DB_MS_PER_SECOND
// from the environment, or its default), printed first:
//
//   npm run build && node dist/tools/bench/heavy-history.js --rows 1000000 --duration 15
//
// Bounded: rows, readers, rates, rounds and durations all have a maximum, and
// the stack (own port, own data directory under the temp dir) is removed at the end.

import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { readSetting, SETTINGS } from '../../src/shared/settings.js';
import { readStackState } from '../../src/stack/state.js';
import { freePort, makeDataDirectory, startStack } from '../harness/stack.js';
import { numberOption } from '../harness/target.js';
import { LatencyHistogram, type LatencySummary } from './load/latency-histogram.js';
import type { LoadRequest } from './load/load-generator.js';
import { nodeLoad } from './load/node-load.js';

const HEAVY_CLIENT_ID = 5;
const OTHER_CLIENT_IDS = [1, 2, 3, 4];
const READ_TIMEOUT_MS = 5_000;
const SEED_DESCRICAO = 'historico';
// One second between seeded rows: the time filters then select a known
// number of rows (an hour's window holds 3,600 of them).
const SEED_STEP_S = 1;
const HOUR_S = 3600;

/** The history pages asked for, by name: each reads as many index rows as a page may. */
function heavyQueries(rows: number): { name: string; query: string }[] {
  const at = (secondsAgo: number) => encodeURIComponent(new Date(Date.now() - secondsAgo * 1000).toISOString());
  const middleS = Math.floor((rows * SEED_STEP_S) / 2);
  return [
    { name: 'valor_min (no match), limit 1', query: 'valor_min=2000000000&limit=1' },
    { name: 'tipo d, valor_min (no match)', query: 'tipo=d&valor_min=2000000000' },
    { name: 'an hour in the middle', query: `desde=${at(middleS + HOUR_S)}&ate=${at(middleS)}` },
    {
      name: 'an hour in the middle, valor_min 2',
      query: `desde=${at(middleS + HOUR_S)}&ate=${at(middleS)}&valor_min=2`,
    },
    { name: 'the oldest hour, limit 1', query: `ate=${at(rows * SEED_STEP_S - HOUR_S)}&limit=1` },
  ];
}

/** The others' traffic: transactions and statements of clients other than the heavy one. */
function otherRequests(): LoadRequest[] {
  const requests: LoadRequest[] = [];
  for (let index = 0; index < 120; index++) {
    const client = OTHER_CLIENT_IDS[index % OTHER_CLIENT_IDS.length]!;
    if (index % 12 === 11) requests.push({ method: 'GET', path: `/clientes/${client}/extrato` });
    else
      requests.push({
        method: 'POST',
        path: `/clientes/${client}/transacoes`,
        body: JSON.stringify({ valor: 1 + (index % 97), tipo: index % 3 === 0 ? 'c' : 'd', descricao: 'outros' }),
      });
  }
  return requests;
}

/**
 * `rows` transactions for the heavy client, pairs of a 1-cent credit and
 * debit (its balance unchanged), each with its balance after it and one
 * second after the previous one, ending now. Under the client's row lock,
 * as the service's writes are. As the owner: the service's role may not insert.
 */
async function seed(databaseUrl: string, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-heavy-history-seed' });
  await client.connect();
  try {
    await client.query('BEGIN');
    const { saldo } = (
      await client.query<{ saldo: string }>('SELECT saldo FROM clientes WHERE id = $1 FOR UPDATE', [HEAVY_CLIENT_ID])
    ).rows[0]!;
    await client.query(
      `INSERT INTO transacoes (cliente_id, valor, tipo, descricao, saldo_apos, realizada_em)
      SELECT $1, 1, CASE WHEN n % 2 = 0 THEN 'c' ELSE 'd' END, $2, $3::bigint + CASE WHEN n % 2 = 0 THEN 1 ELSE 0 END,
             now() - ($4::int - n) * $5::int * interval '1 second'
        FROM generate_series(0, $4::int - 1) AS n ORDER BY n`,
      [HEAVY_CLIENT_ID, SEED_DESCRICAO, saldo, rows, SEED_STEP_S],
    );
    await client.query('COMMIT');
    await client.query('VACUUM ANALYZE transacoes');
    // The seed's WAL would otherwise be checkpointed during the first
    // measured phases (a quiet phase's p99 of 131 ms after a 5 s settling).
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

interface ReaderOutcome {
  byQuery: Map<string, LatencyHistogram>;
  statuses: Map<number, number>;
}

const emptyOutcome = (queries: { name: string }[]): ReaderOutcome => ({
  byQuery: new Map(queries.map((query) => [query.name, new LatencyHistogram()])),
  statuses: new Map(),
});

/** One page of one query, its latency and status recorded. */
async function readPage(
  baseUrl: string,
  query: { name: string; query: string },
  outcome: ReaderOutcome,
): Promise<void> {
  const started = performance.now();
  const status = await fetch(`${baseUrl}/clientes/${HEAVY_CLIENT_ID}/transacoes?${query.query}`, {
    signal: AbortSignal.timeout(READ_TIMEOUT_MS),
  }).then(
    async (response) => (await response.arrayBuffer(), response.status),
    () => 0,
  );
  outcome.byQuery.get(query.name)!.record(performance.now() - started);
  outcome.statuses.set(status, (outcome.statuses.get(status) ?? 0) + 1);
}

/** `readers` loops, each asking the queries in turn, again as soon as answered, until the deadline: every latency by query. */
async function readHeavily(
  baseUrl: string,
  queries: { name: string; query: string }[],
  options: { readers: number; durationS: number },
): Promise<ReaderOutcome> {
  const outcome = emptyOutcome(queries);
  const deadline = performance.now() + options.durationS * 1000;
  const reader = async (offset: number) => {
    for (let index = offset; performance.now() < deadline; index++)
      await readPage(baseUrl, queries[index % queries.length]!, outcome);
  };
  await Promise.all(Array.from({ length: options.readers }, (_, index) => reader(index)));
  return outcome;
}

/** Pages asked at a fixed rate, each sent on time whether or not the one before was answered: a reader within the budget. */
async function readAtRate(
  baseUrl: string,
  queries: { name: string; query: string }[],
  options: { pagesPerSecond: number; durationS: number },
): Promise<ReaderOutcome> {
  const outcome = emptyOutcome(queries);
  const started = performance.now();
  const pages: Promise<void>[] = [];
  for (let index = 0; index < options.pagesPerSecond * options.durationS; index++) {
    const dueMs = started + (index * 1000) / options.pagesPerSecond;
    if (dueMs > performance.now()) await new Promise((resolve) => setTimeout(resolve, dueMs - performance.now()));
    pages.push(readPage(baseUrl, queries[index % queries.length]!, outcome));
  }
  await Promise.all(pages);
  return outcome;
}

const loadAverage = () =>
  os
    .loadavg()
    .map((load) => load.toFixed(2))
    .join(' ');
const summaryLine = (latency: LatencySummary) =>
  `p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms, max ${latency.max.toFixed(1)} ms (${latency.count} requests)`;

interface PhaseOptions {
  ratePerSecond: number;
  durationS: number;
  readers: number;
  queries: { name: string; query: string }[];
  pagesPerSecond: number;
}
interface Phase {
  others: LatencyHistogram;
  unexpected: number;
  heavy: ReaderOutcome | undefined;
}

/** The others' traffic for durationS, beside `readers` heavy readers (0: alone). */
async function runPhase(baseUrl: string, options: PhaseOptions): Promise<Phase> {
  const readers =
    options.readers > 0
      ? readHeavily(baseUrl, options.queries, { readers: options.readers, durationS: options.durationS })
      : undefined;
  const others = await nodeLoad.run({
    url: baseUrl,
    model: { kind: 'open', ratePerSecond: options.ratePerSecond, connection: 'keep-alive' },
    durationSeconds: options.durationS,
    requests: otherRequests(),
  });
  const heavy = await readers;
  const unexpected =
    others.errors +
    Object.entries(others.statusCounts)
      .filter(([status]) => status !== '200' && status !== '422')
      .reduce((sum, [, count]) => sum + count, 0);
  return { others: others.latencyHistogram!, unexpected, heavy };
}

/** Pools phases of one kind: the others' latencies, and the readers' by query and status. */
function pool(phases: Phase[]): Phase {
  const pooled: Phase = { others: new LatencyHistogram(), unexpected: 0, heavy: undefined };
  for (const phase of phases) {
    pooled.others.add(phase.others);
    pooled.unexpected += phase.unexpected;
    if (phase.heavy === undefined) continue;
    pooled.heavy ??= { byQuery: new Map(), statuses: new Map() };
    for (const [query, histogram] of phase.heavy.byQuery) {
      if (!pooled.heavy.byQuery.has(query)) pooled.heavy.byQuery.set(query, new LatencyHistogram());
      pooled.heavy.byQuery.get(query)!.add(histogram);
    }
    for (const [status, count] of phase.heavy.statuses)
      pooled.heavy.statuses.set(status, (pooled.heavy.statuses.get(status) ?? 0) + count);
  }
  return pooled;
}

function printReaders(heavy: ReaderOutcome, options: { label: string; durationS: number }): void {
  for (const [query, histogram] of heavy.byQuery)
    console.log(`  ${options.label} "${query}": ${summaryLine(histogram.summary())}`);
  const all = new LatencyHistogram();
  for (const histogram of heavy.byQuery.values()) all.add(histogram);
  const statuses = [...heavy.statuses]
    .map(([status, count]) => `${count} × ${status === 0 ? 'no answer' : status}`)
    .join(', ');
  console.log(
    `  ${options.label}, all filters: ${summaryLine(all.summary())}, ${(all.count / options.durationS).toFixed(0)} pages/s; statuses ${statuses}`,
  );
}

/**
 * Quiet and heavy phases taken in turn, `rounds` of each, so that the
 * machine's drift (another process's burst, a checkpoint) lands on both
 * kinds alike rather than on one phase; the verdict compares the pooled
 * latencies of each kind, and each round's ratio shows how steady it was.
 */
async function interleavedRounds(
  baseUrl: string,
  options: PhaseOptions & { rounds: number },
): Promise<{ quiet: Phase; heavy: Phase }> {
  const phaseS = options.durationS / options.rounds;
  const quiet: Phase[] = [];
  const heavy: Phase[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    quiet.push(await runPhase(baseUrl, { ...options, durationS: phaseS, readers: 0 }));
    heavy.push(await runPhase(baseUrl, { ...options, durationS: phaseS }));
    const [q, h] = [quiet.at(-1)!.others.summary(), heavy.at(-1)!.others.summary()];
    console.log(
      `round ${round}: others' p99 quiet ${q.p99.toFixed(2)} ms, ` +
        `with ${options.readers} readers ${h.p99.toFixed(2)} ms (${(h.p99 / q.p99).toFixed(2)}x); ` +
        `p50 ${q.p50.toFixed(2)} / ${h.p50.toFixed(2)} ms; load average ${loadAverage()}`,
    );
  }
  return { quiet: pool(quiet), heavy: pool(heavy) };
}

async function measure(baseUrl: string, options: PhaseOptions & { rounds: number }): Promise<number> {
  // One reader with nothing else running: what a page costs by itself,
  // apart from what sharing two cores with everyone else adds.
  const alone = await readHeavily(baseUrl, options.queries, { readers: 1, durationS: options.durationS });
  printReaders(alone, { label: 'one reader alone', durationS: options.durationS });
  console.log(`one reader alone: load average ${loadAverage()}`);
  // What a page costs a reader that stays within the budget, as most do:
  // the pacing above is the budget at work, this is the page itself.
  const within = await readAtRate(baseUrl, options.queries, {
    pagesPerSecond: options.pagesPerSecond,
    durationS: options.durationS,
  });
  printReaders(within, { label: `one reader at ${options.pagesPerSecond} pages/s`, durationS: options.durationS });
  const { quiet, heavy } = await interleavedRounds(baseUrl, options);
  const [q, h] = [quiet.others.summary(), heavy.others.summary()];
  console.log(
    `without heavy readers (${options.rounds} phases pooled): ` +
      `others at ${options.ratePerSecond} req/s: ${summaryLine(q)}, unexpected ${quiet.unexpected}`,
  );
  console.log(
    `with ${options.readers} heavy readers (${options.rounds} phases pooled): ` +
      `others at ${options.ratePerSecond} req/s: ${summaryLine(h)}, unexpected ${heavy.unexpected}`,
  );
  printReaders(heavy.heavy!, { label: 'history', durationS: options.durationS });
  console.log(
    `others' p99 with heavy readers / without = ${(h.p99 / q.p99).toFixed(2)} (goal <= 2); p50 ${(h.p50 / q.p50).toFixed(2)}`,
  );
  return quiet.unexpected + heavy.unexpected;
}

// The others' traffic before anything is measured: the seeding's million
// inserts leave the first seconds after them slow (the first quiet phase's
// max was 265-341 ms when it came right after).
const SETTLE_S = 5;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      readers: { type: 'string', default: '4' },
      rate: { type: 'string', default: '340' },
      duration: { type: 'string', default: '15' },
      rounds: { type: 'string', default: '3' },
      'pages-per-second': { type: 'string', default: '50' },
    },
  });
  const rows = numberOption(values.rows, 'rows', { min: 2, max: 5_000_000, whole: true });
  const options = {
    readers: numberOption(values.readers, 'readers', { min: 1, max: 64, whole: true }),
    ratePerSecond: numberOption(values.rate, 'rate', { min: 1, max: 5_000, whole: true }),
    durationS: numberOption(values.duration, 'duration', { min: 1, max: 600, whole: true }),
    rounds: numberOption(values.rounds, 'rounds', { min: 1, max: 20, whole: true }),
    pagesPerSecond: numberOption(values['pages-per-second'], 'pages-per-second', { min: 1, max: 1000, whole: true }),
  };
  const budget = readSetting(SETTINGS.historyDbMsPerSecond, process.env);
  console.log(
    `${SETTINGS.historyDbMsPerSecond.env}=${budget}; ${options.readers} readers; ` +
      `others at ${options.ratePerSecond} req/s; ${options.durationS} s per kind of phase in ${options.rounds} rounds`,
  );
  const dataDirectory = makeDataDirectory();
  const stack = await startStack({ port: await freePort(), dataDirectory });
  try {
    const started = performance.now();
    await seed(readStackState(dataDirectory).databaseUrl, rows);
    console.log(
      `seeded ${rows} rows for client ${HEAVY_CLIENT_ID} in ${((performance.now() - started) / 1000).toFixed(1)} s; load average ${loadAverage()}`,
    );
    await runPhase(stack.baseUrl, { ...options, durationS: SETTLE_S, readers: 0, queries: [] });
    if ((await measure(stack.baseUrl, { ...options, queries: heavyQueries(rows) })) > 0) process.exitCode = 1;
  } finally {
    await stack.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
