// The ledger checker must be able to fail. Each case takes one small, honest
// history with its database state, breaks it the way a buggy ledger would,
// and expects the checker to name the broken invariant.

import { describe, expect, it } from 'vitest';
import {
  judge,
  type Attempt,
  type DatabaseState,
  type Operation,
  type StoredTransaction,
  type TransactionOperation,
} from '../../tools/ledger-check/invariants.js';

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
  const write = (
    index: number,
    valor: number,
    tipo: 'c' | 'd',
    outcome: TransactionOperation['outcome'],
    saldo?: number,
  ): TransactionOperation => ({
    kind: 'transacao',
    clientId: 1,
    valor,
    tipo,
    descricao: `${TAG}000000${index}`,
    startMs: index * 10,
    endMs: index * 10 + 5,
    status: outcome === 'applied' ? 200 : 422,
    outcome,
    ...(saldo === undefined ? {} : { saldo, limite: LIMIT }),
  });
  const history: Operation[] = [
    write(1, 500, 'c', 'applied', 500),
    write(2, 1200, 'd', 'applied', -700),
    write(3, 900, 'd', 'refused'),
    {
      kind: 'extrato',
      clientId: 1,
      startMs: 100,
      endMs: 105,
      status: 200,
      outcome: 'read',
      total: -700,
      limite: LIMIT,
      transactions: [
        { valor: 1200, tipo: 'd', descricao: `${TAG}0000002`, realizada_em: time(2) },
        { valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1) },
      ],
    },
  ];
  const rows: StoredTransaction[] = [
    { id: 1, clientId: 1, valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1), saldo_apos: 500 },
    { id: 2, clientId: 1, valor: 1200, tipo: 'd', descricao: `${TAG}0000002`, realizada_em: time(2), saldo_apos: -700 },
  ];
  return {
    history,
    database: {
      limits: { 1: LIMIT },
      initialBalances: { 1: 0 },
      initialLastId: 0,
      finalBalances: { 1: -700 },
      transactions: rows,
    },
  };
}

const violated = (run: { history: Operation[]; database: DatabaseState }) => {
  const verdict = judge(run.history, run.database, TAG);
  return Object.entries(verdict.violations)
    .filter(([, count]) => count > 0)
    .map(([invariant]) => Number(invariant));
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
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 500,
      tipo: 'c',
      descricao: `${TAG}0000001`,
      realizada_em: time(4),
      saldo_apos: -200,
    });
    run.database.finalBalances[1] = -200;
    expect(violated(run)).toContain(1);
  });

  it('catches an unknown-outcome request applied twice', () => {
    const run = honestRun();
    const write = run.history[0] as TransactionOperation;
    Object.assign(write, { outcome: 'unknown', status: 502, saldo: undefined });
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 500,
      tipo: 'c',
      descricao: `${TAG}0000001`,
      realizada_em: time(4),
      saldo_apos: -200,
    });
    run.database.finalBalances[1] = -200;
    expect(violated(run)).toContain(2);
  });

  it('catches a balance past the limit', () => {
    const run = honestRun();
    // The refused debit of 900 was in fact applied, answered 200: -1600.
    Object.assign(run.history[2]!, { outcome: 'applied', status: 200, saldo: -1600, limite: LIMIT });
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 900,
      tipo: 'd',
      descricao: `${TAG}0000003`,
      realizada_em: time(3),
      saldo_apos: -1600,
    });
    run.database.finalBalances[1] = -1600;
    expect(violated(run)).toContain(3);
  });

  it('catches a refused request that left a row', () => {
    const run = honestRun();
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 900,
      tipo: 'd',
      descricao: `${TAG}0000003`,
      realizada_em: time(3),
      saldo_apos: -1600,
    });
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
    run.history.push({
      kind: 'transacao',
      clientId: 1,
      valor: 7,
      tipo: 'c',
      descricao: `${TAG}0000009`,
      startMs: 50,
      endMs: 51,
      status: 503,
      outcome: 'not-applied',
    });
    const verdict = judge(run.history, run.database, TAG);
    expect(verdict.valid).toBe(true);
    expect(verdict.transactions.notApplied).toBe(1);
  });

  it('catches money invented outside any request', () => {
    const run = honestRun();
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 100,
      tipo: 'c',
      descricao: 'presente',
      realizada_em: time(3),
      saldo_apos: -600,
    });
    run.database.finalBalances[1] = -600;
    expect(violated(run)).toContain(1);
  });

  it('catches a final balance that disagrees with the transactions', () => {
    const run = honestRun();
    run.database.finalBalances[1] = -650;
    // 50 appeared from nowhere: the sum of the balances moved by more than the transactions (7).
    expect(violated(run)).toEqual([3, 7]);
  });

  it('catches an answer whose saldo is not the balance after it', () => {
    const run = honestRun();
    (run.history[1] as TransactionOperation).saldo = -600;
    expect(violated(run)).toEqual([4]);
  });

  it('catches a stale statement that misses an acknowledged write', () => {
    const run = honestRun();
    const read = run.history[3]!;
    Object.assign(read, {
      total: 500,
      transactions: [{ valor: 500, tipo: 'c', descricao: `${TAG}0000001`, realizada_em: time(1) }],
    });
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

  it('catches a row whose saldo_apos is not the balance after it', () => {
    const run = honestRun();
    run.database.transactions[1]!.saldo_apos = -600;
    expect(violated(run)).toEqual([3]);
  });

  it('catches a statement that shows a write sent only after it ended', () => {
    const run = honestRun();
    Object.assign(run.history[1]!, { startMs: 200, endMs: 205 });
    expect(violated(run)).toEqual([5]);
  });
});

