// Owns the API's operations against the database: registering a
// transaction, reading an extrato (a client's account statement) and reading
// a page of its history. Each is exactly one round trip (see transactions.ts,
// extratos.ts and history.ts). Requests that arrive while earlier calls are in
// flight share one call: transactions one commit, extratos one snapshot (see
// batcher.ts and sql/04-batch.sql).
//
// Whatever the database does, every request is answered by its deadline
// (CREBITO_REQUEST_TIMEOUT_MS), and each 503 says whether the transaction may
// have been applied. After consecutive failed or late calls the breaker
// (breaker.ts) opens and requests are answered at once, unsent, until a probe
// finds the database answering again. Errors that mean our SQL and our code
// disagree are bugs and are thrown as InvariantError.

import type { Log } from '../shared/log.js';
import { HISTORY_READS_IN_FLIGHT_MAX } from '../shared/settings.js';
import { createBatcher, type Batcher, type BatcherHealth } from './batcher.js';
import { Breaker, type BreakerState } from './breaker.js';
import type { InstanceConfig } from './config.js';
import { openDatabase, type Database, type PoolHealth } from './database.js';
import { failures } from './errors.js';
import { readExtratos, type ExtratoAnswer } from './extratos.js';
import { readHistoryPage, type HistoryAnswer, type PendingHistoryRead } from './history.js';
import type { HistoryQuery } from './history-query.js';
import { startKeyExpiry } from './key-expiry.js';
import type { Metrics } from './metrics.js';
import { sendTransactions, type PendingTransaction, type TransactionAnswer } from './transactions.js';
import type { TransactionRequest } from './validation.js';

// While the breaker is open, the first probe comes this soon, and the pause
// doubles up to the longest; a success vouches for readiness this long. The
// longest is short because a probe is one SELECT 1 per instance, and after a
// failover (CREBITO_HA=on) every second between the new primary serving and
// the next probe is a second without writes.
const PROBE_INTERVAL_MS_MIN = 100;
const PROBE_INTERVAL_MS_MAX = 1000;
const READY_FOR_MS = 1000;

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<InstanceConfig, 'databaseUrl' | 'poolClientsMax' | 'queueLengthMax' | 'queueWaitMsMax' | 'requestTimeoutMs'
  | 'breakerFailuresMax' | 'connectTimeoutMs' | 'queryTimeoutMs' | 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax'
  | 'idempotencyRetentionS' | 'idempotencyWaitMsMax'> & {
  applicationName: string;
  log: Log;
  metrics: Pick<Metrics, 'callSent'>;
};

export interface LedgerHealth {
  pool: PoolHealth;
  transacoes: BatcherHealth;
  extratos: BatcherHealth;
  historico: BatcherHealth;
  breaker: { state: BreakerState; consecutiveFailures: number; opened: number };
  /** Idempotency keys past their retention that this instance removed. */
  keysExpired: number;
}

export interface Ledger {
  /** key: the request's Idempotency-Key, or undefined for none. */
  registerTransaction(clientId: number, request: TransactionRequest, key: string | undefined): Promise<TransactionAnswer>;
  readExtrato(clientId: number): Promise<ExtratoAnswer>;
  readHistory(clientId: number, query: HistoryQuery): Promise<HistoryAnswer>;
  /** Whether the database answers now (cached for a second; never queries while the breaker is open). */
  isReady(): Promise<boolean>;
  health(): LedgerHealth;
  close(): Promise<void>;
}

interface Batchers {
  transactions: Batcher<PendingTransaction, TransactionAnswer>;
  extratoReads: Batcher<number, ExtratoAnswer>;
  historyReads: Batcher<PendingHistoryRead, HistoryAnswer>;
}

/** One batcher per operation, each bounded in queue length, queue wait and deadline. */
function createBatchers(options: LedgerOptions, database: Database, breaker: Breaker): Batchers {
  const limits = {
    queueLengthMax: options.queueLengthMax,
    waitMsMax: options.queueWaitMsMax,
    deadlineMs: options.requestTimeoutMs,
    whenFull: failures.overloaded,
    whenExpired: failures.overloaded,
    whenLate: failures.databaseUnavailable,
    onLate: () => breaker.failed(),
  };
  return {
    transactions: createBatcher<PendingTransaction, TransactionAnswer>({
      ...limits,
      sizeMax: options.batchSizeMax,
      inFlightMax: options.batchesInFlightMax,
      send: (batch) => sendTransactions(database, batch, { keyWaitMsMax: options.idempotencyWaitMsMax, log: options.log }),
      onSend: (size) => options.metrics.callSent('transacoes', size),
    }),
    extratoReads: createBatcher<number, ExtratoAnswer>({
      ...limits,
      sizeMax: options.batchSizeMax,
      inFlightMax: options.readsInFlightMax,
      send: (clientIds) => readExtratos(database, clientIds),
      onSend: (size) => options.metrics.callSent('extratos', size),
    }),
    // Pages are read one per call: each has its own filters and cursor.
    historyReads: createBatcher<PendingHistoryRead, HistoryAnswer>({
      ...limits,
      sizeMax: 1,
      inFlightMax: HISTORY_READS_IN_FLIGHT_MAX,
      send: async ([read]) => [await readHistoryPage(database, read!, options.log)],
    }),
  };
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
      for (const batcher of Object.values(batchers)) batcher.flush(failures.databaseDown);
    },
    onClose: () => log.warn('circuit breaker closed: the database answers again'),
  });
  const database = openDatabase({ ...options, onAnswered: (answered) => (answered ? breaker.succeeded() : breaker.failed()) });
  const batchers = createBatchers(options, database, breaker);
  const keyExpiry = startKeyExpiry(database, { retentionS: options.idempotencyRetentionS });
  /** While the breaker is open, the database is not asked at all. */
  const unlessDown = <Answer>(submit: () => Promise<Answer>) => (breaker.isOpen ? Promise.resolve(failures.databaseDown) : submit());

  return {
    registerTransaction: (clientId, request, key) => unlessDown(() => batchers.transactions.submit({ clientId, request, key })),
    readExtrato: (clientId) => unlessDown(() => batchers.extratoReads.submit(clientId)),
    readHistory: (clientId, query) => unlessDown(() => batchers.historyReads.submit({ clientId, query })),
    isReady: () => breaker.isReady(),
    health: () => ({
      pool: database.health(),
      transacoes: batchers.transactions.health(),
      extratos: batchers.extratoReads.health(),
      historico: batchers.historyReads.health(),
      breaker: { state: breaker.state, consecutiveFailures: breaker.consecutiveFailures, opened: breaker.opened },
      keysExpired: keyExpiry.removed,
    }),
    async close() {
      breaker.stop();
      await keyExpiry.stop();
      await database.close();
    },
  };
}
