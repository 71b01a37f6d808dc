// The ledger checker's judgement, kept pure: a recorded history of requests
// and answers, plus what the database holds at the end, in; a verdict out.
// Nothing here talks to a server, so the checker itself can be tested by
// feeding it doctored histories (test/ledger-invariants.test.ts).
//
// Commit order: registrar_transacao inserts while holding the client's row
// lock, and the next transaction of that client can only take the lock after
// the previous one committed, so within one client, ascending transacoes.id
// is commit order. Balances are replayed in that order.

export type Outcome = 'applied' | 'refused' | 'invalid' | 'not-found' | 'unknown';

export interface TransactionOperation {
  kind: 'transacao';
  clientId: number;
  valor: number;
  tipo: 'c' | 'd';
  /** Unique per operation: how the database row is matched to the request. */
  descricao: string;
  startMs: number;
  endMs: number;
  status: number;
  outcome: Outcome;
  /** The answer's saldo when outcome is 'applied'. */
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
}

export interface DatabaseState {
  limits: Record<number, number>;
  /** Balances when the run began, and the last transacoes.id that existed then. */
  initialBalances: Record<number, number>;
  initialLastId: number;
  finalBalances: Record<number, number>;
  /** Every row of the clients checked, in id order, including those from before the run. */
  transactions: StoredTransaction[];
}

export const INVARIANTS = {
  1: 'every 200 transaction is stored exactly once; no 422 or unknown request left a row that was not asked for',
  2: 'each unknown-outcome transaction is stored at most once',
  3: 'each final balance equals the initial balance plus its transactions, and no prefix in commit order crosses -limite',
  4: 'every 200 answer\'s saldo is the balance right after that transaction in commit order',
  5: 'every statement is within the limit, newest first, a true prefix of commit order, and shows every transaction acknowledged before it began',
} as const;

export type InvariantNumber = keyof typeof INVARIANTS;

export interface Verdict {
  valid: boolean;
  operations: number;
  transactions: { acknowledged: number; refused: number; invalid: number; unknown: number; unknownApplied: number };
  statements: { read: number; unknown: number };
  violations: Record<InvariantNumber, number>;
  /** The first few violations of each invariant, in words. */
  examples: Record<InvariantNumber, string[]>;
}

const EXAMPLES_MAX = 5;

const rowKey = (row: { valor: number; tipo: string; descricao: string; realizada_em: string }) =>
  `${row.valor}|${row.tipo}|${row.descricao}|${row.realizada_em}`;

