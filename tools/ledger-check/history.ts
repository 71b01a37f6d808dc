// The checker's record of every request it sent and the answer it got, with
// a cap: the whole history is judged in memory and written out as JSON, and
// --duration allows an hour. About 600 bytes an operation (a statement holds
// its ten transactions) makes the cap some 150 MB of history and as much
// JSON; a normal run (16 clients, about 1,200 operations a second) reaches it
// after three minutes or so.
//
// At the cap the checker stops sending requests, so that every request sent
// is judged; faults still happen on schedule, and the verdict says when the
// history filled up.

import type { Operation } from './invariants.js';

export const HISTORY_MAX_OPERATIONS = 250_000;

export class History {
  readonly operations: Operation[] = [];
  /** When the cap was reached, in ms since the run began; null while there is room. */
  fullAtMs: number | null = null;

  constructor(readonly maxOperations: number) {
    if (!(Number.isInteger(maxOperations) && maxOperations >= 1 && maxOperations <= HISTORY_MAX_OPERATIONS)) {
      throw new Error(`a history holds 1 to ${HISTORY_MAX_OPERATIONS} operations, not ${maxOperations}`);
    }
  }

  get full(): boolean {
    return this.fullAtMs !== null;
  }

  /**
   * Records an operation about to be sent. False, and nothing recorded, when
   * the history is full: the caller must then not send it, or the database
   * would hold a row the history cannot explain.
   */
  admit(operation: Operation, nowMs: number): boolean {
    if (this.full) return false;
    this.operations.push(operation);
    if (this.operations.length === this.maxOperations) this.fullAtMs = nowMs;
    return true;
  }
}
