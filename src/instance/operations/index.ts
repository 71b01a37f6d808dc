// Lists every operation of the API, each declared once in its own file of
// this folder (declaration.ts says what a declaration holds). The routes,
// the ledger's batchers, the warm-up, the API description's paths and the
// labels of /health and the metrics all walk this list; docs/development.md
// says how to add one.

import type { AnyApiOperation } from './declaration.js';
import { HISTORY } from './history.js';
import { STATEMENT } from './statement.js';
import { TRANSACTIONS } from './transactions.js';
import { TRANSFERS } from './transfers.js';

export const API_OPERATIONS: readonly AnyApiOperation[] = [TRANSACTIONS, HISTORY, STATEMENT, TRANSFERS];

/** The label of every operation, as /health and the metrics name it. */
export const OPERATION_LABELS: readonly string[] = API_OPERATIONS.map((operation) => operation.label);

/** The label of every operation with calls of its own (not joining another's): the ledger's queues and calls. */
export const CALL_LABELS: readonly string[] = API_OPERATIONS.filter((operation) => operation.callsOf === undefined).map(
  (operation) => operation.label,
);
