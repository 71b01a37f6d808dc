// Owns the database as the launcher sees it: one thing of one of three
// kinds, chosen once from the settings. `embedded`: the PostgreSQL the
// launcher runs itself (the default); `external`: the one DATABASE_URL names
// (and DATABASE_OWNER_URL, to apply sql/); `ha`: three PostgreSQL nodes under
// Patroni behind HAProxy (CREBITO_HA=on, ha/cluster.ts). Each answers the
// same questions: start, stop, the URL each party connects with, and what
// state.json records of it.

import pg from 'pg';
import type { SupervisionHooks } from './children.js';
import { embeddedPostgresLocation, superviseDatabase } from './children.js';
import type { LauncherConfig } from './config.js';
import { removeFallbackSocketDirectory } from './embedded-postgres.js';
import { HaCluster, systemUser } from './ha/cluster.js';
import { haBackups } from './backup/ha.js';
import { BackupSchedule, embeddedBackupPlan } from './backup/launcher.js';
import type { StackState } from './state.js';

export type DatabaseKind = 'embedded' | 'external' | 'ha';

/** What state.json records of the database. */
type DatabaseState = Pick<StackState, 'databaseMode' | 'postgres' | 'databaseNodes' | 'passwordsFile'>;

export interface StackDatabase {
  readonly kind: DatabaseKind;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** As the instances log in (crebito_api); undefined before the embedded server first started. */
  instanceUrl(): string | undefined;
  /** As the schema's owner, which applies sql/. */
  ownerUrl(): string | undefined;
  /**
   * For the tools that check the books and inject faults, as state.json
   * records it: the embedded server's superuser (no password: the socket's
   * directory guards it), or a URL without its password (the tools then take
   * it from PGPASSWORD, ~/.pgpass or, with HA, the passwords file).
   */
  toolsUrl(): string;
  /** The superuser's, password included, for the change stream's replication connection (events/); undefined for DATABASE_URL's server. */
  superuserUrl(): string | undefined;
  state(): DatabaseState;
  /**
   * Resolves once the start-up work that must precede requests is done: the
   * embedded server's first base backup, when its repository has none.
   */
  firstBackup(): Promise<void>;
}

// A new cluster's first backup takes a few seconds; one over a large existing
// database may take much longer, and the ledger then serves without waiting.
const FIRST_BACKUP_WAIT_MS = 60_000;

/** The promise's value, or undefined once ms have passed. */
/**
 * A backup ends by switching WAL segments, and a new cluster has no old
 * segment to recycle yet, so the next commit would create its segment: 16 MB
 * zero-filled and fsynced, under the first request. A forced checkpoint (next
 * to nothing to write right after the backup's own) writes its record there
 * instead, and recycles the segments the backup archived into the ones ahead,
 * before the public port opens. A failure only costs that first request.
 */
