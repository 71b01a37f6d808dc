// Owns <data>/run/state.json: what the launcher is running right now (every
// pid, the public port, the database URL), written whenever it changes and
// read by the tools and tests that need to find the stack's processes.

import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseMode } from './config.js';

export interface StackState {
  launcherPid: number;
  port: number;
  mode: 'nginx' | 'direct';
  /** The embedded database's mode; null when DATABASE_URL names another server. */
  databaseMode: DatabaseMode | null;
  poolClientsMax: number;
  databaseUrl: string;
  nginx: { pid: number | undefined } | null;
  instances: { name: string; pid: number | undefined; listen: string; restarts: number }[];
  postgres: { pid: number; dataDirectory: string } | null;
}

export const stateFilePath = (runDirectory: string) => path.join(runDirectory, 'state.json');

/** Written beside and renamed over, so a reader polling it never sees a half-written file. */
export function writeStackState(runDirectory: string, state: StackState): void {
  const statePath = stateFilePath(runDirectory);
  fs.writeFileSync(`${statePath}.next`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${statePath}.next`, statePath);
}

/** The state of the stack running on a data directory, with a clear error when none runs. */
export function readStackState(dataDirectory: string): StackState {
  const statePath = stateFilePath(path.join(dataDirectory, 'run'));
  if (!fs.existsSync(statePath)) {
    throw new Error(`no running stack found (${statePath} is missing): start one with \`npm start\`, or pass --start`);
  }
  return JSON.parse(fs.readFileSync(statePath, 'utf8')) as StackState;
}
