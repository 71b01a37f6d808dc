// The bench's one seam for HTTP load: a scenario says what to send, under
// which load model, for how long; a generator sends it and hands back what it
// saw. Two generators implement it:
//
//   wrk-load.ts    wrk (C, epoll), closed model only: the saturation runs.
//                  The cheapest sender per request there is, so the
//                  generator takes as little as possible of the two cores
//                  it shares with the service.
//   node-load.ts   our own, in worker threads, closed and open model: the
//                  fixed-arrival-rate latency runs (wrk has no open model),
//                  and the calibration's second, independent opinion of the
//                  floor wrk measured.

import type { LatencyHistogram, LatencySummary } from './latency-histogram.js';

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** JSON, for a POST. */
  body?: string;
  /** An Authorization header (CREBITO_AUTH=keys; tools/bench/auth-cost.ts), else none. */
  authorization?: string;
}

/**
 * closed: a fixed number of connections, each sending its next request as
 * soon as the previous one is answered (a slow answer slows the load: how
 * saturation is measured). open: requests arrive at a fixed rate whatever
 * the answers do, as k6's arrival-rate executors and Gatling send them, each
 * on a new connection (as the public test does) or on a free kept-alive one.
 */
export type LoadModel =
  { kind: 'closed'; connections: number } | { kind: 'open'; ratePerSecond: number; connection: 'new' | 'keep-alive' };

export interface LoadPlan {
  /** The service's base URL, e.g. http://127.0.0.1:9999. */
  url: string;
  model: LoadModel;
  durationSeconds: number;
  /** What to send: each sender goes through them in turn from its own place, and around again. */
  requests: LoadRequest[];
}

/** One answer, for the list of the slowest: its latency, when it came (ISO 8601, to the millisecond), its status. */
export interface SlowAnswer {
  latencyMs: number;
  answeredAt: string;
  status: number;
}

const SLOWEST_KEPT = 10;

/** The slowest answers, slowest first, at most SLOWEST_KEPT: when they came, to line up with the stack's logs. */
export function keepSlowest(slowest: SlowAnswer[], answer: SlowAnswer): void {
  if (slowest.length === SLOWEST_KEPT && answer.latencyMs <= slowest[SLOWEST_KEPT - 1]!.latencyMs) return;
  let index = slowest.findIndex((kept) => kept.latencyMs < answer.latencyMs);
  if (index === -1) index = slowest.length;
  slowest.splice(index, 0, answer);
  if (slowest.length > SLOWEST_KEPT) slowest.pop();
}

export interface LoadOutcome {
  /** Our own generator: its slowest answers, slowest first. */
  slowest?: SlowAnswer[];
  /** One latency per answered request: from when it was sent (a new connection's connect included) to its last byte. */
  latency: LatencySummary;
  /** Our own generator: those latencies themselves, so that runs can be pooled. */
  latencyHistogram?: LatencyHistogram;
  /** Open model: how long after its planned time each request was sent (the generator's own lateness). */
  sendLag: LatencySummary | undefined;
  /** Answers by HTTP status code. */
  statusCounts: Record<string, number>;
  /** Requests that got no answer: connection errors and timeouts. */
  errors: number;
  /** How long the load ran, for the throughput. */
  elapsedSeconds: number;
}

export interface LoadGenerator {
  /** How the report names it, e.g. "wrk 4.1.0". */
  name: string;
  models: ReadonlySet<LoadModel['kind']>;
  run(plan: LoadPlan): Promise<LoadOutcome>;
}

/** The generator for a plan, refusing one that cannot run its model. */
export function checkModel(generator: LoadGenerator, model: LoadModel): void {
  if (!generator.models.has(model.kind)) throw new Error(`${generator.name} cannot run the ${model.kind} model`);
}
