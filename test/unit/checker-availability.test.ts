// The checker's availability verdict (tools/ledger-check/availability.ts),
// on synthetic histories: a fault is contained when the requests it did not
// touch kept the quiet windows' error rate (none) and p99 (within 2x).

import { describe, expect, it } from 'vitest';
import { judgeAvailability, percentile, type FaultWindow } from '../../tools/ledger-check/availability.js';
import type { Operation, StatementOperation } from '../../tools/ledger-check/invariants.js';

/** A statement read of clientId sent at startMs that took durationMs and answered status. */
function read(clientId: number, startMs: number, durationMs: number, status = 200): StatementOperation {
  return {
    kind: 'extrato',
    clientId,
    startMs,
    endMs: startMs + durationMs,
    status,
    outcome: status === 200 ? 'read' : 'unknown',
  };
}

/** 100 quiet reads of 10 ms before 1000 ms, and whatever the fault window holds after. */
function historyWith(duringFault: Operation[]): Operation[] {
  return [...Array.from({ length: 100 }, (_, index) => read(1 + (index % 5), index * 5, 10)), ...duringFault];
}

const lockOfClient1: FaultWindow = {
  name: 'lock-row',
  startMs: 2000,
  endMs: 3000,
  scope: { kind: 'client', clientId: 1 },
  graceMs: 0,
};

describe('availability verdict', () => {
  it('a fault whose other clients keep their latency and get no errors is contained, whatever its own client suffered', () => {
    const during = [read(2, 2100, 12), read(3, 2200, 15), read(1, 2300, 900, 503), read(1, 2400, 1000, 0)];
    const result = judgeAvailability(historyWith(during), [lockOfClient1]);
    expect(result.quiet).toEqual({ requests: 100, errors: 0, p99Ms: 10 });
    expect(result.faults[0]).toMatchObject({ name: 'lock-row', requests: 2, errors: 0, p99Ms: 15, contained: true });
    expect(result.contained).toBe(true);
  });

  it("a transfer to the locked client touches it (its payee's row), one from another client to another does not", () => {
    const transfer = (clientId: number, para: number, status: number): Operation => ({
      kind: 'transacao',
      clientId,
      para,
      valor: 1,
      tipo: 'd',
      descricao: `t${clientId}${para}`,
      startMs: 2100,
      endMs: 2900,
      status,
      outcome: status === 200 ? 'applied' : 'not-applied',
    });
    const result = judgeAvailability(historyWith([transfer(2, 1, 503), transfer(3, 4, 200)]), [lockOfClient1]);
    expect(result.faults[0]).toMatchObject({ requests: 1, errors: 0 });
  });

  it('one error of another client is not contained', () => {
    const result = judgeAvailability(historyWith([read(2, 2100, 12), read(3, 2200, 12, 503)]), [lockOfClient1]);
    expect(result.faults[0]).toMatchObject({ errors: 1, contained: false });
    expect(result.contained).toBe(false);
  });

  it('other clients slower than twice the quiet p99 is not contained', () => {
    const result = judgeAvailability(historyWith([read(2, 2100, 25), read(3, 2200, 12)]), [lockOfClient1]);
    expect(result.faults[0]!.p99Ratio).toBe(2.5);
    expect(result.faults[0]!.contained).toBe(false);
  });

  it('requests within the grace after the fault began are not judged; those after it are', () => {
    const freeze: FaultWindow = {
      name: 'freeze-instance',
      startMs: 2000,
      endMs: 3000,
      scope: { kind: 'none' },
      graceMs: 500,
    };
    expect(
      judgeAvailability(historyWith([read(2, 2100, 1250, 504), read(3, 2600, 12)]), [freeze]).faults[0],
    ).toMatchObject({ requests: 1, errors: 0, contained: true });
    expect(judgeAvailability(historyWith([read(3, 2600, 1250, 504)]), [freeze]).faults[0]).toMatchObject({
      requests: 1,
      errors: 1,
      contained: false,
    });
  });

  it('a fault every request passes through has nothing to judge, and does not count against containment', () => {
    const crash: FaultWindow = {
      name: 'crash-postgres',
      startMs: 2000,
      endMs: 3000,
      scope: { kind: 'all' },
      graceMs: 0,
    };
    const result = judgeAvailability(historyWith([read(2, 2100, 900, 503)]), [crash]);
    expect(result.faults[0]).toMatchObject({ requests: 0, contained: null, touchesAll: true });
    expect(result.contained).toBe(true);
  });

  it('requests overlapping a fault, or just after it, are not counted as quiet', () => {
    const result = judgeAvailability(historyWith([read(2, 1990, 40), read(2, 3500, 40)]), [lockOfClient1]);
    expect(result.quiet.requests).toBe(100);
  });

  it('p99 is the value below which 99% of requests fall', () => {
    expect(
      percentile(
        Array.from({ length: 100 }, (_, index) => index + 1),
        0.99,
      ),
    ).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.99)).toBeNull();
  });
});
