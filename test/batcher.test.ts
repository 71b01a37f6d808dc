// The batcher's scheduling, with a stand-in for the database call so that
// each step can be held and released by hand. The real calls are covered by
// the contract, race and ledger-checker tests, which all go through it.

import { describe, expect, it } from 'vitest';
import { createBatcher } from '../src/instance/batcher.js';

/** A send whose calls wait until the test settles them. */
function heldSender() {
  const calls: { items: number[]; settle: (results: string[]) => void; fail: (error: Error) => void }[] = [];
  const send = (items: number[]) => new Promise<string[]>((resolve, reject) => {
    calls.push({ items, settle: resolve, fail: reject });
  });
  return { calls, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('batcher', () => {
  it('sends a lone request at once, alone', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 2, queueLengthMax: 100, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    const answer = batcher.submit(1);
    expect(calls.map((call) => call.items)).toEqual([[1]]);
    calls[0]!.settle(['one']);
    expect(await answer).toBe('one');
  });

  it('gathers what arrives while every slot is busy into one call, in arrival order', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 2, queueLengthMax: 100, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    const answers = [1, 2, 3, 4, 5].map((item) => batcher.submit(item));
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    expect(batcher.waiting).toBe(3);

    calls[0]!.settle(['a1']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5]]);
    calls[1]!.settle(['a2']);
    calls[2]!.settle(['a3', 'a4', 'a5']);
    expect(await Promise.all(answers)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    await tick();
    expect(batcher.inFlight).toBe(0);
  });

  it('never puts more than sizeMax in one call', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 2, inFlightMax: 1, queueLengthMax: 100, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    for (const item of [1, 2, 3, 4, 5]) void batcher.submit(item);
    calls[0]!.settle(['x']);
    await tick();
    calls[1]!.settle(['x', 'x']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('answers whenFull at once past queueLengthMax, without sending', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 1, queueLengthMax: 2, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    void batcher.submit(1);
    void batcher.submit(2);
    void batcher.submit(3);
    expect(await batcher.submit(4)).toBe('full');
    expect(calls).toHaveLength(1);
  });

  it('hands a failed call\'s error to every request in it, and keeps serving', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 1, queueLengthMax: 100, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    const third = batcher.submit(3);
    calls[0]!.fail(new Error('boom'));
    await expect(first).rejects.toThrow('boom');
    await tick();
    calls[1]!.fail(new Error('boom again'));
    await expect(second).rejects.toThrow('boom again');
    await expect(third).rejects.toThrow('boom again');
    const fourth = batcher.submit(4);
    await tick();
    calls[2]!.settle(['four']);
    expect(await fourth).toBe('four');
  });

  it('rejects every request of a call that answers with the wrong number of results', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 1, queueLengthMax: 100, waitMsMax: 60_000, whenFull: 'full', whenExpired: 'expired', send });
    const first = batcher.submit(1);
    calls[0]!.settle([]);
    await expect(first).rejects.toThrow(/came back with 0 results/);
  });

  it('answers whenExpired to a request that waited past waitMsMax, and never sends it', async () => {
    const { calls, send } = heldSender();
    const batcher = createBatcher({ sizeMax: 64, inFlightMax: 1, queueLengthMax: 100, waitMsMax: 20, whenFull: 'full', whenExpired: 'expired', send });
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    // The first call is held far past the second's wait; the second expires
    // on its own timer, not on the next dispatch.
    expect(await second).toBe('expired');
    expect(batcher.expired).toBe(1);
    expect(batcher.waiting).toBe(0);
    calls[0]!.settle(['one']);
    expect(await first).toBe('one');
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1]]);
  });

  it.each([
    ['sizeMax', { sizeMax: 0 }],
    ['inFlightMax', { inFlightMax: 0 }],
    ['queueLengthMax (regression: 0 was accepted, then every request was refused)', { queueLengthMax: 0 }],
    ['waitMsMax', { waitMsMax: 0 }],
  ])('refuses to be built with %s below 1', (_, override) => {
    const { send } = heldSender();
    expect(() => createBatcher({ sizeMax: 64, inFlightMax: 1, queueLengthMax: 100, waitMsMax: 100, whenFull: 'full', whenExpired: 'expired', send, ...override }))
      .toThrow(/at least 1/);
  });
});
