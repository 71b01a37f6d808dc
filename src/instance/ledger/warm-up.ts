// Owns what a new database connection runs before it takes requests: every
// statement the ledger sends, under its own name and text, so that it is
// prepared on that connection and the PL/pgSQL functions behind it are
// compiled and their plans cached (both per backend). Measured on a cold
// stack: the first requests after `up` waited 50-127 ms for exactly this.
//
// The list is derived: each operation declares its queries with arguments
// that change nothing (operation.ts), and the key expiry's comes last. A
// query an operation sends without declaring it would be cold; the
// operations' declarations are where a new one is added.

import type { WarmUpCall } from '../database/pool.js';
import { IDEMPOTENCY_EXPIRY_QUERY } from './idempotency-expiry.js';
import type { AnyOperation, PreparedQuery } from './operation.js';

/** Every query the ledger sends: the operations', then the background one. */
export function ledgerQueries(operations: readonly AnyOperation[]): PreparedQuery[] {
  return [...operations.flatMap((operation) => operation.queries), IDEMPOTENCY_EXPIRY_QUERY];
}

export function warmUpCalls(operations: readonly AnyOperation[]): WarmUpCall[] {
  return ledgerQueries(operations).map(({ name, text, warmUp }) => ({ name, text, values: [...warmUp] }));
}
