// What the HA faults are judged by, beside the invariants: acknowledged
// transactions lost (a 200 with no row: a write the old primary took that
// the new one never had), money invented (rows nobody was told were
// applied, or balances that do not add up), "not applied" answers that left
// a row, and per fault how long no write succeeded. Pure, like invariants.ts.

import type { FaultRecord } from './faults.js';
import type { DatabaseState, Operation, TransactionOperation } from './invariants.js';

export interface HaVerdict {
  acknowledgedLost: number;
  /** Money in rows no request was told was applied or may have been, plus any balance that does not add up. */
  moneyInvented: number;
  notAppliedLeftRow: number;
  faults: { name: string; atMs: number; writeGapMs: number | null }[];
}

const MAY_HAVE_MOVED = new Set(['applied', 'unknown']);

function moneyInvented(transactions: TransactionOperation[], database: DatabaseState): number {
  const byDescricao = new Map(transactions.map((operation) => [operation.descricao, operation]));
  const runRows = database.transactions.filter((row) => row.id > database.initialLastId);
  let invented = 0;
  for (const row of runRows) {
    const asked = byDescricao.get(row.descricao);
    if (asked === undefined || !MAY_HAVE_MOVED.has(asked.outcome)) invented += row.valor;
  }
  for (const [client, initial] of Object.entries(database.initialBalances)) {
    const moved = runRows.filter((row) => row.clientId === Number(client)).reduce((sum, row) => sum + (row.tipo === 'c' ? row.valor : -row.valor), 0);
    invented += Math.abs(database.finalBalances[Number(client)]! - initial - moved);
  }
  return invented;
}

/** From the fault's start to the end of the first write started after it that was acknowledged. */
function writeGapMs(transactions: TransactionOperation[], atMs: number): number | null {
  let first: number | null = null;
  for (const operation of transactions) {
    if (operation.outcome === 'applied' && operation.startMs >= atMs && (first === null || operation.endMs < first)) first = operation.endMs;
  }
  return first === null ? null : first - atMs;
}

export function judgeHa(history: Operation[], database: DatabaseState, faults: FaultRecord[]): HaVerdict {
  const transactions = history.filter((operation): operation is TransactionOperation => operation.kind === 'transacao');
  const stored = new Set(database.transactions.map((row) => row.descricao));
  return {
    acknowledgedLost: transactions.filter((operation) => operation.outcome === 'applied' && !stored.has(operation.descricao)).length,
    moneyInvented: moneyInvented(transactions, database),
    notAppliedLeftRow: transactions.filter((operation) => operation.outcome === 'not-applied' && stored.has(operation.descricao)).length,
    faults: faults.map((fault) => ({ name: fault.name, atMs: fault.atMs, writeGapMs: writeGapMs(transactions, fault.atMs) })),
  };
}

export const haVerdictHolds = (verdict: HaVerdict) => verdict.acknowledgedLost === 0 && verdict.moneyInvented === 0 && verdict.notAppliedLeftRow === 0;

export function printHaVerdict(verdict: HaVerdict): void {
  console.log(`  HA: acknowledged transactions lost ${verdict.acknowledgedLost}; money invented ${verdict.moneyInvented}; "not applied" answers that left a row ${verdict.notAppliedLeftRow}`);
  for (const fault of verdict.faults) {
    console.log(`  HA: ${fault.name} at ${(fault.atMs / 1000).toFixed(1)} s: ${fault.writeGapMs === null ? 'no write succeeded after it' : `${(fault.writeGapMs / 1000).toFixed(1)} s without a successful write`}`);
  }
}
