// Owns a budget of database time: a token bucket whose tokens are
// milliseconds of calls, refilled at a fixed rate, which the batcher consults
// before it sends a call of an operation that has one (the history, whose
// readers may ask pages as fast as they are answered). The one-call-in-flight
// limit bounds how many pages run at once, not how much of the machine they
// take: a reader looping on pages keeps a core of PostgreSQL busy, and two
// instances two. The budget bounds the share: over any stretch of time, the
// calls sent take at most the rate times that stretch, plus the burst.
//
// A call is charged what it measured once it is answered, so the bucket may
// go below zero by one call's cost; sends then wait until it is above zero
// again. The debt is floored (debtMsMax): a call measured far longer than
// calls of its kind cost (the machine stalled under it, a cold cache after a
// restart) pauses the next ones a bounded time, short of the queue's wait,
// rather than shedding every reader waiting behind it.

export interface TimeBudget {
  /** How long until a call may be sent: 0 when it may go now. */
  waitMs(): number;
  /** Charges a call that was answered (or given up on) after this many ms. */
  spend(ms: number): void;
}

export interface TimeBudgetOptions {
  /** Milliseconds of calls allowed per second of time. */
  msPerSecond: number;
  /** Most milliseconds saved up while idle, spent at once by the next calls. */
  burstMs: number;
  /** Most milliseconds owed after a call that cost more than there was: the longest pause is this over the rate. */
  debtMsMax: number;
  /** The clock, in ms (performance.now; a test may give its own). */
  now?: () => number;
}

const MS_PER_S = 1000;

export function createTimeBudget(options: TimeBudgetOptions): TimeBudget {
  if (!(options.msPerSecond > 0 && options.burstMs > 0 && options.debtMsMax >= 0))
    throw new Error('a time budget needs msPerSecond and burstMs above 0, and debtMsMax of 0 or more');
  const now = options.now ?? (() => performance.now());
  let tokensMs = options.burstMs;
  let refilledAtMs = now();
  const refill = () => {
    const at = now();
    tokensMs = Math.min(options.burstMs, tokensMs + ((at - refilledAtMs) * options.msPerSecond) / MS_PER_S);
    refilledAtMs = at;
  };
  return {
    waitMs() {
      refill();
      // Rounded up so a timer set for it finds the bucket above zero.
      return tokensMs > 0 ? 0 : Math.ceil((-tokensMs * MS_PER_S) / options.msPerSecond) + 1;
    },
    spend(ms) {
      refill();
      tokensMs = Math.max(-options.debtMsMax, tokensMs - Math.max(0, ms));
    },
  };
}
