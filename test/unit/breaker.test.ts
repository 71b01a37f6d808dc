// The circuit breaker's states, with a probe the test answers by hand.

import { describe, expect, it } from 'vitest';
import { Breaker } from '../../src/instance/ledger/breaker.js';

function breakerWith(probeAnswers: boolean[]) {
  const probes: number[] = [];
  let breaker: Breaker;
  const events: string[] = [];
  breaker = new Breaker({
    failuresMax: 3,
    probeIntervalMsMin: 5,
    probeIntervalMsMax: 20,
    readyForMs: 60_000,
    probe: async () => {
      probes.push(breaker.probeIntervalMs);
      return probeAnswers.shift() ?? false;
    },
    onOpen: () => events.push('open'),
    onClose: () => events.push('close'),
  });
  return { breaker, probes, events };
}

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
};

describe('circuit breaker', () => {
  it('opens after failuresMax consecutive failures, not before, and a success in between resets the count', () => {
    const { breaker, events } = breakerWith([]);
    breaker.failed();
    breaker.failed();
    breaker.succeeded();
    breaker.failed();
    breaker.failed();
    expect(breaker.isOpen).toBe(false);
    breaker.failed();
    expect(breaker.isOpen).toBe(true);
    expect(events).toEqual(['open']);
    breaker.stop();
  });

  it('probes while open, each pause twice the last up to the longest, and closes on the first answer', async () => {
    const { breaker, probes, events } = breakerWith([false, false, false, false, true]);
    for (let failure = 0; failure < 3; failure++) breaker.failed();
    await until(() => events.includes('close'));
    expect(probes).toHaveLength(5);
    expect(breaker.state).toBe('closed');
    expect(breaker.opened).toBe(1);
    // The pause before each probe: from the shortest, doubling, up to the longest.
    expect(probes).toEqual([5, 10, 20, 20, 20]);
    breaker.stop();
  });

  it('is not ready while open; ready from a recent success without probing; probes once when unsure', async () => {
    const { breaker, probes } = breakerWith([true]);
    expect(await breaker.isReady()).toBe(true);
    expect(probes).toHaveLength(1);
    expect(await breaker.isReady()).toBe(true);
    expect(probes).toHaveLength(1);
    for (let failure = 0; failure < 3; failure++) breaker.failed();
    expect(await breaker.isReady()).toBe(false);
    breaker.stop();
  });

  it('runs one probe at a time however many ask', async () => {
    const { breaker, probes } = breakerWith([true, true]);
    await Promise.all([breaker.isReady(), breaker.isReady(), breaker.isReady()]);
    expect(probes).toHaveLength(1);
    breaker.stop();
  });
});
