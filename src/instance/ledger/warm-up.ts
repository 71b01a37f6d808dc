// Owns what a new database connection runs before it takes requests: every
// statement the ledger sends, under its own name and text, so that it is
// prepared on that connection and the PL/pgSQL functions behind it are
// compiled and their plans cached (both per backend). Measured on a cold
// stack: the first requests after `up` waited 50-127 ms for exactly this.
//
// Each call changes nothing. Transactions name no client (a NULL id, which
// matches no row whatever clients exist): the functions answer
// cliente_nao_encontrado before any lock, key or row is taken (the batch
// function still runs, and so plans, its UPDATE and INSERT, over no row).
// Reads read client 1's newest transactions; expiring keys is asked for 0.

import { STATEMENT_TRANSACTIONS_MAX } from '../../shared/limits.js';
import type { WarmUpCall } from '../database/pool.js';
import { QUERY as HISTORY_QUERY } from './history.js';
import { QUERY as KEY_EXPIRY_QUERY } from './key-expiry.js';
import { STATEMENTS_QUERY } from './statements.js';
import { BATCH, BATCH_KEYED, SINGLE, SINGLE_KEYED } from './transactions.js';

/** Matches no client (ids in paths start at 1), so a transaction for it is answered without effect. */
const NO_CLIENT_ID = 0;
const READ_CLIENT_ID = 1;
const DESCRIPTION = 'aquecer';

export function warmUpCalls(): WarmUpCall[] {
  const single = [NO_CLIENT_ID, 1, 'c', DESCRIPTION];
  const batch = [[NO_CLIENT_ID, NO_CLIENT_ID], [1, 1], ['c', 'd'], [DESCRIPTION, DESCRIPTION]];
  return [
    { ...SINGLE, values: single },
    { ...SINGLE_KEYED, values: [...single, 'aquecer-0', 0, null] },
    { ...BATCH, values: batch },
    { ...BATCH_KEYED, values: [...batch, ['aquecer-1', 'aquecer-2'], 0, null] },
    { ...STATEMENTS_QUERY, values: [[READ_CLIENT_ID], STATEMENT_TRANSACTIONS_MAX] },
    { ...HISTORY_QUERY, values: [READ_CLIENT_ID, null, null, 1, null, null, null, null, null] },
    { ...KEY_EXPIRY_QUERY, values: [0] },
  ];
}
