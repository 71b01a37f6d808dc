// Owns the database half of an operation's declaration: the calls that
// requests of one kind share. Each operation is declared once, in
// src/instance/operations/ (its route, scope, answer and API description
// beside this half); the ledger builds one batcher per operation from the
// list it is given, and everything kept per operation (its numbers in
// /health, its metrics, the warm-up, the pool's accounting) walks that list.

import type { Log } from '../../shared/log.js';
import type { InstanceConfig } from '../config.js';
import type { Database } from '../database/pool.js';
import type { ConnectionClassName } from './connections.js';

/** The settings an operation's bounds and call may read. */
export type OperationSettings = Pick<
  InstanceConfig,
  'batchSizeMax' | 'writesInFlightMax' | 'readsInFlightMax' | 'idempotencyWaitMsMax' | 'historyDbMsPerSecond'
>;

export interface OperationContext {
  database: Database;
  log: Log;
  settings: OperationSettings;
}

/** One query the ledger sends, prepared under its name on every connection. */
export interface PreparedQuery {
  readonly name: string;
  readonly text: string;
  /** The SQL functions it runs as crebito_api: each must be granted (sql/07-privileges.sql), as a test checks. */
  readonly functions: readonly string[];
  /** Arguments that change nothing: run on each new connection before it takes requests (warm-up.ts). */
  readonly warmUp: readonly unknown[];
}

export interface Operation<Input, Answer> {
  /** Its one name: the route's and the operation's label in /health and the metrics. */
  readonly label: string;
  /** A label it had before, which /health also shows it under for one release. */
  readonly formerLabel?: string;
  /**
   * The label of another operation whose calls this one's requests join (its
   * batcher, queue and send): a transfer shares a transaction's commit. Its
   * own send and queries are then that operation's business.
   */
  readonly callsOf?: string;
  /** Whose pooled connections its calls hold (connections.ts): a new read costs no connection. */
  readonly connections: ConnectionClassName;
  /** Every query send() may use, each warmed on every connection. */
  readonly queries: readonly PreparedQuery[];
  /** Most requests one call carries (1: each is sent alone). */
  sizeMax(settings: OperationSettings): number;
  /** Most of its own calls in flight, within its class; absent: as many as the class has. */
  inFlightMax?(settings: OperationSettings): number;
  /** Milliseconds of database time its calls may take per second (time-budget.ts); absent: no budget. */
  dbMsPerSecond?(settings: OperationSettings): number;
  /** One database call for these inputs; resolves with one answer each, in the same order. */
  send(inputs: Input[], context: OperationContext): Promise<Answer[]>;
}

/** An operation of any input and answer, as lists hold them. */
export type AnyOperation = Operation<any, any>;
