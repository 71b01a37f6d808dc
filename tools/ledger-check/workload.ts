// The checker's load: concurrent clients, each sending one request at a
// time through the public port (a debit, a credit, a transfer to another
// checked client, or a statement read) and
// recording it in the history before it goes out, with its answer and its
// start and end times when it comes back.
//
// Half the transactions carry an Idempotency-Key, as a careful client's
// would: when one gets no answer, or a 409 or a 5xx, it is sent again with
// the same key, a few times, pausing longer each time, until an answer says
// what happened. Invariant 6 then holds the service to applying it exactly
// once however many attempts it took.

import { setTimeout as sleep } from 'node:timers/promises';
import type { History } from './history.js';
import type { Attempt, Outcome, StatementOperation, TransactionOperation } from './invariants.js';

const REQUEST_TIMEOUT_MS = 15_000;
const STATEMENT_SHARE = 0.25;
const KEYED_SHARE = 0.5;
/** Of the writes, the share that are transfers (the rest debits and credits). */
const TRANSFER_SHARE = 0.3;
/**
 * A keyed attempt gives up sooner than an unkeyed request: a careful client
 * that can retry safely does not wait long, and this is how transactions
 * whose answer was lost after they committed (the case a key is for) happen
 * in a run. A busy machine makes more of them, which only tests more.
 */
const KEYED_ATTEMPT_TIMEOUT_MS = 1_000;
/** Attempts of a keyed transaction; the pauses between them double from the first: 0.1 + 0.2 + ... + 1.6 s. */
const KEYED_ATTEMPTS_MAX = 6;
const RETRY_PAUSE_MS = 100;

export interface Workload {
  baseUrl: string;
  clientIds: number[];
  limits: Record<number, number>;
  concurrency: number;
  /** performance.now() after which no request is sent; read before every request, so it may move (see main.ts). */
  readonly deadline: number;
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

/** Another checked client than the payer, so that both sides of every transfer are in the books checked. */
function randomPayee(workload: Workload, payer: number): number {
  const others = workload.clientIds.filter((id) => id !== payer);
  return others[Math.floor(Math.random() * others.length)]!;
}

/** Mostly ordinary amounts, some large enough that refusals happen. */
function randomValor(limit: number): number {
  const roll = Math.random();
  if (roll < 0.7) return 1 + Math.floor(Math.random() * 10000);
  if (roll < 0.9) return 1 + Math.floor(Math.random() * (limit / 10));
  return 1 + Math.floor(limit * (0.5 + Math.random() * 0.7));
}

/**
 * What an answer says happened; 'unknown' for no answer, a 409 (still
 * running) or a 5xx that says it may have been applied. A 5xx whose body says
 * it was not applied is 'not-applied', and the checker holds the service to
 * that (invariant 1).
 */
function outcomeOf(status: number, text: string): Outcome {
  if (status === 200) return 'applied';
  if (status === 422) return text.includes('limite_excedido') ? 'refused' : 'invalid';
  if (status === 404) return 'not-found';
  if (status >= 500 && (JSON.parse(text) as { pode_ter_sido_aplicada?: boolean }).pode_ter_sido_aplicada === false)
    return 'not-applied';
  return 'unknown';
}

async function attempt(workload: Workload, operation: TransactionOperation): Promise<Attempt> {
  const { clientId, valor, tipo, descricao, key, para } = operation;
  try {
    const response = await fetch(
      `${workload.baseUrl}/clientes/${clientId}/${para === undefined ? 'transacoes' : 'transferencias'}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
        body: JSON.stringify(para === undefined ? { valor, tipo, descricao } : { para, valor, descricao }),
        signal: AbortSignal.timeout(key === undefined ? REQUEST_TIMEOUT_MS : KEYED_ATTEMPT_TIMEOUT_MS),
      },
    );
    const text = await response.text();
    const outcome = outcomeOf(response.status, text);
    const replayed = response.headers.get('idempotent-replayed') === 'true';
    if (outcome !== 'applied') return { status: response.status, outcome, replayed };
    const body = JSON.parse(text) as { saldo: number; limite: number };
    return { status: response.status, outcome, replayed, saldo: body.saldo, limite: body.limite };
  } catch {
    // Timed out or lost the connection: the outcome is unknown.
    return { status: 0, outcome: 'unknown', replayed: false };
  }
}

/**
 * Whether a keyed transaction's fate is still unknown: no attempt answered
 * what happened to it, and some attempt may have been applied. An attempt
 * answered "not applied" speaks for itself alone.
 */
function undecided(operation: TransactionOperation): boolean {
  const attempts = operation.attempts ?? [];
  const decided = attempts.some((answer) => answer.outcome !== 'unknown' && answer.outcome !== 'not-applied');
  return !decided && attempts.some((answer) => answer.outcome === 'unknown');
}

async function sendTransaction(workload: Workload): Promise<void> {
  const clientId = randomClient(workload);
  const valor = randomValor(workload.limits[clientId]!);
  const para =
    workload.clientIds.length > 1 && Math.random() < TRANSFER_SHARE ? randomPayee(workload, clientId) : undefined;
  // A transfer is the payer's debit (and the payee's credit).
  const tipo = para !== undefined || Math.random() < 2 / 3 ? 'd' : 'c';
  const operation: TransactionOperation = {
    kind: 'transacao',
    clientId,
    valor,
    tipo,
    descricao: workload.nextDescricao(),
    startMs: workload.elapsed(),
    endMs: 0,
    status: 0,
    outcome: 'unknown',
  };
  if (para !== undefined) operation.para = para;
  if (Math.random() < KEYED_SHARE) Object.assign(operation, { key: `chk-${operation.descricao}`, attempts: [] });
  if (!workload.history.admit(operation, operation.startMs)) return;
  for (let index = 0; ; index++) {
    const answer = await attempt(workload, operation);
    operation.attempts?.push(answer);
    Object.assign(operation, {
      status: answer.status,
      outcome: answer.outcome,
      saldo: answer.saldo,
      limite: answer.limite,
    });
    if (operation.key === undefined || index + 1 === KEYED_ATTEMPTS_MAX || !undecided(operation)) break;
    await sleep(RETRY_PAUSE_MS * 2 ** index);
  }
  // A later attempt refused unsent says nothing of an earlier one lost.
  if (undecided(operation)) operation.outcome = 'unknown';
  operation.endMs = workload.elapsed();
}

async function readStatement(workload: Workload): Promise<void> {
  const clientId = randomClient(workload);
  const operation: StatementOperation = {
    kind: 'extrato',
    clientId,
    startMs: workload.elapsed(),
    endMs: 0,
    status: 0,
    outcome: 'unknown',
  };
  if (!workload.history.admit(operation, operation.startMs)) return;
  try {
    const response = await fetch(`${workload.baseUrl}/clientes/${clientId}/extrato`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    operation.status = response.status;
    if (response.status === 200) {
      const body = JSON.parse(text) as {
        saldo: { total: number; limite: number };
        ultimas_transacoes: StatementOperation['transactions'];
      };
      Object.assign(operation, {
        outcome: 'read',
        total: body.saldo.total,
        limite: body.saldo.limite,
        transactions: body.ultimas_transacoes,
      });
    } else if (response.status === 404) {
      operation.outcome = 'not-found';
    }
  } catch {
    // Unknown: the read tells us nothing.
  }
  operation.endMs = workload.elapsed();
}
