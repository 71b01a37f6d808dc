// The token bucket of database time (src/instance/ledger/time-budget.ts), on
// a clock the test moves by hand.

import { describe, expect, it } from 'vitest';
import { createTimeBudget } from '../../src/instance/ledger/time-budget.js';

function budgetAt(options: { msPerSecond: number; burstMs: number; debtMsMax?: number }) {
  const clock = { nowMs: 0 };
  return { clock, budget: createTimeBudget({ debtMsMax: options.msPerSecond, ...options, now: () => clock.nowMs }) };
}

describe('time budget', () => {
  it('lets calls go while the saved-up burst lasts, then waits for what they overspent', () => {
    const { budget } = budgetAt({ msPerSecond: 100, burstMs: 10 });
    expect(budget.waitMs()).toBe(0);
    budget.spend(6);
    expect(budget.waitMs()).toBe(0);
    budget.spend(6);
    // 2 ms overspent at 100 ms per second: 20 ms to pay back, and one more to be above zero.
    expect(budget.waitMs()).toBe(21);
  });

  it('refills at its rate, and never saves more than the burst', () => {
    const { clock, budget } = budgetAt({ msPerSecond: 100, burstMs: 10 });
    budget.spend(12);
    clock.nowMs += 21;
    expect(budget.waitMs()).toBe(0);
    clock.nowMs += 3_600_000;
    budget.spend(10);
    // An hour idle saved 10 ms, not 360,000: ten spent, it is empty again.
    expect(budget.waitMs()).toBe(1);
  });

  it('over any stretch, the calls it lets go take at most the rate times the stretch plus the burst and one call', () => {
    const { clock, budget } = budgetAt({ msPerSecond: 50, burstMs: 5 });
    const CALL_MS = 3;
    let spentMs = 0;
    // A reader asking again the moment each call is answered, for 10 s.
    while (clock.nowMs < 10_000) {
      const waitMs = budget.waitMs();
      if (waitMs > 0) {
        clock.nowMs += waitMs;
        continue;
      }
      clock.nowMs += CALL_MS;
      budget.spend(CALL_MS);
      spentMs += CALL_MS;
    }
    expect(spentMs).toBeLessThanOrEqual(50 * 10 + 5 + CALL_MS);
    // And it was not starved: at least the rate, less one call's rounding per call.
    expect(spentMs).toBeGreaterThan(50 * 10 * 0.7);
  });

  it('floors the debt: a very slow call pauses the next ones debtMsMax over the rate at most', () => {
    const { budget } = budgetAt({ msPerSecond: 100, burstMs: 10, debtMsMax: 25 });
    budget.spend(60_000);
    // 25 ms owed at 100 ms per second: 250 ms, and one more to be above zero.
    expect(budget.waitMs()).toBe(251);
  });
});
