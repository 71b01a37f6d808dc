// A k6 port of the public Rinha de Backend 2024/Q1 load test, as described in
// ../shared/CONTRACT.md ("The public test, step by step").
//
//   k6 run load/rinha.js                                  # the full test, about 4 minutes
//   SCALE=0.1 k6 run load/rinha.js                        # both phases shortened to a tenth
//   BASE_URL=http://otherhost:9999 k6 run load/rinha.js   # another target
//
// Phases, in order:
//   1. validacoes (t=0): 25 concurrent debits of 1 on client 1, then the
//      statement must show -25; 25 concurrent credits, then it must show 0.
//   2. clientes and cliente 6 (t=5s): for each client 1-5, the statement
//      checks, toma/devolve in order, the danada write followed by 4 parallel
//      statements that must all see it, and five invalid bodies; client 6
//      answers 404.
//   3. carga (t=5s): debits, credits and statements arriving at rates that
//      ramp from 1/s to 220, 110 and 10 per second over 2 minutes, then hold
//      for 2 minutes: about 61,500 requests. Each request on a new connection.
//
// The thresholds are the pass criteria: no failed request (a 5xx or a broken
// connection), at least 98% of requests under 250 ms, no inconsistent balance
// and every functional check passing. k6 exits non-zero when any fails.

import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const BASE_URL = __ENV.BASE_URL || 'http://localhost:9999';
const SCALE = Number(__ENV.SCALE || 1);
if (!(SCALE > 0 && SCALE <= 1)) throw new Error(`SCALE must be in (0, 1], got ${__ENV.SCALE}`);

const seconds = (value) => `${Math.max(1, Math.round(value * SCALE))}s`;
const RAMP = seconds(120);
const HOLD = seconds(120);
// The validation phase takes well under a second; the rest starts after it.
const AFTER_VALIDATION = '5s';

const LIMITS = { 1: 100000, 2: 80000, 3: 1000000, 4: 10000000, 5: 500000 };
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };

// A balance past the limit, or a statement whose total is past it.
const inconsistencies = new Counter('inconsistencias');

// 422 (a refused debit, an invalid body) and 404 (client 6) are answers, not
// failures: http_req_failed then counts only 5xx and broken connections.
http.setResponseCallback(http.expectedStatuses(200, 400, 404, 422));

function loadScenario(target, execName) {
  return {
    executor: 'ramping-arrival-rate',
    exec: execName,
    startTime: AFTER_VALIDATION,
    startRate: 1,
    timeUnit: '1s',
    preAllocatedVUs: Math.max(10, Math.ceil(target / 4)),
    maxVUs: target * 4,
    stages: [
      { duration: RAMP, target },
      { duration: HOLD, target },
    ],
  };
}

export const options = {
  // As in the original: no connection is reused from one iteration to the next.
  noVUConnectionReuse: true,
  batchPerHost: 25,
  scenarios: {
    validacoes: { executor: 'per-vu-iterations', exec: 'validacoes', vus: 1, iterations: 1, startTime: '0s' },
    clientes: { executor: 'per-vu-iterations', exec: 'cliente', vus: 5, iterations: 1, startTime: AFTER_VALIDATION },
    cliente_nao_encontrado: {
      executor: 'per-vu-iterations',
      exec: 'clienteNaoEncontrado',
      vus: 1,
      iterations: 1,
      startTime: AFTER_VALIDATION,
    },
    debitos: loadScenario(220, 'debito'),
    creditos: loadScenario(110, 'credito'),
    extratos: loadScenario(10, 'extrato'),
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(98)<250'],
    inconsistencias: ['count==0'],
    checks: ['rate==1'],
  },
};

function post(id, valor, tipo, descricao) {
  return http.post(`${BASE_URL}/clientes/${id}/transacoes`, JSON.stringify({ valor, tipo, descricao }), JSON_HEADERS);
}

function statement(id) {
  return http.get(`${BASE_URL}/clientes/${id}/extrato`);
}

function json(response) {
  try {
    return JSON.parse(response.body);
  } catch (error) {
    return undefined;
  }
}

/** On every 200 to a transaction, the balance must be within the limit. */
function checkWithinLimit(response) {
  if (response.status !== 200) return;
  const body = json(response);
  const fine = body !== undefined && body.saldo >= -body.limite;
  if (!fine) inconsistencies.add(1);
}

const randomInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const randomDescricao = () =>
  Array.from({ length: 10 }, () => ALPHANUMERIC[randomInt(0, ALPHANUMERIC.length - 1)]).join('');