/**
 * The honest run, with the credit of 500 sent with a key: its first attempt
 * got no answer (a 503: it was applied, its reply lost), and the retry with
 * the same key was answered with the stored outcome, marked a replay.
 */
function keyedRun(): { history: Operation[]; database: DatabaseState; credit: TransactionOperation } {
  const run = honestRun();
  const credit = run.history[0] as TransactionOperation;
  const lost: Attempt = { status: 503, outcome: 'unknown', replayed: false };
  const replay: Attempt = { status: 200, outcome: 'applied', replayed: true, saldo: 500, limite: LIMIT };
  Object.assign(credit, { key: 'chk-1', attempts: [lost, replay] });
  return { ...run, credit };
}

describe('the ledger checker, for transactions retried with their key', () => {
  it('finds a retry answered by a replay valid, and counts it', () => {
    const { history, database } = keyedRun();
    const verdict = judge(history, database, TAG);
    expect(verdict.valid).toBe(true);
    expect(verdict.transactions).toMatchObject({ keyed: 1, retried: 1, retriedResolved: 1, retriedReplayed: 1 });
  });

  it('catches a retry applied again after a lost reply', () => {
    const run = keyedRun();
    run.credit.attempts![1] = { status: 200, outcome: 'applied', replayed: false, saldo: -200, limite: LIMIT };
    run.credit.saldo = -200;
    run.database.transactions.push({
      id: 3,
      clientId: 1,
      valor: 500,
      tipo: 'c',
      descricao: `${TAG}0000001`,
      realizada_em: time(4),
      saldo_apos: -200,
    });
    run.database.finalBalances[1] = -200;
    expect(violated(run)).toEqual(expect.arrayContaining([1, 6]));
  });

  it('catches a key answered as new twice', () => {
    const run = keyedRun();
    run.credit.attempts = [
      { status: 200, outcome: 'applied', replayed: false, saldo: 500, limite: LIMIT },
      { status: 200, outcome: 'applied', replayed: false, saldo: 500, limite: LIMIT },
    ];
    expect(violated(run)).toEqual([6]);
  });

  it('catches a replay that does not repeat the first answer', () => {
    const run = keyedRun();
    run.credit.attempts!.splice(1, 0, { status: 200, outcome: 'applied', replayed: false, saldo: 500, limite: LIMIT });
    run.credit.attempts![2] = { status: 200, outcome: 'applied', replayed: true, saldo: 400, limite: LIMIT };
    run.credit.saldo = 400;
    expect(violated(run)).toEqual(expect.arrayContaining([4, 6]));
  });

  it('catches a replay that came before the answer it replays', () => {
    const run = keyedRun();
    run.credit.attempts!.push({ status: 200, outcome: 'applied', replayed: false, saldo: 500, limite: LIMIT });
    expect(violated(run)).toEqual([6]);
  });

  it('catches a replayed refusal of a transaction that was stored', () => {
    const run = keyedRun();
    const refused: Attempt = { status: 422, outcome: 'refused', replayed: true };
    run.credit.attempts![1] = refused;
    Object.assign(run.credit, { status: 422, outcome: 'refused', saldo: undefined, limite: undefined });
    expect(violated(run)).toEqual(expect.arrayContaining([1, 6]));
  });
});

