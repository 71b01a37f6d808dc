// Finds the highest arrival rate crebito sustains with p99 under a target and
// no errors, on a realistic mix: 2 debits : 1 credit, and a few statements.
//
//   k6 run load/stress.js
//   P99_TARGET_MS=10 RATE_MAX=20000 DURATION=180 k6 run load/stress.js
//   BASE_URL=http://localhost:9999 FRESH_CONNECTIONS=1 k6 run load/stress.js
//
// The arrival rate ramps linearly from RATE_START to RATE_MAX over DURATION
// seconds (an open model: requests arrive whether or not earlier ones have
// finished, so a slow server cannot slow the load down). k6 aborts the run as
// soon as p99 exceeds the target or any request fails; the rate reached at
// that moment, printed at the end as "sustained rate", is the answer. If the
// run reaches RATE_MAX without aborting, raise RATE_MAX.

import http from 'k6/http';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://localhost:9999';
const P99_TARGET_MS = Number(__ENV.P99_TARGET_MS || 10);
const RATE_START = Number(__ENV.RATE_START || 100);
const RATE_MAX = Number(__ENV.RATE_MAX || 20000);
const DURATION = Number(__ENV.DURATION || 180);
const JSON_HEADERS = { headers: { 'content-type': 'application/json' } };

// The arrival rate each iteration was scheduled at: its maximum among
// iterations that ran before the abort is the sustained rate.
const offeredRate = new Trend('offered_rate');
const inconsistencies = new Counter('inconsistencias');

http.setResponseCallback(http.expectedStatuses(200, 422));

export const options = {
  noVUConnectionReuse: __ENV.FRESH_CONNECTIONS === '1',
  scenarios: {
    mix: {
      executor: 'ramping-arrival-rate',
      startRate: RATE_START,
      timeUnit: '1s',
      preAllocatedVUs: 200,
      maxVUs: 2000,
      stages: [{ duration: `${DURATION}s`, target: RATE_MAX }],
    },
  },
  thresholds: {
    // Evaluated continuously; the first crossing ends the run.
    http_req_duration: [{ threshold: `p(99)<${P99_TARGET_MS}`, abortOnFail: true, delayAbortEval: '5s' }],
    http_req_failed: [{ threshold: 'rate==0', abortOnFail: true }],
    inconsistencias: [{ threshold: 'count==0', abortOnFail: true }],
  },
  summaryTrendStats: ['avg', 'p(50)', 'p(90)', 'p(99)', 'max'],
};

const randomInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
const startedAt = Date.now();

export default function () {
  const elapsedSeconds = (Date.now() - startedAt) / 1000;
  offeredRate.add(Math.min(RATE_MAX, RATE_START + (RATE_MAX - RATE_START) * (elapsedSeconds / DURATION)));

  const id = randomInt(1, 5);
  const roll = Math.random();
  if (roll < 0.05) {
    const response = http.get(`${BASE_URL}/clientes/${id}/extrato`);
    check(response, { 'extrato 200': (r) => r.status === 200 });
    return;
  }
  const tipo = roll < 0.05 + 0.95 * (2 / 3) ? 'd' : 'c';
  const response = http.post(
    `${BASE_URL}/clientes/${id}/transacoes`,
    JSON.stringify({ valor: randomInt(1, 10000), tipo, descricao: 'stress' }),
    JSON_HEADERS,
  );
  check(response, { 'transacao 200 ou 422': (r) => r.status === 200 || (tipo === 'd' && r.status === 422) });
  if (response.status === 200) {
    const body = JSON.parse(response.body);
    if (body.saldo < -body.limite) inconsistencies.add(1);
  }
}

export function handleSummary(data) {
  const rate = data.metrics.offered_rate?.values?.max ?? 0;
  const p99 = data.metrics.http_req_duration?.values?.['p(99)'] ?? 0;
  const line = `sustained rate: ${rate.toFixed(0)} requests/s (p99 ${p99.toFixed(2)} ms, target ${P99_TARGET_MS} ms)\n`;
  return { stdout: line + JSON.stringify({ sustainedRate: rate, p99 }, null, 2) + '\n' };
}
