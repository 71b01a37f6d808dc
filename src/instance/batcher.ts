// Owns shared commits on the instance side: gathering requests that arrive
// while earlier calls are in flight, so that they travel to the database
// together. A request that finds a free slot goes at once, alone; only when
// every slot is busy do requests wait, and then the next free slot takes all
// that waited (up to sizeMax) as one call. Under light load this adds no
// latency; under heavy load calls grow instead of queueing.
//
// Waiting is bounded twice: by how many wait (past queueLengthMax, whenFull
// answers at once) and by how long (past waitMsMax, whenExpired answers).
// Either answer means the item was never sent.

export interface BatcherOptions<Item, Result> {
  /** Most items in one call. */
  sizeMax: number;
  /** Most calls in flight at once. */
  inFlightMax: number;
  /** Most items waiting for a slot. */
  queueLengthMax: number;
  /** Longest an item waits for a slot. */
  waitMsMax: number;
  whenFull: Result;
  whenExpired: Result;
  /** Sends one call; resolves with one result per item, in the same order. */
  send: (items: Item[]) => Promise<Result[]>;
}

interface Waiting<Item, Result> {
  item: Item;
  deadlineMs: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface Batcher<Item, Result> {
  submit(item: Item): Promise<Result>;
  /** Calls in flight, items waiting, items that expired waiting: health numbers. */
  readonly inFlight: number;
  readonly waiting: number;
  readonly expired: number;
}

export function createBatcher<Item, Result>(options: BatcherOptions<Item, Result>): Batcher<Item, Result> {
  if (!(options.sizeMax >= 1 && options.inFlightMax >= 1 && options.queueLengthMax >= 1 && options.waitMsMax >= 1)) {
    throw new Error('a batcher needs sizeMax, inFlightMax, queueLengthMax and waitMsMax of at least 1');
  }
  const queue: Waiting<Item, Result>[] = [];
  let inFlight = 0;
  let expired = 0;
  let expiryTimer: NodeJS.Timeout | undefined;

  /** Answers every item whose wait is over; the queue is in arrival order, so they are at its front. */
  function expireOverdue(): void {
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.deadlineMs <= now) {
      expired++;
      queue.shift()!.resolve(options.whenExpired);
    }
  }

  function armExpiry(): void {
    if (expiryTimer !== undefined || queue.length === 0) return;
    const delayMs = Math.max(0, queue[0]!.deadlineMs - performance.now());
    expiryTimer = setTimeout(() => {
      expiryTimer = undefined;
      expireOverdue();
      armExpiry();
    }, delayMs);
  }

  function settle(batch: Waiting<Item, Result>[], results: Result[]): void {
    if (results.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} came back with ${results.length} results`);
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, index) => waiting.resolve(results[index]!));
  }

  function dispatch(): void {
    expireOverdue();
    while (inFlight < options.inFlightMax && queue.length > 0) {
      const batch = queue.splice(0, options.sizeMax);
      inFlight++;
      options.send(batch.map((waiting) => waiting.item)).then(
        (results) => settle(batch, results),
        (error: unknown) => {
          for (const waiting of batch) waiting.reject(error);
        },
      ).finally(() => {
        inFlight--;
        dispatch();
      });
    }
    armExpiry();
  }

  return {
    submit(item) {
      if (queue.length >= options.queueLengthMax) return Promise.resolve(options.whenFull);
      return new Promise<Result>((resolve, reject) => {
        queue.push({ item, deadlineMs: performance.now() + options.waitMsMax, resolve, reject });
        dispatch();
      });
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return queue.length;
    },
    get expired() {
      return expired;
    },
  };
}
