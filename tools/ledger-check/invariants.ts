// The ledger checker's judgement, kept pure: a recorded history of requests
// and answers, plus what the database holds at the end, in; a verdict out.
// Nothing here talks to a server, so the checker itself can be tested by
// feeding it doctored histories (test/unit/checker-invariants.test.ts).
//
// Commit order: registrar_transacao inserts while holding the client's row
// lock, and the next transaction of that client can only take the lock after
// the previous one committed, so within one client, ascending transacoes.id
// is commit order. Balances are replayed in that order.

import { STATEMENT_TRANSACTIONS_MAX } from '../../src/shared/limits.js';

/** A 503 or 500 whose body says it was not applied is 'not-applied'; any other failure is 'unknown'. */
export type Outcome = 'applied' | 'refused' | 'invalid' | 'not-found' | 'not-applied' | 'unknown';

export interface TransactionOperation {
  kind: 'transacao';
  clientId: number;
  valor: number;
  tipo: 'c' | 'd';
  /** Unique per operation: how the database row is matched to the request. */
  descricao: string;
  /** From the first attempt's start to the last attempt's end. */
  startMs: number;
  endMs: number;
  /** The last answer's status, and the outcome it tells (unknown when no attempt got one). */
  status: number;
  outcome: Outcome;
  /** The answer's saldo when outcome is 'applied'. */
  saldo?: number;
  limite?: number;
  /** Its Idempotency-Key, when it was sent with one: then an unknown outcome is retried with the same key. */
  key?: string;
  /** Every attempt of a keyed operation, in order. */
  attempts?: Attempt[];
  /**
   * For a transfer (POST transferencias): the payee. clientId is then the
   * payer, tipo 'd', and an applied transfer is two rows: the payer's debit
   * and the payee's credit, of the same valor and descricao.
   */
  para?: number;
}

/** One attempt of a keyed operation: its status (0: no answer), and what the answer said. */
export interface Attempt {
  status: number;
  outcome: Outcome;
  /** Marked Idempotent-Replayed: the stored outcome of an earlier attempt. */
  replayed: boolean;
  saldo?: number;
  limite?: number;
}

export interface StatementOperation {
  kind: 'extrato';
  clientId: number;
  startMs: number;
  endMs: number;
  status: number;
  outcome: 'read' | 'unknown' | 'not-found';
  total?: number;
  limite?: number;
  transactions?: { valor: number; tipo: string; descricao: string; realizada_em: string }[];
}

export type Operation = TransactionOperation | StatementOperation;

export interface StoredTransaction {
  id: number;
  clientId: number;
  valor: number;
  tipo: 'c' | 'd';
  descricao: string;
  realizada_em: string;
  /** The balance right after it, as the database recorded it. */
  saldo_apos: number;
  /** The transfer it is a side of; absent or null for a transaction. */
  transferId?: number | null;
}

export interface DatabaseState {
  limits: Record<number, number>;
  /** Balances when the run began, and the last transacoes.id that existed then. */
  initialBalances: Record<number, number>;
  initialLastId: number;
  finalBalances: Record<number, number>;
  /** The rows of the clients checked, in id order: all written during the run, and the newest from before it (as many as a statement lists). */
  transactions: StoredTransaction[];
}

export const INVARIANTS = {
  1: 'every 200 transaction is stored exactly once; no 422, no 503 that said "not applied", no unknown request left a row that was not asked for',
  2: 'each unknown-outcome transaction is stored at most once',
  3:
    'each final balance equals the initial balance plus its transactions, no prefix in commit order crosses -limite,' +
    " and each row's saldo_apos is the balance right after it",
  4: "every 200 answer's saldo is the balance right after that transaction in commit order",
  5: 'every statement is within the limit, newest first, a true prefix of commit order, and shows every transaction acknowledged before it began',
  6:
    'each keyed transaction, however many attempts it took, is answered as new at most once,' +
    ' every replay repeats that answer exactly, and it is stored once if applied, never if refused',
  7:
    'transfers conserve money: the sum of all balances moves only by transactions (external credits and debits),' +
    " and every transfer has both its rows (the payer's debit, the payee's credit, one valor) or none",
} as const;

export type InvariantNumber = keyof typeof INVARIANTS;

