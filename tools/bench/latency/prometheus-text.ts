// Reads what the bench needs from the instances' /metrics: a histogram's
// cumulative buckets and a counter's value, summed over instances, so that
// two scrapes around a run give what happened in the run alone.

/** Cumulative count per upper bound (seconds; Infinity for +Inf), summed over every series that matches. */
export type Buckets = Map<number, number>;

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)$/;

function labelsOf(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of (text ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]!] = match[2]!;
  return labels;
}

/** Every sample of `name` whose labels include `match`, with its labels. */
export function samples(
  text: string,
  name: string,
  match: Record<string, string> = {},
): { labels: Record<string, string>; value: number }[] {
  const found: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const parsed = LINE.exec(line.trim());
    if (parsed === null || parsed[1] !== name) continue;
    const labels = labelsOf(parsed[2]);
    if (Object.entries(match).every(([key, value]) => labels[key] === value))
      found.push({ labels, value: Number(parsed[3]) });
  }
  return found;
}

export function bucketsOf(text: string, histogram: string, match: Record<string, string> = {}): Buckets {
  const buckets: Buckets = new Map();
  for (const { labels, value } of samples(text, `${histogram}_bucket`, match)) {
    const bound = labels.le === '+Inf' ? Infinity : Number(labels.le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value);
  }
  return buckets;
}

export function sumOf(text: string, name: string, match: Record<string, string> = {}): number {
  return samples(text, name, match).reduce((sum, sample) => sum + sample.value, 0);
}

/** after - before, bucket by bucket: the run alone. */
export function bucketsBetween(before: Buckets, after: Buckets): Buckets {
  const between: Buckets = new Map();
  for (const [bound, count] of after) between.set(bound, count - (before.get(bound) ?? 0));
  return between;
}

/**
 * The upper bound of the bucket holding the fraction's rank: the
 * percentile is at most this (histogram buckets cannot say more). undefined
 * when the buckets counted nothing.
 */
export function percentileBound(buckets: Buckets, fraction: number): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total <= 0) return undefined;
  const rank = Math.min(total - 1, Math.floor(fraction * total));
  for (const bound of bounds) if (buckets.get(bound)! > rank) return bound;
  return Infinity;
}
