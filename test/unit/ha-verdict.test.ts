// The HA verdict can fail: doctored histories and books, each with the one
// flaw it must count (a lost acknowledged write, a row nobody was told of,
// a balance that does not add up, a "not applied" answer that left a row),
// and the write gap measured from the first acknowledged write sent after
// the fault.

import { describe, expect, it } from 'vitest';
import { haVerdictMarkdown, judgeHa } from '../../tools/ledger-check/ha-verdict.js';
import type { DatabaseState, StoredTransaction, TransactionOperation } from '../../tools/ledger-check/invariants.js';

const operation = (
  descricao: string,
  outcome: TransactionOperation['outcome'],
  startMs: number,
  endMs = startMs + 5,
): TransactionOperation => ({
  kind: 'transacao',
  clientId: 1,
  valor: 10,
  tipo: 'c',
  descricao,
  startMs,
  endMs,
  status: outcome === 'applied' ? 200 : 503,
  outcome,
});

let nextId = 100;
const row = (descricao: string): StoredTransaction => ({
  id: nextId++,
  clientId: 1,
  valor: 10,
  tipo: 'c',
  descricao,
  realizada_em: '2026-01-01T00:00:00.000Z',
  saldo_apos: 0,
});

function books(rows: StoredTransaction[], finalBalance = 10 * rows.length): DatabaseState {
  return {
    limits: { 1: 1000 },
    initialBalances: { 1: 0 },
    initialLastId: 99,
    finalBalances: { 1: finalBalance },
    transactions: rows,
  };
}

describe('the HA verdict', () => {
  it('is clean when every acknowledged write is stored and nothing else moved', () => {
    const verdict = judgeHa([operation('a', 'applied', 0), operation('b', 'not-applied', 10)], books([row('a')]), []);
    expect(verdict).toMatchObject({ acknowledgedLost: 0, moneyInvented: 0, notAppliedLeftRow: 0 });
  });

  it('counts a 200 whose row is missing as lost', () => {
    expect(
      judgeHa([operation('a', 'applied', 0), operation('b', 'applied', 10)], books([row('a')]), []).acknowledgedLost,
    ).toBe(1);
  });

  it('counts money in a row nobody was told of, and a balance that does not add up', () => {
    expect(judgeHa([operation('a', 'applied', 0)], books([row('a'), row('zz')]), []).moneyInvented).toBe(10);
    expect(judgeHa([operation('a', 'applied', 0)], books([row('a')], 25), []).moneyInvented).toBe(15);
  });

  it('counts a "not applied" answer that left a row', () => {
    expect(judgeHa([operation('a', 'not-applied', 0)], books([row('a')]), []).notAppliedLeftRow).toBe(1);
  });

  it('measures the gap to the first acknowledged write sent after the fault', () => {
    const history = [
      operation('a', 'applied', 0, 990),
      operation('b', 'unknown', 1100),
      operation('c', 'applied', 1200, 9000),
      operation('d', 'applied', 1300, 8000),
    ];
    const verdict = judgeHa(history, books(['a', 'c', 'd'].map(row)), [
      {
        name: 'freeze-primary-node',
        atMs: 1000,
        detail: '',
        recoveryMs: 1,
        window: { name: 'freeze-primary-node', startMs: 1000, endMs: 1001, scope: { kind: 'all' }, graceMs: 0 },
      },
    ]);
    expect(verdict.faults).toEqual([
      {
        name: 'freeze-primary-node',
        atMs: 1000,
        writeGapMs: 7000,
        acknowledgedLost: 0,
        moneyInvented: 0,
        notAppliedLeftRow: 0,
      },
    ]);
  });

  it('charges each flaw to the fault whose stretch its request started in, and prints one row per fault', () => {
    const fault = (name: string, atMs: number) => ({
      name,
      atMs,
      detail: '',
      recoveryMs: 1,
      window: { name, startMs: atMs, endMs: atMs + 1, scope: { kind: 'all' as const }, graceMs: 0 },
    });
    const history = [
      operation('before', 'applied', 500),
      operation('lost', 'applied', 1500),
      operation('left', 'not-applied', 2500),
      operation('ok', 'applied', 2600),
    ];
    const verdict = judgeHa(history, books([row('before'), row('left'), row('ok')], 30), [
      fault('kill-primary-node', 1000),
      fault('kill-primary-node', 2000),
    ]);
    expect(
      verdict.faults.map(({ acknowledgedLost, moneyInvented, notAppliedLeftRow }) => [
        acknowledgedLost,
        moneyInvented,
        notAppliedLeftRow,
      ]),
    ).toEqual([
      [1, 0, 0],
      [0, 10, 1],
    ]);
    const table = haVerdictMarkdown(verdict, { date: 'd', command: 'c', loadAverage: '1', valid: false });
    expect(table).toContain('| 1 | `kill-primary-node` | 1.0 | 0.5 | 1 | 0 | 0 |');
    expect(table).toContain('| 2 | `kill-primary-node` | 2.0 | 0.6 | 0 | 10 | 1 |');
    expect(table).toContain(`| all | run totals | | | 1 | ${verdict.moneyInvented} | 1 |`);
  });
});