export interface Verdict {
  valid: boolean;
  operations: number;
  transactions: {
    acknowledged: number;
    refused: number;
    invalid: number;
    notApplied: number;
    unknown: number;
    unknownApplied: number;
    /**
     * Sent with an Idempotency-Key; of those, sent more than once; of those,
     * ending with a known outcome; and of those, answered by a replay: applied
     * by an attempt whose answer was lost.
     */
    keyed: number;
    retried: number;
    retriedResolved: number;
    retriedReplayed: number;
  };
  /** Of the transactions, the transfers (POST transferencias): by outcome, and the distinct transfers stored during the run. */
  transfers: { acknowledged: number; refused: number; unknown: number; unknownApplied: number; stored: number };
  statements: { read: number; unknown: number };
  violations: Record<InvariantNumber, number>;
  /** The first few violations of each invariant, in words. */
  examples: Record<InvariantNumber, string[]>;
}

const EXAMPLES_MAX = 5;

const rowKey = (row: { valor: number; tipo: string; descricao: string; realizada_em: string }) =>
  `${row.valor}|${row.tipo}|${row.descricao}|${row.realizada_em}`;

/** Counts the violations of each invariant and keeps the first few in words. */
class Violations {
  readonly counts: Record<InvariantNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0 };
  readonly examples: Record<InvariantNumber, string[]> = { 1: [], 2: [], 3: [], 4: [], 5: [], 6: [], 7: [] };

  add(invariant: InvariantNumber, message: string): void {
    this.counts[invariant]++;
    if (this.examples[invariant].length < EXAMPLES_MAX) this.examples[invariant].push(message);
  }
}

/** The history and the rows written during the run, indexed by what matches them: the descricao. */
interface Requests {
  transactions: TransactionOperation[];
  statements: StatementOperation[];
  byDescricao: Map<string, TransactionOperation>;
  runRows: StoredTransaction[];
  rowsByDescricao: Map<string, StoredTransaction[]>;
}

/** Each client's rows in commit order, the balance after each, and where each row stands. */
interface CommitOrder {
  rowsOfClient: Map<number, StoredTransaction[]>;
  /** Per client, index i: the balance after its first i rows (0: before any). */
  balanceAfter: Map<number, number[]>;
  /** By rowKey: the client and the 1-based position of the row in its commit order. */
  positionOf: Map<string, { clientId: number; position: number }>;
}

export function judge(history: Operation[], database: DatabaseState, runTag: string): Verdict {
  const violations = new Violations();
  const requests = indexRequests(history, database);
  const unknownApplied = checkRowsOfEachRequest(requests, violations, runTag);
  const order = replayCommitOrder(database, violations);
  checkAnsweredBalances(requests, order, database, violations);
  checkStatements(requests, order, database, violations);
  const retries = checkKeyedTransactions(requests, violations);
  checkTransfers(requests, database, violations);
  const count = (outcome: Outcome) => requests.transactions.filter((operation) => operation.outcome === outcome).length;
  const { statements } = requests;
  return {
    valid: Object.values(violations.counts).every((value) => value === 0),
    operations: history.length,
    transactions: {
      acknowledged: count('applied'),
      refused: count('refused'),
      invalid: count('invalid') + count('not-found'),
      notApplied: count('not-applied'),
      unknown: count('unknown'),
      unknownApplied,
      ...retries,
    },
    transfers: countTransfers(requests),
    statements: {
      read: statements.filter((read) => read.outcome === 'read').length,
      unknown: statements.filter((read) => read.outcome === 'unknown').length,
    },
    violations: violations.counts,
    examples: violations.examples,
  };
}

function indexRequests(history: Operation[], database: DatabaseState): Requests {
  const transactions = history.filter((operation): operation is TransactionOperation => operation.kind === 'transacao');
  const statements = history.filter((operation): operation is StatementOperation => operation.kind === 'extrato');
  // Rows written during the run, grouped by the request that asked for them.
  const runRows = database.transactions.filter((row) => row.id > database.initialLastId);
  const rowsByDescricao = new Map<string, StoredTransaction[]>();
  for (const row of runRows) {
    const list = rowsByDescricao.get(row.descricao) ?? [];
    list.push(row);
    rowsByDescricao.set(row.descricao, list);
  }
  const byDescricao = new Map(transactions.map((operation) => [operation.descricao, operation]));
  return { transactions, statements, byDescricao, runRows, rowsByDescricao };
}

