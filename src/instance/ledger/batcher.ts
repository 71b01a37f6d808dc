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
// An item answered "nothing was done, send me again" (isRetry: a client row
// another database session holds) is queued again after a short pause that
// doubles, keeping its arrival time, and shares the next call like any other;
// once its queue wait (waitMsMax) is over it is answered with that answer. So
// a row that stays locked costs its own requests their queue wait, and the
// calls that carry them, and every other request, never wait on it.
// With a budget of database time (time-budget.ts), a free slot is taken only
// while the budget allows; otherwise items wait in the queue, under the same
// queueLengthMax and waitMsMax, until it does. Each call is charged its time
// from send to settling, late calls included (they still ran).
// With a conflict key (a transaction's client: its row), a call leaves while
// another is in flight only with the waiting items whose key no call in
// flight holds, so that a second slot never sends a row the first holds
// locked; the others keep their place until that call is back.
// With spareSlotCallSizeMax, the slots past the first are spare: used only
// while every call in flight is that small (a light load, where a request
// would otherwise wait a whole call for nothing); under a heavy load one
// call at a time gathers everything that waits, and commits it once.

import { crashOnBug } from '../../shared/invariant.js';
import { ConnectionClass } from './connections.js';
import type { TimeBudget } from './time-budget.js';

// The first pause before an item answered isRetry is sent again, and the
// longest: another instance's call holds a row for a millisecond or two, so
// the first retries come soon; a row held for seconds is retried about
// every 32 ms, each retry costing a slot in a shared call, not a call.
const RETRY_PAUSE_MS_MIN = 1;
const RETRY_PAUSE_MS_MAX = 32;

export interface BatcherOptions<Item, Result> {
  /** Most items in one call. */
  sizeMax: number;
  /** Most calls in flight at once (late calls no longer count). */
  inFlightMax: number;
  /** The connections it shares with other batchers (each call holds one); absent: inFlightMax of its own. */
  connections?: ConnectionClass;
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
  /** Told of each item's wait from its arrival to its call sent, and of each call's time from sent to answered. */
  onWaited?: (milliseconds: number) => void;
  onAnswered?: (milliseconds: number, items: number) => void;
  /** Told of every call that missed its deadline. */
  onLate?: () => void;
  /** Whether an answer means nothing was done and the item should be sent again (until its queue wait is over). */
  isRetry?: (result: Result) => boolean;
  /** Database time the calls may take; absent: as many as the slots allow. */
  budget?: TimeBudget;
  /** Items with the same key never travel in two calls at once; absent: any item may go in any call. */
  conflictKey?: (item: Item) => unknown;
  /** Slots past the first are used only while no call in flight carries more items than this; absent: always. */
  spareSlotCallSizeMax?: number;
}

interface Waiting<Item, Result> {
  item: Item;
  arrivedMs: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
  /** Times it was answered isRetry; the last such answer, given when its queue wait runs out. */
  retries: number;
  retryAnswer?: Result;
}

export interface BatcherHealth {
  /** Calls in flight, items waiting: gauges. */
  inFlight: number;
  waiting: number;
  /** Items answered without being sent because the queue was full, or they waited too long; calls that missed the deadline: counters. */
  shedFull: number;
  shedExpired: number;
  lateCalls: number;
  /** Items sent again after an isRetry answer; items answered with it when their queue wait ran out: counters. */
  retried: number;
  retriesGivenUp: number;
}

export function createBatcher<Item, Result>(options: BatcherOptions<Item, Result>): Batcher<Item, Result> {
  if (!(
    options.sizeMax >= 1 &&
    options.inFlightMax >= 1 &&
    options.queueLengthMax >= 1 &&
    options.waitMsMax >= 1 &&
    options.requestTimeoutMs >= 1
  )) {
    throw new Error(
      'a batcher needs sizeMax, inFlightMax, queueLengthMax, waitMsMax and requestTimeoutMs of at least 1',
    );
  }
  return new Batcher(options);
}

