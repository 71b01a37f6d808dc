// Owns shared commits on the instance side: gathering transactions that
// arrive while earlier calls are in flight, so that they travel to the
// database together. A request that finds a free slot goes at once, alone;
// only when every slot is busy do requests wait, and then the next free slot
// takes all that waited (up to sizeMax) as one call. Under light load this
// adds no latency; under heavy load calls grow instead of queueing.

export interface BatcherOptions<Item, Result> {
  /** Most items in one call. */
  sizeMax: number;
  /** Most calls in flight at once. */
  inFlightMax: number;
  /** Most items waiting for a slot; beyond it, `whenFull` answers at once. */
  queueLengthMax: number;
  whenFull: Result;
  /** Sends one call; resolves with one result per item, in the same order. */
  send: (items: Item[]) => Promise<Result[]>;
}

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface Batcher<Item, Result> {
  submit(item: Item): Promise<Result>;
  /** Calls in flight and items waiting: health numbers. */
  readonly inFlight: number;
  readonly waiting: number;
}

export function createBatcher<Item, Result>(options: BatcherOptions<Item, Result>): Batcher<Item, Result> {
  if (!(options.sizeMax >= 1 && options.inFlightMax >= 1)) throw new Error('a batcher needs sizeMax and inFlightMax of at least 1');
  const queue: Waiting<Item, Result>[] = [];
  let inFlight = 0;

  function dispatch(): void {
    while (inFlight < options.inFlightMax && queue.length > 0) {
      const batch = queue.splice(0, options.sizeMax);
      inFlight++;
      options.send(batch.map((waiting) => waiting.item)).then(
        (results) => {
          if (results.length !== batch.length) {
            const error = new Error(`a batch of ${batch.length} came back with ${results.length} results`);
            for (const waiting of batch) waiting.reject(error);
            return;
          }
          batch.forEach((waiting, index) => waiting.resolve(results[index]!));
        },
        (error: unknown) => {
          for (const waiting of batch) waiting.reject(error);
        },
      ).finally(() => {
        inFlight--;
        dispatch();
      });
    }
  }

  return {
    submit(item) {
      if (queue.length >= options.queueLengthMax) return Promise.resolve(options.whenFull);
      return new Promise<Result>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        dispatch();
      });
    },
    get inFlight() {
      return inFlight;
    },
    get waiting() {
      return queue.length;
    },
  };
}
