// Owns how crebito drives pgBackRest, the one backup tool it uses: where the
// repository, its key, its configuration, logs, locks and spool live; the
// server settings that archive every WAL segment into the repository; and
// running a pgBackRest command as the operating-system user that owns the
// cluster (when the launcher runs as root, the `postgres` user: a repository
// written by root would be unreadable to the server's own archive_command).
//
// No secret is written beside the repository: pgBackRest reads the cipher
// key from its environment (PGBACKREST_REPO1_CIPHER_PASS), which the launcher
// fills from the key file for the server (archive_command inherits it) and
// for every command it runs.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Settings } from '../../shared/settings.js';
import { EMBEDDED_USER_NAME } from '../embedded-postgres.js';
import { processArguments, waitForExit } from '../processes.js';

/** The one stanza (pgBackRest's name for a cluster) a repository holds for crebito. */
export const STANZA = 'crebito';
/** The cluster's OS user when the launcher runs as root (embedded-postgres.ts runs the server as it). */
export type RunAs = { uid: number; gid: number } | undefined;
const KEY_BYTES = 48;
const OUTPUT_BYTES_MAX = 1_000_000;

export type BackupSettings = Settings<
  'backups' | 'backupRepository' | 'backupKeyFile' | 'backupRetentionFull' | 'archiveTimeoutS' | 'archiveQueueMaxMb'
>;

/** Everything pgBackRest needs for one cluster, decided before anything runs. */
export interface BackupPlan {
  /** <data>/backup: the configuration, logs, locks and the asynchronous archive's spool. */
  directory: string;
  repository: string;
  keyFile: string;
  configFile: string;
  /** The cluster's data directory, unix socket directory and port. */
  pgDataDirectory: string;
  socketDirectory: string;
  port: number;
  retentionFull: number;
  archiveTimeoutS: number;
  archiveQueueMaxMb: number;
  runAs: RunAs;
}

export function planBackups(
  settings: BackupSettings,
  dataDirectory: string,
  cluster: { dataDirectory: string; socketDirectory: string; port: number },
  runAs: RunAs,
): BackupPlan {
  const directory = path.join(dataDirectory, 'backup');
  return {
    directory,
    repository: path.resolve(settings.backupRepository ?? path.join(directory, 'repo')),
    keyFile: path.resolve(settings.backupKeyFile ?? path.join(directory, 'key')),
    configFile: path.join(directory, 'pgbackrest.conf'),
    pgDataDirectory: cluster.dataDirectory,
    socketDirectory: cluster.socketDirectory,
    port: cluster.port,
    retentionFull: settings.backupRetentionFull,
    archiveTimeoutS: settings.archiveTimeoutS,
    archiveQueueMaxMb: settings.archiveQueueMaxMb,
    runAs,
  };
}

function ensureOwnedDirectory(directory: string, runAs: RunAs): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
  if (runAs !== undefined) fs.chownSync(directory, runAs.uid, runAs.gid);
}

/**
 * The repository's key: read from its file, made on first use. Losing it
 * makes every backup unreadable, so it is never made again over a
 * repository that already holds backups (pgBackRest would refuse it anyway).
 */
