// Owns the statements operation (an extrato, in the contract's words): the
// statements of every client asked for in a batch, read in one query
// (extratos, sql/03-functions.sql), from one snapshot, and each answer built
// from its rows. The column list is written once here and both builds the
// query and names the columns the rows are read by.

import { STATEMENT_TRANSACTIONS_MAX } from '../../shared/limits.js';
import type { Database, Row } from '../database/pool.js';
import { QueryFailure } from '../database/pool.js';
import { failures, Failure } from '../../shared/failures.js';
import { invariant } from '../../shared/invariant.js';
import type { PreparedQuery } from './operation.js';

/** One of the newest transactions a statement lists. */
export interface StatementTransaction {
  valor: number;
  tipo: string;
  descricao: string;
  realizada_em: string;
}

/** A client's statement, as the contract writes it. */
export interface Statement {
  saldo: { total: number; data_extrato: string; limite: number };
  ultimas_transacoes: StatementTransaction[];
}

export type StatementAnswer = Statement | Failure;

const COLUMNS = ['ordem', 'saldo', 'limite', 'data_extrato', 'valor', 'tipo', 'descricao', 'realizada_em'] as const;
const at = Object.fromEntries(COLUMNS.map((name, index) => [name, index])) as Record<(typeof COLUMNS)[number], number>;
/** Calls extratos and the iso_utc it inlines, both with crebito_api's rights; warmed on client 1's newest rows. */
export const STATEMENT_QUERY: PreparedQuery = {
  name: 'extratos',
  text: `SELECT ${COLUMNS.join(', ')} FROM extratos($1, $2)`,
  functions: ['extratos', 'iso_utc'],
  warmUp: [[1], STATEMENT_TRANSACTIONS_MAX],
};

/**
 * One client's statement from its rows. A client with no transactions comes
 * as one row whose transaction columns are NULL; no row at all means no such
 * client.
 */
function toStatement(rows: Row[]): StatementAnswer {
  const first = rows[0];
  if (first === undefined) return failures.clientNotFound;
  invariant(rows.length <= STATEMENT_TRANSACTIONS_MAX, `a statement came back with ${rows.length} rows`);
  const transactions: StatementTransaction[] = [];
  for (const row of rows) {
    if (row[at.valor] === null) break;
    transactions.push({
      valor: row[at.valor] as number,
      tipo: row[at.tipo] as string,
      descricao: row[at.descricao] as string,
      realizada_em: row[at.realizada_em] as string,
    });
  }
  return {
    saldo: {
      total: first[at.saldo] as number,
      data_extrato: first[at.data_extrato] as string,
      limite: first[at.limite] as number,
    },
    ultimas_transacoes: transactions,
  };
}

/** One query, one snapshot, for every read that waited (a lone read is a list of one). */
export async function readStatements(database: Database, clientIds: number[]): Promise<StatementAnswer[]> {
  const rows = await database.query(STATEMENT_QUERY.name, STATEMENT_QUERY.text, [
    clientIds,
    STATEMENT_TRANSACTIONS_MAX,
  ]);
  // A read changes nothing, so a rejected one would be a bug in this query.
  invariant(!(rows instanceof QueryFailure && rows.kind === 'rejected'), 'the database rejected a statement read');
  if (rows instanceof QueryFailure) return clientIds.map(() => failures.readUnanswered);
  const rowsByPosition: Row[][] = clientIds.map(() => []);
  for (const row of rows) rowsByPosition[(row[at.ordem] as number) - 1]!.push(row);
  return rowsByPosition.map(toStatement);
}
