// Owns <data>/run/state.json: what the launcher is running right now (every
// process, the public port, the database URL), written whenever it changes and
// read by the tools and tests that need to find the stack's processes, and by
// the next launcher when this one was killed before it could stop them. Each
// process is recorded with its identity (processes.ts), so that the next
// launcher stops it only if it is still that process, not another given its pid.

import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseMode } from './config.js';
import type { DatabaseNodeState, RolePasswords } from './ha/cluster.js';
import type { ProcessIdentity } from './processes.js';

export interface StackState {
  launcherPid: number;
  port: number;
  mode: 'nginx' | 'direct';
  /** The embedded database's mode; null when DATABASE_URL names another server. */
  databaseMode: DatabaseMode | null;
  poolClientsMax: number;
  /** The database for the tools that check the books: the embedded server's superuser, or the owner's URL; never a password. */
  databaseUrl: string;
  /** The database as the instances log in (crebito_api), for a tool that starts one more; never a password. */
  instanceDatabaseUrl: string;
  nginx: RecordedProcess | null;
  /** Each instance: where it serves the API (listen) and /metrics (admin, 127.0.0.1:port), and whether nginx sends it new requests (rotation.ts). */
  instances: (RecordedProcess & {
    name: string;
    listen: string;
    admin: string | null;
    restarts: number;
    inRotation: boolean;
  })[];
  /** Prometheus when CREBITO_PROMETHEUS=on: its process and where its API answers. */
  prometheus: (RecordedProcess & { url: string }) | null;
  /** The server started last (while it is being restarted, the one that died). */
  postgres: (ProcessIdentity & { dataDirectory: string }) | null;
  /** With CREBITO_EVENTS=on: the change stream's publisher and broker (docs/events.md); otherwise absent. */
  events?: EventsState;
  /** With CREBITO_HA=on: every database node, its role and processes; otherwise absent. */
  databaseNodes?: DatabaseNodeState[];
  /**
   * With CREBITO_HA=on, whose nodes take passwords over TCP: a file (the
   * launcher's user only) of each role's password, which readStackState puts
   * into the URLs above for the tools. state.json itself holds no secret.
   */
  passwordsFile?: string;
}

/** What state.json records of the change stream (events/launch.ts): the publisher, and the broker (its pid only when the launcher runs it). */
export interface EventsState {
  publisher: RecordedProcess & { admin: string | null };
  broker: { url: string } & Partial<RecordedProcess>;
}

/** A supervised process: its identity, or no pid while it is being restarted. */
export type RecordedProcess = ProcessIdentity | { pid: undefined };

export const stateFilePath = (runDirectory: string) => path.join(runDirectory, 'state.json');

/**
 * Writes a file that another process reads while the stack runs (a tool, or
 * Prometheus): written beside and renamed over, so a reader never sees it
 * half-written. rename() within one directory replaces it in one step.
 */
export function replaceFileWhole(filePath: string, text: string): void {
  fs.writeFileSync(`${filePath}.next`, text);
  fs.renameSync(`${filePath}.next`, filePath);
}

export function writeStackState(runDirectory: string, state: StackState): void {
  replaceFileWhole(stateFilePath(runDirectory), `${JSON.stringify(state, null, 2)}\n`);
}

/** The state of the stack running on a data directory, with a clear error when none runs. */
export function readStackState(dataDirectory: string): StackState {
  const statePath = stateFilePath(path.join(dataDirectory, 'run'));
  if (!fs.existsSync(statePath)) {
    throw new Error(`no running stack found (${statePath} is missing): start one with \`npm start\`, or pass --start`);
  }
  const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as StackState;
  if (state.passwordsFile === undefined) return state;
  const passwords = JSON.parse(fs.readFileSync(state.passwordsFile, 'utf8')) as RolePasswords;
  return {
    ...state,
    databaseUrl: withPassword(state.databaseUrl, passwords),
    instanceDatabaseUrl: withPassword(state.instanceDatabaseUrl, passwords),
  };
}

/** postgresql://role@host/db with that role's password put back, as the tools connect. */
function withPassword(url: string, passwords: RolePasswords): string {
  const parsed = new URL(url);
  const password = passwords[decodeURIComponent(parsed.username)];
  if (password === undefined) throw new Error(`the stack's passwords file has no password for ${parsed.username}`);
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}
