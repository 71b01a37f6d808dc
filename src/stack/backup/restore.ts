// Owns restoring the embedded database from the pgBackRest repository into a
// new crebito data directory: pgBackRest copies the backup set that precedes
// the target and writes the recovery settings; then the server is started
// once, privately (no archiving, a socket in a temporary directory), to
// replay the archived WAL up to the target and promote, and is stopped
// cleanly. What is left is an ordinary cluster: `CREBITO_DATA_DIR=<dir> npm
// start` serves it, needing neither the repository nor its key.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { waitFor } from '../../shared/wait.js';
import { embeddedDatabaseUrl, EMBEDDED_DATABASE_NAME, EMBEDDED_USER_NAME, findBinaries } from '../embedded-postgres.js';
import { waitForExit } from '../processes.js';
import { keyEnvironment, pgbackrest, type BackupPlan } from './pgbackrest.js';

const POLL_INTERVAL_MS = 200;
const STOP_TIMEOUT_MS = 60_000;
const LOG_TAIL_BYTES = 4000;

export interface RestoreRequest {
  /** A time (recover every transaction committed at or before it) or the end of the archive. */
  to: Date | 'latest';
  /** The new crebito data directory: missing or empty. */
  into: string;
  port: number;
  recoveryTimeoutMs: number;
  /** This backup set instead of the newest one that fits the target (a drill replays across a failover with it). */
  set?: string;
}

export interface RestoreResult {
  dataDirectory: string;
  backupSet: string | undefined;
  /** The last transaction the recovery replayed (null: none after the backup). */
  lastReplayedAt: string | null;
  copyMs: number;
  replayMs: number;
  sizeBytes: number;
}

