// Owns what the launcher does for backups of the embedded database: the
// archive settings and key the server starts with, the stanza once it
// answers, a backup on a schedule, and every few seconds a status file that
// the instances read for /health and /metrics (how old the last good backup
// is, how old the last archived WAL segment is, whether archiving fails).
// Archiving that fails is loud (an error line, repeated while it lasts) and
// never stops the ledger: PostgreSQL keeps the WAL until it can be archived,
// and pgBackRest drops it from the archive past CREBITO_ARCHIVE_QUEUE_MAX_MB
// rather than let the disk fill.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { StackLog } from '../../shared/log.js';
import { SETTINGS } from '../../shared/settings.js';
import type { LauncherConfig } from '../config.js';
import { resolveRunAsUser, socketDirectoryFor, type EmbeddedPostgresOptions } from '../embedded-postgres.js';
import {
  archiveSettings,
  ensureStanza,
  keyEnvironment,
  planBackups,
  prepareBackups,
  readRepositoryInfo,
  takeBackup,
  type BackupEntry,
  type BackupPlan,
  type BackupType,
} from './pgbackrest.js';
import { BACKUP_STATUS_FILE, segmentsBetween, type BackupStatus } from '../../shared/backup-status.js';

const STATUS_INTERVAL_MS = 10_000;
const FAILING_LOG_INTERVAL_MS = 300_000;
const QUERY_TIMEOUT_MS = 5_000;

type Location = Pick<EmbeddedPostgresOptions, 'dataDirectory' | 'socketDirectory' | 'port'>;
export interface EmbeddedBackup {
  plan: BackupPlan;
  key: string;
}

/** The plan and key for the embedded server, or undefined when backups are off or the database is not ours. */
export function embeddedBackupPlan(
  config: LauncherConfig,
  location: Location,
  log: StackLog,
): EmbeddedBackup | undefined {
  if (config.backups === 'off' || config.databaseUrl !== undefined || config.ha === 'on') return undefined;
  // Archiving on with no archiver would keep every WAL segment until the disk fills.
  if (spawnSync('pgbackrest', ['version'], { encoding: 'utf8' }).status !== 0) {
    log.error(
      `${SETTINGS.backups.env}=on but pgbackrest is not installed (Debian/Ubuntu: apt-get install pgbackrest): running WITHOUT backups`,
    );
    return undefined;
  }
  const plan = planBackups(
    config,
    config.dataDirectory,
    { ...location, socketDirectory: socketDirectoryFor(location) },
    resolveRunAsUser(log),
  );
  return { plan, key: prepareBackups(plan) };
}

/** What the embedded server starts with when backups are on: archive_command and the key it needs. */
export function archivingOptions(
  backup: EmbeddedBackup | undefined,
): Pick<EmbeddedPostgresOptions, 'extraSettings' | 'extraEnvironment'> {
  if (backup === undefined) return {};
  return { extraSettings: archiveSettings(backup.plan), extraEnvironment: keyEnvironment(backup.key) };
}

/** Where the instances read the backup status: empty when there is none. */
export function backupStatusFileFor(config: LauncherConfig): string {
  if (config.backups === 'off' || config.databaseUrl !== undefined || config.ha === 'on') return '';
  return path.join(config.dataDirectory, 'run', BACKUP_STATUS_FILE);
}

interface ArchiverRow {
  archived_count: string;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: string;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
  current_wal: string;
}

