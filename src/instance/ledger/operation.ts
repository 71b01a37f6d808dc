// Owns the shape of one ledger operation: a database call that requests of
// one kind share. Each operation's file declares its own (transactions.ts,
// statements.ts, history.ts); ledger.ts lists them once, and everything kept
// per operation (a batcher, its numbers in /health, its metrics) is built by
// walking that list.

import type { Log } from '../../shared/log.js';
import type { InstanceConfig } from '../config.js';
import type { Database } from '../database/pool.js';

/** The settings an operation's bounds and call may read. */
export type OperationSettings = Pick<InstanceConfig, 'batchSizeMax' | 'batchesInFlightMax' | 'readsInFlightMax' | 'idempotencyWaitMsMax' | 'historyDbMsPerSecond'>;

export interface OperationContext {
  database: Database;
  log: Log;
  settings: OperationSettings;
}

export interface Operation<Input, Answer> {
  /** How /health and the metrics' `operation` label name it (the SQL function's name, as operators know it). */
  readonly label: string;
  /** Most requests one call carries (1: each is sent alone). */
  sizeMax(settings: OperationSettings): number;
  /** Most calls in flight at once; each holds a pooled connection (settings.ts checks the pool holds them all). */
  inFlightMax(settings: OperationSettings): number;
  /** Milliseconds of database time its calls may take per second (time-budget.ts); absent: no budget beyond inFlightMax. */
  dbMsPerSecond?(settings: OperationSettings): number;
  /** One database call for these inputs; resolves with one answer each, in the same order. */
  send(inputs: Input[], context: OperationContext): Promise<Answer[]>;
}
