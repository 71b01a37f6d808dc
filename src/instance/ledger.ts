// Owns the API's two operations against the database: registering a
// transaction and reading an extrato (a client's account statement). Each is
// exactly one round trip (see transactions.ts and extratos.ts). Requests that
// arrive while earlier calls are in flight share one call: transactions one
// commit, extratos one snapshot (see batcher.ts and sql/04-batch.sql).
//
// Whatever the database does, every request is answered by its deadline
// (CREBITO_REQUEST_TIMEOUT_MS), and each 503 says whether the transaction may
// have been applied. After consecutive failed or late calls the breaker
// (breaker.ts) opens and requests are answered at once, unsent, until a probe
// finds the database answering again. Errors that mean our SQL and our code
// disagree are bugs and are thrown as InvariantError.

import { createBatcher, type BatcherHealth } from './batcher.js';
import { Breaker, type BreakerState } from './breaker.js';
import type { InstanceConfig } from './config.js';
import { openDatabase, type PoolHealth } from './database.js';
import { failures } from './errors.js';
import { readExtratos, type ExtratoAnswer } from './extratos.js';
import type { Metrics } from './metrics.js';
import { sendTransactions, type PendingTransaction, type TransactionAnswer } from './transactions.js';
import type { Log } from '../shared/log.js';
import type { TransactionRequest } from './validation.js';

// While the breaker is open, the first probe comes this soon, and the pause
// doubles up to the longest; a success vouches for readiness this long.
const PROBE_INTERVAL_MS_MIN = 100;
const PROBE_INTERVAL_MS_MAX = 5000;
const READY_FOR_MS = 1000;

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'queueLengthMax' | 'queueWaitMsMax' | 'requestTimeoutMs'
  | 'breakerFailuresMax' | 'connectTimeoutMs' | 'queryTimeoutMs' | 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax'> & {
  applicationName: string;
  log: Log;
  metrics: Pick<Metrics, 'callSent'>;
};

export interface LedgerHealth {
  pool: PoolHealth;
  transacoes: BatcherHealth;
  extratos: BatcherHealth;
  breaker: { state: BreakerState; consecutiveFailures: number; opened: number };
}

export interface Ledger {
  registerTransaction(clientId: number, request: TransactionRequest): Promise<TransactionAnswer>;
  readExtrato(clientId: number): Promise<ExtratoAnswer>;
  /** Whether the database answers now (cached for a second; never queries while the breaker is open). */
  isReady(): Promise<boolean>;
  health(): LedgerHealth;
  close(): Promise<void>;
}

export function createLedger(options: LedgerOptions): Ledger {
  const { log } = options;
  const breaker: Breaker = new Breaker({
    failuresMax: options.breakerFailuresMax,
    probeIntervalMsMin: PROBE_INTERVAL_MS_MIN,
    probeIntervalMsMax: PROBE_INTERVAL_MS_MAX,
    readyForMs: READY_FOR_MS,
    probe: () => database.probe(),
    onOpen: () => {
      log.error({ consecutiveFailures: breaker.consecutiveFailures }, 'circuit breaker open: the database is not answering; answering 503 at once until a probe succeeds');
      transactions.flush(failures.databaseDown);
      extratoReads.flush(failures.databaseDown);
    },
    onClose: () => log.warn('circuit breaker closed: the database answers again'),
  });
  const database = openDatabase({ ...options, onAnswered: (answered) => (answered ? breaker.succeeded() : breaker.failed()) });
  // The batchers keep calls in flight at or below the pool's size (the
  // settings' cross-check), so a query never queues inside the pool.
  const limits = {
    queueLengthMax: options.queueLengthMax,
    waitMsMax: options.queueWaitMsMax,
    deadlineMs: options.requestTimeoutMs,
    whenFull: failures.overloaded,
    whenExpired: failures.overloaded,
    whenLate: failures.databaseUnavailable,
    onLate: () => breaker.failed(),
  };
  const transactions = createBatcher<PendingTransaction, TransactionAnswer>({
    ...limits,
    sizeMax: options.batchSizeMax,
    inFlightMax: options.batchesInFlightMax,
    send: (batch) => sendTransactions(database, batch, log),
    onSend: (size) => options.metrics.callSent('transacoes', size),
  });
  const extratoReads = createBatcher<number, ExtratoAnswer>({
    ...limits,
    sizeMax: options.batchSizeMax,
    inFlightMax: options.readsInFlightMax,
    send: (clientIds) => readExtratos(database, clientIds),
    onSend: (size) => options.metrics.callSent('extratos', size),
  });

  return {
    registerTransaction: (clientId, request) => (breaker.isOpen ? Promise.resolve(failures.databaseDown) : transactions.submit({ clientId, request })),
    readExtrato: (clientId) => (breaker.isOpen ? Promise.resolve(failures.databaseDown) : extratoReads.submit(clientId)),
    isReady: () => breaker.isReady(),
    health: () => ({
      pool: database.health(),
      transacoes: transactions.health(),
      extratos: extratoReads.health(),
      breaker: { state: breaker.state, consecutiveFailures: breaker.consecutiveFailures, opened: breaker.opened },
    }),
    async close() {
      breaker.stop();
      await database.close();
    },
  };
}
