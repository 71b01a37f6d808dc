// Owns the API's operations against the database, as they are declared in
// src/instance/operations/ and given to createLedger: registering a
// transaction, reading a statement (an extrato), reading a page of the
// history. Each is exactly one round trip (see the file of each).
// Requests that arrive while earlier calls are in flight wait and go together
// as one batch: transactions share one commit, statements one snapshot (see
// batcher.ts and sql/04-batch.sql).
//
// Whatever the database does, every request is answered by its deadline
// (CREBITO_REQUEST_TIMEOUT_MS), and each 503 says whether the transaction may
// have been applied. After consecutive failed or late calls the breaker
// (breaker.ts) opens and requests are answered at once, unsent, until a probe
// finds the database answering again. Errors that mean our SQL and our code
// disagree are bugs and are thrown as InvariantError.

import { failures, type Failure } from '../../shared/failures.js';
import { invariant, InvariantError } from '../../shared/invariant.js';
import type { Log } from '../../shared/log.js';
import type { InstanceConfig } from '../config.js';
import { openDatabase, type Database, type PoolHealth } from '../database/pool.js';
import { createBatcher, type Batcher, type BatcherHealth } from './batcher.js';
import { Breaker, type BreakerOptions, type BreakerState } from './breaker.js';
import { startApiKeys, type ApiKeys, type ApiKeysHealth } from './api-keys.js';
import { startIdempotencyExpiry } from './idempotency-expiry.js';
import { ConnectionClass, type ConnectionClassName } from './connections.js';
import type { AnyOperation, Operation, OperationContext } from './operation.js';
import { createTimeBudget } from './time-budget.js';
import { warmUpCalls } from './warm-up.js';

// While the breaker is open, the first probe comes this soon, and the pause
// doubles up to the longest; a success vouches for readiness this long. The
// longest is short because a probe is one SELECT 1 per instance, and after a
// failover (CREBITO_HA=on) every second between the new primary serving and
// the next probe is a second without writes: half a second at most, two
// SELECT 1 a second per instance while the database is away.
const PROBE_INTERVAL_MS_MIN = 100;
const PROBE_INTERVAL_MS_MAX = 500;
const READY_FOR_MS = 1000;
// An operation with a budget of database time may save up this long's worth
// of it while idle: a reader coming back after a pause gets a few pages at
// once, and no burst holds the database longer than a tenth of a second's
// share. It may owe at most this long's worth after one call: a history page
// reads at most HISTORY_SCAN_ROWS_MAX rows (1-3 ms measured), so a page
// charged more is mostly the machine stalling under it, and the pause it
// brings (at most this long) stays well short of CREBITO_QUEUE_WAIT_MS_MAX's
// default, instead of shedding every reader queued behind it. (With a whole
// second's debt allowed, a run on a loaded machine had history p99 484 ms
// and 4 of 696 pages 503: one page measured 50 ms or more then paused
// history for half a second or more.)
const BUDGET_BURST_S = 0.1;
// A second call in flight is for a light load: a request that finds the
// slot taken by a call of one or two need not wait for it. Past that, the
// load is heavy enough that one call at a time, gathering everything that
// waits into one commit, answers more (a second slot at saturation halved
// the calls' sizes and cost 44% of the throughput, durable, in an A/B).
const SPARE_SLOT_CALL_SIZE_MAX = 2;
/** How transactions use slots past the first (CREBITO_WRITES_IN_FLIGHT_MAX above 1); reads keep every slot theirs. */
const TRANSACTION_SLOTS = {
  // A second transaction call in flight never carries a client the first holds: it would find the row locked.
  conflictKey: (input: unknown) => (input as { clientId: number }).clientId,
  spareSlotCallSizeMax: SPARE_SLOT_CALL_SIZE_MAX,
};
const BUDGET_DEBT_S = 0.25;

/** The instance settings the ledger works within (see shared/settings.ts for each). */
export type LedgerOptions = Pick<
  InstanceConfig,
  | 'databaseUrl'
  | 'allowSuperuser'
  | 'poolClientsMax'
  | 'queueLengthMax'
  | 'queueWaitMsMax'
  | 'requestTimeoutMs'
  | 'breakerFailuresMax'
  | 'connectTimeoutMs'
  | 'queryTimeoutMs'
  | 'batchSizeMax'
  | 'writesInFlightMax'
  | 'readsInFlightMax'
  | 'idempotencyRetentionS'
  | 'idempotencyWaitMsMax'
  | 'historyDbMsPerSecond'
  | 'apiKeysStaleMs'
