// Owns transfers on the ledger's side: money from one client (the payer,
// the path's id) to another (the payee, `para`). Transfers travel with the
// transactions: their requests join the transactions' calls (the transfer
// operation shares the transactions' batcher, operations/transfers.ts), so
// a call may hold both, decided in arrival order in one commit
// (registrar_movimentos, sql/09-transfers.sql). A call with no transfer in
// it is sent exactly as before transfers existed (transactions.ts); a call
// with one goes whole to registrar_movimentos.

import type { Database, Row } from '../database/pool.js';
import { QueryFailure } from '../database/pool.js';
import { failures } from '../../shared/failures.js';
import { invariant } from '../../shared/invariant.js';
import type { PreparedQuery } from './operation.js';
import {
  answerOf,
  Replay,
  sendTransactions,
  type PendingTransaction,
  type TransactionAnswer,
  type TransactionCallOptions,
} from './transactions.js';

/** A transfer as the client asked for it, validated (payee differs from the payer). */
export interface TransferRequest {
  para: number;
  valor: number;
  descricao: string;
}

/** What an applied transfer answers: the payer's limite and saldo after it, and the transfer's id. */
export interface TransferResult {
  limite: number;
  saldo: number;
  transferencia: number;
}

export interface PendingTransfer {
  clientId: number;
  transfer: TransferRequest;
  idempotencyKey: string | undefined;
  /** The proof of the API key that sent it (CREBITO_AUTH=keys; ApiKey.proof), or undefined without auth. */
  apiKeyProof?: Buffer | undefined;
}

/** Anything that moves money: what the transactions' queue carries. */
export type PendingMovement = PendingTransaction | PendingTransfer;
export type MovementAnswer = TransactionAnswer | TransferResult;

export const isTransfer = (pending: PendingMovement): pending is PendingTransfer => 'transfer' in pending;

/** The tipo registrar_movimentos knows a transfer by (a transaction's is c or d). */
const TRANSFER_TIPO = 't';

// Warmed as a transfer between ids no client has (the API never sends 0),
// answered without effect, with and without an idempotency key.
const NO_CLIENTS = [[0], [-1], [1], [TRANSFER_TIPO], ['aquecer']];
export const MOVEMENTS_QUERY: PreparedQuery = {
  name: 'registrar_movimentos',
  text:
    'SELECT resultado, limite, saldo, repetida, transferencia' +
    ' FROM registrar_movimentos($1, $2, $3, $4, $5, $6, $7, $8)',
  functions: ['registrar_movimentos'],
  warmUp: [...NO_CLIENTS, ['aquecer-3'], 0, null],
};

/** The columns of one call: per item its payer, payee (NULL for a transaction), amount, tipo, description, keys. */
export function movementValues(batch: PendingMovement[], keyWaitMsMax: number): unknown[] {
  const keyed = batch.some((pending) => pending.idempotencyKey !== undefined);
  const apiKeyed = batch.some((pending) => pending.apiKeyProof !== undefined);
  return [
    batch.map((pending) => pending.clientId),
    batch.map((pending) => (isTransfer(pending) ? pending.transfer.para : null)),
    batch.map((pending) => (isTransfer(pending) ? pending.transfer.valor : pending.request.valor)),
    batch.map((pending) => (isTransfer(pending) ? TRANSFER_TIPO : pending.request.tipo)),
    batch.map((pending) => (isTransfer(pending) ? pending.transfer.descricao : pending.request.descricao)),
    keyed ? batch.map((pending) => pending.idempotencyKey ?? null) : null,
    keyWaitMsMax,
    apiKeyed ? batch.map((pending) => pending.apiKeyProof ?? null) : null,
  ];
}

/** One answer row: a transaction's as transactions.ts reads it; an applied transfer's carries its id. */
function movementAnswerOf(pending: PendingMovement, row: Row): MovementAnswer {
  const answer = answerOf(row);
  if (!isTransfer(pending)) return answer;
  const transferencia = row[4] as number | null;
  const withId = (result: TransactionAnswer): MovementAnswer => {
    if (result instanceof Replay) return new Replay(withId(result.answer) as TransferResult);
    if (!('saldo' in result)) return result;
    invariant(transferencia !== null, 'an applied transfer came back without its id');
    return { limite: result.limite, saldo: result.saldo, transferencia };
  };
  return withId(answer);
}

/** Sends a batch holding at least one transfer as one call, answering each item in order. */
export async function sendMovements(
  database: Database,
  batch: PendingMovement[],
  options: TransactionCallOptions,
): Promise<MovementAnswer[]> {
  const values = movementValues(batch, options.idempotencyKeyWaitMsMax);
  const rows = await database.query(MOVEMENTS_QUERY.name, MOVEMENTS_QUERY.text, values);
  if (rows instanceof QueryFailure) {
    // As for transactions: unanswered means unknown; refused data means a bug in one item, found by sending each alone.
    if (rows.kind === 'unavailable') return batch.map(() => failures.databaseUnanswered);
    if (batch.length === 1) {
      const message = 'BUG: the database rejected a transfer that passed validation';
      options.log.error({ err: rows.error, item: batch[0] }, message);
      return [failures.rejectedByDatabase];
    }
    const answers: MovementAnswer[] = [];
    for (const pending of batch) answers.push(...(await sendAny(database, [pending], options)));
    return answers;
  }
  invariant(rows.length === batch.length, `a batch of ${batch.length} movements returned ${rows.length} rows`);
  return rows.map((row, index) => movementAnswerOf(batch[index]!, row));
}

/** A call without transfers goes as transactions always went; one with any goes to registrar_movimentos. */
export function sendAny(
  database: Database,
  batch: PendingMovement[],
  options: TransactionCallOptions,
): Promise<MovementAnswer[]> {
  if (batch.some(isTransfer)) return sendMovements(database, batch, options);
  return sendTransactions(database, batch as PendingTransaction[], options);
}