export function readOrMakeKey(plan: BackupPlan): string {
  if (fs.existsSync(plan.keyFile)) {
    const key = fs.readFileSync(plan.keyFile, 'utf8').trim();
    if (key.length < 20) throw new Error(`${plan.keyFile} holds no usable key (at least 20 characters)`);
    return key;
  }
  if (fs.existsSync(path.join(plan.repository, 'backup', STANZA))) {
    throw new Error(
      `the backup repository ${plan.repository} exists but its key ${plan.keyFile} does not; put the key back (CREBITO_BACKUP_KEY_FILE)`,
    );
  }
  fs.mkdirSync(path.dirname(plan.keyFile), { recursive: true, mode: 0o700 });
  fs.writeFileSync(plan.keyFile, `${randomBytes(KEY_BYTES).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return fs.readFileSync(plan.keyFile, 'utf8').trim();
}

/** pgBackRest's configuration: everything but the key. */
function configurationText(plan: BackupPlan): string {
  return [
    '# Written by crebito at each start (src/stack/backup/pgbackrest.ts); edits are lost.',
    '[global]',
    `repo1-path=${plan.repository}`,
    'repo1-cipher-type=aes-256-cbc',
    `repo1-retention-full=${plan.retentionFull}`,
    'repo1-retention-full-type=count',
    `log-path=${path.join(plan.directory, 'log')}`,
    `lock-path=${path.join(plan.directory, 'lock')}`,
    `spool-path=${path.join(plan.directory, 'spool')}`,
    // Asynchronous push: the server's archive_command returns as soon as a
    // segment is queued, and a background process ships segments in parallel.
    'archive-async=y',
    // Past this much WAL waiting to be archived, pgBackRest drops segments
    // from the archive instead of letting pg_wal fill the disk, which would
    // stop every write: the ledger keeps running, point-in-time recovery has
    // a gap until the next full backup (the log and the metrics say so).
    `archive-push-queue-max=${plan.archiveQueueMaxMb}MiB`,
    'compress-type=lz4',
    'start-fast=y',
    'log-level-console=warn',
    'log-level-file=info',
    `[${STANZA}]`,
    `pg1-path=${plan.pgDataDirectory}`,
    `pg1-socket-path=${plan.socketDirectory}`,
    `pg1-port=${plan.port}`,
    `pg1-user=${EMBEDDED_USER_NAME}`,
    '',
  ].join('\n');
}

/** Creates the repository's directories and writes the configuration; returns the key. */
export function prepareBackups(plan: BackupPlan): string {
  ensureOwnedDirectory(plan.directory, plan.runAs);
  for (const sub of ['log', 'lock', 'spool']) ensureOwnedDirectory(path.join(plan.directory, sub), plan.runAs);
  ensureOwnedDirectory(plan.repository, plan.runAs);
  const key = readOrMakeKey(plan);
  fs.writeFileSync(plan.configFile, configurationText(plan), { mode: 0o600 });
  if (plan.runAs !== undefined) fs.chownSync(plan.configFile, plan.runAs.uid, plan.runAs.gid);
  return key;
}

const shellQuoted = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/** The server settings that archive every WAL segment with pgBackRest (as -c name=value). */
export function archiveSettings(plan: BackupPlan): string[] {
  return [
    'archive_mode=on',
    `archive_command=pgbackrest --config=${shellQuoted(plan.configFile)} --stanza=${STANZA} archive-push %p`,
    `archive_timeout=${plan.archiveTimeoutS}s`,
  ];
}

/** What the server (for archive_command) and every pgBackRest command need in their environment. */
export function keyEnvironment(key: string): Record<string, string> {
  return { PGBACKREST_REPO1_CIPHER_PASS: key };
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pgbackrest <args>` with this plan's configuration, as the cluster's user; never rejects for a non-zero exit.
 */
export function runPgbackrest(
  plan: BackupPlan,
  key: string,
  args: string[],
  signal?: AbortSignal,
  options: { niceness?: number } = {},
): Promise<CommandResult> {
  const command = ['pgbackrest', `--config=${plan.configFile}`, `--stanza=${STANZA}`, ...args];
  // nice(1) execs pgbackrest: the pid, its command line and its children are pgBackRest's own.
  if (options.niceness !== undefined) command.unshift('nice', '-n', String(options.niceness));
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      ...(plan.runAs ?? {}),
      env: { ...process.env, ...keyEnvironment(key) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // pgBackRest stops cleanly on SIGTERM (a backup cut short is resumed or removed by the next one).
      ...(signal === undefined ? {} : { signal, killSignal: 'SIGTERM' as const }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < OUTPUT_BYTES_MAX) stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < OUTPUT_BYTES_MAX) stderr += chunk.toString('utf8');
    });
    child.on('error', (error) =>
      signal?.aborted === true
        ? undefined
        : reject(new Error(`could not run pgbackrest (Debian/Ubuntu: apt-get install pgbackrest): ${error.message}`)),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command that must succeed; throws with pgBackRest's own words otherwise. */
export async function pgbackrest(
  plan: BackupPlan,
  key: string,
  args: string[],
  signal?: AbortSignal,
  options: { niceness?: number } = {},
): Promise<string> {
  const result = await runPgbackrest(plan, key, args, signal, options);
  if (result.code !== 0)
    throw new Error(
      `pgbackrest ${args.join(' ')} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim()}`,
    );
  return result.stdout;
}

/** One backup as `pgbackrest info` lists it. */
export interface BackupEntry {
  label: string;
  type: 'full' | 'incr' | 'diff';
  startedAt: Date;
  stoppedAt: Date;
  /** The database's size, and what this backup added to the repository (compressed, encrypted). */
  sizeBytes: number;
  repositoryBytes: number;
  walStart: string;
  walStop: string;
  error: boolean;
}

export interface RepositoryInfo {
  backups: BackupEntry[];
  /** The oldest and newest WAL segment in the archive, on the current database (undefined: none yet). */
  archiveMin: string | undefined;
  archiveMax: string | undefined;
}

interface InfoJson {
  archive?: { min: string | null; max: string | null }[];
  backup?: {
    label: string;
    type: BackupEntry['type'];
    error?: boolean;
    timestamp: { start: number; stop: number };
    info: { size: number; repository: { delta: number } };
    archive: { start: string; stop: string };
  }[];
}

/** The repository's backups and archive range; an empty list when the stanza does not exist yet. */
export async function readRepositoryInfo(plan: BackupPlan, key: string): Promise<RepositoryInfo> {
  const [stanza] = JSON.parse(await pgbackrest(plan, key, ['info', '--output=json'])) as InfoJson[];
  const archive = stanza?.archive?.at(-1);
  return {
    backups: (stanza?.backup ?? []).map((backup) => ({
      label: backup.label,
      type: backup.type,
      startedAt: new Date(backup.timestamp.start * 1000),
      stoppedAt: new Date(backup.timestamp.stop * 1000),
      sizeBytes: backup.info.size,
      repositoryBytes: backup.info.repository.delta,
      walStart: backup.archive.start,
      walStop: backup.archive.stop,
      error: backup.error === true,
    })),
    archiveMin: archive?.min ?? undefined,
    archiveMax: archive?.max ?? undefined,
  };
}

/** Creates the stanza if it is not there yet (pgBackRest does nothing to one that matches this cluster). */
export async function ensureStanza(plan: BackupPlan, key: string): Promise<void> {
  await pgbackrest(plan, key, ['stanza-create']);
}

export type BackupType = 'full' | 'incr' | 'diff';

/**
 * A backup reads, compresses and encrypts the whole cluster: at the same CPU
 * priority it took cores from the requests beside it (p99 22.5 -> 58.5 ms at
 * the public rate, results/stalls/). Lowered, it takes what the ledger
 * leaves; not to the lowest (19), which a saturated machine would starve.
 * WAL archiving stays at normal priority: falling behind there is a gap in
 * point-in-time recovery.
 */
export const BACKUP_NICENESS = 10;

/** Takes a backup of the running cluster, then expires what the retention no longer keeps. */
export async function takeBackup(plan: BackupPlan, key: string, type: BackupType, signal?: AbortSignal): Promise<void> {
  await pgbackrest(plan, key, [`--type=${type}`, 'backup'], signal, { niceness: BACKUP_NICENESS });
}

const LEFTOVER_STOP_TIMEOUT_MS = 15_000;

/**
 * Stops the pgBackRest processes working for this data directory (named by
 * its configuration file on their command line, and by nothing broader): a
 * backup outlives a launcher killed with SIGKILL, and its files would be
 * written under a directory being removed.
 */
export async function stopPgbackrestProcesses(dataDirectory: string): Promise<void> {
  const marker = `--config=${path.join(dataDirectory, 'backup', 'pgbackrest.conf')}`;
  const ours = fs
    .readdirSync('/proc')
    .filter((name) => /^[0-9]+$/.test(name))
    .map(Number)
    .filter((pid) => processArguments(pid)?.includes(marker) === true);
  for (const pid of ours) signal(pid, 'SIGTERM');
  for (const pid of ours) if (!(await waitForExit(pid, LEFTOVER_STOP_TIMEOUT_MS))) signal(pid, 'SIGKILL');
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone meanwhile.
  }
}