> &
  Partial<Pick<InstanceConfig, 'auth' | 'rateLimitPerS'>> & {
    applicationName: string;
    log: Log;
    /** Every operation the ledger serves (src/instance/operations/index.ts): one batcher each. */
    operations: readonly AnyOperation[];
    /** Told of every call sent, with the requests it carries. */
    metrics: {
      callSent(operation: string, size: number): void;
      readonly timing?: {
        waited(operation: string, ms: number): void;
        called(operation: string, ms: number, requests: number): void;
      };
    };
  };

/** Each operation's batcher numbers, under its label (and its former label, for one release). */
type OperationHealth = Record<string, BatcherHealth>;

export type LedgerHealth = { pool: PoolHealth } & {
  breaker: { state: BreakerState; consecutiveFailures: number; opened: number };
  /** Idempotency keys past their retention that this instance removed. */
  idempotencyKeysExpired: number;
  /** Expiry passes that ran out of time with idempotency keys left (the next then came at once): a counter. */
  idempotencyExpiryPassesBehind: number;
  /** The two above under their former names, for one release. */
  keysExpired: number;
  keyExpiryPassesBehind: number;
  /** The API keys held (CREBITO_AUTH=keys); null with auth off. */
  apiKeys: ApiKeysHealth | null;
};

/** One operation's batcher numbers in the ledger's health. */
export function operationHealth(health: LedgerHealth, label: string): BatcherHealth {
  return (health as unknown as OperationHealth)[label]!;
}

export interface Ledger {
  /** One request of an operation: sent alone, or in a batch with others that wait; answered by its deadline. */
  submit<Input, Answer>(operation: Operation<Input, Answer>, input: Input): Promise<Answer>;
  /** Whether the database answers now (cached for a second; never queries while the breaker is open) and the pool is open and warm. */
  isReady(): Promise<boolean>;
  /** Resolves once the pool is open and warm, or once opening it failed (the database is not answering). */
  filled(): Promise<boolean>;
  health(): LedgerHealth;
  close(): Promise<void>;
  /** The API keys in force (CREBITO_AUTH=keys); undefined with auth off. */
  readonly apiKeys: ApiKeys | undefined;
}

type Batchers = Map<AnyOperation, Batcher<unknown, unknown>>;

/** The pooled connections each class of calls may hold (settings.ts checks the pool holds them all). */
function connectionClasses(options: LedgerOptions): Record<ConnectionClassName, ConnectionClass> {
  return {
    writes: new ConnectionClass('writes', options.writesInFlightMax),
    reads: new ConnectionClass('reads', options.readsInFlightMax),
  };
}

/** One batcher per operation, each bounded in queue length, queue wait and the request timeout. */
function createBatchers(options: LedgerOptions, database: Database, breaker: Breaker): Batchers {
  const context: OperationContext = { database, log: options.log, settings: options };
  const classes = connectionClasses(options);
  const batchers: Batchers = new Map();
  for (const operation of options.operations) {
    if (operation.callsOf !== undefined) continue;
    const send = operation.send as (inputs: unknown[], context: OperationContext) => Promise<unknown[]>;
    const dbMsPerSecond = operation.dbMsPerSecond?.(options);
    const connections = classes[operation.connections];
    batchers.set(
      operation,
      createBatcher<unknown, unknown>({
        sizeMax: operation.sizeMax(options),
        inFlightMax: operation.inFlightMax?.(options) ?? connections.size,
        connections,
        queueLengthMax: options.queueLengthMax,
        waitMsMax: options.queueWaitMsMax,
        requestTimeoutMs: options.requestTimeoutMs,
        whenFull: failures.overloaded,
        whenExpired: failures.overloaded,
        // Only a write's call may have applied something when it is late.
        whenLate: operation.connections === 'writes' ? failures.databaseUnanswered : failures.readUnanswered,
        onLate: () => breaker.failed(),
        // A client row another session holds answers at once (sql/03-functions.sql): sent again, never waited on.
        isRetry: (answer) => answer === failures.clientBusy,
        ...(operation.label === 'transacoes' ? TRANSACTION_SLOTS : {}),
        budget:
          dbMsPerSecond === undefined
            ? undefined
            : createTimeBudget({
                msPerSecond: dbMsPerSecond,
                burstMs: dbMsPerSecond * BUDGET_BURST_S,
                debtMsMax: dbMsPerSecond * BUDGET_DEBT_S,
              }),
        send: (inputs) => send(inputs, context),
        onSend: (size) => options.metrics.callSent(operation.label, size),
        onWaited: (ms) => options.metrics.timing?.waited(operation.label, ms),
        onAnswered: (ms, items) => options.metrics.timing?.called(operation.label, ms, items),
      }),
    );
  }
  for (const operation of options.operations) {
    if (operation.callsOf === undefined) continue;
    const host = options.operations.find((other) => other.label === operation.callsOf && other.callsOf === undefined);
    invariant(
      host !== undefined,
      `operation ${operation.label} joins the calls of ${operation.callsOf}, which has none of its own`,
    );
    batchers.set(operation, batchers.get(host)!);
  }
  return batchers;
}

