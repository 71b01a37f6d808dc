// The ledger checker's history is capped: at the cap it admits no more
// operations (so the checker sends no more requests) and remembers when it
// filled up.

import { describe, expect, it } from 'vitest';
import { History, HISTORY_MAX_OPERATIONS } from '../../tools/ledger-check/history.js';
import type { StatementOperation } from '../../tools/ledger-check/invariants.js';

const read = (startMs: number): StatementOperation => ({
  kind: 'extrato',
  clientId: 1,
  startMs,
  endMs: 0,
  status: 0,
  outcome: 'unknown',
});

describe('the ledger checker history', () => {
  it('admits operations up to its cap, then none, and says when it filled', () => {
    const history = new History(3);
    expect([10, 20, 30].map((at) => history.admit(read(at), at))).toEqual([true, true, true]);
    expect(history.full).toBe(true);
    expect(history.fullAtMs).toBe(30);
    expect(history.admit(read(40), 40)).toBe(false);
    expect(history.operations.map((operation) => operation.startMs)).toEqual([10, 20, 30]);
    expect(history.fullAtMs).toBe(30);
  });

  it('is not full below its cap', () => {
    const history = new History(2);
    history.admit(read(1), 1);
    expect(history.full).toBe(false);
    expect(history.fullAtMs).toBeNull();
  });

  it('refuses a cap of zero or above the most it is sized for', () => {
    expect(() => new History(0)).toThrow(/1 to/);
    expect(() => new History(HISTORY_MAX_OPERATIONS + 1)).toThrow(/1 to/);
    expect(() => new History(2.5)).toThrow(/1 to/);
  });
});
