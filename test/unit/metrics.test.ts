// The instance's own metric recorders, read back in Prometheus's text format:
// cumulative buckets with Prometheus's `le` (less than or equal), sums and
// counts, and every transaction counter from the start.

import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/instance/metrics.js';
import type { ServerHealth } from '../../src/instance/http/server.js';
import type { LedgerHealth } from '../../src/instance/ledger/ledger.js';
import { OPERATION_LABELS } from '../../src/instance/operations/index.js';

const idle = { inFlight: 0, waiting: 0, shedFull: 0, shedExpired: 0, lateCalls: 0, retried: 0, retriesGivenUp: 0 };
// Built from the lists of routes and operations, as the instance builds its own.
const health = (): ServerHealth => ({
  instance: 'unit',
  pid: 1,
  inFlight: 0,
  draining: false,
  served: Object.fromEntries([...OPERATION_LABELS, 'other'].map((label) => [label, 0])) as ServerHealth['served'],
  ledger: {
    pool: { totalCount: 4, idleCount: 3, waitingCount: 0, warmCount: 4 },
    ...Object.fromEntries(OPERATION_LABELS.map((label) => [label, idle])),
    breaker: { state: 'closed', consecutiveFailures: 0, opened: 0 },
    idempotencyKeysExpired: 0,
    idempotencyExpiryPassesBehind: 0,
    keysExpired: 0,
    keyExpiryPassesBehind: 0,
    apiKeys: null,
  },
});

const line = (text: string, prefix: string) => text.split('\n').find((candidate) => candidate.startsWith(prefix));

describe('metrics', () => {
  it('counts answers by route and status, and buckets their durations cumulatively, a value on a bound in that bucket', async () => {
    const metrics = createMetrics({ enabled: true, health });
    metrics.answered('transacoes', '200 OK', 0.0002);
    metrics.answered('transacoes', '200 OK', 0.0005);
    metrics.answered('transacoes', '422 Unprocessable Entity', 0.003);
    metrics.answered('transacoes', '200 OK', 2);
    const text = await metrics.render();
    expect(line(text, 'crebito_http_requests_total{route="transacoes",status="200"}')).toMatch(/ 3$/);
    expect(line(text, 'crebito_http_requests_total{route="transacoes",status="422"}')).toMatch(/ 1$/);
    expect(line(text, 'crebito_http_request_duration_seconds_bucket{route="transacoes",le="0.00025"}')).toMatch(/ 1$/);
    expect(line(text, 'crebito_http_request_duration_seconds_bucket{route="transacoes",le="0.0005"}')).toMatch(/ 2$/);
    expect(line(text, 'crebito_http_request_duration_seconds_bucket{route="transacoes",le="0.005"}')).toMatch(/ 3$/);
    expect(line(text, 'crebito_http_request_duration_seconds_bucket{route="transacoes",le="1"}')).toMatch(/ 3$/);
    expect(line(text, 'crebito_http_request_duration_seconds_bucket{route="transacoes",le="+Inf"}')).toMatch(/ 4$/);
    expect(line(text, 'crebito_http_request_duration_seconds_count{route="transacoes"}')).toMatch(/ 4$/);
    expect(
      Number(line(text, 'crebito_http_request_duration_seconds_sum{route="transacoes"}')!.split(' ')[1]),
    ).toBeCloseTo(2.0037, 6);
  });

  it('exports every transaction counter from the start, and the call sizes', async () => {
    const metrics = createMetrics({ enabled: true, health });
    metrics.transaction('d', 'refused');
    metrics.callSent('transacoes', 5);
    const text = await metrics.render();
    expect(line(text, 'crebito_transactions_total{tipo="c",result="applied"}')).toMatch(/ 0$/);
    expect(line(text, 'crebito_transactions_total{tipo="d",result="refused"}')).toMatch(/ 1$/);
    expect(line(text, 'crebito_database_call_size_bucket{operation="transacoes",le="4"}')).toMatch(/ 0$/);
    expect(line(text, 'crebito_database_call_size_bucket{operation="transacoes",le="8"}')).toMatch(/ 1$/);
    expect(line(text, 'crebito_db_pool_connections{state="idle"}')).toMatch(/ 3$/);
    expect(text).toContain('# TYPE nodejs_eventloop_lag_p99_seconds gauge');
  });

  it('records nothing when off', async () => {
    const metrics = createMetrics({ enabled: false, health });
    metrics.answered('transacoes', '200 OK', 0.001);
    expect(await metrics.render()).toBe('');
  });
});
