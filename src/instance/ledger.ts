// Owns every conversation with PostgreSQL on the request path: the pool, its
// limits, and the two operations of the API. Each operation is exactly one
// round trip (a named prepared statement calling a function in sql/), and
// turns the database's answer into a result or an expected Failure.
// Requests that arrive while earlier calls are in flight share one call:
// transactions one commit, statements one snapshot (see batcher.ts and
// sql/04-batch.sql). Errors that mean the database is unreachable or slow
// become a 503; errors that mean our SQL and our code disagree are bugs and
// are thrown as InvariantError.

import pg from 'pg';
import { createBatcher } from './batcher.js';
import type { InstanceConfig } from './config.js';
import { failures, Failure, invariant, InvariantError } from './errors.js';
import type { Statement, StatementTransaction, TransactionResult } from './serializers.js';
import type { TransactionRequest } from './validation.js';

// Outcome codes of registrar_transacao, as documented in sql/03-functions.sql.
const OUTCOME_APPLIED = 0;
const OUTCOME_NO_CLIENT = 1;
const OUTCOME_REFUSED = 2;

const INT8_OID = 20;

// bigint arrives from PostgreSQL as text; the schema bounds every balance to
// the exact range of a JavaScript number, so converting is lossless.
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
};

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'queueLengthMax' | 'queueWaitMsMax'
  | 'connectTimeoutMs' | 'queryTimeoutMs' | 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax'> & {
  applicationName: string;
};

export interface PoolHealth {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  /** Calls in flight, and requests waiting to join one, per operation. */
  batchesInFlight: number;
  transactionsWaiting: number;
  readsInFlight: number;
  readsWaiting: number;
}

export interface Ledger {
  registerTransaction(clientId: number, request: TransactionRequest): Promise<TransactionResult | Failure>;
  readStatement(clientId: number): Promise<Statement | Failure>;
  health(): PoolHealth;
  close(): Promise<void>;
}

type Row = unknown[];

interface PendingTransaction {
  clientId: number;
  request: TransactionRequest;
}

// SQLSTATE classes that mean the database is unreachable, restarting,
// overloaded, or rolled the statement back on its own (a cancel, a deadlock):
// the request failed, the service did not break.
const TRANSIENT_SQLSTATE_PREFIXES = ['08', '40', '53', '57'];

function isTransientDatabaseError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.length === 5) {
    return TRANSIENT_SQLSTATE_PREFIXES.some((prefix) => code.startsWith(prefix));
  }
  // A programming error inside our code or the driver is a bug, not weather.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) return false;
  // Everything else without a SQLSTATE comes from the socket or the pool:
  // refused or reset connections, a terminated connection, a timed-out wait.
  return true;
}

