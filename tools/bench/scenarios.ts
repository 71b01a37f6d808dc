// What each benchmark scenario sends. The order and the names are the
// report's (test/load-scripts.test.ts holds them):
//
//   http-floor      GET /health through nginx: HTTP and proxying, no database
//   db-transacao    registrar_transacao straight through a pg pool, no HTTP
//   db-extrato      extratos straight through a pg pool, no HTTP
//   transacoes      POST through nginx, 2 debits : 1 credit, random clients
//   extrato         GET statements through nginx, random clients
//   mix             transactions and a few statements (2 : 1 : 0.3)
//   http-floor@half and mix@half: the same at half the rate the mix sustained

import { EXTRATO_TRANSACTIONS_MAX } from '../../src/shared/contract.js';
import type { LoadRequest } from './load-generator.js';
import type { DatabaseScenario, HttpScenario } from './run-scenario.js';

/** The share of statements in the mix: 0.3 of 3.3. */
const MIX_STATEMENT_SHARE = 0.09;

const randomClient = () => 1 + Math.floor(Math.random() * 5);
const randomValor = () => 1 + Math.floor(Math.random() * 10000);
const randomDescricao = () => Math.random().toString(36).slice(2, 12).padEnd(10, 'x');

/** 2 debits : 1 credit, as the public test's load does. */
function randomTransaction(): { valor: number; tipo: 'c' | 'd'; descricao: string } {
  return { valor: randomValor(), tipo: Math.random() < 2 / 3 ? 'd' : 'c', descricao: randomDescricao() };
}

const transactionRequest = (): LoadRequest => ({ method: 'POST', path: `/clientes/${randomClient()}/transacoes`, body: JSON.stringify(randomTransaction()) });
const statementRequest = (): LoadRequest => ({ method: 'GET', path: `/clientes/${randomClient()}/extrato` });

export const HTTP_FLOOR: HttpScenario = {
  name: 'http-floor', description: 'GET /health through nginx (no database)', expected: new Set([200]), overallRate: undefined,
  nextRequest: () => ({ method: 'GET', path: '/health' }),
};

export const TRANSACOES: HttpScenario = {
  name: 'transacoes', description: 'POST transactions through nginx, 2 debits : 1 credit', expected: new Set([200, 422]), overallRate: undefined,
  nextRequest: transactionRequest,
};

export const EXTRATO: HttpScenario = {
  name: 'extrato', description: 'GET statements through nginx', expected: new Set([200]), overallRate: undefined,
  nextRequest: statementRequest,
};

export const MIX: HttpScenario = {
  name: 'mix', description: 'debits, credits and statements, 2 : 1 : 0.3', expected: new Set([200, 422]), overallRate: undefined,
  nextRequest: () => (Math.random() < MIX_STATEMENT_SHARE ? statementRequest() : transactionRequest()),
};

/** The same scenario offered a fixed rate, half of what the mix sustained: latency below saturation. */
export function atHalfRate(scenario: HttpScenario, rate: number): HttpScenario {
  return { ...scenario, name: `${scenario.name}@half`, description: `${scenario.description}, at ${rate.toFixed(0)} req/s`, overallRate: rate };
}

export const DB_TRANSACAO: DatabaseScenario = {
  name: 'db-transacao',
  calls: 'registrar_transacao',
  call: (pool) => {
    const transaction = randomTransaction();
    return pool.query({ name: 'bench_transacao', text: 'SELECT * FROM registrar_transacao($1, $2, $3, $4)', values: [randomClient(), transaction.valor, transaction.tipo, transaction.descricao] });
  },
};

export const DB_EXTRATO: DatabaseScenario = {
  name: 'db-extrato',
  calls: 'extratos',
  call: (pool) => pool.query({ name: 'bench_extrato', text: 'SELECT * FROM extratos(ARRAY[$1::integer], $2)', values: [randomClient(), EXTRATO_TRANSACTIONS_MAX] }),
};
