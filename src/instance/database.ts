// Owns the instance's connections to PostgreSQL: the pool and its limits,
// and the one way a query is sent (a named prepared statement, rows as
// arrays, one round trip). A failed query comes back as a value saying what
// it means (see database-errors.ts), never as a guess; a bug is thrown.

import pg from 'pg';
import { QUERY_TIMEOUT_MARGIN_MS } from '../shared/settings.js';
import type { InstanceConfig } from './config.js';
import { classifyDatabaseError } from './database-errors.js';
import { InvariantError } from './errors.js';

const INT8_OID = 20;

// bigint arrives from PostgreSQL as text; the schema bounds every balance to
// saldo_maximo(), the exact range of a JavaScript number, so converting is
// lossless.
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (text: string) => Number(text);
    return pg.types.getTypeParser(oid, format);
  },
};

export type Row = unknown[];

/** A query that failed in a way the service expects; `error` is kept for the log. */
export class QueryFailure {
  constructor(readonly kind: 'unavailable' | 'rejected', readonly error: Error) {}
}

export interface PoolHealth {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

export type DatabaseOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'connectTimeoutMs' | 'queryTimeoutMs'> & {
  applicationName: string;
  log: (line: string) => void;
};

export interface Database {
  query(name: string, text: string, values: unknown[]): Promise<Row[] | QueryFailure>;
  health(): PoolHealth;
  close(): Promise<void>;
}

export function openDatabase(options: DatabaseOptions): Database {
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
    // The server cancels (and rolls back) a query that runs too long
    // (statement_timeout, in PostgreSQL's words).
    // The client-side limit is a little longer so that the server usually
    // decides first. Either way the caller cannot know whether a commit
    // happened just before, so a timeout is an unknown outcome.
    statement_timeout: options.queryTimeoutMs,
    query_timeout: options.queryTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    types: typeParsers,
  });
  // An idle client whose connection dies emits 'error' on the pool; without a
  // listener that would crash the process. The pool drops the client and
  // opens a new one on demand, so noting it is enough.
  pool.on('error', (error) => options.log(`idle database connection lost: ${error.message}`));

  return {
    async query(name, text, values) {
      try {
        const result = await pool.query<Row>({ name, text, values, rowMode: 'array' });
        return result.rows;
      } catch (error) {
        const kind = classifyDatabaseError(error);
        if (kind === 'bug') throw new InvariantError(`${name} failed in a way the code does not expect: ${(error as Error).message}`, { cause: error });
        options.log(`${name} failed (${kind}): ${(error as Error).message}`);
        return new QueryFailure(kind, error as Error);
      }
    },
    health: () => ({ totalCount: pool.totalCount, idleCount: pool.idleCount, waitingCount: pool.waitingCount }),
    close: () => pool.end(),
  };
}
