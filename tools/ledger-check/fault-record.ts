// What every fault of the checker is given, and what it reports: shared by
// faults.ts and stack-faults.ts, so that neither imports the other's types.

import type { FaultWindow } from './availability.js';

export interface FaultRecord {
  name: string;
  atMs: number;
  detail: string;
  /** From the end of the fault (the kill, the SIGCONT, the crash) until the service answered again. */
  recoveryMs: number | null;
  /** When it was on, and which requests it touched: what the availability verdict judges. */
  window: FaultWindow;
}

export interface FaultContext {
  dataDirectory: string;
  port: number;
  elapsed: () => number;
  log: (line: string) => void;
}
