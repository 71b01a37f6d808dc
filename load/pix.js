// A Pix-like load for k6: clients paying each other (POST
// /clientes/{id}/transferencias), as an instant-payment network sends them:
// each payment with its own Idempotency-Key, sent again with the same key
// when its answer is lost or says the outcome is unknown, and some of them
// sent twice on purpose (a double tap), which must be answered the same
// bytes and move nothing the second time.
//
//   k6 run load/pix.js                                  # about 2 minutes
//   SCALE=0.2 k6 run load/pix.js                        # shortened to a fifth
//   BASE_URL=http://otherhost:9999 k6 run load/pix.js   # another target
//
// Scenarios, at once, after a short start:
//   pix          payments between random distinct clients, ramping to 120/s
//   comerciante  everyone paying one merchant (client 5), ramping to 40/s
//   extratos     statements, 5/s
//
// Only transfers move money here, so the sum of all five balances must be
// the same at the end as at the start (teardown checks it): a transfer
// conserves money. The thresholds are the pass criteria: no failed request,
// 99% under 250 ms, every check passing (every 200 within the payer's
// limit with its transfer id, every double tap replayed exactly).
//
// Written for k6 v0.48's JavaScript (no optional chaining).

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

const BASE_URL = __ENV.BASE_URL || 'http://localhost:9999';
const SCALE = Number(__ENV.SCALE || 1);
if (!(SCALE > 0 && SCALE <= 1)) throw new Error(`SCALE must be in (0, 1], got ${__ENV.SCALE}`);

const seconds = (value) => `${Math.max(1, Math.round(value * SCALE))}s`;
const CLIENTS = [1, 2, 3, 4, 5];
const MERCHANT = 5;
const LIMITS = { 1: 100000, 2: 80000, 3: 1000000, 4: 10000000, 5: 500000 };
/** Attempts of one payment whose outcome stays unknown (no answer, 502, 503 that may have applied, 504, 409). */
const ATTEMPTS_MAX = 4;
/** The share of payments sent twice on purpose. */
const DOUBLE_TAP_SHARE = 0.1;

// 422 (a payment past the limit) is an answer, not a failure.
http.setResponseCallback(http.expectedStatuses(200, 422));

function rampingRate(target, execName) {
  return {
    executor: 'ramping-arrival-rate',
    exec: execName,
    startTime: '2s',
    startRate: 1,
    timeUnit: '1s',
    preAllocatedVUs: Math.max(10, Math.ceil(target / 4)),
    maxVUs: target * 4,
    stages: [
      { duration: seconds(60), target },
      { duration: seconds(60), target },
    ],
  };
}

export const options = {
  scenarios: {
    pix: rampingRate(120, 'pix'),
    comerciante: rampingRate(40, 'comerciante'),
    extratos: {
      executor: 'constant-arrival-rate',
      exec: 'extrato',
      startTime: '2s',
      rate: 5,
      timeUnit: '1s',
      duration: seconds(120),
      preAllocatedVUs: 5,
      maxVUs: 20,
    },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(99)<250'],
    checks: ['rate==1'],
  },
};

const randomInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
const HEX = '0123456789abcdef';
const randomKey = () => `pix-${exec.vu.idInTest}-${Array.from({ length: 24 }, () => HEX[randomInt(0, 15)]).join('')}`;

function json(response) {
  try {
    return JSON.parse(response.body);
  } catch (error) {
    return undefined;
  }
}

function statements() {
  const responses = http.batch(CLIENTS.map((id) => ['GET', `${BASE_URL}/clientes/${id}/extrato`]));
  return responses.map((response) => json(response));
}

function totalOf(bodies) {
  return bodies.reduce((sum, body) => sum + (body === undefined ? NaN : body.saldo.total), 0);
}

export function setup() {
  const total = totalOf(statements());
  if (!Number.isFinite(total)) throw new Error(`could not read the five statements at ${BASE_URL}`);
  return { total };
}

/** Whether an answer leaves the payment's outcome unknown, so that it is sent again with its key. */
function unknownOutcome(response) {
  if ([0, 409, 502, 504].includes(response.status)) return true;
  if (response.status !== 503) return false;
  const body = json(response);
  return body === undefined || body.pode_ter_sido_aplicada !== false;
}

function send(from, body, key) {
  return http.post(`${BASE_URL}/clientes/${from}/transferencias`, body, {
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    tags: { name: 'transferencia' },
  });
}

function pay(from, to) {
  const key = randomKey();
  const body = JSON.stringify({ para: to, valor: randomInt(1, 5000), descricao: 'pix' });
  let response = send(from, body, key);
  for (let attempt = 1; attempt < ATTEMPTS_MAX && unknownOutcome(response); attempt++) response = send(from, body, key);
  const answer = json(response);
  check(response, {
    'pix: 200 or 422 limite_excedido': (r) =>
      r.status === 200 || (r.status === 422 && answer !== undefined && answer.erro === 'limite_excedido'),
    'pix: a 200 names its transfer and keeps the payer within its limit': (r) =>
      r.status !== 200 ||
      (answer !== undefined &&
        answer.transferencia > 0 &&
        answer.limite === LIMITS[from] &&
        answer.saldo >= -answer.limite),
  });
  if (Math.random() < DOUBLE_TAP_SHARE && (response.status === 200 || response.status === 422)) {
    const again = send(from, body, key);
    check(again, {
      'pix: a double tap is answered the same bytes, marked replayed': (r) =>
        r.status === response.status && r.body === response.body && r.headers['Idempotent-Replayed'] === 'true',
    });
  }
}

export function pix() {
  const from = CLIENTS[randomInt(0, CLIENTS.length - 1)];
  const others = CLIENTS.filter((id) => id !== from);
  pay(from, others[randomInt(0, others.length - 1)]);
}

export function comerciante() {
  pay(randomInt(1, MERCHANT - 1), MERCHANT);
}

export function extrato() {
  const response = http.get(`${BASE_URL}/clientes/${randomInt(1, 5)}/extrato`, { tags: { name: 'extrato' } });
  const body = json(response);
  check(response, {
    'extrato: 200 within the limit': (r) =>
      r.status === 200 && body !== undefined && body.saldo.total >= -body.saldo.limite,
  });
}

export function teardown(data) {
  const total = totalOf(statements());
  check(total, {
    'conservation: the five balances sum to what they summed to at the start': (value) => value === data.total,
  });
}