function concurrentTransactions(tipo) {
  const body = JSON.stringify({ valor: 1, tipo, descricao: 'validacao' });
  const requests = Array.from({ length: 25 }, () => ['POST', `${BASE_URL}/clientes/1/transacoes`, body, JSON_HEADERS]);
  return http.batch(requests);
}

export function validacoes() {
  const debits = concurrentTransactions('d');
  check(debits, {
    'validacao: 25 debitos concorrentes -> 200': (responses) => responses.every((response) => response.status === 200),
  });
  check(statement(1), { 'validacao: saldo -25 apos os debitos': (response) => json(response)?.saldo?.total === -25 });

  const credits = concurrentTransactions('c');
  check(credits, {
    'validacao: 25 creditos concorrentes -> 200': (responses) => responses.every((response) => response.status === 200),
  });
  check(statement(1), { 'validacao: saldo 0 apos os creditos': (response) => json(response)?.saldo?.total === 0 });
}

function isTransaction(transaction, descricao, tipo, valor) {
  return (
    transaction !== undefined &&
    transaction.descricao === descricao &&
    transaction.tipo === tipo &&
    transaction.valor === valor
  );
}

export function cliente() {
  const id = exec.scenario.iterationInTest + 1;
  const limite = LIMITS[id];

  const initial = statement(id);
  check(initial, {
    'cliente: extrato inicial 200': (response) => response.status === 200,
    // Compared as strings, as the original does: plain integers.
    'cliente: limite e saldo iniciais': (response) =>
      String(json(response)?.saldo?.limite) === String(limite) && String(json(response)?.saldo?.total) === '0',
  });

  const toma = post(id, 1, 'c', 'toma');
  check(toma, { 'cliente: toma 200': (response) => response.status === 200 });
  checkWithinLimit(toma);
  const devolve = post(id, 1, 'd', 'devolve');
  check(devolve, { 'cliente: devolve 200': (response) => response.status === 200 });
  checkWithinLimit(devolve);

  check(statement(id), {
    'cliente: devolve e toma, nessa ordem': (response) => {
      const transactions = json(response)?.ultimas_transacoes ?? [];
      return isTransaction(transactions[0], 'devolve', 'd', 1) && isTransaction(transactions[1], 'toma', 'c', 1);
    },
  });

  const danada = post(id, 1, 'c', 'danada');
  check(danada, { 'cliente: danada 200': (response) => response.status === 200 });
  checkWithinLimit(danada);
  const written = json(danada) ?? {};
  const reads = http.batch(Array.from({ length: 4 }, () => ['GET', `${BASE_URL}/clientes/${id}/extrato`]));
  check(reads, {
    'cliente: 4 extratos paralelos veem a danada': (responses) =>
      responses.every((response) => {
        const body = json(response);
        return (
          body !== undefined &&
          isTransaction(body.ultimas_transacoes[0], 'danada', 'c', 1) &&
          body.saldo.limite === written.limite &&
          body.saldo.total === written.saldo
        );
      }),
  });

  const invalidBodies = [
    { valor: 1.2, tipo: 'd', descricao: 'devolve' },
    { valor: 1, tipo: 'x', descricao: 'devolve' },
    { valor: 1, tipo: 'c', descricao: '123456789 e mais um pouco' },
    { valor: 1, tipo: 'c', descricao: '' },
    { valor: 1, tipo: 'c', descricao: null },
  ];
  for (const body of invalidBodies) {
    const response = http.post(`${BASE_URL}/clientes/${id}/transacoes`, JSON.stringify(body), JSON_HEADERS);
    check(response, { 'cliente: corpo invalido -> 422 ou 400': (r) => r.status === 422 || r.status === 400 });
  }
}

export function clienteNaoEncontrado() {
  check(statement(6), { 'cliente 6 -> 404': (response) => response.status === 404 });
}

export function debito() {
  const response = post(randomInt(1, 5), randomInt(1, 10000), 'd', randomDescricao());
  check(response, { 'debito: 200 ou 422': (r) => r.status === 200 || r.status === 422 });
  checkWithinLimit(response);
}

export function credito() {
  const response = post(randomInt(1, 5), randomInt(1, 10000), 'c', randomDescricao());
  check(response, { 'credito: 200': (r) => r.status === 200 });
  checkWithinLimit(response);
}

export function extrato() {
  const response = statement(randomInt(1, 5));
  check(response, { 'extrato: 200': (r) => r.status === 200 });
  const body = json(response);
  if (response.status === 200 && !(body !== undefined && body.saldo.total >= -body.saldo.limite))
    inconsistencies.add(1);
}
