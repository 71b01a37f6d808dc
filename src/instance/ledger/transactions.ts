// Owns the transactions operation: a lone transaction goes to
// registrar_transacao, a batch of several that waited together to
// registrar_transacoes (one commit for all; see batcher.ts), with their idempotency keys if any
// has one. Each answer row becomes a result or a Failure of the catalogue,
// by the outcome code the SQL functions return, wrapped in a Replay when it
// is a stored outcome answered again.

import type { Log } from '../../shared/log.js';
import type { Database, Row } from '../database/pool.js';
import { QueryFailure } from '../database/pool.js';
import { failureForCode, failures, Failure } from '../../shared/failures.js';
import { invariant, InvariantError } from '../../shared/invariant.js';
import type { PreparedQuery } from './operation.js';

/** A transaction as the client asked for it, validated. */
export interface TransactionRequest {
  valor: number;
  tipo: 'c' | 'd';
  descricao: string;
}

/** What an applied transaction answers. */
export interface TransactionResult {
  limite: number;
  saldo: number;
}

export interface PendingTransaction {
  clientId: number;
  request: TransactionRequest;
  /** Its Idempotency-Key, or undefined for none. */
  idempotencyKey: string | undefined;
  /** The proof of the API key that sent it (CREBITO_AUTH=keys; ApiKey.proof), or undefined without auth. */
  apiKeyProof?: Buffer | undefined;
}

/** A stored outcome answered again to a retry with the same idempotency key: nothing moved this time. */
export class Replay {
  constructor(readonly answer: TransactionResult | Failure) {}
}

export type TransactionAnswer = TransactionResult | Failure | Replay;

/** The outcome of an applied transaction; every other outcome is an error code (sql/03-functions.sql). */
const OUTCOME_APPLIED = 'aplicada';

// Calls without a key are exactly what they were before keys existed; a
// call with an idempotency key or an API key adds the idempotency keys, the
// longest wait for a key in use and the API keys.
//
// Each is warmed for client 0, which no path names (ids start at 1): the
// functions answer cliente_nao_encontrado without moving anything (the batch
// function still runs, and so plans, its UPDATE and INSERT, over no row). Not
// NULL: the functions refuse a NULL client as no transaction the API sends.
const NO_CLIENT = [0, 1, 'c', 'aquecer'];
const NO_CLIENTS = [
  [0, 0],
  [1, 1],
  ['c', 'd'],
  ['aquecer', 'aquecer'],
];
export const TRANSACTION_QUERY: PreparedQuery = {
  name: 'registrar_transacao',
  text: 'SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)',
  functions: ['registrar_transacao'],
  warmUp: NO_CLIENT,
};
export const TRANSACTION_KEYED_QUERY: PreparedQuery = {
  name: 'registrar_transacao_chave',
  text: 'SELECT resultado, limite, saldo, repetida FROM registrar_transacao($1, $2, $3, $4, $5, $6, $7)',
  functions: ['registrar_transacao'],
  warmUp: [...NO_CLIENT, 'aquecer-0', 0, null],
};
export const TRANSACTION_BATCH_QUERY: PreparedQuery = {
  name: 'registrar_transacoes',
  text: 'SELECT resultado, limite, saldo FROM registrar_transacoes($1, $2, $3, $4)',
  functions: ['registrar_transacoes'],
  warmUp: NO_CLIENTS,
};
export const TRANSACTION_BATCH_KEYED_QUERY: PreparedQuery = {
  name: 'registrar_transacoes_chave',
  text: 'SELECT resultado, limite, saldo, repetida FROM registrar_transacoes($1, $2, $3, $4, $5, $6, $7)',
  functions: ['registrar_transacoes'],
  warmUp: [...NO_CLIENTS, ['aquecer-1', 'aquecer-2'], 0, null],
};
export const TRANSACTION_QUERIES = [
  TRANSACTION_QUERY,
  TRANSACTION_KEYED_QUERY,
  TRANSACTION_BATCH_QUERY,
  TRANSACTION_BATCH_KEYED_QUERY,
];