/** pgBackRest's time format: YYYY-MM-DD HH:MM:SS.mmm+00. */
export function pgbackrestTime(time: Date): string {
  return `${time.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}

function prepareTarget(into: string, runAs: BackupPlan['runAs']): string {
  const target = path.resolve(into);
  if (fs.existsSync(target) && fs.readdirSync(target).length > 0)
    throw new Error(`${target} is not empty: restore into a new directory`);
  const pgData = path.join(target, 'postgres');
  // The server's user (postgres, when we are root) must pass through it, as through any crebito data directory.
  fs.mkdirSync(target, { recursive: true, mode: 0o755 });
  fs.mkdirSync(pgData, { mode: 0o700 });
  if (runAs !== undefined) fs.chownSync(pgData, runAs.uid, runAs.gid);
  return pgData;
}

function restoreArguments(request: RestoreRequest, pgData: string): string[] {
  const common = [
    'restore',
    `--pg1-path=${pgData}`,
    '--log-level-console=info',
    ...(request.set === undefined ? [] : [`--set=${request.set}`]),
  ];
  if (request.to === 'latest') return [...common, '--type=default'];
  return [...common, '--type=time', `--target=${pgbackrestTime(request.to)}`, '--target-action=promote'];
}

function directorySizeBytes(directory: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

/** Restores, replays to the target, promotes and stops; throws with the server's own words when recovery fails. */
export async function restore(plan: BackupPlan, key: string, request: RestoreRequest): Promise<RestoreResult> {
  const pgData = prepareTarget(request.into, plan.runAs);
  const copyStartedMs = performance.now();
  const output = await pgbackrest(plan, key, restoreArguments(request, pgData));
  const copyMs = performance.now() - copyStartedMs;
  forgetPatroniNode(pgData);
  const replayStartedMs = performance.now();
  const lastReplayedAt = await replay(plan, key, pgData, request);
  return {
    dataDirectory: path.dirname(pgData),
    backupSet: /restore backup set ([^\s,]+)/.exec(output)?.[1],
    lastReplayedAt,
    copyMs: Math.round(copyMs),
    replayMs: Math.round(performance.now() - replayStartedMs),
    sizeBytes: directorySizeBytes(pgData),
  };
}

/** Starts the restored server privately until it has replayed and promoted; returns the last replayed commit's time. */
async function replay(plan: BackupPlan, key: string, pgData: string, request: RestoreRequest): Promise<string | null> {
  const socketDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-restore-'));
  if (plan.runAs !== undefined) fs.chownSync(socketDirectory, plan.runAs.uid, plan.runAs.gid);
  const logFile = path.join(path.dirname(pgData), 'restore-replay.log');
  const log = fs.openSync(logFile, 'w');
  const server = spawn(
    findBinaries().postgres,
    [
      '-D',
      pgData,
      '-c',
      'listen_addresses=',
      '-c',
      `unix_socket_directories=${socketDirectory}`,
      '-c',
      `port=${request.port}`,
      '-c',
      'archive_mode=off',
    ],
    {
      ...(plan.runAs ?? {}),
      stdio: ['ignore', log, log],
      env: { ...process.env, ...keyEnvironment(key), LC_ALL: 'C' },
    },
  );
  fs.closeSync(log);
  try {
    const url = embeddedDatabaseUrl(EMBEDDED_DATABASE_NAME, socketDirectory, request.port, plan.superuser);
    const promoted = await waitFor(() => isPromoted(url), {
      timeoutMs: request.recoveryTimeoutMs,
      intervalMs: POLL_INTERVAL_MS,
      abandonWhen: () => exited(server),
    });
    if (promoted === undefined) {
      const why = exited(server) ? 'the server stopped' : `still replaying after ${request.recoveryTimeoutMs} ms`;
      throw new Error(`recovery did not finish (${why}); the server said:\n${tail(logFile)}`);
    }
    return await finishRecovery(url);
  } finally {
    await stopServer(server);
    fs.rmSync(socketDirectory, { recursive: true, force: true });
  }
}

// What Patroni wrote into a node's postgresql.conf that belongs to that node
// (its address, socket, log and hba paths, its upstream) or to replication
// (synchronous_standby_names would hold every commit of a single server).
const PATRONI_NODE_SETTINGS = new Set([
  'cluster_name',
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'log_directory',
  'logging_collector',
  'hba_file',
  'ident_file',
  'primary_conninfo',
  'primary_slot_name',
  'restore_command',
  'archive_mode',
  'archive_command',
  'archive_timeout',
  'synchronous_standby_names',
  'recovery_target',
  'recovery_target_lsn',
  'recovery_target_name',
  'recovery_target_time',
  'recovery_target_timeline',
  'recovery_target_xid',
]);

/**
 * A backup of an HA node carries Patroni's postgresql.conf (Patroni keeps
 * initdb's as postgresql.base.conf): the node's own settings are taken out,
 * so that the restored cluster is a plain one that `npm start` can serve.
 * The rest stays: replay needs the primary's max_connections and the like.
 */
export function forgetPatroniNode(pgData: string): void {
  if (!fs.existsSync(path.join(pgData, 'postgresql.base.conf'))) return;
  const file = path.join(pgData, 'postgresql.conf');
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => !PATRONI_NODE_SETTINGS.has(/^\s*([a-z_]+)\s*=/.exec(line)?.[1] ?? ''))
    .map((line) =>
      line.includes('overwritten by Patroni') ? "# Restored by crebito from an HA node: no longer Patroni's." : line,
    );
  fs.writeFileSync(file, kept.join('\n'));
  fs.rmSync(path.join(pgData, 'standby.signal'), { force: true });
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function isPromoted(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    return !(await client.query<{ recovering: boolean }>('SELECT pg_is_in_recovery() AS recovering')).rows[0]!
      .recovering;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The recovery settings pgBackRest wrote are spent: removed, so the cluster needs no repository again. */
async function finishRecovery(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const replayed = await client.query<{ at: Date | null }>('SELECT pg_last_xact_replay_timestamp() AS at');
    // A cluster from the HA nodes has their superuser (postgres), not the one the embedded launcher logs in as.
    const { rowCount } = await client.query('SELECT FROM pg_roles WHERE rolname = $1', [EMBEDDED_USER_NAME]);
    if (rowCount === 0) await client.query(`CREATE ROLE ${EMBEDDED_USER_NAME} SUPERUSER LOGIN`);
    for (const setting of ['restore_command', 'recovery_target_time', 'recovery_target_action'])
      await client.query(`ALTER SYSTEM RESET ${setting}`);
    await client.query('CHECKPOINT');
    return replayed.rows[0]!.at?.toISOString() ?? null;
  } finally {
    await client.end();
  }
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (exited(server) || server.pid === undefined) return;
  server.kill('SIGINT');
  if (!(await waitForExit(server.pid, STOP_TIMEOUT_MS))) server.kill('SIGQUIT');
}

function tail(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  return text.slice(Math.max(0, text.length - LOG_TAIL_BYTES));
}