/** Invariants 1 and 2: each request's rows, and no row without a request. Returns how many unknown outcomes were applied. */
function checkRowsOfEachRequest(requests: Requests, violations: Violations, runTag: string): number {
  let unknownApplied = 0;
  for (const operation of requests.transactions) {
    const rows = requests.rowsByDescricao.get(operation.descricao) ?? [];
    const matching = rows.filter((row) => isRowOf(operation, row));
    if (matching.length !== rows.length)
      violations.add(1, `${operation.descricao}: stored with other values than requested`);
    if (operation.outcome === 'applied' && rows.length !== rowsWhenApplied(operation))
      violations.add(1, `${operation.descricao}: answered 200 but stored ${rows.length} rows`);
    if (operation.outcome !== 'applied' && operation.outcome !== 'unknown' && rows.length > 0) {
      violations.add(1, `${operation.descricao}: answered ${operation.status} but stored ${rows.length} times`);
    }
    if (operation.outcome === 'unknown') {
      if (rows.length > rowsWhenApplied(operation))
        violations.add(2, `${operation.descricao}: unknown outcome, stored ${rows.length} rows`);
      if (rows.length > 0) unknownApplied++;
    }
  }
  for (const row of requests.runRows) {
    if (!requests.byDescricao.has(row.descricao)) {
      violations.add(
        1,
        `row ${row.id} (${row.descricao}) was stored during the run but no request of the run asked for it` +
          (row.descricao.startsWith(runTag) ? '' : ' (is something else writing?)'),
      );
    }
  }
  return unknownApplied;
}

function countTransfers(requests: Requests): Verdict['transfers'] {
  const transfers = requests.transactions.filter((operation) => operation.para !== undefined);
  const count = (outcome: Outcome) => transfers.filter((operation) => operation.outcome === outcome).length;
  const stored = new Set(requests.runRows.flatMap((row) => (row.transferId == null ? [] : [row.transferId]))).size;
  const unknownApplied = transfers.filter(
    (operation) =>
      operation.outcome === 'unknown' && (requests.rowsByDescricao.get(operation.descricao)?.length ?? 0) > 0,
  ).length;
  return {
    acknowledged: count('applied'),
    refused: count('refused'),
    unknown: count('unknown'),
    unknownApplied,
    stored,
  };
}

/** How many rows an applied operation leaves: a transaction one, a transfer two. */
const rowsWhenApplied = (operation: TransactionOperation) => (operation.para === undefined ? 1 : 2);

/** Whether a stored row is what the operation asked for: its own row, or for a transfer either side. */
function isRowOf(operation: TransactionOperation, row: StoredTransaction): boolean {
  if (row.valor !== operation.valor) return false;
  if (operation.para === undefined) return row.clientId === operation.clientId && row.tipo === operation.tipo;
  return (
    (row.clientId === operation.clientId && row.tipo === 'd') || (row.clientId === operation.para && row.tipo === 'c')
  );
}

/** The row an operation's answer speaks of: the payer's, for a transfer. */
const ownRow = (operation: TransactionOperation, rows: StoredTransaction[]) =>
  rows.find((row) => row.clientId === operation.clientId);

/**
 * Invariant 3 alone, for a run that keeps no history of its requests (the
 * fuzzer): each final balance equals the initial one plus its transactions,
 * no prefix in commit order crosses -limite, each saldo_apos adds up. Returns
 * the first few violations in words; empty when the books are exact.
 */
export function booksViolations(database: DatabaseState): string[] {
  const violations = new Violations();
  replayCommitOrder(database, violations);
  return violations.counts[3] === 0 ? [] : [`${violations.counts[3]} violation(s)`, ...violations.examples[3]];
}