export function judge(history: Operation[], database: DatabaseState, runTag: string): Verdict {
  const violations: Record<InvariantNumber, number> = { 1: 0, 2: 0, 3: 0, 4: 0, 5: 0 };
  const examples: Record<InvariantNumber, string[]> = { 1: [], 2: [], 3: [], 4: [], 5: [] };
  const violate = (invariant: InvariantNumber, message: string) => {
    violations[invariant]++;
    if (examples[invariant].length < EXAMPLES_MAX) examples[invariant].push(message);
  };

  const transactions = history.filter((operation): operation is TransactionOperation => operation.kind === 'transacao');
  const statements = history.filter((operation): operation is StatementOperation => operation.kind === 'extrato');
  const byDescricao = new Map(transactions.map((operation) => [operation.descricao, operation]));

  // Rows written during the run, grouped by the request that asked for them.
  const runRows = database.transactions.filter((row) => row.id > database.initialLastId);
  const rowsByDescricao = new Map<string, StoredTransaction[]>();
  for (const row of runRows) {
    const list = rowsByDescricao.get(row.descricao) ?? [];
    list.push(row);
    rowsByDescricao.set(row.descricao, list);
  }

  // Invariants 1 and 2: each request's rows.
  let unknownApplied = 0;
  for (const operation of transactions) {
    const rows = rowsByDescricao.get(operation.descricao) ?? [];
    const matching = rows.filter((row) => row.clientId === operation.clientId && row.valor === operation.valor && row.tipo === operation.tipo);
    if (matching.length !== rows.length) violate(1, `${operation.descricao}: stored with other values than requested`);
    if (operation.outcome === 'applied' && rows.length !== 1) violate(1, `${operation.descricao}: answered 200 but stored ${rows.length} times`);
    if (operation.outcome !== 'applied' && operation.outcome !== 'unknown' && rows.length > 0) {
      violate(1, `${operation.descricao}: answered ${operation.status} but stored ${rows.length} times`);
    }
    if (operation.outcome === 'unknown') {
      if (rows.length > 1) violate(2, `${operation.descricao}: unknown outcome, stored ${rows.length} times`);
      if (rows.length === 1) unknownApplied++;
    }
  }
  for (const row of runRows) {
    if (!byDescricao.has(row.descricao)) {
      violate(1, `row ${row.id} (${row.descricao}) was stored during the run but no request of the run asked for it${row.descricao.startsWith(runTag) ? '' : ' (is something else writing?)'}`);
    }
  }

  // Invariants 3 and 4: replay each client's rows in commit order.
  const positionOf = new Map<string, { clientId: number; position: number }>();
  const balanceAfter = new Map<number, number[]>();
  const rowsOfClient = new Map<number, StoredTransaction[]>();
  for (const clientId of Object.keys(database.limits).map(Number)) {
    const rows = database.transactions.filter((row) => row.clientId === clientId);
    rowsOfClient.set(clientId, rows);
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
      if (balances[index + 1]! < -limit) violate(3, `client ${clientId}: balance ${balances[index + 1]} below -${limit} after row ${row.id}`);
    }
    balanceAfter.set(clientId, balances);
    rows.forEach((row, index) => positionOf.set(rowKey(row), { clientId, position: index + 1 }));
    const expectedFinal = balances[rows.length]!;
    if (database.finalBalances[clientId] !== expectedFinal) {
      violate(3, `client ${clientId}: final balance ${database.finalBalances[clientId]} but its transactions add up to ${expectedFinal}`);
    }
  }
  for (const operation of transactions) {
    if (operation.outcome !== 'applied') continue;
    const [row] = rowsByDescricao.get(operation.descricao) ?? [];
    if (row === undefined) continue; // already a violation of invariant 1
    const position = positionOf.get(rowKey(row))!.position;
    const expected = balanceAfter.get(operation.clientId)![position];
    if (operation.saldo !== expected) violate(4, `${operation.descricao}: answered saldo ${operation.saldo}, but the balance after it in commit order is ${expected}`);
    if (operation.limite !== database.limits[operation.clientId]) violate(4, `${operation.descricao}: answered limite ${operation.limite}`);
  }

  // Invariant 5: each statement is a snapshot of commit order, no older than
  // any write acknowledged before the read began, no newer than the writes
  // that had started by the time it ended. Per client, two prefix tables make
  // each read's check a binary search rather than a scan of the history.
  const acknowledgedByEnd = new Map<number, { endMs: number[]; highestPosition: number[]; descricao: string[] }>();
  const latestStartUpTo = new Map<number, number[]>();
  for (const [clientId, rows] of rowsOfClient) {
    const acknowledged = transactions
      .filter((write) => write.clientId === clientId && write.outcome === 'applied' && rowsByDescricao.get(write.descricao)?.length === 1)
      .map((write) => ({ write, position: positionOf.get(rowKey(rowsByDescricao.get(write.descricao)![0]!))!.position }))
      .sort((a, b) => a.write.endMs - b.write.endMs);
    const table = { endMs: [] as number[], highestPosition: [] as number[], descricao: [] as string[] };
    let highest = 0;
    let highestDescricao = '';
    for (const { write, position } of acknowledged) {
      if (position > highest) {
        highest = position;
        highestDescricao = write.descricao;
      }
      table.endMs.push(write.endMs);
      table.highestPosition.push(highest);
      table.descricao.push(highestDescricao);
    }
    acknowledgedByEnd.set(clientId, table);
    const latest = [Number.NEGATIVE_INFINITY];
    for (const row of rows) {
      const write = row.id > database.initialLastId ? byDescricao.get(row.descricao) : undefined;
      latest.push(Math.max(latest[latest.length - 1]!, write?.startMs ?? Number.NEGATIVE_INFINITY));
    }
    latestStartUpTo.set(clientId, latest);
  }

  for (const read of statements) {
    if (read.outcome !== 'read') continue;
    const limit = database.limits[read.clientId]!;
    const rows = rowsOfClient.get(read.clientId) ?? [];
    const balances = balanceAfter.get(read.clientId)!;
    const label = `statement of client ${read.clientId} at ${read.startMs.toFixed(0)} ms`;
    if (read.total! < -limit || read.limite !== limit) violate(5, `${label}: total ${read.total}, limite ${read.limite}`);
    const listed = read.transactions ?? [];
    let position = 0;
    if (listed.length > 0) {
      const newest = positionOf.get(rowKey(listed[0]!));
      if (newest === undefined || newest.clientId !== read.clientId) {
        violate(5, `${label}: lists a transaction (${listed[0]!.descricao}) that is not stored for this client`);
        continue;
      }
      position = newest.position;
    }
    const expectedList = rows.slice(Math.max(0, position - 10), position).reverse();
    if (listed.length !== expectedList.length || listed.some((item, index) => rowKey(item) !== rowKey(expectedList[index]!))) {
      violate(5, `${label}: its transactions are not the ${expectedList.length} newest in commit order up to row ${rows[position - 1]?.id ?? 'none'}`);
    }
    if (read.total !== balances[position]) violate(5, `${label}: total ${read.total} but the balance at that point of commit order is ${balances[position]}`);

    const table = acknowledgedByEnd.get(read.clientId)!;
    const acknowledgedBefore = countBelow(table.endMs, read.startMs);
    if (acknowledgedBefore > 0 && table.highestPosition[acknowledgedBefore - 1]! > position) {
      violate(5, `${label}: misses ${table.descricao[acknowledgedBefore - 1]}, acknowledged before the read began`);
    }
    if (latestStartUpTo.get(read.clientId)![position]! > read.endMs) {
      violate(5, `${label}: shows a transaction that was sent only after the read ended`);
    }
  }

  const count = (outcome: Outcome) => transactions.filter((operation) => operation.outcome === outcome).length;
  return {
    valid: Object.values(violations).every((value) => value === 0),
    operations: history.length,
    transactions: { acknowledged: count('applied'), refused: count('refused'), invalid: count('invalid') + count('not-found'), unknown: count('unknown'), unknownApplied },
    statements: { read: statements.filter((read) => read.outcome === 'read').length, unknown: statements.filter((read) => read.outcome === 'unknown').length },
    violations,
    examples,
  };
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
