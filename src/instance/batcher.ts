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
  return new CallQueue(options);
}

class CallQueue<Item, Result> implements Batcher<Item, Result> {
  private readonly queue: Waiting<Item, Result>[] = [];
  inFlight = 0;
  expired = 0;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BatcherOptions<Item, Result>) {}

  get waiting(): number {
    return this.queue.length;
  }

  submit(item: Item): Promise<Result> {
    if (this.queue.length >= this.options.queueLengthMax) return Promise.resolve(this.options.whenFull);
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, deadlineMs: performance.now() + this.options.waitMsMax, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    this.expireOverdue();
    while (this.inFlight < this.options.inFlightMax && this.queue.length > 0) this.sendCall(this.queue.splice(0, this.options.sizeMax));
    this.armExpiry();
  }

  /** Answers every item whose wait is over; the queue is in arrival order, so they are at its front. */
  private expireOverdue(): void {
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.deadlineMs <= now) {
      this.expired++;
      this.queue.shift()!.resolve(this.options.whenExpired);
    }
  }

  private armExpiry(): void {
    if (this.expiryTimer !== undefined || this.queue.length === 0) return;
    const delayMs = Math.max(0, this.queue[0]!.deadlineMs - performance.now());
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expireOverdue();
      this.armExpiry();
    }, delayMs);
  }

  private sendCall(batch: Waiting<Item, Result>[]): void {
    this.inFlight++;
    this.options.send(batch.map((waiting) => waiting.item)).then((results) => {
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} came back with ${results.length} results`);
      batch.forEach((waiting, index) => waiting.resolve(results[index]!));
    }).catch((error: unknown) => {
      for (const waiting of batch) waiting.reject(error);
    }).finally(() => {
      this.inFlight--;
      this.dispatch();
    });
  }
}
