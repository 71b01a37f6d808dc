// Owns the instance's Prometheus metrics (prom-client). The request path only
// touches pre-bound children (a counter to increment, a histogram to observe);
// everything else (queues, pools, the breaker) is read from the instance's
// own health numbers when Prometheus scrapes, so it costs nothing between
// scrapes. With CREBITO_METRICS=off every recorder is a no-op, which is how
// the cost of metrics is measured.

import client from 'prom-client';
import type { ServerHealth } from './server.js';

/** The label of each route; a request matching none is 'other'. */
export type RouteName = 'transacoes' | 'extrato' | 'historico' | 'health' | 'ready' | 'metrics' | 'docs' | 'other';
export type Operation = 'transacoes' | 'extratos';

// Sub-millisecond resolution at the bottom (a local answer takes a fraction
// of one), up to the request deadline at the top.
const LATENCY_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const CALL_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000];

export interface Metrics {
  answered(route: RouteName, statusLine: string, seconds: number): void;
  transaction(tipo: 'c' | 'd', result: 'applied' | 'refused'): void;
  callSent(operation: Operation, size: number): void;
  render(): Promise<string>;
  readonly contentType: string;
}

const NO_METRICS: Metrics = {
  answered: () => undefined,
  transaction: () => undefined,
  callSent: () => undefined,
  render: async () => '',
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
};

export function createMetrics(options: { enabled: boolean; health: () => ServerHealth }): Metrics {
  if (!options.enabled) return NO_METRICS;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const requests = new client.Counter({ name: 'crebito_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'], registers: [registry] });
  const duration = new client.Histogram({ name: 'crebito_http_request_duration_seconds', help: 'Time from a request\'s first byte to its answer, by route', labelNames: ['route'], buckets: LATENCY_BUCKETS_SECONDS, registers: [registry] });
  const transactions = new client.Counter({ name: 'crebito_transactions_total', help: 'Transactions applied or refused (a debit past the limit, a credit past the largest balance), by tipo', labelNames: ['tipo', 'result'], registers: [registry] });
  const callSize = new client.Histogram({ name: 'crebito_database_call_size', help: 'Requests sharing one database call (a shared commit for transacoes, one snapshot for extratos)', labelNames: ['operation'], buckets: CALL_SIZE_BUCKETS, registers: [registry] });
  registerHealthGauges(registry, options.health);

  const requestChildren = new Map<string, client.Counter.Internal>();
  const durationChildren = new Map<string, client.Histogram.Internal<'route'>>();
  return {
    answered(route, statusLine, seconds) {
      const key = `${route} ${statusLine}`;
      let counter = requestChildren.get(key);
      if (counter === undefined) requestChildren.set(key, counter = requests.labels(route, statusLine.slice(0, 3)));
      counter.inc();
      let histogram = durationChildren.get(route);
      if (histogram === undefined) durationChildren.set(route, histogram = duration.labels(route));
      histogram.observe(seconds);
    },
    transaction: (tipo, result) => transactions.labels(tipo, result).inc(),
    callSent: (operation, size) => callSize.labels(operation).observe(size),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}

/** Gauges and counters read from the instance's health numbers at each scrape. */
function registerHealthGauges(registry: client.Registry, health: () => ServerHealth): void {
  const gauge = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, value: number) => void, now: ServerHealth) => void) =>
    new client.Gauge({ name, help, labelNames, registers: [registry], collect() { read((labels, value) => this.set(labels, value), health()); } });
  gauge('crebito_http_requests_in_flight', 'Requests received and not yet answered', [], (set, now) => set({}, now.inFlight));
  gauge('crebito_requests_waiting', 'Requests waiting to join a database call, by operation', ['operation'], (set, now) => {
    set({ operation: 'transacoes' }, now.ledger.transacoes.waiting);
    set({ operation: 'extratos' }, now.ledger.extratos.waiting);
  });
  gauge('crebito_database_calls_in_flight', 'Database calls in flight, by operation', ['operation'], (set, now) => {
    set({ operation: 'transacoes' }, now.ledger.transacoes.inFlight);
    set({ operation: 'extratos' }, now.ledger.extratos.inFlight);
  });
  gauge('crebito_db_pool_connections', 'Database connections of the pool, by state', ['state'], (set, now) => {
    set({ state: 'total' }, now.ledger.pool.totalCount);
    set({ state: 'idle' }, now.ledger.pool.idleCount);
  });
  gauge('crebito_db_pool_waiting', 'Queries waiting for a pooled connection (the batchers keep this at 0 while the database answers)', [], (set, now) => set({}, now.ledger.pool.waitingCount));
  gauge('crebito_circuit_open', '1 while the circuit breaker is open (the database is not answering)', [], (set, now) => set({}, now.ledger.breaker.state === 'open' ? 1 : 0));
  const counter = (name: string, help: string, labelNames: string[], read: (add: (labels: Record<string, string>, value: number) => void, now: ServerHealth) => void) =>
    new client.Counter({ name, help, labelNames, registers: [registry], collect() { this.reset(); read((labels, value) => this.inc(labels, value), health()); } });
  counter('crebito_requests_shed_total', 'Requests answered 503 sobrecarregado without being sent, by operation and reason', ['operation', 'reason'], (add, now) => {
    for (const operation of ['transacoes', 'extratos'] as const) {
      add({ operation, reason: 'queue_full' }, now.ledger[operation].shedFull);
      add({ operation, reason: 'queue_wait' }, now.ledger[operation].shedExpired);
    }
  });
  counter('crebito_database_calls_late_total', 'Database calls that missed the request deadline (their requests got 503 banco_sem_resposta)', ['operation'], (add, now) => {
    add({ operation: 'transacoes' }, now.ledger.transacoes.lateCalls);
    add({ operation: 'extratos' }, now.ledger.extratos.lateCalls);
  });
  counter('crebito_circuit_opened_total', 'Times the circuit breaker opened', [], (add, now) => add({}, now.ledger.breaker.opened));
}
