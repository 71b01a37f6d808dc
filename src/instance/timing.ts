// Owns where one request's time goes inside the instance, finely enough to
// account for a p99: per route, each request's phases (received: first byte
// to its call submitted, the body read and checked; waited: submitted to its
// database call sent, a slot or a batch; database: call sent to answer;
// replied: answer to reply written, the JSON and the write; total), and the
// event loop's lateness. The Prometheus histograms' buckets (metrics.ts) are
// too coarse for that (≤1, ≤5 ms), and finer ones would print thousands of
// lines per scrape, so these are served apart, as JSON, at the admin
// listener's /timing, for the bench (tools/bench/latency/instance-timing.ts)
// and for an operator who has to explain a percentile.
//
// Always on: a request costs three more performance.now() and a typed
// array's increment per phase, about 0.2 µs of CPU (docs/latency.md, Where
// the time goes). A request sent again (its client's row was busy) counts
// each send. The counts only grow, so a reader takes two snapshots and
// subtracts them.

// Every value below 128 µs has a bucket of its own; each power of two above
// is split into 64, so a bucket's upper bound is within 1/64 of any value in
// it. Up to a minute (past the request deadline): 1344 counters a series.
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
const VALUE_MAX_US = 60_000_000;

export function bucketIndexOf(microseconds: number): number {
  const shift = Math.max(0, 32 - Math.clz32(microseconds) - (SUB_BUCKET_BITS + 1));
  return SUB_BUCKETS * shift + (microseconds >>> shift);
}

/** The largest value, in µs, that bucket `index` holds. */
export function bucketUpperUs(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const lowest = (index - SUB_BUCKETS * shift) * 2 ** shift;
  return lowest + 2 ** shift - 1;
}

const BUCKET_COUNT = bucketIndexOf(VALUE_MAX_US) + 1;

/** Counts of values in fine log-linear buckets: recording is one index computation and one increment. */
export class FineHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);

  /** times: how many requests took this long (a shared call's time is each of its requests'). */
  record(milliseconds: number, times = 1): void {
    // A clock never runs backwards, but two reads of it around a phase of nothing may round to -0.
    const microseconds = Math.min(VALUE_MAX_US, Math.max(0, Math.round(milliseconds * 1000)));
    this.counts[bucketIndexOf(microseconds)]! += times;
  }

  /** The non-empty buckets as [upper bound in µs, count], in ascending order. */
  sparse(): [number, number][] {
    const found: [number, number][] = [];
    this.counts.forEach((count, index) => {
      if (count > 0) found.push([bucketUpperUs(index), count]);
    });
    return found;
  }
}

export const REQUEST_PHASES = ['received', 'waited', 'database', 'replied', 'total'] as const;
export type RequestPhase = (typeof REQUEST_PHASES)[number];

/** When a request reached each step, as performance.now(); 0 for a step it never took (a probe has no call). */
export interface RequestMoments {
  readonly startedMs: number;
  readonly submittedMs: number;
  readonly answeredMs: number;
}

export interface TimingRecorder {
  answered(route: string, moments: RequestMoments, repliedMs: number): void;
  waited(operation: string, milliseconds: number): void;
  called(operation: string, milliseconds: number, requests: number): void;
  eventLoopDelay(milliseconds: number): void;
  render(): string;
}

/** With CREBITO_METRICS=off, as every other recorder. */
export const NO_TIMING: TimingRecorder = {
  answered: () => undefined,
  waited: () => undefined,
  called: () => undefined,
  eventLoopDelay: () => undefined,
  render: () => '{}',
};

type Phases = Record<RequestPhase, FineHistogram>;

/** Per route (an answer) or per operation (a call), each phase's histogram, and the event loop's. */
export class RequestTiming implements TimingRecorder {
  // One lookup per record: each label's five histograms are made together, the first time it is seen.
  private readonly series = new Map<string, Phases>();
  private readonly loop = new FineHistogram();

  private phasesOf(label: string): Phases {
    let phases = this.series.get(label);
    if (phases === undefined) {
      phases = Object.fromEntries(REQUEST_PHASES.map((phase) => [phase, new FineHistogram()])) as Phases;
      this.series.set(label, phases);
    }
    return phases;
  }

  /** A request answered: its phases before and after its call, and its total. */
  answered(route: string, moments: RequestMoments, repliedMs: number): void {
    const phases = this.phasesOf(route);
    phases.total.record(repliedMs - moments.startedMs);
    if (moments.submittedMs === 0) return;
    phases.received.record(moments.submittedMs - moments.startedMs);
    if (moments.answeredMs === 0) return;
    phases.replied.record(repliedMs - moments.answeredMs);
  }

  /** One request's wait for its call's slot, under its operation's label. */
  waited(operation: string, milliseconds: number): void {
    this.phasesOf(operation).waited.record(milliseconds);
  }

  /** One request's call, from sent to answered, under its operation's label (once per request it carried). */
  called(operation: string, milliseconds: number, requests: number): void {
    this.phasesOf(operation).database.record(milliseconds, requests);
  }

  eventLoopDelay(milliseconds: number): void {
    this.loop.record(milliseconds);
  }

  /** What /timing serves: every series' non-empty buckets. */
  render(): string {
    const series: Record<string, Partial<Record<RequestPhase, [number, number][]>>> = {};
    for (const [label, phases] of this.series) {
      const recorded = REQUEST_PHASES.map((phase) => [phase, phases[phase].sparse()] as const);
      series[label] = Object.fromEntries(recorded.filter(([, buckets]) => buckets.length > 0));
    }
    return JSON.stringify({ unit: 'µs, bucket upper bounds', series, eventLoopDelay: this.loop.sparse() });
  }
}
