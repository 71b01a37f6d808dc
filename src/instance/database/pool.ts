// Owns the instance's connections to PostgreSQL: the pool and its limits,
// and the one way a query is sent (a named prepared statement, rows as
// arrays, one round trip). A failed query comes back as a value saying what
// it means (see errors.ts), never as a guess; a bug is thrown.

import pg from 'pg';
import type { InstanceConfig } from '../config.js';
import { classifyDatabaseError } from './errors.js';
import { queryWatchingReplication } from './replication-notice.js';
import { roleGuard } from './role.js';
import { InvariantError } from '../../shared/invariant.js';
import type { Log } from '../../shared/log.js';

const INT8_OID = 20;

/**
 * Every query of an instance is an index lookup by design (a client's row by
 * its key, its newest transactions on (cliente_id, id DESC), a key by its
 * key). With sequential and bitmap scans off, a plan cached while the tables
 * were nearly empty (when scanning and sorting everything looks cheap) cannot
 * outlive their growth: see extratos in sql/03-functions.sql.
 */
export const SESSION_OPTIONS = '-c enable_seqscan=off -c enable_bitmapscan=off';

/** The client-side query timeout runs this much past statement_timeout, so the server usually decides first. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;

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
  constructor(
    readonly kind: 'unavailable' | 'rejected',
    readonly error: Error,
  ) {}
}

export interface PoolHealth {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  /** Connections open whose warm-up finished: every statement prepared, every function run once. */
  warmCount: number;
}

/**
 * One call a connection makes before it takes requests, so that the first
 * request on it does not pay for preparing the statement, PostgreSQL loading
 * its catalog caches and compiling the PL/pgSQL functions (all per backend).
 * Sent under the very name and text the request path uses, so node-postgres
 * marks the statement prepared on that connection. It must change nothing:
 * a read, or a call the database turns down without effect.
 */
export interface WarmUpCall {
  name: string;
  text: string;
  values: unknown[];
}

export type DatabaseOptions = Pick<
  InstanceConfig,
  'databaseUrl' | 'allowSuperuser' | 'poolClientsMax' | 'connectTimeoutMs' | 'queryTimeoutMs' | 'requestTimeoutMs'
> & {
  applicationName: string;
  log: Log;
  /** Told whether each query reached the database and came back (a rejected query did). */
  onAnswered: (answered: boolean) => void;
  /** Run on every new connection, in order, before it takes a request. */
  warmUp: readonly WarmUpCall[];
};

export interface Database {
  query(name: string, text: string, values: unknown[]): Promise<Row[] | QueryFailure>;
  /** One trivial query on a connection of its own, bounded by the request timeout: does the database answer? */
  probe(): Promise<boolean>;
  health(): PoolHealth;
  /** Whether the whole pool is open and warm (see WarmUpCall). */
  isWarm(): boolean;
  /** Resolves once the pool is open and warm, or once an attempt to fill it failed (the database is not answering). */
  filled(): Promise<boolean>;
  close(): Promise<void>;
}

export function openDatabase(options: DatabaseOptions): Database {
  const checkRole = roleGuard(options);
  const warmth = { count: 0 };
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
    options: SESSION_OPTIONS,
    types: typeParsers,
    onConnect: async (client: pg.ClientBase) => {
      await checkRole(client);
      await warmUp(client, options);
      warmth.count++;
      client.once('end', () => warmth.count--);
    },
  });
  // An idle client whose connection dies emits 'error' on the pool; without a
  // listener that would crash the process. The pool drops the client (its
  // 'remove' has the filler open and warm another), so noting it is enough.
  pool.on('error', (error) => options.log.warn({ err: error }, 'idle database connection lost'));
  const prober = createProber(options, checkRole);
  const filler = createFiller(pool, options);

  return {
    async query(name, text, values) {
      try {
        // Not pool.query: a commit PostgreSQL reports with a WARNING that its replication was cancelled must fail.
        const result = await queryWatchingReplication<Row>(pool, { name, text, values, rowMode: 'array' });
        options.onAnswered(true);
        return result.rows;
      } catch (error) {
        const kind = classifyDatabaseError(error);
        if (kind === 'bug')
          throw new InvariantError(`${name} failed in a way the code does not expect: ${(error as Error).message}`, {
            cause: error,
          });
        options.onAnswered(kind === 'rejected');
        options.log.error({ err: error, query: name, kind }, 'database call failed');
        return new QueryFailure(kind, error as Error);
      }
    },
    probe: prober.probe,
    health: () => ({
      totalCount: pool.totalCount,
      idleCount: pool.idleCount,
      waitingCount: pool.waitingCount,
      warmCount: warmth.count,
    }),
    isWarm: () => warmth.count >= options.poolClientsMax,
    filled: () => filler.fill(),
    async close() {
      filler.stop();
      await prober.close();
      await pool.end();
    },
  };
}

