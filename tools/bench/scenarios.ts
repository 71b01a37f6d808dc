// What each benchmark scenario sends. The names are the report's
// (test/stack/bench-smoke.test.ts holds them):
//
//   http-floor      GET /health through nginx: HTTP and proxying, no database
//   db-transacao    registrar_transacao straight through a pg pool, no HTTP
//   db-extrato      extratos straight through a pg pool, no HTTP
//   transacoes      POST through nginx, 2 debits : 1 credit, random clients
//   extrato         GET statements through nginx, random clients
//   mix             the public test's mix: 220 debits, 110 credits, 10 statements
//
// The HTTP scenarios run at saturation (closed model) and, the floor and the
// mix, at fixed arrival rates (open model): the public test's peak, and
// shares of the mix's saturation rate (openAt).

import type pg from 'pg';
import { STATEMENT_TRANSACTIONS_MAX } from '../../src/shared/limits.js';
import type { LoadModel, LoadRequest } from './load/load-generator.js';
import type { DatabaseCallOutcome, DatabaseScenario, HttpScenario } from './run-scenario.js';

/** The public test's arrival rates at its peak, per second (Rinha de Backend 2024/Q1). */
export const PUBLIC_TEST_RATES = { debits: 220, credits: 110, statements: 10 } as const;
export const PUBLIC_TEST_RATE_PER_SECOND =
  PUBLIC_TEST_RATES.debits + PUBLIC_TEST_RATES.credits + PUBLIC_TEST_RATES.statements;
/** Shares of the mix's saturation rate the open-model runs offer. */
export const SATURATION_SHARES = [0.25, 0.5, 0.75] as const;
/** Requests in a scenario's sample; generators go around it, so it needs variety, not length. */
const SAMPLE_BLOCKS = 120;

const CLIENT_COUNT = 5;
const AMOUNT_MAX = 10_000;
const randomClient = () => 1 + Math.floor(Math.random() * CLIENT_COUNT);
export const randomValor = () => 1 + Math.floor(Math.random() * AMOUNT_MAX);
export const randomDescricao = () => Math.random().toString(36).slice(2, 12).padEnd(10, 'x');

const transaction = (tipo: 'c' | 'd'): LoadRequest => ({
  method: 'POST',
  path: `/clientes/${randomClient()}/transacoes`,
  body: JSON.stringify({ valor: randomValor(), tipo, descricao: randomDescricao() }),
});
const statement = (): LoadRequest => ({ method: 'GET', path: `/clientes/${randomClient()}/extrato` });

/**
 * SAMPLE_BLOCKS blocks, each holding exactly `counts` requests of each kind
 * in a random order: the mix's proportions hold in any stretch of it, not
 * only on average.
 */
export function sample<T>(counts: [number, () => T][]): T[] {
  const requests: T[] = [];
  for (let block = 0; block < SAMPLE_BLOCKS; block++) {
    const kinds = counts.flatMap(([count, make]) => Array.from({ length: count }, () => make));
    for (let index = kinds.length - 1; index > 0; index--) {
      const other = Math.floor(Math.random() * (index + 1));
      [kinds[index], kinds[other]] = [kinds[other]!, kinds[index]!];
    }
    requests.push(...kinds.map((make) => make()));
  }
  return requests;
}

export const HTTP_FLOOR: HttpScenario = {
  name: 'http-floor',
  description: 'GET /health through nginx (no database)',
  expected: new Set([200]),
  requests: () => [{ method: 'GET', path: '/health' }],
};

export const TRANSACOES: HttpScenario = {
  name: 'transacoes',
  description: 'POST transactions through nginx, 2 debits : 1 credit',
  expected: new Set([200, 422]),
  requests: () =>
    sample([
      [2, () => transaction('d')],
      [1, () => transaction('c')],
    ]),
};

export const EXTRATO: HttpScenario = {
  name: 'extrato',
  description: 'GET statements through nginx',
  expected: new Set([200]),
  requests: () => sample([[1, statement]]),
};