/** Opens after consecutive failures; while open, every queue is answered 503 at once until a probe succeeds. */
function createBreaker(options: LedgerOptions, hooks: { probe: BreakerOptions['probe']; flush: () => void }): Breaker {
  const { log } = options;
  const breaker: Breaker = new Breaker({
    failuresMax: options.breakerFailuresMax,
    probeIntervalMsMin: PROBE_INTERVAL_MS_MIN,
    probeIntervalMsMax: PROBE_INTERVAL_MS_MAX,
    readyForMs: READY_FOR_MS,
    probe: hooks.probe,
    onOpen: () => {
      log.error(
        { consecutiveFailures: breaker.consecutiveFailures },
        'circuit breaker open: the database is not answering; answering 503 at once until a probe succeeds',
      );
      hooks.flush();
    },
    onClose: () => log.warn('circuit breaker closed: the database answers again'),
  });
  return breaker;
}

/** Each operation's queue numbers, under its label and any former one. */
function healthOfOperations(options: LedgerOptions, batchers: Batchers): () => OperationHealth {
  // An operation that joins another's calls has no numbers of its own: they are its host's.
  const hosts = options.operations.filter((operation) => operation.callsOf === undefined);
  return () =>
    Object.fromEntries(
      hosts.flatMap((operation) => {
        const health = batchers.get(operation)!.health();
        return [
          [operation.label, health],
          ...(operation.formerLabel === undefined ? [] : [[operation.formerLabel, health]]),
        ];
      }),
    );
}

export function createLedger(options: LedgerOptions): Ledger {
  const { log } = options;
  const labels = new Set(options.operations.map((operation) => operation.label));
  invariant(labels.size === options.operations.length, 'two operations share a label');
  const breaker = createBreaker(options, {
    probe: () => database.probe(),
    flush: () => {
      for (const batcher of batchers.values()) batcher.flush(failures.databaseDown);
    },
  });
  const database = openDatabase({
    ...options,
    warmUp: warmUpCalls(options.operations),
    onAnswered: (answered) => (answered ? breaker.succeeded() : breaker.failed()),
  });
  const batchers = createBatchers(options, database, breaker);
  const idempotencyExpiry = startIdempotencyExpiry(database, { retentionS: options.idempotencyRetentionS, log });
  const apiKeys =
    options.auth === 'keys'
      ? startApiKeys({
          ...options,
          applicationName: `${options.applicationName}-keys`,
          staleMs: options.apiKeysStaleMs,
          refusalsPerS: options.rateLimitPerS ?? 0,
        })
      : undefined;
  const healthByLabel = healthOfOperations(options, batchers);

  return {
    // While the breaker is open, the database is not asked at all.
    submit: <Input, Answer>(operation: Operation<Input, Answer>, input: Input) =>
      breaker.isOpen
        ? Promise.resolve(failures.databaseDown as Failure & Answer)
        : ((batchers.get(operation) as Batcher<Input, Answer> | undefined) ?? unknownOperation(operation)).submit(
            input,
          ),
    apiKeys,
    // A cold pool is not ready: the first requests would pay for opening and
    // warming connections (see warm-up.ts), so the load balancer waits. With
    // auth on, an instance that cannot vouch for its keys answers every
    // request 503: it is not ready either.
    isReady: async () => database.isWarm() && (await breaker.isReady()) && (apiKeys === undefined || apiKeys.fresh()),
    filled: () => database.filled(),
    health: () => ({
      pool: database.health(),
      ...healthByLabel(),
      breaker: { state: breaker.state, consecutiveFailures: breaker.consecutiveFailures, opened: breaker.opened },
      idempotencyKeysExpired: idempotencyExpiry.removed,
      idempotencyExpiryPassesBehind: idempotencyExpiry.passesBehind,
      keysExpired: idempotencyExpiry.removed,
      keyExpiryPassesBehind: idempotencyExpiry.passesBehind,
      apiKeys: apiKeys?.health() ?? null,
    }),
    async close() {
      breaker.stop();
      await idempotencyExpiry.stop();
      await apiKeys?.stop();
      await database.close();
    },
  };
}

function unknownOperation(operation: AnyOperation): never {
  throw new InvariantError(`operation ${operation.label} was not given to the ledger`);
}
