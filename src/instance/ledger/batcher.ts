// Owns batching on the instance side: gathering requests that arrive while
// earlier calls are in flight, so that they travel to the database together,
// as one batch. A request that finds a free slot goes at once, alone; only when
// every slot is busy do requests wait, and then the next free slot takes all
// that waited (up to sizeMax) as one call. Under light load this adds no
// latency; under heavy load calls grow instead of queueing.
//
// Every item is answered in bounded time, whatever the database does:
// - past queueLengthMax waiting, whenFull at once (never sent);
// - past waitMsMax waiting, whenExpired (never sent);
// - past requestTimeoutMs from its arrival with its call still unanswered,
//   whenLate (sent: it may have been applied). The late call's slot is freed
//   for the next one; the call itself goes on until the database or the
//   driver's own timeout ends it, and its answer is then dropped.

import { crashOnBug } from '../../shared/invariant.js';

export interface BatcherOptions<Item, Result> {
  /** Most items in one call. */
  sizeMax: number;
  /** Most calls in flight at once (late calls no longer count). */
  inFlightMax: number;
  /** Most items waiting for a slot. */
  queueLengthMax: number;
  /** Longest an item waits for a slot. */
  waitMsMax: number;
  /** Longest from an item's arrival to its answer (CREBITO_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  whenFull: Result;
  whenExpired: Result;
  whenLate: Result;
  /** Sends one call; resolves with one result per item, in the same order. */
  send: (items: Item[]) => Promise<Result[]>;
  /** Told of every call sent, with its size. */
  onSend?: (size: number) => void;
  /** Told of every call that missed its deadline. */
  onLate?: () => void;
}

interface Waiting<Item, Result> {
  item: Item;
  arrivedMs: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface BatcherHealth {
  /** Calls in flight, items waiting: gauges. */
  inFlight: number;
  waiting: number;
  /** Items answered without being sent because the queue was full, or they waited too long; calls that missed the deadline: counters. */
  shedFull: number;
  shedExpired: number;
  lateCalls: number;
}

export function createBatcher<Item, Result>(options: BatcherOptions<Item, Result>): Batcher<Item, Result> {
  if (!(options.sizeMax >= 1 && options.inFlightMax >= 1 && options.queueLengthMax >= 1 && options.waitMsMax >= 1 && options.requestTimeoutMs >= 1)) {
    throw new Error('a batcher needs sizeMax, inFlightMax, queueLengthMax, waitMsMax and requestTimeoutMs of at least 1');
  }
  return new Batcher(options);
}

export class Batcher<Item, Result> {
  private readonly queue: Waiting<Item, Result>[] = [];
  private readonly counts = { inFlight: 0, shedFull: 0, shedExpired: 0, lateCalls: 0 };
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BatcherOptions<Item, Result>) {}

  submit(item: Item): Promise<Result> {
    if (this.queue.length >= this.options.queueLengthMax) {
      this.counts.shedFull++;
      return Promise.resolve(this.options.whenFull);
    }
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, arrivedMs: performance.now(), resolve, reject });
      this.dispatch();
    });
  }

  /** Answers every waiting item with result, at once (the database is known to be down). */
  flush(result: Result): void {
    for (const waiting of this.queue.splice(0)) waiting.resolve(result);
  }

  health(): BatcherHealth {
    return { ...this.counts, waiting: this.queue.length };
  }

  private dispatch(): void {
    this.expireOverdue();
    while (this.counts.inFlight < this.options.inFlightMax && this.queue.length > 0) this.sendCall(this.queue.splice(0, this.options.sizeMax));
    this.armExpiry();
  }

  /** Answers every item whose wait is over; the queue is in arrival order, so they are at its front. */
  private expireOverdue(): void {
    const oldestAllowed = performance.now() - this.options.waitMsMax;
    while (this.queue.length > 0 && this.queue[0]!.arrivedMs <= oldestAllowed) {
      this.counts.shedExpired++;
      this.queue.shift()!.resolve(this.options.whenExpired);
    }
  }

  private armExpiry(): void {
    if (this.expiryTimer !== undefined || this.queue.length === 0) return;
    const delayMs = Math.max(0, this.queue[0]!.arrivedMs + this.options.waitMsMax - performance.now());
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expireOverdue();
      this.armExpiry();
    }, delayMs);
  }

  /** One call: answered by the database, or by the deadline of its oldest item, whichever comes first. */
  private sendCall(batch: Waiting<Item, Result>[]): void {
    this.counts.inFlight++;
    this.options.onSend?.(batch.length);
    let open = true;
    const close = () => {
      open = false;
      clearTimeout(deadline);
      this.counts.inFlight--;
      this.dispatch();
    };
    const deadline = setTimeout(() => {
      this.counts.lateCalls++;
      this.options.onLate?.();
      for (const waiting of batch) waiting.resolve(this.options.whenLate);
      close();
    }, Math.max(0, batch[0]!.arrivedMs + this.options.requestTimeoutMs - performance.now()));
    this.options.send(batch.map((waiting) => waiting.item)).then((results) => {
      if (!open) return;
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} came back with ${results.length} results`);
      batch.forEach((waiting, index) => waiting.resolve(results[index]!));
    }).catch((error: unknown) => {
      if (open) return batch.forEach((waiting) => waiting.reject(error));
      // send() answers expected failures with values; a rejection is a bug,
      // and one found after the deadline must still crash the process.
      crashOnBug(error);
    }).finally(() => {
      if (open) close();
    });
  }
}
