// Latencies of one benchmark scenario in a fixed amount of memory, however
// long it runs. A list of every latency grows with the run (an hour at 10k
// req/s is 36 million numbers); this histogram is a few thousand counters.
//
// Log-linear buckets, in the manner of HdrHistogram: every value below 256 µs
// has a bucket of its own (1 µs resolution, where a local service answers),
// and each power of two above that is split into 128 equal buckets, so a
// reported percentile is within 1/256 of the true latency (1 µs below 256 µs).

const SUB_BUCKET_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** The longest latency told apart from longer ones; longer ones count as this. */
export const LATENCY_MAX_US = 60_000_000;

function bucketIndex(microseconds: number): number {
  // Bits beyond the 8 that a bucket keeps: 0 below 256 µs.
  const shift = Math.max(0, 32 - Math.clz32(microseconds) - (SUB_BUCKET_BITS + 1));
  return SUB_BUCKETS * shift + (microseconds >>> shift);
}

/** The middle of a bucket, in microseconds: what every value in it is reported as. */
function bucketMiddleUs(index: number): number {
  if (index < 2 * SUB_BUCKETS) return index;
  const shift = Math.floor(index / SUB_BUCKETS) - 1;
  const lowest = (index - SUB_BUCKETS * shift) * 2 ** shift;
  return lowest + (2 ** shift - 1) / 2;
}

const BUCKET_COUNT = bucketIndex(LATENCY_MAX_US) + 1;

/** What the report keeps of a run's latencies, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** A histogram as it crosses a thread boundary (a worker of the load generator hands back its own). */
export interface HistogramSnapshot {
  counts: Float64Array;
  clamped: number;
  maxMs: number;
}

export class LatencyHistogram {
  // Float64 rather than Uint32: counts stay exact past 4 billion requests.
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  /** Latencies above LATENCY_MAX_US, recorded as that. */
  clamped = 0;
  /** The longest latency recorded, exactly (not a bucket's middle). */
  maxMs = 0;

  static fromSnapshot(snapshot: HistogramSnapshot): LatencyHistogram {
    if (snapshot.counts.length !== BUCKET_COUNT)
      throw new Error(`a histogram snapshot has ${BUCKET_COUNT} buckets, got ${snapshot.counts.length}`);
    const histogram = new LatencyHistogram();
    histogram.counts.set(snapshot.counts);
    for (const count of snapshot.counts) histogram.total += count;
    histogram.clamped = snapshot.clamped;
    histogram.maxMs = snapshot.maxMs;
    return histogram;
  }

  get count(): number {
    return this.total;
  }

  /** Bytes the counters take; the same before and after any number of records. */
  get byteLength(): number {
    return this.counts.byteLength;
  }

  record(milliseconds: number): void {
    if (!(milliseconds >= 0)) throw new Error(`latency must be a number >= 0, got ${milliseconds}`);
    let microseconds = Math.round(milliseconds * 1000);
    if (microseconds > LATENCY_MAX_US) {
      microseconds = LATENCY_MAX_US;
      this.clamped++;
    }
    this.counts[bucketIndex(microseconds)]!++;
    this.total++;
    if (milliseconds > this.maxMs) this.maxMs = milliseconds;
  }

  /** Adds every latency another histogram recorded, as if recorded here. */
  add(other: LatencyHistogram): void {
    const snapshot = other.snapshot();
    for (let index = 0; index < BUCKET_COUNT; index++) this.counts[index]! += snapshot.counts[index]!;
    this.total += other.count;
    this.clamped += other.clamped;
    this.maxMs = Math.max(this.maxMs, other.maxMs);
  }

  /** A copy of the counters, to send to another thread. */
  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), clamped: this.clamped, maxMs: this.maxMs };
  }

  /**
   * The latency in milliseconds below which `fraction` of the requests fall:
   * the value at rank floor(fraction × count) in ascending order, as a sorted
   * list of every latency would give it. 0 when nothing was recorded.
   */
  percentileMs(fraction: number): number {
    if (!(fraction >= 0 && fraction <= 1)) throw new Error(`fraction must be within 0..1, got ${fraction}`);
    if (this.total === 0) return 0;
    const rank = Math.min(this.total - 1, Math.floor(fraction * this.total));
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index++) {
      seen += this.counts[index]!;
      if (seen > rank) return bucketMiddleUs(index) / 1000;
    }
    throw new Error('unreachable: the counts add up to less than the total');
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      p50: this.percentileMs(0.5),
      p90: this.percentileMs(0.9),
      p99: this.percentileMs(0.99),
      p999: this.percentileMs(0.999),
      max: this.maxMs,
    };
  }
}
