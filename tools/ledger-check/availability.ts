// The checker's second verdict, beside the invariants: whether a fault stayed
// in the part it hit. For each fault's window, the requests that did NOT
// touch the faulted part (another client than the locked one, say) are held
// to the same run's quiet windows: no errors, and a p99 within twice the
// quiet one. A fault that touches every request (the database crashed) has
// nothing to judge here; its recovery time is its measure.

import type { Operation } from './invariants.js';

/** A quiet p99 may exceed this many times over while a fault runs, and the fault still counts as contained. */
export const P99_RATIO_MAX = 2;
// After a fault ends, how long its effects may still linger before the run is quiet again.
const SETTLE_AFTER_FAULT_MS = 1000;
const PERCENTILE = 0.99;

/** Which requests a fault touches: its part, as the requests name it. */
export type FaultScope =
  | { kind: 'client'; clientId: number }
  /** Every request passes through the faulted part (the database, nginx): nothing else to judge. */
  | { kind: 'all' }
  /** Nothing a request names: all of them are judged, after the grace (an instance, slow connections). */
  | { kind: 'none' };

export interface FaultWindow {
  name: string;
  startMs: number;
  endMs: number;
  scope: FaultScope;
  /** Requests started this soon after the fault began are not judged: the time it takes to be noticed at all. */
  graceMs: number;
}

export interface WindowFigures {
  requests: number;
  errors: number;
  p99Ms: number | null;
}

export interface FaultAvailability extends WindowFigures {
  name: string;
  /** null: no request was left to judge (a fault that touches every request, or none was sent meanwhile). */
  contained: boolean | null;
  touchesAll: boolean;
  p99Ratio: number | null;
}

export interface Availability {
  quiet: WindowFigures;
  faults: FaultAvailability[];
  /** Every judged fault contained. */
  contained: boolean;
}

/** An answer that is not one of the API's own outcomes: none at all, or a 5xx. */
export function isError(operation: Operation): boolean {
  return operation.status === 0 || operation.status >= 500;
}

function touches(scope: FaultScope, operation: Operation): boolean {
  if (scope.kind === 'all') return true;
  if (scope.kind === 'none') return false;
  // A transfer also needs its payee's row.
  return operation.clientId === scope.clientId || (operation.kind === 'transacao' && operation.para === scope.clientId);
}

export function percentile(values: number[], fraction: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

function figures(operations: Operation[]): WindowFigures {
  return {
    requests: operations.length,
    errors: operations.filter(isError).length,
    p99Ms: percentile(
      operations.map((operation) => operation.endMs - operation.startMs),
      PERCENTILE,
    ),
  };
}

/** Whether an operation ran, in part, while a fault was on or settling. */
const overlaps = (operation: Operation, window: FaultWindow) =>
  operation.endMs >= window.startMs && operation.startMs <= window.endMs + SETTLE_AFTER_FAULT_MS;

/** Judges each fault window against the quiet rest of the same run. */
export function judgeAvailability(operations: readonly Operation[], windows: readonly FaultWindow[]): Availability {
  const quiet = figures(operations.filter((operation) => !windows.some((window) => overlaps(operation, window))));
  const faults = windows.map((window): FaultAvailability => {
    const judged = operations.filter(
      (operation) =>
        operation.startMs >= window.startMs + window.graceMs &&
        operation.startMs <= window.endMs &&
        !touches(window.scope, operation),
    );
    const own = { name: window.name, touchesAll: window.scope.kind === 'all', ...figures(judged) };
    if (own.requests === 0) return { ...own, contained: null, p99Ratio: null };
    const p99Ratio = own.p99Ms === null || quiet.p99Ms === null || quiet.p99Ms === 0 ? null : own.p99Ms / quiet.p99Ms;
    return { ...own, p99Ratio, contained: own.errors === 0 && p99Ratio !== null && p99Ratio <= P99_RATIO_MAX };
  });
  return { quiet, faults, contained: faults.every((fault) => fault.contained !== false) };
}
