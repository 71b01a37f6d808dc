// PostgreSQL alone at the public test's rate: the instances' own calls
// (registrar_transacao for each debit and credit, extratos for each
// statement, prepared, in the public mix's ratio), sent at their planned
// times with no HTTP, no batching and no call ever waiting on another's
// row lock: each of a few connections owns one client row and takes the
// calls in turn. What is left is what PostgreSQL needs per request at this
// rate, in this durability mode: the function, the commit and its fsync.
//
// Each latency runs from the moment the generator sends the call, as the
// HTTP generator's do (how late its timer woke is recorded apart); a call
// that waits for its connection's previous one counts that wait.

import pg from 'pg';
import { STATEMENT_TRANSACTIONS_MAX } from '../../../src/shared/limits.js';
import { LatencyHistogram } from '../load/latency-histogram.js';
import { PUBLIC_TEST_RATES, randomDescricao, randomValor, sample } from '../scenarios.js';

/** As many connections as clients the calls may use without two sharing a row (the schema seeds five). */
export const DB_ALONE_CONNECTIONS = 4;
export const DB_ALONE_NAME = 'db-alone@public';

// The statements as the instances prepare them (src/instance/ledger), under names of the bench's own.
const TRANSACTION = {
  name: 'bench_alone_transacao',
  text: 'SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)',
};
const STATEMENT = {
  name: 'bench_alone_extrato',
  text: 'SELECT ordem, saldo, limite, data_extrato, valor, tipo, descricao, realizada_em FROM extratos($1, $2)',
};

type Kind = 'd' | 'c' | 'statement';

function callOf(client: pg.Client, clientId: number, kind: Kind): Promise<void> {
  if (kind === 'statement') {
    return client.query({ ...STATEMENT, values: [[clientId], STATEMENT_TRANSACTIONS_MAX] }).then(() => undefined);
  }
  return client
    .query<{ resultado: string }>({ ...TRANSACTION, values: [clientId, randomValor(), kind, randomDescricao()] })
    .then((result) => {
      const outcome = result.rows[0]?.resultado;
      // A refusal past the limit is an answer like any other; a busy row would mean a collision this run promises not
      // to have.
      if (outcome === 'cliente_ocupado') throw new Error(`client ${clientId}'s row was held by another session`);
    });
}

/**
 * even: call k at start + k / rate, on connection k mod n (the bench's reference, as the mix is sent); poisson: at
 * exponentially spaced times on whichever connection is free, timed from its start on it (pgbench --rate's way, to
 * hold pgbench to the same arrivals).
 */
export type DbAloneArrivals = 'even' | 'poisson';

export interface DbAloneOptions {
  ratePerSecond: number;
  durationSeconds: number;
  arrivals?: DbAloneArrivals;
}

/** The next arrival's offset from the last, in ms: the rate's interval, or an exponential draw of that mean. */
export function nextIntervalMs(intervalMs: number, arrivals: DbAloneArrivals, uniform = Math.random()): number {
  return arrivals === 'even' ? intervalMs : -Math.log(1 - uniform) * intervalMs;
}

export interface DbAloneOutcome {
  latency: LatencyHistogram;
  sendLag: LatencyHistogram;
  errors: number;
  firstError: string | undefined;
}

/**
 * The public mix as calls at ratePerSecond for durationSeconds, through DB_ALONE_CONNECTIONS connections that never
 * collide.
 */
export async function runDbAlone(databaseUrl: string, options: DbAloneOptions): Promise<DbAloneOutcome> {
  const clients = Array.from(
    { length: DB_ALONE_CONNECTIONS },
    () => new pg.Client({ connectionString: databaseUrl, application_name: 'crebito-bench-alone' }),
  );
  await Promise.all(clients.map((client) => client.connect()));
  try {
    // Prepared and warm before the first timed call, as the instances' pools are.
    for (const [index, client] of clients.entries())
      for (const kind of ['d', 'c', 'statement'] as const) await callOf(client, index + 1, kind);
    return await paced(clients, options);
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

async function paced(clients: pg.Client[], options: DbAloneOptions): Promise<DbAloneOutcome> {
  const arrivals = options.arrivals ?? 'even';
  const divisor = PUBLIC_TEST_RATES.statements;
  const kinds = sample<Kind>([
    [PUBLIC_TEST_RATES.debits / divisor, () => 'd'],
    [PUBLIC_TEST_RATES.credits / divisor, () => 'c'],
    [PUBLIC_TEST_RATES.statements / divisor, () => 'statement'],
  ]);
  const outcome: DbAloneOutcome = {
    latency: new LatencyHistogram(),
    sendLag: new LatencyHistogram(),
    errors: 0,
    firstError: undefined,
  };
  const intervalMs = 1000 / options.ratePerSecond;
  const total = Math.round(options.durationSeconds * options.ratePerSecond);
  const pending: Promise<void>[] = [];
  // Each connection's calls one after another, as pgbench's clients send theirs: a call planned while its
  // connection is busy waits, and its wait counts (pg would queue it too, but warns).
  const busyUntil: Promise<void>[] = clients.map(() => Promise.resolve());
  const busy = clients.map(() => false);
  const startAt = performance.now();
  let plannedAt = startAt;
  for (let sent = 0; sent < total; sent++) {
    if (sent > 0) plannedAt += nextIntervalMs(intervalMs, arrivals);
    const waitMs = plannedAt - performance.now();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const sentAt = performance.now();
    // How late the timer woke is the generator's, recorded apart, as the HTTP generator does (node-load-worker.ts):
    // both halves of the limit are timed from the moment the generator sends.
    outcome.sendLag.record(Math.max(0, sentAt - plannedAt));
    const free = busy.indexOf(false);
    const connection = arrivals === 'poisson' && free >= 0 ? free : sent % clients.length;
    const kind = kinds[sent % kinds.length]!;
    let from = sentAt;
    const done = busyUntil[connection]!.then(() => {
      busy[connection] = true;
      // pgbench times a call from its start on a free client; the wait for one is its schedule lag.
      if (arrivals === 'poisson') from = performance.now();
      return callOf(clients[connection]!, connection + 1, kind);
    }).then(
      () => outcome.latency.record(performance.now() - from),
      (error: unknown) => {
        outcome.errors++;
        outcome.firstError ??= error instanceof Error ? error.message : String(error);
      },
    );
    busyUntil[connection] = done.then(() => {
      busy[connection] = false;
    });
    pending.push(done);
  }
  await Promise.all(pending);
  return outcome;
}
