// Owns the backup status the launcher writes every few seconds
// (src/stack/backup/launcher.ts) and the instances read for /health,
// /ready's body and /metrics: a file, so that an instance's probes stay
// free of database calls and of pgBackRest.

import fs from 'node:fs';

export const BACKUP_STATUS_FILE = 'backup-status.json';
/** A status older than this means the launcher stopped writing it: reported as stale, itself a reason to look. */
export const STATUS_STALE_AFTER_MS = 60_000;
const READ_CACHE_MS = 1_000;
const SEGMENTS_PER_LOG_FILE = 0x100;

export interface BackupStatus {
  updatedAt: string;
  repository: string;
  lastBackup: { label: string; type: string; stoppedAt: string } | null;
  lastBackupError: { at: string; message: string } | null;
  archive: {
    lastArchivedWal: string | null;
    lastArchivedAt: string | null;
    lastFailedWal: string | null;
    lastFailedAt: string | null;
    failedCount: number;
    /** The last attempt failed after the last success. */
    failing: boolean;
    /** Whole WAL segments written and not archived yet (the one being written is not counted). */
    segmentsWaiting: number;
  };
}

/**
 * Whole segments between the last archived WAL file and the one being
 * written, from their names (timeline, log, segment; 16 MB segments). On a
 * new timeline the count starts again: 0.
 */
export function segmentsBetween(lastArchived: string | null, current: string): number {
  const number = (name: string) =>
    Number.parseInt(name.slice(8, 16), 16) * SEGMENTS_PER_LOG_FILE + Number.parseInt(name.slice(16, 24), 16);
  // A new cluster's first segment is number 1.
  if (lastArchived === null) return Math.max(0, number(current) - 1);
  if (lastArchived.length < 24 || lastArchived.slice(0, 8) !== current.slice(0, 8)) return 0;
  return Math.max(0, number(current) - number(lastArchived) - 1);
}

/**
 * What /health shows and /metrics exports: ages in seconds (null: never), and why backups are degraded, if they are.
 */
export interface BackupHealth {
  lastBackupAgeS: number | null;
  lastArchivedWalAgeS: number | null;
  archiveFailing: boolean;
  archiveFailedCount: number;
  walSegmentsWaiting: number;
  degraded: string[];
}

function ageS(iso: string | null | undefined, nowMs: number): number | null {
  return iso === null || iso === undefined ? null : Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
}

export function backupHealth(status: BackupStatus | undefined, nowMs: number): BackupHealth {
  if (status === undefined) {
    return {
      lastBackupAgeS: null,
      lastArchivedWalAgeS: null,
      archiveFailing: false,
      archiveFailedCount: 0,
      walSegmentsWaiting: 0,
      degraded: ['no backup status from the launcher yet'],
    };
  }
  const degraded: string[] = [];
  if (nowMs - Date.parse(status.updatedAt) > STATUS_STALE_AFTER_MS)
    degraded.push(`backup status not updated since ${status.updatedAt}`);
  if (status.archive.failing)
    degraded.push(
      `WAL archiving failing since ${status.archive.lastFailedAt} (segment ${status.archive.lastFailedWal})`,
    );
  if (status.lastBackup === null) degraded.push('no backup yet');
  if (status.lastBackupError !== null) degraded.push(`last backup failed at ${status.lastBackupError.at}`);
  return {
    lastBackupAgeS: ageS(status.lastBackup?.stoppedAt, nowMs),
    lastArchivedWalAgeS: ageS(status.archive.lastArchivedAt, nowMs),
    archiveFailing: status.archive.failing,
    archiveFailedCount: status.archive.failedCount,
    walSegmentsWaiting: status.archive.segmentsWaiting,
    degraded,
  };
}

/** Reads the status file at most once a second; undefined when it is missing or unreadable. */
export function backupStatusReader(file: string): () => BackupStatus | undefined {
  let readAtMs = -Infinity;
  let last: BackupStatus | undefined;
  return () => {
    const nowMs = Date.now();
    if (nowMs - readAtMs < READ_CACHE_MS) return last;
    readAtMs = nowMs;
    try {
      last = JSON.parse(fs.readFileSync(file, 'utf8')) as BackupStatus;
    } catch {
      last = undefined;
    }
    return last;
  };
}