/** Invariant 3: replays each client's rows in commit order; no prefix below -limite, and the final balance adds up. */
function replayCommitOrder(database: DatabaseState, violations: Violations): CommitOrder {
  const order: CommitOrder = { rowsOfClient: new Map(), balanceAfter: new Map(), positionOf: new Map() };
  for (const clientId of Object.keys(database.limits).map(Number)) {
    const rows = database.transactions.filter((row) => row.clientId === clientId);
    const limit = database.limits[clientId]!;
    const before = rows.filter((row) => row.id <= database.initialLastId);
    // Balances before the run are reconstructed backwards from the balance
    // when it began; index 0 is "before any row".
    const balances = new Array<number>(rows.length + 1);
    balances[before.length] = database.initialBalances[clientId]!;
    for (let index = before.length - 1; index >= 0; index--) {
      balances[index] = balances[index + 1]! - delta(rows[index]!);
    }
    for (let index = before.length; index < rows.length; index++) {
      const row = rows[index]!;
      balances[index + 1] = balances[index]! + delta(row);
      if (balances[index + 1]! < -limit)
        violations.add(3, `client ${clientId}: balance ${balances[index + 1]} below -${limit} after row ${row.id}`);
    }
    rows.forEach((row, index) => {
      if (row.saldo_apos !== balances[index + 1])
        violations.add(
          3,
          `row ${row.id} (${row.descricao}): saldo_apos ${row.saldo_apos}, but the balance after it in commit order is ${balances[index + 1]}`,
        );
    });
    const expectedFinal = balances[rows.length]!;
    if (database.finalBalances[clientId] !== expectedFinal) {
      violations.add(
        3,
        `client ${clientId}: final balance ${database.finalBalances[clientId]} but its transactions add up to ${expectedFinal}`,
      );
    }
    order.rowsOfClient.set(clientId, rows);
    order.balanceAfter.set(clientId, balances);
    rows.forEach((row, index) => order.positionOf.set(rowKey(row), { clientId, position: index + 1 }));
  }
  return order;
}

/** Invariant 4: every 200's saldo is the balance right after its row in commit order, and its limite the client's. */
function checkAnsweredBalances(
  requests: Requests,
  order: CommitOrder,
  database: DatabaseState,
  violations: Violations,
): void {
  for (const operation of requests.transactions) {
    if (operation.outcome !== 'applied') continue;
    const row = ownRow(operation, requests.rowsByDescricao.get(operation.descricao) ?? []);
    if (row === undefined) continue; // already a violation of invariant 1
    const position = order.positionOf.get(rowKey(row))!.position;
    const expected = order.balanceAfter.get(operation.clientId)![position];
    if (operation.saldo !== expected)
      violations.add(
        4,
        `${operation.descricao}: answered saldo ${operation.saldo}, but the balance after it in commit order is ${expected}`,
      );
    if (operation.limite !== database.limits[operation.clientId])
      violations.add(4, `${operation.descricao}: answered limite ${operation.limite}`);
  }
}

/**
 * Per client, two prefix tables that make each statement's freshness check a
 * binary search rather than a scan of the history: the acknowledged writes
 * by end time with the highest position acknowledged so far, and for each
 * position the latest start of any run write up to it.
 */
interface FreshnessTables {
  acknowledgedByEnd: { endMs: number[]; highestPosition: number[]; descricao: string[] };
  latestStartUpTo: number[];
}

function freshnessTables(
  clientId: number,
  rows: StoredTransaction[],
  requests: Requests,
  order: CommitOrder,
  initialLastId: number,
): FreshnessTables {
  // A transfer's answer acknowledges both its rows: the payee's statement must show it too.
  const acknowledged = requests.transactions
    .filter(
      (write) =>
        write.outcome === 'applied' && requests.rowsByDescricao.get(write.descricao)?.length === rowsWhenApplied(write),
    )
    .flatMap((write) =>
      requests.rowsByDescricao
        .get(write.descricao)!
        .filter((row) => row.clientId === clientId)
        .map((row) => ({ write, position: order.positionOf.get(rowKey(row))!.position })),
    )
    .sort((a, b) => a.write.endMs - b.write.endMs);
  const acknowledgedByEnd = { endMs: [] as number[], highestPosition: [] as number[], descricao: [] as string[] };
  let highest = 0;
  let highestDescricao = '';
  for (const { write, position } of acknowledged) {
    if (position > highest) {
      highest = position;
      highestDescricao = write.descricao;
    }
    acknowledgedByEnd.endMs.push(write.endMs);
    acknowledgedByEnd.highestPosition.push(highest);
    acknowledgedByEnd.descricao.push(highestDescricao);
  }
  const latestStartUpTo = [Number.NEGATIVE_INFINITY];
  for (const row of rows) {
    const write = row.id > initialLastId ? requests.byDescricao.get(row.descricao) : undefined;
    latestStartUpTo.push(
      Math.max(latestStartUpTo[latestStartUpTo.length - 1]!, write?.startMs ?? Number.NEGATIVE_INFINITY),
    );
  }
  return { acknowledgedByEnd, latestStartUpTo };
}

