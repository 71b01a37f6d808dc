// Owns the instance's Prometheus metrics. The request path only adds to
// plain numbers of our own (a count, a bucket of a typed array): prom-client
// hashed every label set on every increment, which measured about 6 µs of an
// instance's CPU per POST. prom-client's registry prints them when Prometheus
// scrapes, beside its default process and event-loop metrics, and beside
// everything read from the instance's own health numbers (queues, pool, the
// breaker), so none of that costs anything between scrapes; every
// per-operation series walks the ledger's list of operations. With
// CREBITO_METRICS=off every recorder is a no-op, which is how the cost of
// metrics is measured.

import client from 'prom-client';
import type { ServerHealth } from './http/server.js';
import { operationHealth } from './ledger/ledger.js';
import { CALL_LABELS } from './operations/index.js';
import { NO_TIMING, RequestTiming, type TimingRecorder } from './timing.js';

// Sub-millisecond resolution at the bottom (a local answer takes a fraction
// of one), up to the request deadline at the top.
const LATENCY_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const CALL_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000];

export interface Metrics {
  answered(route: string, statusLine: string, seconds: number): void;
  transaction(tipo: 'c' | 'd', result: 'applied' | 'refused'): void;
  transfer(result: 'applied' | 'refused'): void;
  callSent(operation: string, size: number): void;
  eventLoopDelay(seconds: number): void;
  gcPause(kind: string, seconds: number): void;
  render(): Promise<string>;
  readonly contentType: string;
  /** Each request's phases in fine buckets, served as JSON at /timing (timing.ts). */
  readonly timing: TimingRecorder;
}

const NO_METRICS: Metrics = {
  answered: () => undefined,
  transaction: () => undefined,
  transfer: () => undefined,
  callSent: () => undefined,
  eventLoopDelay: () => undefined,
  gcPause: () => undefined,
  render: async () => '',
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
  timing: NO_TIMING,
};

/**
 * A histogram the request path can afford: a count per bucket in a typed
 * array and a running sum, nothing else. Prometheus's cumulative buckets are
 * built only when it scrapes.
 */
class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let index = 0;
    while (index < this.bounds.length && value > this.bounds[index]!) index++;
    this.counts[index]! += 1;
    this.sum += value;
    this.count++;
  }
}

type MetricValue = { metricName?: string; labels: Record<string, string>; value: number };

/** A metric prom-client's registry can print, whose values come from our own counts at scrape time. */
function scraped(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  values: () => MetricValue[],
): client.Metric {
  const read = async () => ({ name, help, type, aggregator: 'sum' as const, values: values() });
  return { name, help, type, aggregator: 'sum', get: read, reset: () => undefined } as unknown as client.Metric;
}

function histogramValues(name: string, labelName: string, series: Map<string, Histogram>): MetricValue[] {
  const values: MetricValue[] = [];
  for (const [labelValue, histogram] of series) {
    let cumulative = 0;
    histogram.bounds.forEach((bound, index) => {
      cumulative += histogram.counts[index]!;
      values.push({
        metricName: `${name}_bucket`,
        labels: { [labelName]: labelValue, le: String(bound) },
        value: cumulative,
      });
    });
    values.push({
      metricName: `${name}_bucket`,
      labels: { [labelName]: labelValue, le: '+Inf' },
      value: histogram.count,
    });
    values.push({ metricName: `${name}_sum`, labels: { [labelName]: labelValue }, value: histogram.sum });
    values.push({ metricName: `${name}_count`, labels: { [labelName]: labelValue }, value: histogram.count });
  }
  return values;
}

/** The request path's own numbers: plain counts, read by Prometheus through scraped(). */
class RequestCounts {
  readonly answers = new Map<string, Map<string, number>>();
  readonly durations = new Map<string, Histogram>();
  readonly callSizes = new Map<string, Histogram>();
  readonly eventLoopDelays = new Map([['sampled', new Histogram(LATENCY_BUCKETS_SECONDS)]]);
  readonly gcPauses = new Map<string, Histogram>();
  readonly transactions = { c: { applied: 0, refused: 0 }, d: { applied: 0, refused: 0 } };
  readonly transfers = { applied: 0, refused: 0 };

  answered(route: string, statusLine: string, seconds: number): void {
    let byStatus = this.answers.get(route);
    if (byStatus === undefined) this.answers.set(route, (byStatus = new Map()));
    byStatus.set(statusLine, (byStatus.get(statusLine) ?? 0) + 1);
    let histogram = this.durations.get(route);
    if (histogram === undefined) this.durations.set(route, (histogram = new Histogram(LATENCY_BUCKETS_SECONDS)));
    histogram.observe(seconds);
  }

  callSent(operation: string, size: number): void {
    let histogram = this.callSizes.get(operation);
    if (histogram === undefined) this.callSizes.set(operation, (histogram = new Histogram(CALL_SIZE_BUCKETS)));
    histogram.observe(size);
  }