/**
 * The honest run plus client 2 (limit 1000, balance 0) and a transfer of 300
 * from client 1 to client 2 after the statement: client 1 ends at -1000,
 * client 2 at 300.
 */
function honestRunWithTransfer(): { history: Operation[]; database: DatabaseState } {
  const run = honestRun();
  const descricao = `${TAG}0000005`;
  run.history.push({
    kind: 'transacao',
    clientId: 1,
    para: 2,
    valor: 300,
    tipo: 'd',
    descricao,
    startMs: 200,
    endMs: 205,
    status: 200,
    outcome: 'applied',
    saldo: -1000,
    limite: LIMIT,
  });
  run.database.transactions.push(
    { id: 3, clientId: 1, valor: 300, tipo: 'd', descricao, realizada_em: time(5), saldo_apos: -1000, transferId: 1 },
    { id: 4, clientId: 2, valor: 300, tipo: 'c', descricao, realizada_em: time(6), saldo_apos: 300, transferId: 1 },
  );
  Object.assign(run.database, {
    limits: { 1: LIMIT, 2: LIMIT },
    initialBalances: { 1: 0, 2: 0 },
    finalBalances: { 1: -1000, 2: 300 },
  });
  return run;
}

describe('the ledger checker on transfers', () => {
  it('finds an honest history with a transfer valid', () => {
    const verdict = judge(honestRunWithTransfer().history, honestRunWithTransfer().database, TAG);
    expect(verdict.examples).toEqual({ 1: [], 2: [], 3: [], 4: [], 5: [], 6: [], 7: [] });
    expect(verdict.valid).toBe(true);
  });

  it('catches a transfer stored with its debit only (money that left and arrived nowhere)', () => {
    const run = honestRunWithTransfer();
    run.database.transactions = run.database.transactions.filter((row) => row.id !== 4);
    run.database.finalBalances[2] = 0;
    expect(violated(run)).toEqual(expect.arrayContaining([1, 7]));
  });

  it('catches a transfer whose credit is larger than its debit (money invented)', () => {
    const run = honestRunWithTransfer();
    Object.assign(
      run.database.transactions.find((row) => row.id === 4)!,
      { valor: 400, saldo_apos: 400 },
    );
    run.database.finalBalances[2] = 400;
    expect(violated(run)).toContain(7);
  });

  it('catches an unknown-outcome transfer stored with one side only', () => {
    const run = honestRunWithTransfer();
    Object.assign(run.history[run.history.length - 1]!, {
      outcome: 'unknown',
      status: 0,
      saldo: undefined,
      limite: undefined,
    });
    run.database.transactions = run.database.transactions.filter((row) => row.id !== 4);
    run.database.finalBalances[2] = 0;
    expect(violated(run)).toContain(7);
  });
});