async function readArchiver(adminUrl: string): Promise<ArchiverRow> {
  const client = new pg.Client({
    connectionString: adminUrl,
    statement_timeout: QUERY_TIMEOUT_MS,
    connectionTimeoutMillis: QUERY_TIMEOUT_MS,
  });
  await client.connect();
  try {
    const result = await client.query<ArchiverRow>(
      'SELECT a.*, pg_walfile_name(pg_current_wal_lsn()) AS current_wal FROM pg_stat_archiver a',
    );
    return result.rows[0]!;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The launcher's backups: the stanza, the schedule, the status file. stop() ends the timers (a running backup finishes
 * or fails on its own).
 */
export class BackupSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private backups: BackupEntry[] = [];
  private lastBackupError: BackupStatus['lastBackupError'] = null;
  private failingLoggedAtMs = 0;
  private readonly stopping = new AbortController();

  constructor(
    private readonly options: {
      plan: BackupPlan;
      key: string;
      config: LauncherConfig;
      adminUrl: () => string;
      log: StackLog;
    },
  ) {}

  async start(): Promise<void> {
    const { plan, key, log } = this.options;
    await ensureStanza(plan, key);
    this.backups = (await readRepositoryInfo(plan, key)).backups;
    if (this.stopping.signal.aborted) return;
    log.info(
      { repository: plan.repository, backups: this.backups.length },
      `backups on: WAL archived with pgBackRest to ${plan.repository}`,
    );
    this.timer = setInterval(() => void this.tick(), STATUS_INTERVAL_MS);
    this.timer.unref();
    await this.tick();
  }

  /**
   * Resolves once a good backup exists or the one under way has ended (failed
   * included), or after timeoutMs: true when a good backup exists then.
   * Call after start() has resolved.
   */
  async firstBackupSettled(timeoutMs: number): Promise<boolean> {
    const hasGood = () => this.backups.some((backup) => !backup.error);
    if (hasGood() || this.running === undefined) return hasGood();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([this.running, timeout]).finally(() => clearTimeout(timer));
    return hasGood();
  }

  /** Ends the timers and a backup under way (before the server stops under it), and waits for it to end. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stopping.abort();
    await this.running;
  }

  private async tick(): Promise<void> {
    const due = this.dueBackup(Date.now());
    if (due !== undefined && this.running === undefined && !this.stopping.signal.aborted)
      this.running = this.backup(due).finally(() => (this.running = undefined));
    await this.writeStatus().catch((error: unknown) =>
      this.options.log.warn({ error: (error as Error).message }, "could not read the archiver's state"),
    );
  }

  /** Full when there is none or the last full one is too old, incremental when the last backup is, else none. */
  private dueBackup(nowMs: number): BackupType | undefined {
    const good = this.backups.filter((backup) => !backup.error);
    const lastFull = good.filter((backup) => backup.type === 'full').at(-1);
    if (
      lastFull === undefined ||
      nowMs - lastFull.stoppedAt.getTime() >= this.options.config.backupFullIntervalS * 1000
    )
      return 'full';
    if (nowMs - good.at(-1)!.stoppedAt.getTime() >= this.options.config.backupIntervalS * 1000) return 'incr';
    return undefined;
  }

  private async backup(type: BackupType): Promise<void> {
    const { plan, key, log } = this.options;
    const startedMs = Date.now();
    try {
      await takeBackup(plan, key, type, this.stopping.signal);
      this.lastBackupError = null;
      log.info({ type, durationMs: Date.now() - startedMs }, `${type} backup taken`);
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      this.lastBackupError = { at: new Date().toISOString(), message: (error as Error).message.slice(0, 2000) };
      log.error(
        { type, error: this.lastBackupError.message },
        `${type} backup FAILED; the next try is in ${STATUS_INTERVAL_MS / 1000} s`,
      );
    }
    this.backups = (await readRepositoryInfo(plan, key).catch(() => ({ backups: this.backups }))).backups;
    // At once rather than at the next tick: the stack says "up" after its first backup, and /ready with it.
    await this.writeStatus().catch(() => undefined);
  }

  private async writeStatus(): Promise<void> {
    const archiver = await readArchiver(this.options.adminUrl());
    const lastGood = this.backups.filter((backup) => !backup.error).at(-1);
    const failing =
      archiver.last_failed_time !== null &&
      (archiver.last_archived_time === null || archiver.last_failed_time > archiver.last_archived_time);
    const status: BackupStatus = {
      updatedAt: new Date().toISOString(),
      repository: this.options.plan.repository,
      lastBackup:
        lastGood === undefined
          ? null
          : { label: lastGood.label, type: lastGood.type, stoppedAt: lastGood.stoppedAt.toISOString() },
      lastBackupError: this.lastBackupError,
      archive: {
        lastArchivedWal: archiver.last_archived_wal,
        lastArchivedAt: archiver.last_archived_time?.toISOString() ?? null,
        lastFailedWal: archiver.last_failed_wal,
        lastFailedAt: archiver.last_failed_time?.toISOString() ?? null,
        failedCount: Number(archiver.failed_count),
        failing,
        segmentsWaiting: segmentsBetween(archiver.last_archived_wal, archiver.current_wal),
      },
    };
    writeAtomically(path.join(this.options.config.dataDirectory, 'run', BACKUP_STATUS_FILE), JSON.stringify(status));
    this.logIfFailing(status);
  }

  private logIfFailing(status: BackupStatus): void {
    if (!status.archive.failing || Date.now() - this.failingLoggedAtMs < FAILING_LOG_INTERVAL_MS) return;
    this.failingLoggedAtMs = Date.now();
    this.options.log.error(
      { archive: status.archive, logs: path.join(this.options.plan.directory, 'log') },
      'WAL ARCHIVING IS FAILING: the ledger keeps running, but nothing written since the last archived ' +
        'segment can be recovered if this host is lost; see docs/backups.md',
    );
  }
}

function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, file);
}
