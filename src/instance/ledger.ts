// Owns the API's two operations against the database: registering a
// transaction and reading an extrato (a client's account statement). Each is
// exactly one round trip (see transactions.ts and extratos.ts). Requests that
// arrive while earlier calls are in flight share one call: transactions one
// commit, extratos one snapshot (see batcher.ts and sql/04-batch.sql). Errors that
// mean the database is unreachable or slow become a 503 whose transaction
// may or may not have been applied; errors that mean our SQL and our code
// disagree are bugs and are thrown as InvariantError.

import { createBatcher } from './batcher.js';
import type { InstanceConfig } from './config.js';
import { openDatabase, type PoolHealth } from './database.js';
import { failures } from './errors.js';
import { readExtratos, type ExtratoAnswer } from './extratos.js';
import { sendTransactions, type PendingTransaction, type TransactionAnswer } from './transactions.js';
import type { TransactionRequest } from './validation.js';

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'queueLengthMax' | 'queueWaitMsMax'
  | 'connectTimeoutMs' | 'queryTimeoutMs' | 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax'> & {
  applicationName: string;
  log: (line: string) => void;
};

export interface LedgerHealth extends PoolHealth {
  /** Calls in flight, and requests waiting to join one, per operation. */
  batchesInFlight: number;
  transactionsWaiting: number;
  readsInFlight: number;
  readsWaiting: number;
  /** Requests answered 503 because they waited too long to join a call. */
  expiredWaiting: number;
}

export interface Ledger {
  registerTransaction(clientId: number, request: TransactionRequest): Promise<TransactionAnswer>;
  readExtrato(clientId: number): Promise<ExtratoAnswer>;
  health(): LedgerHealth;
  close(): Promise<void>;
}

export function createLedger(options: LedgerOptions): Ledger {
  const database = openDatabase(options);
  // The batchers keep calls in flight at or below the pool's size (the
  // settings' cross-check), so a query never queues inside the pool.
  const queueLimits = {
    queueLengthMax: options.queueLengthMax,
    waitMsMax: options.queueWaitMsMax,
    whenFull: failures.overloaded,
    whenExpired: failures.overloaded,
  };
  const transactions = createBatcher<PendingTransaction, TransactionAnswer>({
    ...queueLimits,
    sizeMax: options.batchSizeMax,
    inFlightMax: options.batchesInFlightMax,
    send: (batch) => sendTransactions(database, batch, options.log),
  });
  const extratoReads = createBatcher<number, ExtratoAnswer>({
    ...queueLimits,
    sizeMax: options.batchSizeMax,
    inFlightMax: options.readsInFlightMax,
    send: (clientIds) => readExtratos(database, clientIds),
  });

  return {
    registerTransaction: (clientId, request) => transactions.submit({ clientId, request }),
    readExtrato: (clientId) => extratoReads.submit(clientId),
    health: () => ({
      ...database.health(),
      batchesInFlight: transactions.inFlight,
      transactionsWaiting: transactions.waiting,
      readsInFlight: extratoReads.inFlight,
      readsWaiting: extratoReads.waiting,
      expiredWaiting: transactions.expired + extratoReads.expired,
    }),
    close: () => database.close(),
  };
}
