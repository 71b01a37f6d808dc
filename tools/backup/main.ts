// `npm run backup`, `npm run backups` and `npm run restore`: the operator's
// side of the embedded database's backups (docs/backups.md). They read the
// same settings as `npm start` (CREBITO_DATA_DIR, CREBITO_BACKUP_REPO,
// CREBITO_BACKUP_KEY_FILE, ...), so they find the repository the launcher
// archives to.
//
//   npm run backup                                   # incremental (full when there is none)
//   npm run backup -- --type full                    # full, incr or diff
//   npm run backups                                  # each backup, its size and what it recovers to
//   npm run restore -- --to 2026-12-06T02:40:00Z --into /srv/crebito-restored
//   npm run restore -- --to latest --into /srv/crebito-restored
//   CREBITO_DATA_DIR=/srv/crebito-restored npm start

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLog } from '../../src/shared/log.js';
import { embeddedPostgresLocation } from '../../src/stack/children.js';
import { readLauncherConfig } from '../../src/stack/config.js';
import { resolveRunAsUser, socketDirectoryFor } from '../../src/stack/embedded-postgres.js';
import {
  planBackups,
  prepareBackups,
  readRepositoryInfo,
  STANZA,
  takeBackup,
  type BackupPlan,
  type BackupType,
} from '../../src/stack/backup/pgbackrest.js';
import { restore } from '../../src/stack/backup/restore.js';
import { backupSourceArgs, planHaBackups } from '../../src/stack/backup/ha.js';
import { systemUser } from '../../src/stack/ha/cluster.js';

const BACKUP_TYPES: readonly BackupType[] = ['full', 'incr', 'diff'];
const RECOVERY_TIMEOUT_MS = 6 * 3_600_000;
const MIB = 1024 * 1024;

function backupPlan(): { plan: BackupPlan; key: string; port: number } {
  const config = readLauncherConfig(process.env);
  if (config.ha === 'on') {
    // The HA nodes' repository (backup/ha.ts); a restore of it is a plain single server.
    const plan = planHaBackups(config, systemUser());
    return { plan, key: prepareBackups(plan), port: config.embeddedPostgresPort };
  }
  const location = embeddedPostgresLocation(config, path.join(config.dataDirectory, 'run'));
  const log = createLog({ program: 'stack', name: 'backup', level: 'warn' });
  const plan = planBackups(
    config,
    config.dataDirectory,
    { ...location, socketDirectory: socketDirectoryFor(location) },
    resolveRunAsUser(log),
  );
  return { plan, key: prepareBackups(plan), port: config.embeddedPostgresPort };
}

async function backup(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { type: { type: 'string', default: 'incr' } } });
  const type = BACKUP_TYPES.find((known) => known === values.type);
  if (type === undefined) throw new Error(`--type is ${BACKUP_TYPES.join(', ')}; got ${values.type}`);
  const { plan, key } = backupPlan();
  const startedMs = performance.now();
  // pgBackRest takes a full backup when asked for an incremental one with none to build on.
  await takeBackup(plan, key, type, undefined, plan.haNodes === undefined ? [] : await backupSourceArgs(plan));
  const newest = (await readRepositoryInfo(plan, key)).backups.at(-1);
  console.log(
    `backup ${newest?.label ?? '?'} (${newest?.type ?? type}) taken in ${((performance.now() - startedMs) / 1000).toFixed(1)} s into ${plan.repository}`,
  );
}

/**
 * When the newest archived segment reached the repository: the latest instant a restore can reach, give or take one
 * segment.
 */
function archivedAt(plan: BackupPlan, segment: string | undefined): string {
  if (segment === undefined) return 'nothing archived yet';
  const archive = path.join(plan.repository, 'archive', STANZA);
  for (const version of fs.readdirSync(archive)) {
    const directory = path.join(archive, version, segment.slice(0, 16));
    const file = fs.existsSync(directory)
      ? fs.readdirSync(directory).find((name) => name.startsWith(segment))
      : undefined;
    if (file !== undefined)
      return `${segment}, archived ${fs.statSync(path.join(directory, file)).mtime.toISOString()}`;
  }
  return segment;
}

async function list(): Promise<void> {
  const { plan, key } = backupPlan();
  const info = await readRepositoryInfo(plan, key);
  console.log(
    `repository ${plan.repository} (encrypted, aes-256-cbc); WAL archived ${info.archiveMin ?? '-'} to ${archivedAt(plan, info.archiveMax)}`,
  );
  if (info.backups.length === 0) console.log('no backups yet: npm run backup -- --type full');
  for (const entry of info.backups) {
    console.log(
      [
        entry.label.padEnd(26),
        entry.type.padEnd(4),
        `${entry.startedAt.toISOString()} .. ${entry.stoppedAt.toISOString()}`,
        `database ${(entry.sizeBytes / MIB).toFixed(1)} MiB, stored ${(entry.repositoryBytes / MIB).toFixed(1)} MiB`,
        `WAL ${entry.walStart}..${entry.walStop}`,
        entry.error
          ? 'ERROR (not usable)'
          : `recovers to any time from ${entry.stoppedAt.toISOString()} to the end of the archive`,
      ].join('  '),
    );
  }
}

async function restoreCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' }, into: { type: 'string' } } });
  if (values.to === undefined || values.into === undefined)
    throw new Error('usage: npm run restore -- --to <ISO time>|latest --into <new data directory>');
  const to = values.to === 'latest' ? 'latest' : new Date(values.to);
  if (to !== 'latest' && (Number.isNaN(to.getTime()) || !/(Z|[+-]\d\d:?\d\d)$/.test(values.to))) {
    throw new Error(`--to must be an ISO time with its zone (2026-12-06T02:40:00Z) or latest; got ${values.to}`);
  }
  const { plan, key, port } = backupPlan();
  const result = await restore(plan, key, { to, into: values.into, port, recoveryTimeoutMs: RECOVERY_TIMEOUT_MS });
  console.log(JSON.stringify(result));
  console.log(
    `restored ${to === 'latest' ? 'to the end of the archive' : `to ${to.toISOString()}`} from backup ` +
      `set ${result.backupSet ?? '?'}; last transaction replayed at ` +
      `${result.lastReplayedAt ?? '(none after the backup)'}`,
  );
  console.log(`serve it with: CREBITO_DATA_DIR=${result.dataDirectory} npm start`);
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'backup') await backup(args);
  else if (command === 'list') await list();
  else if (command === 'restore') await restoreCommand(args);
  else throw new Error('usage: backup.js backup|list|restore');
}

main().catch((error: unknown) => {
  console.error(`[crebito] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