export interface TransactionCallOptions {
  /** How long a keyed request waits for another with the same key (CREBITO_IDEMPOTENCY_WAIT_MS_MAX). */
  idempotencyKeyWaitMsMax: number;
  log: Log;
}

function call(
  database: Database,
  batch: PendingTransaction[],
  options: TransactionCallOptions,
): Promise<Row[] | QueryFailure> {
  const keyed = batch.some((pending) => pending.idempotencyKey !== undefined || pending.apiKeyProof !== undefined);
  if (batch.length === 1) {
    const [{ clientId, request, idempotencyKey, apiKeyProof }] = batch as [PendingTransaction];
    const values = [clientId, request.valor, request.tipo, request.descricao];
    if (!keyed) return database.query(TRANSACTION_QUERY.name, TRANSACTION_QUERY.text, values);
    const keyedValues = [...values, idempotencyKey ?? null, options.idempotencyKeyWaitMsMax, apiKeyProof ?? null];
    return database.query(TRANSACTION_KEYED_QUERY.name, TRANSACTION_KEYED_QUERY.text, keyedValues);
  }
  const columns = [
    batch.map((pending) => pending.clientId),
    batch.map((pending) => pending.request.valor),
    batch.map((pending) => pending.request.tipo),
    batch.map((pending) => pending.request.descricao),
  ];
  if (!keyed) return database.query(TRANSACTION_BATCH_QUERY.name, TRANSACTION_BATCH_QUERY.text, columns);
  const idempotencyKeys = batch.some((pending) => pending.idempotencyKey !== undefined)
    ? batch.map((pending) => pending.idempotencyKey ?? null)
    : null;
  const apiKeyProofs = batch.some((pending) => pending.apiKeyProof !== undefined)
    ? batch.map((pending) => pending.apiKeyProof ?? null)
    : null;
  const values = [...columns, idempotencyKeys, options.idempotencyKeyWaitMsMax, apiKeyProofs];
  return database.query(TRANSACTION_BATCH_KEYED_QUERY.name, TRANSACTION_BATCH_KEYED_QUERY.text, values);
}

export function answerOf(row: Row): TransactionAnswer {
  const [resultado, limite, saldo, repetida] = row as [string, number | null, number | null, boolean | undefined];
  let answer: TransactionResult | Failure;
  if (resultado === OUTCOME_APPLIED) {
    invariant(
      limite !== null && saldo !== null && saldo >= -limite,
      `applied transaction left saldo ${saldo} with limite ${limite}`,
    );
    answer = { limite, saldo };
  } else {
    const failure = failureForCode(resultado);
    if (failure === undefined)
      throw new InvariantError(
        `the database answered outcome ${JSON.stringify(resultado)}, which the catalogue does not know`,
      );
    answer = failure;
  }
  return repetida === true ? new Replay(answer) : answer;
}

/** Sends a batch as one call and answers each transaction in it, in order. */
export async function sendTransactions(
  database: Database,
  batch: PendingTransaction[],
  options: TransactionCallOptions,
): Promise<TransactionAnswer[]> {
  const rows = await call(database, batch, options);
  if (rows instanceof QueryFailure) {
    // A call that did not answer may have committed before its reply was
    // lost: every transaction in it has an unknown outcome.
    if (rows.kind === 'unavailable') return batch.map(() => failures.databaseUnanswered);
    return isolateRejected(database, batch, rows.error, options);
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
async function isolateRejected(
  database: Database,
  batch: PendingTransaction[],
  error: Error,
  options: TransactionCallOptions,
): Promise<TransactionAnswer[]> {
  if (batch.length === 1) {
    const [{ clientId, request }] = batch as [PendingTransaction];
    options.log.error(
      { err: error, clientId, request },
      'BUG: the database rejected a transaction that passed validation',
    );
    return [failures.rejectedByDatabase];
  }
  const answers: TransactionAnswer[] = [];
  for (const pending of batch) answers.push(...(await sendTransactions(database, [pending], options)));
  return answers;
}