  gcPause(kind: string, seconds: number): void {
    let histogram = this.gcPauses.get(kind);
    if (histogram === undefined) this.gcPauses.set(kind, (histogram = new Histogram(LATENCY_BUCKETS_SECONDS)));
    histogram.observe(seconds);
  }

  register(registry: client.Registry): void {
    registry.registerMetric(
      scraped('crebito_http_requests_total', 'HTTP requests answered, by route and status', 'counter', () =>
        [...this.answers].flatMap(([route, byStatus]) =>
          [...byStatus].map(([statusLine, value]) => ({ labels: { route, status: statusLine.slice(0, 3) }, value })),
        ),
      ),
    );
    registry.registerMetric(
      scraped(
        'crebito_http_request_duration_seconds',
        "Time from a request's first byte to its answer, by route",
        'histogram',
        () => histogramValues('crebito_http_request_duration_seconds', 'route', this.durations),
      ),
    );
    registry.registerMetric(
      scraped(
        'crebito_transactions_total',
        'Transactions applied or refused (a debit past the limit, a credit past the largest balance), by tipo',
        'counter',
        () =>
          (['c', 'd'] as const).flatMap((tipo) =>
            (['applied', 'refused'] as const).map((result) => ({
              labels: { tipo, result },
              value: this.transactions[tipo][result],
            })),
          ),
      ),
    );
    registry.registerMetric(
      scraped(
        'crebito_transfers_total',
        "Transfers applied or refused (past the payer's limit, past the payee's largest balance, an unknown payee)",
        'counter',
        () =>
          (['applied', 'refused'] as const).map((result) => ({ labels: { result }, value: this.transfers[result] })),
      ),
    );
    registry.registerMetric(
      scraped(
        'crebito_database_call_size',
        'Requests sharing one database call (a batch: one commit for transacoes, one snapshot for extratos)',
        'histogram',
        () => histogramValues('crebito_database_call_size', 'operation', this.callSizes),
      ),
    );
    registry.registerMetric(
      scraped(
        'crebito_event_loop_delay_seconds',
        'How late the event loop ran a timer, sampled every 100 ms (stalls.ts)',
        'histogram',
        () => histogramValues('crebito_event_loop_delay_seconds', 'source', this.eventLoopDelays),
      ),
    );
    registry.registerMetric(
      scraped('crebito_gc_pause_seconds', 'Garbage collection pauses, by kind', 'histogram', () =>
        histogramValues('crebito_gc_pause_seconds', 'kind', this.gcPauses),
      ),
    );
  }
}

export function createMetrics(options: { enabled: boolean; health: () => ServerHealth; backups?: boolean }): Metrics {
  if (!options.enabled) return NO_METRICS;
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const counts = new RequestCounts();
  counts.register(registry);
  const timing = new RequestTiming();
  registerHealthGauges(registry, options.health);
  // Only where there are backups: an unset gauge would read 0, a last backup just now.
  if (options.backups === true) registerBackupGauges(registry, options.health);
  return {
    answered: (route, statusLine, seconds) => counts.answered(route, statusLine, seconds),
    transaction: (tipo, result) => {
      counts.transactions[tipo][result]++;
    },
    transfer: (result) => {
      counts.transfers[result]++;
    },
    callSent: (operation, size) => counts.callSent(operation, size),
    eventLoopDelay: (seconds) => {
      counts.eventLoopDelays.get('sampled')!.observe(seconds);
      timing.eventLoopDelay(seconds * 1000);
    },
    gcPause: (kind, seconds) => counts.gcPause(kind, seconds),
    render: () => registry.metrics(),
    contentType: registry.contentType,
    timing,
  };
}

/** Gauges and counters read from the instance's health numbers at each scrape. */
function registerHealthGauges(registry: client.Registry, health: () => ServerHealth): void {
  const gauge = gaugeMaker(registry, health);
  gauge('crebito_http_requests_in_flight', 'Requests received and not yet answered', [], (set, now) =>
    set({}, now.inFlight),
  );
  gauge(
    'crebito_requests_waiting',
    'Requests waiting to join a database call, by operation',
    ['operation'],
    (set, now) => {
      for (const operation of CALL_LABELS) set({ operation }, operationHealth(now.ledger, operation).waiting);
    },
  );
  gauge('crebito_database_calls_in_flight', 'Database calls in flight, by operation', ['operation'], (set, now) => {
    for (const operation of CALL_LABELS) set({ operation }, operationHealth(now.ledger, operation).inFlight);
  });
  gauge('crebito_db_pool_connections', 'Database connections of the pool, by state', ['state'], (set, now) => {
    set({ state: 'total' }, now.ledger.pool.totalCount);
    set({ state: 'idle' }, now.ledger.pool.idleCount);
  });
  gauge(
    'crebito_db_pool_waiting',
    'Queries waiting for a pooled connection (the batchers keep this at 0 while the database answers)',
    [],
    (set, now) => set({}, now.ledger.pool.waitingCount),
  );
  gauge('crebito_circuit_open', '1 while the circuit breaker is open (the database is not answering)', [], (set, now) =>
    set({}, now.ledger.breaker.state === 'open' ? 1 : 0),
  );
  registerHealthCounters(registry, health);
}

