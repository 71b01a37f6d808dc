// Owns one database call for transactions: a lone transaction goes to
// registrar_transacao, several that waited together to registrar_transacoes
// (one commit for all; see batcher.ts). Each answer row becomes a result or a
// Failure of the catalogue, by the outcome code the SQL functions return.

import type { Log } from '../shared/log.js';
import type { Database, Row } from './database.js';
import { QueryFailure } from './database.js';
import { failureForCode, failures, Failure, invariant, InvariantError } from './errors.js';
import type { TransactionResult } from './serializers.js';
import type { TransactionRequest } from './validation.js';

export interface PendingTransaction {
  clientId: number;
  request: TransactionRequest;
}

export type TransactionAnswer = TransactionResult | Failure;

/** The outcome of an applied transaction; every other outcome is an error code (sql/03-functions.sql). */
const OUTCOME_APPLIED = 'aplicada';

const SINGLE = { name: 'registrar_transacao', text: 'SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)' };
const BATCH = { name: 'registrar_transacoes', text: 'SELECT resultado, limite, saldo FROM registrar_transacoes($1, $2, $3, $4)' };

function call(database: Database, batch: PendingTransaction[]): Promise<Row[] | QueryFailure> {
  if (batch.length === 1) {
    const [{ clientId, request }] = batch as [PendingTransaction];
    return database.query(SINGLE.name, SINGLE.text, [clientId, request.valor, request.tipo, request.descricao]);
  }
  return database.query(BATCH.name, BATCH.text, [
    batch.map((pending) => pending.clientId),
    batch.map((pending) => pending.request.valor),
    batch.map((pending) => pending.request.tipo),
    batch.map((pending) => pending.request.descricao),
  ]);
}

export function answerOf(row: Row): TransactionAnswer {
  const [resultado, limite, saldo] = row as [string, number | null, number | null];
  if (resultado === OUTCOME_APPLIED) {
    invariant(limite !== null && saldo !== null && saldo >= -limite, `applied transaction left saldo ${saldo} with limite ${limite}`);
    return { limite, saldo };
  }
  const failure = failureForCode(resultado);
  if (failure === undefined) throw new InvariantError(`the database answered outcome ${JSON.stringify(resultado)}, which the catalogue does not know`);
  return failure;
}

/** Sends a batch as one call and answers each transaction in it, in order. */
export async function sendTransactions(database: Database, batch: PendingTransaction[], log: Log): Promise<TransactionAnswer[]> {
  const rows = await call(database, batch);
  if (rows instanceof QueryFailure) {
    // A call that did not answer may have committed before its reply was
    // lost: every transaction in it has an unknown outcome.
    if (rows.kind === 'unavailable') return batch.map(() => failures.databaseUnavailable);
    return isolateRejected(database, batch, rows.error, log);
  }
  invariant(rows.length === batch.length, `a batch of ${batch.length} transactions returned ${rows.length} rows`);
  return rows.map(answerOf);
}

/**
 * The database refused the data of a call (a row that passed our validation
 * broke a rule of the schema) and rolled it all back, so nothing was
 * applied. One bad transaction must not fail the others that shared its
 * call: each is sent again alone, in the same order, and only the one the
 * database refuses on its own is answered 500 and logged as the bug it is.
 */
async function isolateRejected(database: Database, batch: PendingTransaction[], error: Error, log: Log): Promise<TransactionAnswer[]> {
  if (batch.length === 1) {
    const [{ clientId, request }] = batch as [PendingTransaction];
    log.error({ err: error, clientId, request }, 'BUG: the database rejected a transaction that passed validation');
    return [failures.rejectedByDatabase];
  }
  const answers: TransactionAnswer[] = [];
  for (const pending of batch) answers.push(...await sendTransactions(database, [pending], log));
  return answers;
}
