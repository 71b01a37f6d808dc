// The backup status the instances turn into /health fields, /ready's
// `degradado` and metrics: ages, and every reason an operator must act.

import { describe, expect, it } from 'vitest';
import {
  backupHealth,
  segmentsBetween,
  STATUS_STALE_AFTER_MS,
  type BackupStatus,
} from '../../src/shared/backup-status.js';

const NOW_MS = Date.parse('2026-12-06T03:00:00Z');

function status(overrides: Partial<BackupStatus['archive']> = {}, rest: Partial<BackupStatus> = {}): BackupStatus {
  return {
    updatedAt: '2026-12-06T02:59:55Z',
    repository: '/repo',
    lastBackup: { label: '20261206-020000F', type: 'full', stoppedAt: '2026-12-06T02:00:00Z' },
    lastBackupError: null,
    archive: {
      lastArchivedWal: '000000010000000000000005',
      lastArchivedAt: '2026-12-06T02:59:00Z',
      lastFailedWal: null,
      lastFailedAt: null,
      failedCount: 0,
      failing: false,
      segmentsWaiting: 0,
      ...overrides,
    },
    ...rest,
  };
}

describe('backup health', () => {
  it('gives the ages in seconds and no reason when all is well', () => {
    expect(backupHealth(status(), NOW_MS)).toEqual({
      lastBackupAgeS: 3600,
      lastArchivedWalAgeS: 60,
      archiveFailing: false,
      archiveFailedCount: 0,
      walSegmentsWaiting: 0,
      degraded: [],
    });
  });

  it('is degraded: archiving failing, no backup, a failed backup, a launcher that stopped writing', () => {
    expect(
      backupHealth(
        status({
          failing: true,
          lastFailedAt: '2026-12-06T02:59:30Z',
          lastFailedWal: '000000010000000000000006',
          failedCount: 3,
        }),
        NOW_MS,
      ).degraded,
    ).toEqual(['WAL archiving failing since 2026-12-06T02:59:30Z (segment 000000010000000000000006)']);
    expect(backupHealth(status({}, { lastBackup: null }), NOW_MS)).toMatchObject({
      lastBackupAgeS: null,
      degraded: ['no backup yet'],
    });
    expect(
      backupHealth(status({}, { lastBackupError: { at: '2026-12-06T02:30:00Z', message: 'x' } }), NOW_MS).degraded,
    ).toEqual(['last backup failed at 2026-12-06T02:30:00Z']);
    expect(backupHealth(status(), NOW_MS + STATUS_STALE_AFTER_MS).degraded).toHaveLength(1);
    expect(backupHealth(undefined, NOW_MS).degraded).toEqual(['no backup status from the launcher yet']);
  });

  it('counts the whole segments not archived yet, across a log file boundary, and none on another timeline', () => {
    expect(segmentsBetween('000000010000000000000005', '000000010000000000000006')).toBe(0);
    expect(segmentsBetween('000000010000000000000005', '000000010000000000000009')).toBe(3);
    expect(segmentsBetween('0000000100000000000000FE', '000000010000000100000001')).toBe(2);
    expect(segmentsBetween('000000010000000000000005', '000000020000000000000009')).toBe(0);
    expect(segmentsBetween(null, '000000010000000000000003')).toBe(2);
  });
});