export function createLedger(options: LedgerOptions): Ledger {
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    application_name: options.applicationName,
    max: options.poolClientsMax,
    // Bounds opening a connection (and the wait for a free client, which
    // the batchers' in-flight limits keep from happening).
    connectionTimeoutMillis: options.connectTimeoutMs,
    // Connections are kept for the life of the process; opening one costs
    // far more than holding it.
    idleTimeoutMillis: 0,
    // The server cancels (and rolls back) a statement that runs too long.
    // The client-side limit is a little longer so that the server decides
    // first, and a timeout reported to the caller means nothing was applied.
    statement_timeout: options.queryTimeoutMs,
    query_timeout: options.queryTimeoutMs + 1000,
    types: typeParsers,
  });
  // An idle client whose connection dies emits 'error' on the pool; without a
  // listener that would crash the process. The pool drops the client and
  // opens a new one on demand, so noting it is enough.
  pool.on('error', (error) => {
    console.error(`[${options.applicationName}] idle database connection lost: ${error.message}`);
  });

  // The batchers keep calls in flight at or below the pool's size (config.ts
  // checks it), so a query never queues inside the pool.
  async function query(name: string, text: string, values: unknown[]): Promise<Row[] | Failure> {
    try {
      const result = await pool.query<Row>({ name, text, values, rowMode: 'array' });
      return result.rows;
    } catch (error) {
      if (isTransientDatabaseError(error)) {
        console.error(`[${options.applicationName}] ${name} failed: ${(error as Error).message}`);
        return failures.databaseUnavailable;
      }
      throw new InvariantError(`${name} failed in a way the code does not expect: ${(error as Error).message}`, { cause: error });
    }
  }

  function outcomeOf(row: Row, request: TransactionRequest): TransactionResult | Failure {
    const [outcome, limite, saldo] = row as [number, number | null, number | null];
    switch (outcome) {
      case OUTCOME_APPLIED:
        invariant(limite !== null && saldo !== null && saldo >= -limite, `applied transaction left saldo ${saldo} with limite ${limite}`);
        return { limite, saldo };
      case OUTCOME_NO_CLIENT:
        return failures.clientNotFound;
      case OUTCOME_REFUSED:
        return request.tipo === 'd' ? failures.limitExceeded : failures.balanceTooLarge;
      default:
        throw new InvariantError(`registrar_transacao returned unknown outcome ${outcome}`);
    }
  }

  /** One call for the whole batch: the scalar function alone, the array function together. */
  async function sendTransactions(batch: PendingTransaction[]): Promise<(TransactionResult | Failure)[]> {
    const rows = batch.length === 1
      ? await query('registrar_transacao', 'SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)',
        [batch[0]!.clientId, batch[0]!.request.valor, batch[0]!.request.tipo, batch[0]!.request.descricao])
      : await query('registrar_transacoes', 'SELECT resultado, limite, saldo FROM registrar_transacoes($1, $2, $3, $4)', [
        batch.map((pending) => pending.clientId),
        batch.map((pending) => pending.request.valor),
        batch.map((pending) => pending.request.tipo),
        batch.map((pending) => pending.request.descricao),
      ]);
    // A failed call (database unreachable, timed out and rolled back) is
    // the same answer for every transaction in it: none was applied.
    if (rows instanceof Failure) return batch.map(() => rows);
    invariant(rows.length === batch.length, `a batch of ${batch.length} transactions returned ${rows.length} rows`);
    return batch.map((pending, index) => outcomeOf(rows[index]!, pending.request));
  }

  const transactions = createBatcher<PendingTransaction, TransactionResult | Failure>({
    sizeMax: options.batchSizeMax,
    inFlightMax: options.batchesInFlightMax,
    queueLengthMax: options.queueLengthMax,
    waitMsMax: options.queueWaitMsMax,
    whenFull: failures.overloaded,
    whenExpired: failures.overloaded,
    send: sendTransactions,
  });

  /**
   * Builds one statement from its rows (ordem, saldo, limite, data_extrato,
   * valor, tipo, descricao, realizada_em). A client with no transactions
   * comes as one row whose transaction columns are NULL; no row at all means
   * no such client.
   */
  function toStatement(rows: Row[]): Statement | Failure {
    const first = rows[0];
    if (first === undefined) return failures.clientNotFound;
    invariant(rows.length <= 10, `a statement came back with ${rows.length} rows`);
    const transactions: StatementTransaction[] = [];
    for (const row of rows) {
      if (row[4] === null) break;
      transactions.push({ valor: row[4] as number, tipo: row[5] as string, descricao: row[6] as string, realizada_em: row[7] as string });
    }
    return {
      saldo: { total: first[1] as number, data_extrato: first[3] as string, limite: first[2] as number },
      ultimas_transacoes: transactions,
    };
  }

  /** One query, one snapshot, for every read that waited (a lone read is a list of one). */
  async function sendStatementReads(clientIds: number[]): Promise<(Statement | Failure)[]> {
    const rows = await query('extratos', 'SELECT ordem, saldo, limite, data_extrato, valor, tipo, descricao, realizada_em FROM extratos($1)', [clientIds]);
    if (rows instanceof Failure) return clientIds.map(() => rows);
    const rowsByPosition: Row[][] = clientIds.map(() => []);
    for (const row of rows) rowsByPosition[(row[0] as number) - 1]!.push(row);
    return rowsByPosition.map(toStatement);
  }

  const statementReads = createBatcher<number, Statement | Failure>({
    sizeMax: options.batchSizeMax,
    inFlightMax: options.readsInFlightMax,
    queueLengthMax: options.queueLengthMax,
    waitMsMax: options.queueWaitMsMax,
    whenFull: failures.overloaded,
    whenExpired: failures.overloaded,
    send: sendStatementReads,
  });

  return {
    registerTransaction(clientId, request) {
      return transactions.submit({ clientId, request });
    },

    readStatement(clientId) {
      return statementReads.submit(clientId);
    },

    health() {
      return {
        totalCount: pool.totalCount,
        idleCount: pool.idleCount,
        waitingCount: pool.waitingCount,
        batchesInFlight: transactions.inFlight,
        transactionsWaiting: transactions.waiting,
        readsInFlight: statementReads.inFlight,
        readsWaiting: statementReads.waiting,
      };
    },

    close() {
      return pool.end();
    },
  };
}