export const MIX: HttpScenario = {
  name: 'mix',
  description: `the public test's mix: ${PUBLIC_TEST_RATES.debits} debits : ${PUBLIC_TEST_RATES.credits} credits : ${PUBLIC_TEST_RATES.statements} statements`,
  expected: new Set([200, 422]),
  requests: () => {
    const divisor = PUBLIC_TEST_RATES.statements; // 22 : 11 : 1 in each block
    return sample([
      [PUBLIC_TEST_RATES.debits / divisor, () => transaction('d')],
      [PUBLIC_TEST_RATES.credits / divisor, () => transaction('c')],
      [PUBLIC_TEST_RATES.statements / divisor, statement],
    ]);
  },
};

export interface OpenScenario {
  scenario: HttpScenario;
  model: Extract<LoadModel, { kind: 'open' }>;
}

/**
 * The scenario at a fixed arrival rate, named after it: `@public` is the
 * public test's peak rate on a new connection per request, as that test
 * sends them; `@25%` and so on are shares of the mix's saturation rate, on
 * kept-alive connections (a new one each, thousands a second, would measure
 * the kernel's TCP set-up and run out of ports).
 */
export function openAt(
  scenario: HttpScenario,
  rate: { share: number; saturationRate: number } | 'public',
): OpenScenario {
  if (rate === 'public') {
    return {
      scenario: {
        ...scenario,
        name: `${scenario.name}@public`,
        description: `${scenario.description}; ${PUBLIC_TEST_RATE_PER_SECOND} req/s, a new connection each (the public test's peak)`,
      },
      model: { kind: 'open', ratePerSecond: PUBLIC_TEST_RATE_PER_SECOND, connection: 'new' },
    };
  }
  const ratePerSecond = Math.max(1, Math.round(rate.share * rate.saturationRate));
  const percent = Math.round(rate.share * 100);
  return {
    scenario: {
      ...scenario,
      name: `${scenario.name}@${percent}%`,
      description: `${scenario.description}; ${ratePerSecond} req/s (${percent}% of the mix's saturation), kept-alive connections`,
    },
    model: { kind: 'open', ratePerSecond, connection: 'keep-alive' },
  };
}

// registrar_transacao answers 'cliente_ocupado' at once, having applied
// nothing, when another session holds the client's row (sql/03-functions.sql).
// Counted as a call, that fast refusal would inflate the ceiling under
// contention; so the bench sends it again after a pause that doubles, as the
// instance's batcher does, and a call counts once, when it applied. A row
// still held after BUSY_RETRIES_MAX retries is an error (the instance would
// have answered 503 by then).
const BUSY_RETRY_PAUSE_MS_MIN = 1;
const BUSY_RETRY_PAUSE_MS_MAX = 32;
const BUSY_RETRIES_MAX = 16;

async function databaseTransaction(pool: pg.Pool, tipo: 'c' | 'd'): Promise<DatabaseCallOutcome> {
  const values = [randomClient(), randomValor(), tipo, randomDescricao()];
  for (let busyRetries = 0; ; busyRetries++) {
    const result = await pool.query<{ resultado: string }>({
      name: 'bench_transacao',
      text: 'SELECT * FROM registrar_transacao($1, $2, $3, $4)',
      values,
    });
    if (result.rows[0]?.resultado !== 'cliente_ocupado') return { busyRetries };
    if (busyRetries === BUSY_RETRIES_MAX)
      throw new Error(`client ${values[0]} still busy after ${BUSY_RETRIES_MAX} retries`);
    const pauseMs = Math.min(BUSY_RETRY_PAUSE_MS_MIN * 2 ** busyRetries, BUSY_RETRY_PAUSE_MS_MAX);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

export const DB_TRANSACAO: DatabaseScenario = {
  name: 'db-transacao',
  calls: 'registrar_transacao',
  call: (pool) => databaseTransaction(pool, Math.random() < 2 / 3 ? 'd' : 'c'),
};

export const DB_EXTRATO: DatabaseScenario = {
  name: 'db-extrato',
  calls: 'extratos',
  call: (pool) =>
    pool.query({
      name: 'bench_extrato',
      text: 'SELECT * FROM extratos(ARRAY[$1::integer], $2)',
      values: [randomClient(), STATEMENT_TRANSACTIONS_MAX],
    }),
};

/** The mix at the public rate, run again after the floor: the stack warm. */
export const WARM_PUBLIC_MIX = 'mix@public-warm';
