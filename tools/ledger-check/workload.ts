// The checker's load: concurrent clients, each sending one request at a
// time through the public port (a debit, a credit, or a statement read) and
// recording it in the history before it goes out, with its answer and its
// start and end times when it comes back.

import type { History } from './history.js';
import type { StatementOperation, TransactionOperation } from './invariants.js';

const REQUEST_TIMEOUT_MS = 15_000;
const STATEMENT_SHARE = 0.25;

export interface Workload {
  baseUrl: string;
  clientIds: number[];
  limits: Record<number, number>;
  concurrency: number;
  /** performance.now() after which no request is sent. */
  deadline: number;
  /** Milliseconds since the run began: the history's clock. */
  elapsed: () => number;
  /** A descricao no other request of any run has used: how a stored row is matched to its request. */
  nextDescricao: () => string;
  history: History;
}

/** Sends requests until the deadline passes or the history is full. */
export async function runWorkload(workload: Workload): Promise<void> {
  const client = async () => {
    while (performance.now() < workload.deadline && !workload.history.full) {
      await (Math.random() < STATEMENT_SHARE ? readStatement(workload) : sendTransaction(workload));
    }
  };
  await Promise.all(Array.from({ length: workload.concurrency }, client));
}

const randomClient = (workload: Workload) => workload.clientIds[Math.floor(Math.random() * workload.clientIds.length)]!;

/** Mostly ordinary amounts, some large enough that refusals happen. */
function randomValor(limit: number): number {
  const roll = Math.random();
  if (roll < 0.7) return 1 + Math.floor(Math.random() * 10000);
  if (roll < 0.9) return 1 + Math.floor(Math.random() * (limit / 10));
  return 1 + Math.floor(limit * (0.5 + Math.random() * 0.7));
}

async function sendTransaction(workload: Workload): Promise<void> {
  const clientId = randomClient(workload);
  const valor = randomValor(workload.limits[clientId]!);
  const tipo = Math.random() < 2 / 3 ? 'd' : 'c';
  const operation: TransactionOperation = { kind: 'transacao', clientId, valor, tipo, descricao: workload.nextDescricao(), startMs: workload.elapsed(), endMs: 0, status: 0, outcome: 'unknown' };
  if (!workload.history.admit(operation, operation.startMs)) return;
  try {
    const response = await fetch(`${workload.baseUrl}/clientes/${clientId}/transacoes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ valor, tipo, descricao: operation.descricao }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    operation.status = response.status;
    if (response.status === 200) {
      const body = JSON.parse(text) as { saldo: number; limite: number };
      Object.assign(operation, { outcome: 'applied', saldo: body.saldo, limite: body.limite });
    } else if (response.status === 422) {
      operation.outcome = text.includes('limite_excedido') ? 'refused' : 'invalid';
    } else if (response.status === 404) {
      operation.outcome = 'not-found';
    } else if (response.status === 503 || response.status === 500) {
      // The service says whether it may have been applied; if it says not,
      // the checker holds it to that (invariant 1).
      const body = JSON.parse(text) as { pode_ter_sido_aplicada?: boolean };
      if (body.pode_ter_sido_aplicada === false) operation.outcome = 'not-applied';
    }
  } catch {
    // Timed out or lost the connection: the outcome is unknown.
  }
  operation.endMs = workload.elapsed();
}

async function readStatement(workload: Workload): Promise<void> {
  const clientId = randomClient(workload);
  const operation: StatementOperation = { kind: 'extrato', clientId, startMs: workload.elapsed(), endMs: 0, status: 0, outcome: 'unknown' };
  if (!workload.history.admit(operation, operation.startMs)) return;
  try {
    const response = await fetch(`${workload.baseUrl}/clientes/${clientId}/extrato`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await response.text();
    operation.status = response.status;
    if (response.status === 200) {
      const body = JSON.parse(text) as { saldo: { total: number; limite: number }; ultimas_transacoes: StatementOperation['transactions'] };
      Object.assign(operation, { outcome: 'read', total: body.saldo.total, limite: body.saldo.limite, transactions: body.ultimas_transacoes });
    } else if (response.status === 404) {
      operation.outcome = 'not-found';
    }
  } catch {
    // Unknown: the read tells us nothing.
  }
  operation.endMs = workload.elapsed();
}
