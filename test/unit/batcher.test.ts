// The batcher's scheduling, with a stand-in for the database call so that
// each step can be held and released by hand. The real calls are covered by
// the contract, race and ledger-checker tests, which all go through it.

import { describe, expect, it, vi } from 'vitest';
import { createBatcher, type BatcherOptions } from '../../src/instance/ledger/batcher.js';
import { ConnectionClass } from '../../src/instance/ledger/connections.js';

/** A send whose calls wait until the test settles them. */
function heldSender() {
  const calls: { items: number[]; settle: (results: string[]) => void; fail: (error: Error) => void }[] = [];
  const send = (items: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({ items, settle: resolve, fail: reject });
    });
  return { calls, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const HOUR_MS = 3_600_000;

function batcherWith(overrides: Partial<BatcherOptions<number, string>> = {}) {
  const { calls, send } = heldSender();
  const batcher = createBatcher<number, string>({
    sizeMax: 64,
    inFlightMax: 1,
    queueLengthMax: 100,
    waitMsMax: HOUR_MS - 1,
    requestTimeoutMs: HOUR_MS,
    whenFull: 'full',
    whenExpired: 'expired',
    whenLate: 'late',
    send,
    ...overrides,
  });
  return { calls, batcher };
}

describe('batcher', () => {
  it('sends a lone request at once, alone', async () => {
    const { calls, batcher } = batcherWith({ inFlightMax: 2 });
    const answer = batcher.submit(1);
    expect(calls.map((call) => call.items)).toEqual([[1]]);
    calls[0]!.settle(['one']);
    expect(await answer).toBe('one');
  });

  it('gathers what arrives while every slot is busy into one call, in arrival order', async () => {
    const { calls, batcher } = batcherWith({ inFlightMax: 2 });
    const answers = [1, 2, 3, 4, 5].map((item) => batcher.submit(item));
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    expect(batcher.health().waiting).toBe(3);

    calls[0]!.settle(['a1']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5]]);
    calls[1]!.settle(['a2']);
    calls[2]!.settle(['a3', 'a4', 'a5']);
    expect(await Promise.all(answers)).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    await tick();
    expect(batcher.health().inFlight).toBe(0);
  });

  it('batchers sharing a connection class hold no more calls than its slots; a freed one goes to the other', async () => {
    const connections = new ConnectionClass('reads', 1);
    const first = batcherWith({ inFlightMax: 1, connections });
    const second = batcherWith({ inFlightMax: 1, connections });
    const answers = [first.batcher.submit(1), second.batcher.submit(2)];
    expect(first.calls.map((call) => call.items)).toEqual([[1]]);
    expect(second.calls).toEqual([]);
    expect(second.batcher.health().waiting).toBe(1);

    first.calls[0]!.settle(['a1']);
    await tick();
    expect(second.calls.map((call) => call.items)).toEqual([[2]]);
    expect(connections.inFlight).toBe(1);
    second.calls[0]!.settle(['a2']);
    expect(await Promise.all(answers)).toEqual(['a1', 'a2']);
    await tick();
    expect(connections.inFlight).toBe(0);
  });

  it('never puts more than sizeMax in one call', async () => {
    const { calls, batcher } = batcherWith({ sizeMax: 2 });
    for (const item of [1, 2, 3, 4, 5]) void batcher.submit(item);
    calls[0]!.settle(['x']);
    await tick();
    calls[1]!.settle(['x', 'x']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('answers whenFull at once past queueLengthMax, without sending, and counts it', async () => {
    const { calls, batcher } = batcherWith({ queueLengthMax: 2 });
    void batcher.submit(1);
    void batcher.submit(2);
    void batcher.submit(3);
    expect(await batcher.submit(4)).toBe('full');
    expect(calls).toHaveLength(1);
    expect(batcher.health().shedFull).toBe(1);
  });

  it("hands a failed call's error to every request in it, and keeps serving", async () => {
    const { calls, batcher } = batcherWith();
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
    const { calls, batcher } = batcherWith();
    const first = batcher.submit(1);
    calls[0]!.settle([]);
    await expect(first).rejects.toThrow(/came back with 0 results/);
  });

  it('answers whenExpired to a request that waited past waitMsMax, and never sends it', async () => {
    const { calls, batcher } = batcherWith({ waitMsMax: 20 });
    const first = batcher.submit(1);
    const second = batcher.submit(2);
    // The first call is held far past the second's wait; the second expires
    // on its own timer, not on the next dispatch.
    expect(await second).toBe('expired');
    expect(batcher.health()).toMatchObject({ shedExpired: 1, waiting: 0 });
    calls[0]!.settle(['one']);
    expect(await first).toBe('one');
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1]]);
  });

  it('answers whenLate to every request of a call still out at the deadline, frees its slot, and drops the late answer', async () => {
    const lates: number[] = [];
    const { calls, batcher } = batcherWith({ waitMsMax: 10, requestTimeoutMs: 30, onLate: () => lates.push(1) });
    const first = batcher.submit(1);
    expect(await first).toBe('late');
    expect(batcher.health()).toMatchObject({ lateCalls: 1, inFlight: 0 });
    expect(lates).toHaveLength(1);
    // The slot is free: the next request goes at once, beside the late call.
    const second = batcher.submit(2);
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    calls[0]!.settle(['too late']);
    calls[1]!.settle(['two']);
    expect(await second).toBe('two');
  });

  it('flush answers every waiting request at once, unsent', async () => {
    const { calls, batcher } = batcherWith();
    void batcher.submit(1);
    const waiting = [batcher.submit(2), batcher.submit(3)];
    batcher.flush('down');
    expect(await Promise.all(waiting)).toEqual(['down', 'down']);
    expect(calls).toHaveLength(1);
  });

  it('tells onSend the size of each call', async () => {
    const sizes: number[] = [];
    const { calls, batcher } = batcherWith({ onSend: (size) => sizes.push(size) });
    for (const item of [1, 2, 3]) void batcher.submit(item);
    calls[0]!.settle(['x']);
    await tick();
    expect(sizes).toEqual([1, 2]);
  });

  it.each([
    ['sizeMax', { sizeMax: 0 }],
    ['inFlightMax', { inFlightMax: 0 }],
    ['queueLengthMax (regression: 0 was accepted, then every request was refused)', { queueLengthMax: 0 }],
    ['waitMsMax', { waitMsMax: 0 }],
    ['requestTimeoutMs', { requestTimeoutMs: 0 }],
  ])('refuses to be built with %s below 1', (_, override) => {
    expect(() => batcherWith(override)).toThrow(/at least 1/);
  });
});

