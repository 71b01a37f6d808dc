// The ledger checker must be able to fail. Each case takes one small, honest
// history with its database state, breaks it the way a buggy ledger would,
// and expects the checker to name the broken invariant.

import { describe, expect, it } from 'vitest';
import { judge, type DatabaseState, type Operation, type StoredTransaction, type TransactionOperation } from '../tools/ledger-check/invariants.js';

const TAG = 'tst';
const LIMIT = 1000;

function time(index: number): string {
  return `2026-01-01T00:00:${String(index).padStart(2, '0')}.000000Z`;
}

/**
 * Client 1 (limit 1000), starting at balance 0 with no rows: a credit of 500,
 * a debit of 1200 (to -700), a refused debit of 900, then a statement read
 * after all of them.
 */
function honestRun(): { history: Operation[]; database: DatabaseState } {
  const write = (index: number, valor: number, tipo: 'c' | 'd', outcome: TransactionOperation['outcome'], saldo?: number): TransactionOperation => ({
    kind: 'transacao', clientId: 1, valor, tipo, descricao: `${TAG}000000${index}`, startMs: index * 10, endMs: index * 10 + 5,
    status: outcome === 'applied' ? 200 : 422, outcome, ...(saldo === undefined ? {} : { saldo, limite: LIMIT }),
  });
  const history: Operation[] = [
    write(1, 500, 'c', 'applied', 500),
    write(2, 1200, 'd', 'applied', -700),
    write(3, 900, 'd', 'refused'),
    {
      kind: 'extrato', clientId: 1, startMs: 100, endMs: 105, status: 200, outcome: 'read', total: -700, limite: LIMIT,
      transactions: [
        { valor: 1200, tipo: 'd', descricao: `${TAG}0000002`, realizada_em: time(2) },
        { valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1) },
      ],
    },
  ];
  const rows: StoredTransaction[] = [
    { id: 1, clientId: 1, valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1) },
    { id: 2, clientId: 1, valor: 1200, tipo: 'd', descricao: `${TAG}0000002`, realizada_em: time(2) },
  ];
  return {
    history,
    database: { limits: { 1: LIMIT }, initialBalances: { 1: 0 }, initialLastId: 0, finalBalances: { 1: -700 }, transactions: rows },
  };
}

const violated = (run: { history: Operation[]; database: DatabaseState }) => {
  const verdict = judge(run.history, run.database, TAG);
  return Object.entries(verdict.violations).filter(([, count]) => count > 0).map(([invariant]) => Number(invariant));
};

describe('the ledger checker', () => {
  it('finds an honest history valid', () => {
    const verdict = judge(honestRun().history, honestRun().database, TAG);
    expect(verdict.valid).toBe(true);
    expect(verdict.transactions).toMatchObject({ acknowledged: 2, refused: 1, unknown: 0 });
    expect(verdict.statements.read).toBe(1);
  });

  it('catches a lost acknowledged write', () => {
    const run = honestRun();
    run.database.transactions = run.database.transactions.filter((row) => row.id !== 1);
    run.database.finalBalances[1] = -1200;
    expect(violated(run)).toContain(1);
  });

  it('catches a double apply', () => {
    const run = honestRun();
    run.database.transactions.push({ id: 3, clientId: 1, valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(4) });
    run.database.finalBalances[1] = -200;
    expect(violated(run)).toContain(1);
  });

  it('catches an unknown-outcome request applied twice', () => {
    const run = honestRun();
    const write = run.history[0] as TransactionOperation;
    Object.assign(write, { outcome: 'unknown', status: 502, saldo: undefined });
    run.database.transactions.push({ id: 3, clientId: 1, valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(4) });
    run.database.finalBalances[1] = -200;
    expect(violated(run)).toContain(2);
  });

  it('catches a balance past the limit', () => {
    const run = honestRun();
    // The refused debit of 900 was in fact applied, answered 200: -1600.
    Object.assign(run.history[2]!, { outcome: 'applied', status: 200, saldo: -1600, limite: LIMIT });
    run.database.transactions.push({ id: 3, clientId: 1, valor: 900, tipo: 'd', descricao: `${TAG}0000003`, realizada_em: time(3) });
    run.database.finalBalances[1] = -1600;
    expect(violated(run)).toContain(3);
  });

  it('catches a refused request that left a row', () => {
    const run = honestRun();
    run.database.transactions.push({ id: 3, clientId: 1, valor: 900, tipo: 'd', descricao: `${TAG}0000003`, realizada_em: time(3) });
    run.database.finalBalances[1] = -1600;
    expect(violated(run)).toEqual(expect.arrayContaining([1, 3]));
  });

  it('catches a 503 that said "not applied" and left a row', () => {
    const run = honestRun();
    const write = run.history[1] as TransactionOperation;
    Object.assign(write, { outcome: 'not-applied', status: 503, saldo: undefined, limite: undefined });
    expect(violated(run)).toContain(1);
  });

  it('accepts a 503 that said "not applied" and left no row', () => {
    const run = honestRun();
    run.history.push({ kind: 'transacao', clientId: 1, valor: 7, tipo: 'c', descricao: `${TAG}0000009`, startMs: 50, endMs: 51, status: 503, outcome: 'not-applied' });
    const verdict = judge(run.history, run.database, TAG);
    expect(verdict.valid).toBe(true);
    expect(verdict.transactions.notApplied).toBe(1);
  });

  it('catches money invented outside any request', () => {
    const run = honestRun();
    run.database.transactions.push({ id: 3, clientId: 1, valor: 100, tipo: 'c', descricao: 'presente', realizada_em: time(3) });
    run.database.finalBalances[1] = -600;
    expect(violated(run)).toContain(1);
  });

  it('catches a final balance that disagrees with the transactions', () => {
    const run = honestRun();
    run.database.finalBalances[1] = -650;
    expect(violated(run)).toEqual([3]);
  });

  it('catches an answer whose saldo is not the balance after it', () => {
    const run = honestRun();
    (run.history[1] as TransactionOperation).saldo = -600;
    expect(violated(run)).toEqual([4]);
  });

  it('catches a stale statement that misses an acknowledged write', () => {
    const run = honestRun();
    const read = run.history[3]!;
    Object.assign(read, { total: 500, transactions: [{ valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1) }] });
    expect(violated(run)).toEqual([5]);
  });

  it('catches a statement in the wrong order', () => {
    const run = honestRun();
    const read = run.history[3] as { transactions: unknown[] };
    read.transactions.reverse();
    expect(violated(run)).toEqual([5]);
  });

  it('catches a statement whose total does not match its transactions', () => {
    const run = honestRun();
    Object.assign(run.history[3]!, { total: -690 });
    expect(violated(run)).toEqual([5]);
  });

  it('catches a statement that shows a write sent only after it ended', () => {
    const run = honestRun();
    Object.assign(run.history[1]!, { startMs: 200, endMs: 205 });
    expect(violated(run)).toEqual([5]);
  });
});