async function primeWalSegmentAt(url: string | undefined, log: SupervisionHooks['log']): Promise<void> {
  if (url === undefined) return;
  const client = new pg.Client({ connectionString: url, application_name: 'crebito-launcher' });
  try {
    await client.connect();
    await client.query('CHECKPOINT');
  } catch (error) {
    log.warn({ error: (error as Error).message }, 'could not prime the next WAL segment');
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export function databaseKindOf(config: Pick<LauncherConfig, 'databaseUrl' | 'ha'>): DatabaseKind {
  if (config.ha === 'on') return 'ha';
  return config.databaseUrl === undefined ? 'embedded' : 'external';
}

export function planDatabase(config: LauncherConfig, runDirectory: string, hooks: SupervisionHooks): StackDatabase {
  switch (databaseKindOf(config)) {
    case 'embedded':
      return embedded(config, runDirectory, hooks);
    case 'external':
      return external(config, hooks);
    case 'ha':
      return ha(config, hooks);
  }
}

function embedded(config: LauncherConfig, runDirectory: string, hooks: SupervisionHooks): StackDatabase {
  const location = embeddedPostgresLocation(config, runDirectory);
  // CREBITO_BACKUPS: archive settings for the server, then a schedule once it answers (backup/launcher.ts).
  const backup = embeddedBackupPlan(config, location, hooks.log);
  const supervised = superviseDatabase(config, runDirectory, hooks, backup);
  const schedule =
    backup === undefined
      ? undefined
      : new BackupSchedule({ ...backup, config, adminUrl: () => supervised.latest!.adminUrl, log: hooks.log });
  let scheduleStarted: Promise<boolean> = Promise.resolve(false);
  return {
    kind: 'embedded',
    async start() {
      await supervised.start();
      // In the background: backups that cannot start are loud (log, /ready's
      // degradado) and never keep the ledger from serving.
      scheduleStarted =
        schedule?.start().then(
          () => true,
          (error: unknown) => {
            hooks.log.error({ error: (error as Error).message }, 'BACKUPS COULD NOT START');
            return false;
          },
        ) ?? scheduleStarted;
    },
    // Until the first base backup exists, nothing acknowledged could be
    // restored, and that backup (an immediate checkpoint, then the whole
    // cluster read, compressed, encrypted and fsynced) would take cores and
    // the disk from the first requests: the stack waits for it, within a bound.
    async firstBackup() {
      const startedMs = Date.now();
      const settled = async () => (await scheduleStarted) && schedule!.firstBackupSettled(FIRST_BACKUP_WAIT_MS);
      const good = schedule === undefined ? true : await withinMs(settled(), FIRST_BACKUP_WAIT_MS);
      if (good === true && schedule !== undefined) await primeWalSegmentAt(supervised.latest?.adminUrl, hooks.log);
      if (good === true) return;
      hooks.log.error(
        { waitedMs: Date.now() - startedMs },
        'no base backup yet: serving WITHOUT one (a restore cannot recover what is acknowledged until one is taken)',
      );
    },
    async stop() {
      // First: a backup under way is stopped before the server it reads.
      await schedule?.stop();
      await supervised.stop();
      removeFallbackSocketDirectory(location);
    },
    instanceUrl: () => supervised.latest?.databaseUrl,
    ownerUrl: () => supervised.latest?.ownerUrl,
    toolsUrl: () => supervised.latest?.adminUrl ?? '',
    superuserUrl: () => supervised.latest?.adminUrl,
    state: () => {
      const postgres = supervised.latest;
      return {
        databaseMode: config.databaseMode,
        postgres: postgres === undefined ? null : { ...postgres.identity, dataDirectory: location.dataDirectory },
      };
    },
  };
}

function external(config: LauncherConfig, hooks: SupervisionHooks): StackDatabase {
  const instanceUrl = config.databaseUrl!;
  const ownerUrl = config.databaseOwnerUrl ?? instanceUrl;
  return {
    kind: 'external',
    start: async () => hooks.log.info('using the PostgreSQL at DATABASE_URL'),
    stop: async () => undefined,
    instanceUrl: () => instanceUrl,
    ownerUrl: () => ownerUrl,
    toolsUrl: () => withoutPassword(ownerUrl),
    superuserUrl: () => undefined,
    state: () => ({ databaseMode: null, postgres: null }),
    firstBackup: async () => undefined,
  };
}

function ha(config: LauncherConfig, hooks: SupervisionHooks): StackDatabase {
  // CREBITO_BACKUPS: each node archives when primary; backups from a standby (backup/ha.ts).
  const backups = haBackups(config, systemUser(), hooks.log);
  const cluster = new HaCluster({
    dataDirectory: config.dataDirectory,
    backend: config.haDcs,
    hooks,
    archiving: backups?.archiving,
  });
  const schedule = backups?.schedule(() => cluster.databaseUrl);
  return {
    kind: 'ha',
    async start() {
      await cluster.start();
      void schedule
        ?.start()
        .catch((error: unknown) => hooks.log.error({ error: (error as Error).message }, 'BACKUPS COULD NOT START'));
    },
    async stop() {
      await schedule?.stop();
      await cluster.stop();
    },
    instanceUrl: () => cluster.instanceUrl,
    ownerUrl: () => cluster.ownerUrl,
    // The HA nodes take passwords over TCP; the tools (checker, bench) need
    // the superuser's: state.json names the file that holds it.
    toolsUrl: () => withoutPassword(cluster.databaseUrl),
    superuserUrl: () => cluster.databaseUrl,
    // Not waited for: the first backup reads a standby, not the primary the first requests use, and a
    // host lost meanwhile loses nothing (synchronous replication); the status says when it exists.
    firstBackup: async () => undefined,
    state: () => ({
      databaseMode: config.databaseMode,
      postgres: null,
      databaseNodes: cluster.nodeStates(),
      passwordsFile: cluster.passwordsFile,
    }),
  };
}

/**
 * The URL with its password taken out, from the user part or a `password`
 * parameter. By pattern rather than by URL parsing: a socket URL such as
 * postgresql://crebito@/crebito?host=/run is no WHATWG URL.
 */
export function withoutPassword(url: string): string {
  return url
    .replace(/^([a-z]+:\/\/[^:/@]*):[^/]*@/i, '$1@')
    .replace(/([?&])password=[^&]*(&|$)/i, (_, before: string, after: string) => (after === '&' ? before : ''));
}
