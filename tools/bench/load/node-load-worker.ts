// One worker thread of the bench's own load generator (node-load.ts starts
// them): its share of the connections (closed model) or of the arrival rate
// (open model), its own event loop, its own histograms, handed back whole.
//
// Open model: request k is planned at start + k / rate. A timer wakes the
// loop when the next one is due, and every request due by then is sent at
// once, each timed from the moment it is sent; how late that was against
// its plan is recorded apart, as the generator's own lateness. A request
// that finds no free connection waits in a queue, and its wait counts in
// its latency: slow answers cannot hide by slowing the arrivals.

import { parentPort, workerData } from 'node:worker_threads';
import { HttpConnection } from './http-connection.js';
import { LatencyHistogram, type HistogramSnapshot } from './latency-histogram.js';
import { keepSlowest, type LoadModel, type SlowAnswer } from './load-generator.js';

/** How long requests still in flight when the load stops may take before they count as unanswered. */
const DRAIN_TIMEOUT_MS = 10_000;
/** A closed-model connection that failed tries again after this, so a refusing server is not spun on. */
const RECONNECT_DELAY_MS = 10;
/** Open model: at most this many connections per worker (k6's maxVUs, in effect); later arrivals wait for one. */
const OPEN_CONNECTIONS_MAX = 1024;
/**
 * Open model, kept-alive connections: opened before the first arrival, as
 * many as the rate needs if answers took this long (k6's preAllocatedVUs),
 * so the first second does not measure a burst of connection set-ups.
 */
const WARM_LATENCY_MS = 5;

export interface WorkerTask {
  host: string;
  port: number;
  model: LoadModel;
  durationMs: number;
  /** Date.now() at which every worker starts, so their loads line up. */
  startAtEpochMs: number;
  requests: Uint8Array[];
  /** Where in `requests` this worker begins. */
  firstRequest: number;
}

export interface WorkerResult {
  latency: HistogramSnapshot;
  sendLag: HistogramSnapshot;
  statusCounts: Record<string, number>;
  errors: number;
  slowest: SlowAnswer[];
}

class Tally {
  readonly latency = new LatencyHistogram();
  readonly sendLag = new LatencyHistogram();
  readonly statusCounts: Record<string, number> = {};
  errors = 0;
  private next: number;

  constructor(private readonly task: WorkerTask) {
    this.next = task.firstRequest;
  }

  nextRequest(): Uint8Array {
    const request = this.task.requests[this.next % this.task.requests.length]!;
    this.next++;
    return request;
  }

  answered(status: number, sentAt: number): void {
    const latencyMs = performance.now() - sentAt;
    this.latency.record(latencyMs);
    this.statusCounts[status] = (this.statusCounts[status] ?? 0) + 1;
    keepSlowest(this.slowest, { latencyMs, answeredAt: new Date().toISOString(), status });
  }

  readonly slowest: SlowAnswer[] = [];

