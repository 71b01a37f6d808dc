// Owns folding repeated log lines: under stress the same warning (a slow
// request, nginx's line for each refused body) comes hundreds of times a
// second, and the log becomes a load of its own. The first line of a kind in
// each interval is written as it comes; the rest of that interval are only
// counted, and one line at the interval's end says how many there were.
// Metrics count every event exactly; only the log is folded.

/** How long repeats of one kind are counted before one line tells their number. */
export const REPEATS_INTERVAL_MS = 10_000;
/** Kinds tracked in one interval; past it, new kinds are counted under one. */
const KINDS_MAX = 1000;
const OTHER_KINDS = '(other kinds)';

export interface Repeats {
  /** Writes the event with `write` when it is the first of its kind this interval, else counts it. */
  note(kind: string, write: () => void): void;
  /** Reports what was counted, as the interval's end would. */
  flush(): void;
  stop(): void;
}

export function foldRepeats(
  report: (kind: string, repeats: number, intervalMs: number) => void,
  intervalMs = REPEATS_INTERVAL_MS,
): Repeats {
  let counts = new Map<string, number>();
  const flush = () => {
    const ended = counts;
    counts = new Map();
    for (const [kind, repeats] of ended) if (repeats > 0) report(kind, repeats, intervalMs);
  };
  const timer = setInterval(flush, intervalMs);
  timer.unref();
  return {
    note(kind, write) {
      const known = counts.has(kind) ? kind : counts.size >= KINDS_MAX ? OTHER_KINDS : undefined;
      if (known === undefined) {
        counts.set(kind, 0);
        write();
        return;
      }
      counts.set(known, (counts.get(known) ?? 0) + 1);
    },
    flush,
    stop() {
      clearInterval(timer);
      flush();
    },
  };
}