export class Batcher<Item, Result> {
  private readonly queue: Waiting<Item, Result>[] = [];
  private readonly counts = { inFlight: 0, shedFull: 0, shedExpired: 0, lateCalls: 0, retried: 0, retriesGivenUp: 0 };
  /** Items pausing before they are queued again, each with its timer. */
  private readonly pausing = new Map<Waiting<Item, Result>, NodeJS.Timeout>();
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Set while the queue waits for the budget to refill. */
  private budgetTimer: NodeJS.Timeout | undefined;
  /** The conflict keys of the calls in flight, each with how many of their items hold it. */
  private readonly keysInFlight = new Map<unknown, number>();
  /** Calls in flight carrying more than spareSlotCallSizeMax items: while any is, spare slots stay unused. */
  private largeCallsInFlight = 0;

  private readonly connections: ConnectionClass;

  constructor(private readonly options: BatcherOptions<Item, Result>) {
    this.connections = options.connections ?? new ConnectionClass('its own', options.inFlightMax);
    this.connections.onRelease(() => this.dispatch());
  }

  submit(item: Item): Promise<Result> {
    if (this.queue.length >= this.options.queueLengthMax) {
      this.counts.shedFull++;
      return Promise.resolve(this.options.whenFull);
    }
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, arrivedMs: performance.now(), resolve, reject, retries: 0 });
      this.dispatch();
    });
  }

  /** Answers every waiting item with result, at once (the database is known to be down). */
  flush(result: Result): void {
    for (const waiting of this.queue.splice(0)) waiting.resolve(result);
    clearTimeout(this.budgetTimer);
    this.budgetTimer = undefined;
    for (const [waiting, timer] of this.pausing) {
      clearTimeout(timer);
      waiting.resolve(result);
    }
    this.pausing.clear();
  }

  health(): BatcherHealth {
    return { ...this.counts, waiting: this.queue.length };
  }

  private dispatch(): void {
    this.expireOverdue();
    // Every waiting item's key may be in flight: the end of that call dispatches again.
    while (
      this.slotFree() &&
      this.queue.length > 0 &&
      this.budgetAllows() &&
      this.anySendable() &&
      this.connections.tryTake()
    ) {
      this.sendCall(this.takeBatch());
    }
    this.armExpiry();
  }

  private slotFree(): boolean {
    if (this.counts.inFlight >= this.options.inFlightMax) return false;
    return this.counts.inFlight === 0 || this.largeCallsInFlight === 0;
  }

  private isLarge(batch: Waiting<Item, Result>[]): boolean {
    return this.options.spareSlotCallSizeMax !== undefined && batch.length > this.options.spareSlotCallSizeMax;
  }

  /** Whether some waiting item's key no call in flight holds. */
  private anySendable(): boolean {
    const { conflictKey } = this.options;
    if (conflictKey === undefined || this.keysInFlight.size === 0) return true;
    return this.queue.some((waiting) => !this.keysInFlight.has(conflictKey(waiting.item)));
  }

  /** The next call's items: the first sizeMax waiting, less those whose key a call in flight holds (they keep their place). */
  private takeBatch(): Waiting<Item, Result>[] {
    const { conflictKey, sizeMax } = this.options;
    if (conflictKey === undefined || this.keysInFlight.size === 0) return this.queue.splice(0, sizeMax);
    const taken: Waiting<Item, Result>[] = [];
    const kept: Waiting<Item, Result>[] = [];
    for (const waiting of this.queue) {
      if (taken.length < sizeMax && !this.keysInFlight.has(conflictKey(waiting.item))) taken.push(waiting);
      else kept.push(waiting);
    }
    this.queue.splice(0, this.queue.length, ...kept);
    return taken;
  }

  /** Counts a call's keys in (+1) or out (-1) of flight. */
  private holdKeys(batch: Waiting<Item, Result>[], change: 1 | -1): void {
    const { conflictKey } = this.options;
    if (conflictKey === undefined) return;
    for (const waiting of batch) {
      const key = conflictKey(waiting.item);
      const count = (this.keysInFlight.get(key) ?? 0) + change;
      if (count === 0) this.keysInFlight.delete(key);
      else this.keysInFlight.set(key, count);
    }
  }

  /** Whether the budget lets a call go now; if not, dispatches again once it will. */
  private budgetAllows(): boolean {
    const waitMs = this.options.budget?.waitMs() ?? 0;
    if (waitMs === 0) return true;
    this.budgetTimer ??= setTimeout(() => {
      this.budgetTimer = undefined;
      this.dispatch();
    }, waitMs);
    return false;
  }

  /** Answers every item whose wait is over; the queue is in arrival order, so they are at its front. */
  private expireOverdue(): void {
    const oldestAllowed = performance.now() - this.options.waitMsMax;
    while (this.queue.length > 0 && this.queue[0]!.arrivedMs <= oldestAllowed) this.giveUp(this.queue.shift()!);
  }

  /** Answers an item whose queue wait is over: with its last isRetry answer if it had one (it was sent, and nothing was done). */
  private giveUp(waiting: Waiting<Item, Result>): void {
    if (waiting.retryAnswer === undefined) {
      this.counts.shedExpired++;
      return waiting.resolve(this.options.whenExpired);
    }
    this.counts.retriesGivenUp++;
    waiting.resolve(waiting.retryAnswer);
  }

  /** Queues an item again after a pause, in arrival order (it is older than most of the queue, so the scan is short). */
  private retryLater(waiting: Waiting<Item, Result>, answer: Result): void {
    waiting.retryAnswer = answer;
    const pauseMs = Math.min(RETRY_PAUSE_MS_MIN * 2 ** waiting.retries, RETRY_PAUSE_MS_MAX);
    waiting.retries++;
    if (performance.now() + pauseMs - waiting.arrivedMs >= this.options.waitMsMax) return this.giveUp(waiting);
    this.pausing.set(
      waiting,
      setTimeout(() => {
        this.pausing.delete(waiting);
        this.counts.retried++;
        let index = 0;
        while (index < this.queue.length && this.queue[index]!.arrivedMs <= waiting.arrivedMs) index++;
        this.queue.splice(index, 0, waiting);
        this.dispatch();
      }, pauseMs),
    );
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
    if (this.isLarge(batch)) this.largeCallsInFlight++;
    this.holdKeys(batch, 1);
    this.options.onSend?.(batch.length);
    const sentMs = performance.now();
    if (this.options.onWaited !== undefined)
      for (const waiting of batch) this.options.onWaited(sentMs - waiting.arrivedMs);
    let open = true;
    const close = () => {
      open = false;
      clearTimeout(deadline);
      this.counts.inFlight--;
      if (this.isLarge(batch)) this.largeCallsInFlight--;
      // A late call's rows may still be locked; its keys are let go with its slot, as the slot is (see whenLate).
      this.holdKeys(batch, -1);
      // Wakes this batcher and the others sharing its connections.
      this.connections.release();
    };
    const deadline = setTimeout(
      () => {
        this.counts.lateCalls++;
        this.options.onLate?.();
        for (const waiting of batch) waiting.resolve(this.options.whenLate);
        close();
      },
      Math.max(0, batch[0]!.arrivedMs + this.options.requestTimeoutMs - performance.now()),
    );
    this.options
      .send(batch.map((waiting) => waiting.item))
      .then((results) => {
        if (!open) return;
        this.options.onAnswered?.(performance.now() - sentMs, batch.length);
        if (results.length !== batch.length)
          throw new Error(`a batch of ${batch.length} came back with ${results.length} results`);
        batch.forEach((waiting, index) => {
          const result = results[index]!;
          if (this.options.isRetry?.(result) === true) this.retryLater(waiting, result);
          else waiting.resolve(result);
        });
      })
      .catch((error: unknown) => {
        if (open) return batch.forEach((waiting) => waiting.reject(error));
        // send() answers expected failures with values; a rejection is a bug,
        // and one found after the deadline must still crash the process.
        crashOnBug(error);
      })
      .finally(() => {
        // Charged before close() dispatches the next call, which may then wait for it.
        this.options.budget?.spend(performance.now() - sentMs);
        if (open) close();
      });
  }
}