  result(): WorkerResult {
    return {
      latency: this.latency.snapshot(),
      sendLag: this.sendLag.snapshot(),
      statusCounts: this.statusCounts,
      errors: this.errors,
      slowest: this.slowest,
    };
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The connections with an answer outstanding. When the load stops, they
 * have DRAIN_TIMEOUT_MS to answer; whatever has not by then counts as an
 * error, so one lost answer cannot hang the bench.
 */
class InFlight {
  private readonly busy = new Set<HttpConnection>();
  private idle: (() => void) | undefined;

  add(connection: HttpConnection): void {
    this.busy.add(connection);
  }

  done(connection: HttpConnection): void {
    this.busy.delete(connection);
    if (this.busy.size === 0) this.idle?.();
  }

  /** Resolves with how many were still unanswered at the deadline (and closes them). */
  async drain(): Promise<number> {
    if (this.busy.size > 0) {
      const emptied = new Promise<void>((resolve) => {
        this.idle = resolve;
      });
      await Promise.race([emptied, delay(DRAIN_TIMEOUT_MS)]);
    }
    const unanswered = this.busy.size;
    for (const connection of this.busy) connection.close();
    this.busy.clear();
    return unanswered;
  }
}

/** Each connection sends its next request as soon as the previous one is answered, until the end. */
async function runClosed(task: WorkerTask, tally: Tally, connections: number, endAt: number): Promise<void> {
  const address = { host: task.host, port: task.port };
  const inFlight = new InFlight();
  const sender = () => {
    let sentAt = 0;
    const send = (connection: HttpConnection) => {
      if (performance.now() >= endAt) return connection.close();
      sentAt = performance.now();
      inFlight.add(connection);
      connection.send(tally.nextRequest());
    };
    const connect = (): HttpConnection => {
      const connection: HttpConnection = new HttpConnection(address, {
        onAnswer: (status, reusable) => {
          tally.answered(status, sentAt);
          inFlight.done(connection);
          send(reusable ? connection : connect());
        },
        onFailure: () => {
          tally.errors++;
          inFlight.done(connection);
          if (performance.now() < endAt) void delay(RECONNECT_DELAY_MS).then(() => send(connect()));
        },
      });
      return connection;
    };
    send(connect());
  };
  for (let index = 0; index < connections; index++) sender();
  await delay(endAt - performance.now());
  tally.errors += await inFlight.drain();
}

interface Lane {
  connection: HttpConnection;
  /** When its current request was sent (or began to wait for a connection). */
  sentAt: number;
  busy: boolean;
}

/** Requests at their planned times, each on a connection of its own or on a free kept-alive one. */
async function runOpen(
  task: WorkerTask,
  tally: Tally,
  model: Extract<LoadModel, { kind: 'open' }>,
  startAt: number,
): Promise<void> {
  const address = { host: task.host, port: task.port };
  const reuse = model.connection === 'keep-alive';
  const inFlight = new InFlight();
  const idle = new Set<Lane>();
  const waiting: { request: Uint8Array; sentAt: number }[] = [];
  let lanes = 0;
  const settle = (lane: Lane, keep: boolean) => {
    lane.busy = false;
    inFlight.done(lane.connection);
    if (keep) idle.add(lane);
    else {
      lane.connection.close();
      lanes--;
    }
    const next = waiting.shift();
    if (next !== undefined) dispatch(next.request, next.sentAt);
  };
  const open = (): Lane => {
    lanes++;
    const lane = { sentAt: 0, busy: false } as Lane;
    lane.connection = new HttpConnection(address, {
      onAnswer: (status, reusable) => {
        tally.answered(status, lane.sentAt);
        settle(lane, reuse && reusable);
      },
      onFailure: () => {
        if (lane.busy) {
          tally.errors++;
          settle(lane, false);
        } else if (idle.delete(lane)) lanes--; // an idle kept-alive connection the server closed
      },
    });
    return lane;
  };
  const dispatch = (request: Uint8Array, sentAt: number) => {
    const lane = takeOne(idle) ?? (lanes < OPEN_CONNECTIONS_MAX ? open() : undefined);
    if (lane === undefined) return void waiting.push({ request, sentAt });
    lane.busy = true;
    lane.sentAt = sentAt;
    inFlight.add(lane.connection);
    lane.connection.send(request);
  };
  if (reuse)
    for (let warm = Math.ceil((model.ratePerSecond * WARM_LATENCY_MS) / 1000); warm > 0; warm--) idle.add(open());
  await arrivals(model.ratePerSecond, startAt, task.durationMs, tally.sendLag, (sentAt) =>
    dispatch(tally.nextRequest(), sentAt),
  );
  tally.errors += waiting.length + (await inFlight.drain());
  waiting.length = 0;
  for (const lane of idle) lane.connection.close();
}

function takeOne<T>(set: Set<T>): T | undefined {
  const first = set.values().next();
  if (first.done === true) return undefined;
  set.delete(first.value);
  return first.value;
}

/**
 * Calls send(now) once per planned arrival, from startAt for durationMs, at
 * ratePerSecond. Timers wake late (a millisecond is common); every arrival
 * due by the time one wakes is sent then, and its lateness recorded.
 */
function arrivals(
  ratePerSecond: number,
  startAt: number,
  durationMs: number,
  lateness: LatencyHistogram,
  send: (now: number) => void,
): Promise<void> {
  const intervalMs = 1000 / ratePerSecond;
  // Rounded: rate × duration is meant whole (60/s for 2 s is 120), floating point may make it 119.99….
  const total = Math.round((durationMs / 1000) * ratePerSecond);
  let sent = 0;
  return new Promise((resolve) => {
    const wake = () => {
      for (let now = performance.now(); sent < total && startAt + sent * intervalMs <= now; now = performance.now()) {
        lateness.record(now - (startAt + sent * intervalMs));
        sent++;
        send(now);
      }
      if (sent === total) return resolve();
      setTimeout(wake, Math.max(0, startAt + sent * intervalMs - performance.now()));
    };
    setTimeout(wake, Math.max(0, startAt - performance.now()));
  });
}

async function run(task: WorkerTask): Promise<WorkerResult> {
  const tally = new Tally(task);
  // A worker that booted late starts at once, still for the whole duration, so the rate holds.
  const startAt = performance.now() + Math.max(0, task.startAtEpochMs - Date.now());
  if (task.model.kind === 'closed') {
    await delay(startAt - performance.now());
    await runClosed(task, tally, task.model.connections, startAt + task.durationMs);
  } else {
    await runOpen(task, tally, task.model, startAt);
  }
  return tally.result();
}

run(workerData as WorkerTask).then(
  (result) => parentPort!.postMessage(result),
  (error: unknown) => {
    throw error;
  },
);
