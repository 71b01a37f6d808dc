// Owns counting, per client address, the requests an instance refuses for
// want of a valid API key (401), so that a flood of made-up keys is limited
// like a flood without any: nginx limits requests per key, and only an
// instance can tell a key that exists from one that does not. A token bucket
// per address, as nginx's limit_req: a burst of one second's worth, then
// the rate. Each instance counts its own 401s: with N instances behind
// nginx's round robin, an address gets at most about N times the rate.

/** Addresses tracked at once; past it the least recently refused is forgotten (it starts afresh with a full burst). */
export const ADDRESSES_TRACKED_MAX = 100_000;

interface Bucket {
  tokens: number;
  atMs: number;
}

export interface AddressLimit {
  /** Counts one refusal for this address; false when its allowance is spent (answer 429 instead). */
  take(address: string): boolean;
  /** Addresses tracked now. */
  readonly tracked: number;
}

export function createAddressLimit(perS: number, now: () => number = () => performance.now()): AddressLimit {
  const buckets = new Map<string, Bucket>();
  return {
    take(address) {
      if (perS === 0) return true;
      const nowMs = now();
      const bucket = buckets.get(address) ?? { tokens: perS, atMs: nowMs };
      // Re-inserted on every refusal, so the Map's first entry is the least recently refused.
      buckets.delete(address);
      bucket.tokens = Math.min(perS, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * perS);
      bucket.atMs = nowMs;
      const allowed = bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      if (buckets.size >= ADDRESSES_TRACKED_MAX) buckets.delete(buckets.keys().next().value!);
      buckets.set(address, bucket);
      return allowed;
    },
    get tracked() {
      return buckets.size;
    },
  };
}