describe('batcher: answers that say "send it again" (a client row another session holds)', () => {
  const waitForCall = async (calls: unknown[], count: number) => {
    while (calls.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
  };

  it('sends a busy item again, with whatever waits then, and answers what the later call says', async () => {
    const { calls, batcher } = batcherWith({ isRetry: (result) => result === 'busy' });
    const locked = batcher.submit(1);
    calls[0]!.settle(['busy']);
    const other = batcher.submit(2);
    await waitForCall(calls, 2);
    // The one slot carries 2 while 1 pauses; 1 then waits for the slot like any other.
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    calls[1]!.settle(['two']);
    await waitForCall(calls, 3);
    expect(calls[2]!.items).toEqual([1]);
    calls[2]!.settle(['one']);
    expect([await locked, await other]).toEqual(['one', 'two']);
    await tick();
    expect(batcher.health()).toMatchObject({ retried: 1, retriesGivenUp: 0, shedExpired: 0, inFlight: 0 });
  });

  it('answers a row that stays busy with its busy answer once the queue wait is over, never whenExpired', async () => {
    const { calls, batcher } = batcherWith({ waitMsMax: 40, isRetry: (result) => result === 'busy' });
    const locked = batcher.submit(1);
    let answered: string | undefined;
    void locked.then((answer) => (answered = answer));
    for (let call = 0; answered === undefined; call++) {
      // A pause timer that fires late on a busy machine finds the wait over:
      // the item is then answered without another call, so stop waiting for one.
      while (calls.length < call + 1 && answered === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
      if (answered !== undefined) break;
      calls[call]!.settle(['busy']);
      await tick();
    }
    expect(answered).toBe('busy');
    expect(calls.length).toBeGreaterThan(1);
    expect(batcher.health()).toMatchObject({ retriesGivenUp: 1, shedExpired: 0, waiting: 0 });
  });

  it('flush answers an item pausing before its next attempt, and it is not sent again', async () => {
    // The pause is a 1 ms timer: real, it could fire before flush on a busy
    // machine (it did: the item was sent again, flush found nothing waiting,
    // and the test hung on a call nobody settled). Faked, it fires when told.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { calls, batcher } = batcherWith({ isRetry: (result) => result === 'busy' });
      const locked = batcher.submit(1);
      calls[0]!.settle(['busy']);
      await tick();
      batcher.flush('down');
      expect(await locked).toBe('down');
      vi.advanceTimersByTime(HOUR_MS);
      await tick();
      expect(calls).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

// Regression: one history read in flight per instance bounded how many
// pages ran at once, not how much database time readers asking back to back
// took. A budget holds calls in the queue while it is spent.
describe('batcher with a budget of database time', () => {
  /** A budget the test opens and closes, recording what each call was charged. */
  function heldBudget() {
    const state = { open: true, charged: [] as number[] };
    return {
      state,
      budget: { waitMs: () => (state.open ? 0 : 1), spend: (ms: number) => void state.charged.push(ms) },
    };
  }
  const waitForCall = async (calls: unknown[], count: number) => {
    while (calls.length < count) await new Promise((resolve) => setTimeout(resolve, 1));
  };

  it('sends nothing while the budget is spent, then sends what waited once it allows, and charges every call', async () => {
    const { state, budget } = heldBudget();
    const { calls, batcher } = batcherWith({ inFlightMax: 4, sizeMax: 1, budget });
    state.open = false;
    const answers = [1, 2].map((item) => batcher.submit(item));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls).toHaveLength(0);
    expect(batcher.health()).toMatchObject({ waiting: 2, inFlight: 0 });
    state.open = true;
    await waitForCall(calls, 2);
    calls.forEach((call) => call.settle(['ok']));
    expect(await Promise.all(answers)).toEqual(['ok', 'ok']);
    await tick();
    expect(state.charged).toHaveLength(2);
    expect(state.charged.every((ms) => ms >= 0)).toBe(true);
  });

  it('answers whenExpired to requests the budget held past waitMsMax, never sent', async () => {
    const { state, budget } = heldBudget();
    const { calls, batcher } = batcherWith({ waitMsMax: 20, budget });
    state.open = false;
    expect(await Promise.all([batcher.submit(1), batcher.submit(2)])).toEqual(['expired', 'expired']);
    expect(calls).toHaveLength(0);
    expect(batcher.health()).toMatchObject({ shedExpired: 2, waiting: 0 });
  });

  it('charges a late call when it settles, after its requests were answered whenLate', async () => {
    const { state, budget } = heldBudget();
    const { calls, batcher } = batcherWith({ requestTimeoutMs: 10, waitMsMax: 5, budget });
    expect(await batcher.submit(1)).toBe('late');
    expect(state.charged).toHaveLength(0);
    calls[0]!.settle(['ok']);
    await tick();
    expect(state.charged).toHaveLength(1);
  });
});

describe("batcher with a conflict key (a transaction's client row)", () => {
  const byTens = (item: number) => Math.floor(item / 10);

  it('sends a second call at once with the waiting items whose key is not in flight; the others keep their place', async () => {
    const { calls, batcher } = batcherWith({ inFlightMax: 2, conflictKey: byTens });
    const first = batcher.submit(11);
    const answers = [12, 21, 13, 22].map((item) => batcher.submit(item));
    // 12 waits for 11's call; 21 takes the second slot alone; 13 and 22 find both slots busy.
    expect(calls.map((call) => call.items)).toEqual([[11], [21]]);
    expect(batcher.health().waiting).toBe(3);
    calls[1]!.settle(['b21']);
    await tick();
    // Key 1 is still in flight: 12 and 13 wait for it; 22 goes.
    expect(calls.map((call) => call.items)).toEqual([[11], [21], [22]]);
    calls[0]!.settle(['a11']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[11], [21], [22], [12, 13]]);
    calls[2]!.settle(['b22']);
    calls[3]!.settle(['a12', 'a13']);
    expect(await first).toBe('a11');
    expect(await Promise.all(answers)).toEqual(['a12', 'b21', 'a13', 'b22']);
    await tick();
    expect(batcher.health()).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it("lets a late call's keys go with its slot", async () => {
    vi.useFakeTimers();
    try {
      const { calls, batcher } = batcherWith({
        inFlightMax: 2,
        conflictKey: byTens,
        requestTimeoutMs: 100,
        waitMsMax: 99,
      });
      const late = batcher.submit(11);
      await vi.advanceTimersByTimeAsync(100);
      expect(await late).toBe('late');
      const next = batcher.submit(12);
      expect(calls.map((call) => call.items)).toEqual([[11], [12]]);
      calls[1]!.settle(['a12']);
      expect(await next).toBe('a12');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('batcher with spare slots (a second call only while the load is light)', () => {
  it('uses the second slot while the call in flight is small, and not while a large one is', async () => {
    const { calls, batcher } = batcherWith({ inFlightMax: 2, spareSlotCallSizeMax: 2 });
    const answers = [1, 2, 3, 4, 5, 6].map((item) => batcher.submit(item));
    // 1 goes alone; 2 takes the spare slot (1's call is small); 3..6 wait for a slot.
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    calls[0]!.settle(['a1']);
    await tick();
    // 3..6 go as one call of four: large, so the spare slot stays unused behind it.
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5, 6]]);
    const late = [7, 8].map((item) => batcher.submit(item));
    calls[1]!.settle(['a2']);
    await tick();
    expect(calls).toHaveLength(3);
    calls[2]!.settle(['a3', 'a4', 'a5', 'a6']);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4, 5, 6], [7, 8]]);
    calls[3]!.settle(['a7', 'a8']);
    expect(await Promise.all([...answers, ...late])).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8']);
  });
});
