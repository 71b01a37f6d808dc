// Owns what a failed database call means. An allowlist, not a guess: only
// errors known to come from an unreachable, restarting or overloaded
// database are "unavailable"; only data errors are "rejected"; everything
// else (our SQL and our code disagreeing, a pool used after it ended, a
// driver in an unexpected state) is a bug and crashes the instance loudly.

import { UnreplicatedCommit } from './replication-notice.js';

export type DatabaseErrorClass =
  /** The database did not answer, or rolled back on its own: a 503. A commit whose reply was lost was applied, so the outcome is unknown. */
  | 'unavailable'
  /** The database refused the data (SQLSTATE class 22 or 23) and rolled the call back: nothing was applied. */
  | 'rejected'
  | 'bug';

// 08 connection exception, 40 transaction rollback (deadlock, serialization),
// 53 insufficient resources, 57 operator intervention (a query timed out,
// admin shutdown, starting up).
const UNAVAILABLE_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57']);
// 25006 read_only_sql_transaction: a node that is no longer (or not yet) the
// primary, reached through the HA profile's HAProxy around a failover.
const UNAVAILABLE_SQLSTATES = new Set(['25006']);
// 22 data exception, 23 integrity constraint violation.
const REJECTED_SQLSTATE_CLASSES = new Set(['22', '23']);

// Socket errors on the way to the database (a unix socket path that does not
// exist yet is ENOENT; a refused or reset TCP connection, and so on).
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOENT',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

// node-postgres and pg-pool report these without a code: the connection
// ended under a query, or a timeout of ours fired.
const UNAVAILABLE_DRIVER_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Query read timeout',
  'timeout exceeded when trying to connect',
  'timeout expired',
  'Client has encountered a connection error and is not queryable',
]);

export function classifyDatabaseError(error: unknown): DatabaseErrorClass {
  if (!(error instanceof Error)) return 'bug';
  // Committed here, maybe not on a standby: as unknown as a lost reply.
  if (error instanceof UnreplicatedCommit) return 'unavailable';
  const code = (error as { code?: unknown }).code;
  // Before SQLSTATEs: EPIPE is five capitals too.
  if (typeof code === 'string' && UNAVAILABLE_SOCKET_CODES.has(code)) return 'unavailable';
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    if (UNAVAILABLE_SQLSTATES.has(code)) return 'unavailable';
    const sqlstateClass = code.slice(0, 2);
    if (UNAVAILABLE_SQLSTATE_CLASSES.has(sqlstateClass)) return 'unavailable';
    if (REJECTED_SQLSTATE_CLASSES.has(sqlstateClass)) return 'rejected';
    return 'bug';
  }
  if (UNAVAILABLE_DRIVER_MESSAGES.has(error.message)) return 'unavailable';
  return 'bug';
}
