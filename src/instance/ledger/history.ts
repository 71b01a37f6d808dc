// Owns the history operation, one database call for a page of a client's
// history (GET /clientes/{id}/transacoes): the query (sql/06-history.sql) and how
// its rows become a page, or a Failure of the catalogue by the code the
// function answers. The column list is written once here and both builds
// the query and names the columns the rows are read by.

import type { Log } from '../../shared/log.js';
import type { Database, Row } from '../database/pool.js';
import { QueryFailure } from '../database/pool.js';
import { failureForCode, failures, Failure } from '../../shared/failures.js';
import { invariant, InvariantError } from '../../shared/invariant.js';
import { encodeCursor, type Cursor } from './history-cursor.js';
import type { PreparedQuery } from './operation.js';
import type { StatementTransaction } from './statements.js';

/** A page asked for, validated (http/history-query.ts reads it from the query string). */
export interface HistoryQuery {
  limit: number;
  /** The page starts below this cursor's id; undefined: the newest page. */
  before: Cursor | undefined;
  tipo: 'c' | 'd' | undefined;
  /** ISO 8601 times, as sent (PostgreSQL reads them): `desde` inclusive, `ate` exclusive. */
  since: string | undefined;
  until: string | undefined;
  /** Inclusive bounds on valor (`valor_min`, `valor_max`). */
  amountMin: number | undefined;
  amountMax: number | undefined;
}

export interface HistoryEntry extends StatementTransaction {
  id: number;
  saldo_apos: number;
  /** The name of the API key that made it; absent when none did. */
  chave_api?: string;
  /** For a transfer's row: the transfer's id and the other client (payee of a debit, payer of a credit). */
  transferencia?: number;
  contraparte?: number;
}

export interface HistoryPage {
  transacoes: HistoryEntry[];
  /** Absent on the last page. */
  next?: string;
}

export type HistoryAnswer = HistoryPage | Failure;

export interface HistoryRead {
  clientId: number;
  query: HistoryQuery;
}

/** The resultado of every row of a page, and of the one row after them that names the next page; any other is one row with an error code. */
const OUTCOME_PAGE = 'pagina';
const OUTCOME_NEXT = 'proxima';

const COLUMNS = [
  'resultado',
  'id',
  'valor',
  'tipo',
  'descricao',
  'realizada_em',
  'saldo_apos',
  'etiqueta',
  'chave_api',
  'transferencia',
  'contraparte',
] as const;
const at = Object.fromEntries(COLUMNS.map((name, index) => [name, index])) as Record<(typeof COLUMNS)[number], number>;
/** Warmed on client 1's newest page of one row. */
export const HISTORY_QUERY: PreparedQuery = {
  name: 'historico',
  text: `SELECT ${COLUMNS.join(', ')} FROM historico($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  functions: ['historico'],
  warmUp: [1, null, null, 1, null, null, null, null, null],
};

function toEntry(row: Row): HistoryEntry {
  const apiKey = row[at.chave_api] as string | null;
  const entry: HistoryEntry = {
    id: row[at.id] as number,
    valor: row[at.valor] as number,
    tipo: row[at.tipo] as string,
    descricao: row[at.descricao] as string,
    realizada_em: row[at.realizada_em] as string,
    saldo_apos: row[at.saldo_apos] as number,
  };
  if (apiKey !== null) entry.chave_api = apiKey;
  if (row[at.transferencia] !== null) {
    entry.transferencia = row[at.transferencia] as number;
    entry.contraparte = row[at.contraparte] as number;
  }
  return entry;
}

/**
 * The page from its rows: at most limit of them, then a cursor row when there
 * may be more. A page may hold fewer than limit rows and still have a next:
 * the function stops reading at HISTORY_SCAN_ROWS_MAX rows, whatever matched.
 */
function toPage(read: HistoryRead, rows: Row[]): HistoryAnswer {
  const { limit } = read.query;
  const first = rows[0];
  if (first !== undefined && first[at.resultado] !== OUTCOME_PAGE && first[at.resultado] !== OUTCOME_NEXT) {
    const failure = failureForCode(first[at.resultado] as string);
    if (failure === undefined)
      throw new InvariantError(
        `historico answered ${JSON.stringify(first[at.resultado])}, which the catalogue does not know`,
      );
    return failure;
  }
  const last = rows[rows.length - 1];
  const hasNext = last !== undefined && last[at.resultado] === OUTCOME_NEXT;
  const pageRows = hasNext ? rows.slice(0, -1) : rows;
  invariant(pageRows.length <= limit, `a history page of ${limit} came back with ${pageRows.length} rows`);
  invariant(
    pageRows.every((row) => row[at.resultado] === OUTCOME_PAGE),
    'a history page mixed its rows with another outcome',
  );
  const entries = pageRows.map(toEntry);
  if (!hasNext) return { transacoes: entries };
  invariant(Buffer.isBuffer(last[at.etiqueta]), 'the next-page row of a history page came without its cursor tag');
  return {
    transacoes: entries,
    next: encodeCursor({ clientId: read.clientId, beforeId: Number(last[at.id]), tag: last[at.etiqueta] as Buffer }),
  };
}

/** One page, one query. */
export async function readHistoryPage(database: Database, read: HistoryRead, log: Log): Promise<HistoryAnswer> {
  const { clientId, query } = read;
  const rows = await database.query(HISTORY_QUERY.name, HISTORY_QUERY.text, [
    clientId,
    query.before?.beforeId ?? null,
    query.before?.tag ?? null,
    query.limit,
    query.tipo ?? null,
    query.since ?? null,
    query.until ?? null,
    query.amountMin ?? null,
    query.amountMax ?? null,
  ]);
  if (rows instanceof QueryFailure && rows.kind === 'rejected') {
    // The query string was validated so that this cannot happen; a gap in
    // that validation must not crash the instance for every other client.
    log.error({ err: rows.error, clientId, query }, 'BUG: the database rejected a history read that passed validation');
    return failures.rejectedByDatabase;
  }
  if (rows instanceof QueryFailure) return failures.readUnanswered;
  return toPage(read, rows);
}