/**
 * Invariant 5: each statement is a snapshot of commit order, no older than
 * any write acknowledged before the read began, no newer than the writes
 * that had started by the time it ended.
 */
function checkStatements(
  requests: Requests,
  order: CommitOrder,
  database: DatabaseState,
  violations: Violations,
): void {
  const tables = new Map<number, FreshnessTables>();
  for (const [clientId, rows] of order.rowsOfClient)
    tables.set(clientId, freshnessTables(clientId, rows, requests, order, database.initialLastId));
  for (const read of requests.statements) {
    if (read.outcome !== 'read') continue;
    checkStatement(read, order, tables.get(read.clientId)!, database.limits[read.clientId]!, violations);
  }
}

function checkStatement(
  read: StatementOperation,
  order: CommitOrder,
  tables: FreshnessTables,
  limit: number,
  violations: Violations,
): void {
  const rows = order.rowsOfClient.get(read.clientId) ?? [];
  const balances = order.balanceAfter.get(read.clientId)!;
  const label = `statement of client ${read.clientId} at ${read.startMs.toFixed(0)} ms`;
  if (read.total! < -limit || read.limite !== limit)
    violations.add(5, `${label}: total ${read.total}, limite ${read.limite}`);
  const listed = read.transactions ?? [];
  let position = 0;
  if (listed.length > 0) {
    const newest = order.positionOf.get(rowKey(listed[0]!));
    if (newest === undefined || newest.clientId !== read.clientId) {
      violations.add(5, `${label}: lists a transaction (${listed[0]!.descricao}) that is not stored for this client`);
      return;
    }
    position = newest.position;
  }
  const expectedList = rows.slice(Math.max(0, position - STATEMENT_TRANSACTIONS_MAX), position).reverse();
  if (
    listed.length !== expectedList.length ||
    listed.some((item, index) => rowKey(item) !== rowKey(expectedList[index]!))
  ) {
    violations.add(
      5,
      `${label}: its transactions are not the ${expectedList.length} newest in commit order up to row ${rows[position - 1]?.id ?? 'none'}`,
    );
  }
  if (read.total !== balances[position])
    violations.add(
      5,
      `${label}: total ${read.total} but the balance at that point of commit order is ${balances[position]}`,
    );

  const { acknowledgedByEnd, latestStartUpTo } = tables;
  const acknowledgedBefore = countBelow(acknowledgedByEnd.endMs, read.startMs);
  if (acknowledgedBefore > 0 && acknowledgedByEnd.highestPosition[acknowledgedBefore - 1]! > position) {
    violations.add(
      5,
      `${label}: misses ${acknowledgedByEnd.descricao[acknowledgedBefore - 1]}, acknowledged before the read began`,
    );
  }
  if (latestStartUpTo[position]! > read.endMs) {
    violations.add(5, `${label}: shows a transaction that was sent only after the read ended`);
  }
}

const sameAnswer = (a: Attempt, b: Attempt) =>
  a.status === b.status && a.outcome === b.outcome && a.saldo === b.saldo && a.limite === b.limite;

/**
 * Invariant 6: a keyed transaction is applied exactly once however many
 * attempts it took. At most one attempt is answered as new (not marked a
 * replay), and no replay comes before it; every answer repeats the first
 * one exactly; and the transaction is stored once if that answer was an
 * application, never if it was a refusal. (An unknown outcome on every
 * attempt is invariant 2's: stored at most once.)
 */