/** Runs every warm-up call on a new connection; one that fails fails the connection, which the pool then drops. */
async function warmUp(client: pg.ClientBase, options: Pick<DatabaseOptions, 'warmUp' | 'log'>): Promise<void> {
  for (const call of options.warmUp) {
    try {
      await client.query({ ...call, rowMode: 'array' });
    } catch (error) {
      // A warm-up call the database rejects is ours to fix, not the database's.
      if (classifyDatabaseError(error) !== 'unavailable')
        options.log.error({ err: error, query: call.name }, 'BUG: a warm-up call failed');
      throw error;
    }
  }
}

// After a connection is lost (a PostgreSQL restart, say), the pool is filled
// again this soon, the pause doubling up to the longest while it fails.
const FILL_RETRY_MS_MIN = 100;
const FILL_RETRY_MS_MAX = 1000;

/**
 * Keeps the pool full: opens every connection at start, and opens again, in
 * the background, any connection lost later, so that a request never waits
 * for a connection to be opened and warmed, and /ready says false until the
 * pool is whole again. One fill at a time; a failed fill retries with backoff.
 */
function createFiller(
  pool: pg.Pool,
  options: Pick<DatabaseOptions, 'poolClientsMax' | 'log'>,
): { fill(): Promise<boolean>; stop(): void } {
  let filling: Promise<boolean> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = FILL_RETRY_MS_MIN;
  let stopped = false;
  const schedule = (delayMs: number) => {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void fill();
    }, delayMs);
  };
  const openMissing = async (): Promise<boolean> => {
    const missing = Math.max(0, options.poolClientsMax - pool.totalCount);
    // The pool opens a connection only for a checkout that finds none idle:
    // the idle ones are taken first (pg-pool hands them out at once), so
    // that each further checkout opens (and warms, in onConnect) a new one,
    // and given back as soon as they come, a tick later.
    const idle = Array.from({ length: pool.idleCount }, () => pool.connect());
    const opened = Array.from({ length: missing }, async () => (await pool.connect()).release());
    for (const client of await Promise.allSettled(idle)) if (client.status === 'fulfilled') client.value.release();
    const results = await Promise.allSettled(opened);
    return results.every((result) => result.status === 'fulfilled') && pool.totalCount >= options.poolClientsMax;
  };
  const fill = (): Promise<boolean> => {
    filling ??= openMissing().then((complete) => {
      filling = undefined;
      if (complete) retryMs = FILL_RETRY_MS_MIN;
      else {
        schedule(retryMs);
        retryMs = Math.min(retryMs * 2, FILL_RETRY_MS_MAX);
      }
      return complete;
    });
    return filling;
  };
  pool.on('remove', () => schedule(0));
  return {
    fill,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The probe's own connection, kept between probes so that a healthy
 * database costs one round trip per probe, and dropped after any failure so
 * that the next probe connects afresh (to a restarted server, say).
 */
function createProber(
  options: DatabaseOptions,
  checkRole: (client: pg.Client) => Promise<void>,
): { probe(): Promise<boolean>; close(): Promise<void> } {
  let client: pg.Client | undefined;
  const discard = () => {
    void client?.end().catch(() => undefined);
    client = undefined;
  };
  return {
    async probe() {
      try {
        if (client === undefined) {
          const fresh = new pg.Client({
            connectionString: options.databaseUrl,
            application_name: `${options.applicationName}-probe`,
            connectionTimeoutMillis: options.requestTimeoutMs,
            query_timeout: options.requestTimeoutMs,
          });
          fresh.on('error', () => undefined);
          client = fresh;
          await fresh.connect();
          await checkRole(fresh);
        }
        await client.query('SELECT 1');
        return true;
      } catch (error) {
        // Expected while the database is down; anything else is a bug.
        if (classifyDatabaseError(error) === 'bug') throw error;
        discard();
        return false;
      }
    },
    async close() {
      await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}