/** Counters read from the instance's health numbers at each scrape (each scrape sets them to the running totals). */
function registerHealthCounters(registry: client.Registry, health: () => ServerHealth): void {
  const counter = (
    name: string,
    help: string,
    labelNames: string[],
    read: (add: (labels: Record<string, string>, value: number) => void, now: ServerHealth) => void,
  ) =>
    new client.Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        read((labels, value) => this.inc(labels, value), health());
      },
    });
  counter(
    'crebito_requests_shed_total',
    'Requests answered 503 sobrecarregado without being sent, by operation and reason',
    ['operation', 'reason'],
    (add, now) => {
      for (const operation of CALL_LABELS) {
        add({ operation, reason: 'queue_full' }, operationHealth(now.ledger, operation).shedFull);
        add({ operation, reason: 'queue_wait' }, operationHealth(now.ledger, operation).shedExpired);
      }
    },
  );
  counter(
    'crebito_database_calls_late_total',
    'Database calls that missed the request deadline (their requests got 503 banco_sem_resposta)',
    ['operation'],
    (add, now) => {
      for (const operation of CALL_LABELS) add({ operation }, operationHealth(now.ledger, operation).lateCalls);
    },
  );
  counter(
    'crebito_requests_busy_retries_total',
    "Requests sent again because another database session held their client's row (sent: retried; answered 503 cliente_ocupado: gave_up), by operation",
    ['operation', 'outcome'],
    (add, now) => {
      for (const operation of CALL_LABELS) {
        add({ operation, outcome: 'retried' }, operationHealth(now.ledger, operation).retried);
        add({ operation, outcome: 'gave_up' }, operationHealth(now.ledger, operation).retriesGivenUp);
      }
    },
  );
  counter('crebito_circuit_opened_total', 'Times the circuit breaker opened', [], (add, now) =>
    add({}, now.ledger.breaker.opened),
  );
}

type GaugeMaker = (
  name: string,
  help: string,
  labelNames: string[],
  read: (set: (labels: Record<string, string>, value: number) => void, now: ServerHealth) => void,
) => unknown;

/** A gauge whose value is read from the instance's health numbers at each scrape. */
function gaugeMaker(registry: client.Registry, health: () => ServerHealth): GaugeMaker {
  return (name, help, labelNames, read) =>
    new client.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        read((labels, value) => this.set(labels, value), health());
      },
    });
}

/** The embedded database's backups, when the launcher keeps them; -1: never (no backup, nothing archived yet). */
function registerBackupGauges(registry: client.Registry, health: () => ServerHealth): void {
  const gauge = gaugeMaker(registry, health);
  const withBackups =
    (
      read: (
        set: (labels: Record<string, string>, value: number) => void,
        backups: NonNullable<ServerHealth['backups']>,
      ) => void,
    ) =>
    (set: (labels: Record<string, string>, value: number) => void, now: ServerHealth) => {
      if (now.backups !== undefined) read(set, now.backups);
    };
  gauge(
    'crebito_backup_last_good_age_seconds',
    'Seconds since the last good base backup finished (-1: none yet)',
    [],
    withBackups((set, b) => set({}, b.lastBackupAgeS ?? -1)),
  );
  gauge(
    'crebito_wal_last_archived_age_seconds',
    'Seconds since the last WAL segment was archived (pg_stat_archiver; -1: none yet)',
    [],
    withBackups((set, b) => set({}, b.lastArchivedWalAgeS ?? -1)),
  );
  gauge(
    'crebito_wal_archive_failing',
    '1 while the last WAL archive attempt failed after the last success',
    [],
    withBackups((set, b) => set({}, b.archiveFailing ? 1 : 0)),
  );
  gauge(
    'crebito_wal_archive_failures',
    "WAL archive attempts that failed since the server's statistics were reset (pg_stat_archiver)",
    [],
    withBackups((set, b) => set({}, b.archiveFailedCount)),
  );
  gauge(
    'crebito_wal_segments_waiting',
    'Whole WAL segments written and not archived yet: lost with the host if it went now',
    [],
    withBackups((set, b) => set({}, b.walSegmentsWaiting)),
  );
  gauge(
    'crebito_backup_degraded',
    "1 while backups need an operator (see /ready's degradado)",
    [],
    withBackups((set, b) => set({}, b.degraded.length > 0 ? 1 : 0)),
  );
}