function checkKeyedTransactions(
  requests: Requests,
  violations: Violations,
): { keyed: number; retried: number; retriedResolved: number; retriedReplayed: number } {
  const counts = { keyed: 0, retried: 0, retriedResolved: 0, retriedReplayed: 0 };
  for (const operation of requests.transactions) {
    if (operation.key === undefined) continue;
    counts.keyed++;
    const attempts = operation.attempts ?? [];
    if (attempts.length > 1) counts.retried++;
    if (attempts.length > 1 && operation.outcome !== 'unknown') counts.retriedResolved++;
    // An attempt refused unsent ('not-applied') says nothing of the others.
    const answered = attempts.filter((answer) => answer.outcome !== 'unknown' && answer.outcome !== 'not-applied');
    const first = answered[0];
    if (first === undefined) continue;
    if (attempts.length > 1 && answered.every((answer) => answer.replayed)) counts.retriedReplayed++;
    const label = `${operation.descricao} (key ${operation.key}, ${attempts.length} attempts)`;
    const fresh = answered.filter((answer) => !answer.replayed).length;
    if (fresh > 1) violations.add(6, `${label}: answered as new ${fresh} times`);
    if (fresh === 1 && first.replayed)
      violations.add(6, `${label}: answered as a replay before it was answered as new`);
    if (answered.some((answer) => !sameAnswer(answer, first)))
      violations.add(
        6,
        `${label}: its answers differ: ${answered.map((answer) => `${answer.status}/${answer.saldo}`).join(', ')}`,
      );
    const stored = requests.rowsByDescricao.get(operation.descricao)?.length ?? 0;
    if (
      (first.outcome === 'applied' && stored !== rowsWhenApplied(operation)) ||
      (first.outcome === 'refused' && stored !== 0)
    ) {
      violations.add(6, `${label}: answered ${first.outcome} but stored ${stored} times`);
    }
  }
  return counts;
}

/**
 * Invariant 7: the balances of the clients checked moved, in sum, by exactly
 * the run's transactions (a transfer adds to one what it takes from another),
 * and every transfer written during the run is whole: two rows, the payer's
 * debit and the payee's credit, one valor, one request.
 */
function checkTransfers(requests: Requests, database: DatabaseState, violations: Violations): void {
  const sum = (balances: Record<number, number>) =>
    Object.keys(database.limits).reduce((total, id) => total + balances[Number(id)]!, 0);
  const external = requests.runRows
    .filter((row) => row.transferId == null)
    .reduce((total, row) => total + delta(row), 0);
  const moved = sum(database.finalBalances) - sum(database.initialBalances);
  if (moved !== external)
    violations.add(7, `the balances moved ${moved} in sum, but the run's transactions add up to ${external}`);
  const sides = new Map<number, StoredTransaction[]>();
  for (const row of requests.runRows)
    if (row.transferId != null) sides.set(row.transferId, [...(sides.get(row.transferId) ?? []), row]);
  for (const [transferId, rows] of sides) {
    const [debit, credit] = [rows.find((row) => row.tipo === 'd'), rows.find((row) => row.tipo === 'c')];
    const whole =
      rows.length === 2 &&
      debit !== undefined &&
      credit !== undefined &&
      debit.valor === credit.valor &&
      debit.clientId !== credit.clientId &&
      debit.descricao === credit.descricao;
    const listed = rows.map((row) => `${row.clientId}/${row.tipo}/${row.valor}`).join(', ');
    if (!whole)
      violations.add(
        7,
        `transfer ${transferId}: ${rows.length} row(s) (${listed}), not one debit and one credit of one valor`,
      );
    else if (requests.byDescricao.get(debit.descricao)?.para !== credit.clientId)
      violations.add(
        7,
        `transfer ${transferId} (${debit.descricao}): no transfer request to client ${credit.clientId} asked for it`,
      );
  }
  for (const operation of requests.transactions) {
    if (operation.para === undefined) continue;
    const rows = requests.rowsByDescricao.get(operation.descricao) ?? [];
    if (
      rows.length !== 0 &&
      (rows.length !== 2 || rows[0]!.transferId == null || rows[0]!.transferId !== rows[1]!.transferId)
    ) {
      violations.add(7, `${operation.descricao}: a transfer stored as ${rows.length} row(s) not naming one transfer`);
    }
  }
}

/** How many of the ascending values are strictly below the limit. */
function countBelow(ascending: number[], limit: number): number {
  let low = 0;
  let high = ascending.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ascending[middle]! < limit) low = middle + 1;
    else high = middle;
  }
  return low;
}

function delta(row: { valor: number; tipo: string }): number {
  return row.tipo === 'c' ? row.valor : -row.valor;
}
