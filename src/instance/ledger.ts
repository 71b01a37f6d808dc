// Owns the API's operations against the database: registering a
// transaction, reading an extrato (a client's account statement) and reading
// a page of its history. Each is exactly one round trip (see transactions.ts,
// extratos.ts and history.ts). Requests that
// arrive while earlier calls are in flight share one call: transactions one
// commit, extratos one snapshot (see batcher.ts and sql/04-batch.sql). Errors that
// mean the database is unreachable or slow become a 503 whose transaction
// may or may not have been applied; errors that mean our SQL and our code
// disagree are bugs and are thrown as InvariantError.

import { HISTORY_READS_IN_FLIGHT_MAX } from '../shared/settings.js';
import { createBatcher } from './batcher.js';
import type { InstanceConfig } from './config.js';
import { openDatabase, type PoolHealth } from './database.js';
import { failures } from './errors.js';
import { readExtratos, type ExtratoAnswer } from './extratos.js';
import { readHistoryPage, type HistoryAnswer, type PendingHistoryRead } from './history.js';
import type { HistoryQuery } from './history-query.js';
import { startKeyExpiry } from './key-expiry.js';
import { sendTransactions, type PendingTransaction, type TransactionAnswer } from './transactions.js';
import type { TransactionRequest } from './validation.js';

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'queueLengthMax' | 'queueWaitMsMax'
  | 'connectTimeoutMs' | 'queryTimeoutMs' | 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax'
  | 'idempotencyRetentionS' | 'idempotencyWaitMsMax'> & {
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
  /** Idempotency keys past their retention that this instance removed. */
  keysExpired: number;
}

export interface Ledger {
  /** key: the request's Idempotency-Key, or undefined for none. */
  registerTransaction(clientId: number, request: TransactionRequest, key: string | undefined): Promise<TransactionAnswer>;
  readExtrato(clientId: number): Promise<ExtratoAnswer>;
  readHistory(clientId: number, query: HistoryQuery): Promise<HistoryAnswer>;
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
    send: (batch) => sendTransactions(database, batch, { keyWaitMsMax: options.idempotencyWaitMsMax, log: options.log }),
  });
  const extratoReads = createBatcher<number, ExtratoAnswer>({
    ...queueLimits,
    sizeMax: options.batchSizeMax,
    inFlightMax: options.readsInFlightMax,
    send: (clientIds) => readExtratos(database, clientIds),
  });
  // Pages are read one per call: each has its own filters and cursor.
  const historyReads = createBatcher<PendingHistoryRead, HistoryAnswer>({
    ...queueLimits,
    sizeMax: 1,
    inFlightMax: HISTORY_READS_IN_FLIGHT_MAX,
    send: async ([read]) => [await readHistoryPage(database, read!, options.log)],
  });
  const keyExpiry = startKeyExpiry(database, { retentionS: options.idempotencyRetentionS, log: options.log });

  return {
    registerTransaction: (clientId, request, key) => transactions.submit({ clientId, request, key }),
    readExtrato: (clientId) => extratoReads.submit(clientId),
    readHistory: (clientId, query) => historyReads.submit({ clientId, query }),
    health: () => ({
      ...database.health(),
      batchesInFlight: transactions.inFlight,
      transactionsWaiting: transactions.waiting,
      readsInFlight: extratoReads.inFlight,
      readsWaiting: extratoReads.waiting,
      expiredWaiting: transactions.expired + extratoReads.expired + historyReads.expired,
      keysExpired: keyExpiry.removed,
    }),
    async close() {
      await keyExpiry.stop();
      await database.close();
    },
  };
}
