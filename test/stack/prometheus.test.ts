// A real Prometheus (Debian's package) scrapes every instance of a real
// stack, started with CREBITO_PROMETHEUS=on: the test sends known traffic
// through nginx, then asks Prometheus's HTTP API what it saw.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/stack/paths.js';
import { waitFor } from '../../src/shared/wait.js';
import { findPrometheus } from '../../src/stack/prometheus.js';
import { PublisherMetrics } from '../../src/events/publisher/metrics.js';
import {
  freePort,
  getFromListenAddress,
  makeDataDirectory,
  startStack,
  type RunningStack,
} from '../../tools/harness/stack.js';
import { getStatement, postTransaction } from '../support/http.js';
import { LEAN_STACK } from '../support/lean-stack.js';

let stack: RunningStack;
let prometheusUrl: string;

beforeAll(async () => {
  if (findPrometheus() === undefined)
    throw new Error('prometheus is not installed (Debian/Ubuntu: apt-get install prometheus)');
  const prometheusPort = await freePort();
  stack = await startStack({
    port: await freePort(),
    dataDirectory: makeDataDirectory(),
    environment: {
      ...LEAN_STACK,
      CREBITO_PROMETHEUS: 'on',
      CREBITO_PROMETHEUS_PORT: String(prometheusPort),
      CREBITO_PROMETHEUS_SCRAPE_INTERVAL_MS: '500',
    },
  });
  prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
});

afterAll(async () => {
  await stack?.dispose();
});

/** One instant query; each result's labels and value. */
async function query(promql: string): Promise<{ labels: Record<string, string>; value: number }[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  expect(body.status).toBe('success');
  return body.data.result.map((result) => ({ labels: result.metric, value: Number(result.value[1]) }));
}

describe('Prometheus scraping every instance', () => {
  it('sees the transaction counts the test sent, and a request rate and a p99 per instance', async () => {
    expect(stack.state().prometheus?.url).toBe(prometheusUrl);
    // Prometheus applies new targets a few seconds after it starts; wait
    // until it has scraped both instances twice, so rates have two points.
    const scrapedTwice = await waitFor(async () => (await query('count_over_time(up[1m]) >= 2')).length === 2, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect(scrapedTwice).toBeDefined();
    // Every combination is exported from the start, refused credits at 0.
    const sent = { 'c applied': 30, 'c refused': 0, 'd applied': 20, 'd refused': 6 };
    // Spread over a few seconds, so that several scrapes see the traffic grow,
    // and over all five clients: nginx sends each client's transactions to
    // one home instance, and both instances must see some.
    const client = (index: number) => 1 + (index % 5);
    for (let round = 0; round < 5; round++) {
      const credits = Array.from({ length: sent['c applied'] / 5 }, (_, index) =>
        postTransaction(stack.baseUrl, client(index), { valor: 10, tipo: 'c', descricao: `c${round}-${index}` }),
      );
      const debits = Array.from({ length: sent['d applied'] / 5 }, (_, index) =>
        postTransaction(stack.baseUrl, client(index), { valor: 1, tipo: 'd', descricao: `d${round}-${index}` }),
      );
      const reads = Array.from({ length: 4 }, (_, index) => getStatement(stack.baseUrl, 3 + (index % 2)));
      for (const response of await Promise.all([...credits, ...debits, ...reads])) expect(response.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    for (let index = 0; index < sent['d refused']; index++)
      expect(
        (await postTransaction(stack.baseUrl, 2, { valor: 10_000_000, tipo: 'd', descricao: `r${index}` })).status,
      ).toBe(422);

    const seen = async () =>
      Object.fromEntries(
        (await query('sum by (tipo, result) (crebito_transactions_total)'))
          .map((series) => [`${series.labels.tipo} ${series.labels.result}`, series.value])
          .sort(([a], [b]) => String(a).localeCompare(String(b))),
      );
    const matched = await waitFor(async () => JSON.stringify(await seen()) === JSON.stringify(sent), {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect(await seen(), 'the transaction counters Prometheus scraped').toEqual(sent);
    expect(matched).toBeDefined();

    const ratePerInstance = 'sum by (api) (rate(crebito_http_requests_total{route="transacoes"}[1m]))';
    await waitFor(async () => (await query(ratePerInstance)).length === 2, { timeoutMs: 30_000, intervalMs: 250 });
    const rates = await query(ratePerInstance);
    expect(rates.map((series) => series.labels.api).sort()).toEqual(['api-1', 'api-2']);
    for (const series of rates) expect(series.value).toBeGreaterThan(0);

    const p99 = await query(
      'histogram_quantile(0.99, sum by (le, api) (rate(crebito_http_request_duration_seconds_bucket{route="transacoes"}[1m])))',
    );
    expect(p99.map((series) => series.labels.api).sort()).toEqual(['api-1', 'api-2']);
    for (const series of p99) {
      expect(Number.isFinite(series.value)).toBe(true);
      expect(series.value).toBeGreaterThan(0);
    }
    console.log(
      `prometheus: p99 of POST /transacoes per instance: ${p99.map((series) => `${series.labels.api} ${(series.value * 1000).toFixed(2)} ms`).join(', ')}`,
    );
  });
});

describe('the Grafana dashboard (observability/grafana/dashboards/crebito.json)', () => {
  const dashboard = JSON.parse(
    fs.readFileSync(path.join(PROJECT_ROOT, 'observability', 'grafana', 'dashboards', 'crebito.json'), 'utf8'),
  ) as { panels: { title: string; targets: { expr: string }[] }[] };
  const expressions = dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })),
  );

  /** Every series name an instance (or the change stream's publisher) exports, histograms with their _bucket, _sum and _count. */
  async function exportedNames(): Promise<Set<string>> {
    const admin = stack.state().instances[0]!.admin!;
    const text = (await getFromListenAddress(admin, '/metrics', 5000))!.body + (await new PublisherMetrics().render());
    const names = new Set<string>();
    for (const [, name, kind] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      names.add(name!);
      if (kind === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
    return names;
  }

  it('names only metrics an instance really exports, in every expression', async () => {
    const exported = await exportedNames();
    expect(expressions.length).toBeGreaterThan(10);
    for (const { panel, expr } of expressions) {
      const named = [...expr.matchAll(/\b((?:crebito|nodejs|process)_[a-z0-9_]+)\b/g)].map((match) => match[1]!);
      expect(named.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of named) expect(exported.has(name), `${panel}: ${name} is not exported`).toBe(true);
    }
  });

  it('has expressions the real Prometheus accepts', async () => {
    for (const { panel, expr } of expressions) {
      const response = await fetch(
        `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr.replaceAll('$__rate_interval', '1m'))}`,
      );
      expect(response.status, `${panel}: ${expr}: ${await response.clone().text()}`).toBe(200);
      expect((await response.json()).status).toBe('success');
    }
  });
});
