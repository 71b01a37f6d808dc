// The bench's one seam for HTTP load: a scenario says what to send, at what
// concurrency (and rate), for how long; a generator sends it and hands back
// what it saw. Today's generator is autocannon in this process
// (autocannon-load.ts); another (wrk, several processes) replaces it by
// implementing LoadGenerator, and nothing else in the bench changes.

import type { LatencyHistogram } from './latency-histogram.js';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** JSON, for a POST. */
  body?: string;
}

export interface LoadPlan {
  /** The service's base URL, e.g. http://127.0.0.1:9999. */
  url: string;
  connections: number;
  durationSeconds: number;
  /** Offered load in requests per second across all connections; unset: as fast as answered. */
  overallRate: number | undefined;
  /** Called once per request: what to send next. */
  nextRequest: () => LoadRequest;
}

export interface LoadOutcome {
  /** One latency per answered request. */
  latency: LatencyHistogram;
  /** Answers by HTTP status code. */
  statusCounts: Record<string, number>;
  /** Requests that got no answer: connection errors and timeouts. */
  errors: number;
}

export type LoadGenerator = (plan: LoadPlan) => Promise<LoadOutcome>;
