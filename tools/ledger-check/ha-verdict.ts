// What the HA faults are judged by, beside the invariants: acknowledged
// transactions lost (a 200 with no row: a write the old primary took that
// the new one never had), money invented (rows nobody was told were
// applied, or balances that do not add up), "not applied" answers that left
// a row, and per fault how long no write succeeded. Pure, like invariants.ts.

import type { FaultRecord } from './faults.js';
import type { DatabaseState, Operation, TransactionOperation } from './invariants.js';

/** What went wrong with requests started from one fault until the next (or the end): the fault they are charged to. */
export interface HaFaultVerdict {
  name: string;
  atMs: number;
  writeGapMs: number | null;
  acknowledgedLost: number;
  /** Money in rows whose request, started in this stretch, was told it was not applied or refused. */
  moneyInvented: number;
  notAppliedLeftRow: number;
}

export interface HaVerdict {
  acknowledgedLost: number;
  /** Money in rows no request was told was applied or may have been, plus any balance that does not add up. */
  moneyInvented: number;
  notAppliedLeftRow: number;
  faults: HaFaultVerdict[];
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
    const moved = runRows
      .filter((row) => row.clientId === Number(client))
      .reduce((sum, row) => sum + (row.tipo === 'c' ? row.valor : -row.valor), 0);
    invented += Math.abs(database.finalBalances[Number(client)]! - initial - moved);
  }
  return invented;
}

/** From the fault's start to the end of the first write started after it that was acknowledged. */
function writeGapMs(transactions: TransactionOperation[], atMs: number): number | null {
  let first: number | null = null;
  for (const operation of transactions) {
    if (operation.outcome === 'applied' && operation.startMs >= atMs && (first === null || operation.endMs < first))
      first = operation.endMs;
  }
  return first === null ? null : first - atMs;
}

export function judgeHa(history: Operation[], database: DatabaseState, faults: FaultRecord[]): HaVerdict {
  const transactions = history.filter((operation): operation is TransactionOperation => operation.kind === 'transacao');
  const rows = new Map(
    database.transactions.filter((row) => row.id > database.initialLastId).map((row) => [row.descricao, row]),
  );
  const stored = new Set(database.transactions.map((row) => row.descricao));
  const lost = transactions.filter((operation) => operation.outcome === 'applied' && !stored.has(operation.descricao));
  const leftRow = transactions.filter(
    (operation) => operation.outcome === 'not-applied' && stored.has(operation.descricao),
  );
  const invented = transactions.filter(
    (operation) => !MAY_HAVE_MOVED.has(operation.outcome) && rows.has(operation.descricao),
  );
  const spanOf = (index: number) => (operation: Operation) =>
    operation.startMs >= faults[index]!.atMs &&
    (index + 1 === faults.length || operation.startMs < faults[index + 1]!.atMs);
  return {
    acknowledgedLost: lost.length,
    moneyInvented: moneyInvented(transactions, database),
    notAppliedLeftRow: leftRow.length,
    faults: faults.map((fault, index) => ({
      name: fault.name,
      atMs: fault.atMs,
      writeGapMs: writeGapMs(transactions, fault.atMs),
      acknowledgedLost: lost.filter(spanOf(index)).length,
      moneyInvented: invented
        .filter(spanOf(index))
        .reduce((sum, operation) => sum + rows.get(operation.descricao)!.valor, 0),
      notAppliedLeftRow: leftRow.filter(spanOf(index)).length,
    })),
  };
}

/**
 * The verdict as a table for people (results/*.md): one row per fault, the
 * nth of each kind being run n. Per row, what went wrong with requests started
 * from that fault until the next; the run's totals (which also count what
 * no request can be charged with: a balance that does not add up) below.
 */
export function haVerdictMarkdown(
  verdict: HaVerdict,
  run: { date: string; command: string; loadAverage: string; valid: boolean },
): string {
  const seen = new Map<string, number>();
  const seconds = (ms: number | null) => (ms === null ? 'never' : (ms / 1000).toFixed(1));
  const rows = verdict.faults.map((fault) => {
    const number = (seen.get(fault.name) ?? 0) + 1;
    seen.set(fault.name, number);
    return (
      `| ${number} | \`${fault.name}\` | ${(fault.atMs / 1000).toFixed(1)} | ${seconds(fault.writeGapMs)} ` +
      `| ${fault.acknowledgedLost} | ${fault.moneyInvented} | ${fault.notAppliedLeftRow} |`
    );
  });
  return [
    `# HA faults: ${run.date}`,
    '',
    `\`${run.command}\``,
    '',
    `load average before the run: ${run.loadAverage}; valid: ${run.valid}`,
    '',
    '| run | fault | at s | seconds without a successful write | acknowledged lost | money invented | "not applied" left a row |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...rows,
    `| all | run totals | | | ${verdict.acknowledgedLost} | ${verdict.moneyInvented} | ${verdict.notAppliedLeftRow} |`,
    '',
  ].join('\n');
}

export const haVerdictHolds = (verdict: HaVerdict) =>
  verdict.acknowledgedLost === 0 && verdict.moneyInvented === 0 && verdict.notAppliedLeftRow === 0;

export function printHaVerdict(verdict: HaVerdict): void {
  console.log(
    `  HA: acknowledged transactions lost ${verdict.acknowledgedLost}; money invented ${verdict.moneyInvented}; ` +
      `"not applied" answers that left a row ${verdict.notAppliedLeftRow}`,
  );
  for (const fault of verdict.faults) {
    const gap =
      fault.writeGapMs === null
        ? 'no write succeeded after it'
        : `${(fault.writeGapMs / 1000).toFixed(1)} s without a successful write`;
    console.log(`  HA: ${fault.name} at ${(fault.atMs / 1000).toFixed(1)} s: ${gap}`);
  }
}
