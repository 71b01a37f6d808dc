// Owns every conversation with PostgreSQL on the request path: the pool, its
// limits, and the two operations of the API. Each operation is exactly one
// round trip (a named prepared statement calling a function in sql/), and
// turns the database's answer into a result or an expected Failure. Errors that
// mean the database is unreachable or slow become a 503; errors that mean our
// SQL and our code disagree are bugs and are thrown as InvariantError.

import pg from 'pg';
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

export interface LedgerOptions {
  databaseUrl: string;
  applicationName: string;
  poolClientsMax: number;
  poolQueueLengthMax: number;
  queueWaitTimeoutMs: number;
  queryTimeoutMs: number;
}

export interface PoolHealth {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

export interface Ledger {
  registerTransaction(clientId: number, request: TransactionRequest): Promise<TransactionResult | Failure>;
  readStatement(clientId: number): Promise<Statement | Failure>;
  health(): PoolHealth;
  close(): Promise<void>;
}

type Row = unknown[];

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
    // pg-pool applies this to the wait for a free client as well as to
    // opening a connection: it bounds how long a request queues.
    connectionTimeoutMillis: options.queueWaitTimeoutMs,
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

  async function query(name: string, text: string, values: unknown[]): Promise<Row[] | Failure> {
    if (pool.waitingCount >= options.poolQueueLengthMax) return failures.overloaded;
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

  return {
    async registerTransaction(clientId, request) {
      const rows = await query(
        'registrar_transacao',
        'SELECT resultado, limite, saldo FROM registrar_transacao($1, $2, $3, $4)',
        [clientId, request.valor, request.tipo, request.descricao],
      );
      if (rows instanceof Failure) return rows;
      invariant(rows.length === 1, `registrar_transacao returned ${rows.length} rows`);
      const [outcome, limite, saldo] = rows[0] as [number, number | null, number | null];
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
    },

    async readStatement(clientId) {
      const rows = await query(
        'extrato',
        'SELECT saldo, limite, data_extrato, valor, tipo, descricao, realizada_em FROM extrato($1)',
        [clientId],
      );
      if (rows instanceof Failure) return rows;
      const first = rows[0];
      if (first === undefined) return failures.clientNotFound;
      invariant(rows.length <= 10, `extrato returned ${rows.length} rows`);
      const transactions: StatementTransaction[] = [];
      for (const row of rows) {
        // A client with no transactions comes back as one row of NULLs.
        if (row[3] === null) break;
        transactions.push({
          valor: row[3] as number,
          tipo: row[4] as string,
          descricao: row[5] as string,
          realizada_em: row[6] as string,
        });
      }
      return {
        saldo: { total: first[0] as number, data_extrato: first[2] as string, limite: first[1] as number },
        ultimas_transacoes: transactions,
      };
    },

    health() {
      return { totalCount: pool.totalCount, idleCount: pool.idleCount, waitingCount: pool.waitingCount };
    },

    close() {
      return pool.end();
    },
  };
}
