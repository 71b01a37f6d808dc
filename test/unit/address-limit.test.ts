// The per-address count of requests refused for want of a valid API key
// (src/instance/http/address-limit.ts), on a clock the test moves.

import { describe, expect, it } from 'vitest';
import { ADDRESSES_TRACKED_MAX, createAddressLimit } from '../../src/instance/http/address-limit.js';

describe('the refusals an address may get', () => {
  it('a burst of the rate, then one more per 1/rate seconds, per address', () => {
    let nowMs = 0;
    const limit = createAddressLimit(5, () => nowMs);
    const burst = Array.from({ length: 8 }, () => limit.take('10.0.0.1'));
    expect(burst).toEqual([true, true, true, true, true, false, false, false]);
    expect(limit.take('10.0.0.2')).toBe(true);
    nowMs += 200;
    expect([limit.take('10.0.0.1'), limit.take('10.0.0.1')]).toEqual([true, false]);
    nowMs += 10_000;
    expect(Array.from({ length: 6 }, () => limit.take('10.0.0.1')).filter(Boolean)).toHaveLength(5);
  });

  it('0 is no limit', () => {
    const limit = createAddressLimit(0);
    expect(Array.from({ length: 1000 }, () => limit.take('a')).every(Boolean)).toBe(true);
  });

  it('tracks a bounded number of addresses, forgetting the least recently refused', () => {
    const limit = createAddressLimit(1, () => 0);
    expect(limit.take('first')).toBe(true);
    expect(limit.take('first')).toBe(false);
    for (let index = 0; index < ADDRESSES_TRACKED_MAX; index++) limit.take(`other-${index}`);
    expect(limit.tracked).toBe(ADDRESSES_TRACKED_MAX);
    // Forgotten, so it starts afresh.
    expect(limit.take('first')).toBe(true);
  });
});
