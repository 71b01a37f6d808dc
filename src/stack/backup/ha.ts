// Owns backups of the HA profile (CREBITO_HA=on): one pgBackRest stanza whose
// pg1, pg2, pg3 are the Patroni nodes. pgBackRest runs in the launcher's
// namespace and reaches every node by paths (its unix socket directory and
// its data directory, on the one file system), so no SSH and no repository
// host. Here: the repository plan; what each node's PostgreSQL is started
// with (its own socket, archive_command with its own spool, lock and log);
// whether a standby streams (backups are taken from it when one does); and
// the WAL a new primary pushes after a failover, which closes the gap
// archive_mode=on leaves (below).
//
// archive_mode is `on`, not `always`: pgBackRest 2.45 refuses backups from a
// cluster set to `always` ("archive_mode=always not supported") and has no
// lock that makes two nodes pushing the same segment into one repository
// safe. So only the primary archives. A standby marks each streamed segment
// done and never archives it, even after it is promoted (PostgreSQL's own
// rule), so segments the old primary finished but had not yet pushed when it
// died would be missing from the archive, and a restore to latest would stop
// before them, silently, together with everything the new primary wrote
// after. The launcher closes that gap: when it sees a new primary, it pushes
// every complete segment of the earlier timelines still in that node's
// pg_wal (wal_keep_size keeps 512 MB). Segments already archived with the
// same contents are skipped by pgBackRest; one archived with different
// contents is refused, loudly: two primaries wrote the same segment, which
// is what a split brain would do.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { StackLog } from '../../shared/log.js';
import { SETTINGS } from '../../shared/settings.js';
import type { LauncherConfig } from '../config.js';
import type { HaOptions } from '../ha/cluster.js';
import type { NodeArchiving } from '../ha/patroni.js';
import { socketDirectoryFor } from '../embedded-postgres.js';
import { planNetwork } from '../ha/network.js';
import {
  configurationText,
  ensureOwnedDirectory,
  keyEnvironment,
  planBackups,
  prepareBackups,
  runPgbackrest,
  STANZA,
  type BackupPlan,
  type HaNodeLocation,
} from './pgbackrest.js';
import { BackupSchedule } from './launcher.js';

type HaArchiving = NonNullable<HaOptions['archiving']>;

const HA_SUPERUSER = 'postgres';
const HA_PORT = 5432;
const QUERY_TIMEOUT_MS = 3_000;
// wal_keep_size (512 MB) of 16 MB segments, with room: what a new primary can still hold of the old timeline.
const GAP_SEGMENTS_MAX = 64;
const SEGMENT_NAME = /^[0-9A-F]{24}$/;

export interface HaBackup {
  plan: BackupPlan;
  key: string;
}

/** Where a node lives, as ha/cluster.ts lays it out under <data>/ha/nodes. */
export function haNodeLocations(dataDirectory: string): HaNodeLocation[] {
  const nodes = path.join(dataDirectory, 'ha', 'nodes');
  return planNetwork(dataDirectory).nodes.map(({ node }) => {
    const nodeData = path.join(nodes, node);
    return {
      name: node,
      dataDirectory: nodeData,
      socketDirectory: socketDirectoryFor({
        socketDirectory: path.join(nodes, `${node}-socket`),
        dataDirectory: nodeData,
        port: HA_PORT,
      }),
    };
  });
}

/** The plan for the HA nodes; it runs pgBackRest as the nodes' OS user. */
export function planHaBackups(config: LauncherConfig, runAs: { uid: number; gid: number }): BackupPlan {
  const nodes = haNodeLocations(config.dataDirectory);
  const plan = planBackups(
    config,
    config.dataDirectory,
    { dataDirectory: nodes[0]!.dataDirectory, socketDirectory: nodes[0]!.socketDirectory, port: HA_PORT },
    runAs,
  );
  return { ...plan, superuser: HA_SUPERUSER, haNodes: nodes };
}

/** The plan and key for the HA nodes, or undefined when backups are off (or pgBackRest is missing: loud). */
export function haBackupPlan(
  config: LauncherConfig,
  runAs: { uid: number; gid: number },
  log: StackLog,
): HaBackup | undefined {
  if (config.backups === 'off' || config.ha !== 'on') return undefined;
  if (spawnSync('pgbackrest', ['version'], { encoding: 'utf8' }).status !== 0) {
    log.error(
      `${SETTINGS.backups.env}=on but pgbackrest is not installed (Debian/Ubuntu: apt-get install pgbackrest): the HA nodes run WITHOUT backups`,
    );
    return undefined;
  }
  const plan = planHaBackups(config, runAs);
  return { plan, key: prepareBackups(plan) };
}

const nodeDirectory = (plan: BackupPlan, node: HaNodeLocation) => path.join(plan.directory, 'nodes', node.name);
export const nodeConfigFile = (plan: BackupPlan, node: HaNodeLocation) =>
  path.join(nodeDirectory(plan, node), 'pgbackrest.conf');

/**
 * What one node's PostgreSQL runs with (Patroni's parameters): its own unix
 * socket directory, for pgBackRest; and archive_command with a configuration
 * of its own, whose pg1 is this node and whose spool, lock and log are its
 * own, so that the asynchronous push of one node never reads another's queue.
 * And the stanza, made by Patroni's post_bootstrap on the node that runs
 * initdb: the first segment is closed when the standbys take their base
 * backups, before the launcher's schedule (which makes the stanza too, for a
 * cluster made before) starts, and without a stanza its push failed (logged
 * as archiving failing on every new cluster). Never fails the bootstrap:
 * archiving then fails loudly instead, and the launcher tries the stanza again.
 */
export function nodeArchiving(plan: BackupPlan, node: HaNodeLocation): NodeArchiving {
  const directory = nodeDirectory(plan, node);
  ensureOwnedDirectory(path.dirname(directory), plan.runAs);
  for (const sub of ['', 'log', 'lock', 'spool']) ensureOwnedDirectory(path.join(directory, sub), plan.runAs);
  ensureOwnedDirectory(node.socketDirectory, plan.runAs);
  const stanza = [
    `pg1-path=${node.dataDirectory}`,
    `pg1-socket-path=${node.socketDirectory}`,
    `pg1-port=${plan.port}`,
    `pg1-user=${plan.superuser}`,
  ];
  const file = nodeConfigFile(plan, node);
  fs.writeFileSync(file, configurationText(plan, { stanza, directory }), { mode: 0o600 });
  if (plan.runAs !== undefined) fs.chownSync(file, plan.runAs.uid, plan.runAs.gid);
  const pgbackrest = `pgbackrest --config=${file} --stanza=${STANZA}`;
  return {
    parameters: {
      unix_socket_directories: node.socketDirectory,
      archive_mode: 'on',
      archive_command: `${pgbackrest} archive-push %p`,
      archive_timeout: `${plan.archiveTimeoutS}s`,
    },
    // Patroni adds the connection string as the last argument: sh's $0 here, unused.
    postBootstrap: `sh -c '${pgbackrest} stanza-create || true'`,
  };
}

/** The key the nodes' archive_command needs, in Patroni's environment (which PostgreSQL inherits). */
export const nodeEnvironment = (backup: HaBackup) => keyEnvironment(backup.key);

async function query<T extends pg.QueryResultRow>(node: HaNodeLocation, text: string): Promise<T[] | undefined> {
  const client = new pg.Client({
    host: node.socketDirectory,
    port: HA_PORT,
    user: HA_SUPERUSER,
    database: 'postgres',
    statement_timeout: QUERY_TIMEOUT_MS,
    connectionTimeoutMillis: QUERY_TIMEOUT_MS,
  });
  try {
    await client.connect();
    return (await client.query<T>(text)).rows;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether some node is a standby streaming from the primary: then a backup reads it instead of the primary. */
export async function standbyStreams(plan: BackupPlan): Promise<boolean> {
  const answers = await Promise.all(
    (plan.haNodes ?? []).map((node) =>
      query<{ streaming: boolean }>(
        node,
        "SELECT pg_is_in_recovery() AND EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming",
      ),
    ),
  );
  return answers.some((rows) => rows?.[0]?.streaming === true);
}

/** pgBackRest's options for a backup now: from a standby when one streams, else from the primary. */
export async function backupSourceArgs(plan: BackupPlan): Promise<string[]> {
  return (await standbyStreams(plan)) ? ['--backup-standby'] : ['--no-backup-standby'];
}

/** Which node is primary now, asked of the nodes themselves; undefined while none answers as one. */
export async function primaryNode(plan: BackupPlan): Promise<HaNodeLocation | undefined> {
  for (const node of plan.haNodes ?? []) {
    const rows = await query<{ recovering: boolean }>(node, 'SELECT pg_is_in_recovery() AS recovering');
    if (rows?.[0]?.recovering === false) return node;
  }
  return undefined;
}

/** The complete segments of earlier timelines in a primary's pg_wal: those a promotion leaves unarchived. */
export function earlierTimelineSegments(walFiles: string[]): string[] {
  const segments = walFiles.filter((name) => SEGMENT_NAME.test(name)).sort();
  const timeline = segments.at(-1)?.slice(0, 8);
  return segments.filter((name) => name.slice(0, 8) !== timeline).slice(-GAP_SEGMENTS_MAX);
}

export interface GapFill {
  pushed: number;
  /** Segments pgBackRest refused: archived already with other contents. */
  refused: string[];
}

/**
 * After a failover: pushes the new primary's segments of earlier timelines
 * (synchronously, through the node's own configuration). Already archived:
 * pgBackRest checks the checksum and moves on.
 */
export async function fillArchiveGap(backup: HaBackup, node: HaNodeLocation, log: StackLog): Promise<GapFill> {
  const walDirectory = path.join(node.dataDirectory, 'pg_wal');
  const segments = earlierTimelineSegments(fs.readdirSync(walDirectory));
  const config = { ...backup.plan, configFile: nodeConfigFile(backup.plan, node) };
  const refused: string[] = [];
  for (const segment of segments) {
    const result = await runPgbackrest(config, backup.key, [
      '--no-archive-async',
      'archive-push',
      path.join(walDirectory, segment),
    ]);
    if (result.code === 0) continue;
    refused.push(segment);
    log.error(
      { node: node.name, segment, pgbackrest: (result.stderr || result.stdout).trim().slice(0, 2000) },
      `WAL segment ${segment} on the new primary ${node.name} was NOT archived: if pgBackRest says it exists ` +
        'with a different checksum, two primaries wrote the same segment (a split brain); see docs/backups.md',
    );
  }
  return { pushed: segments.length - refused.length, refused };
}

/** A tick for the schedule: when the primary changed since the last tick, closes the archive's gap from the new one. */
export function archiveGapWatch(backup: HaBackup, log: StackLog): () => Promise<void> {
  let lastPrimary: string | undefined;
  return async () => {
    const primary = await primaryNode(backup.plan);
    if (primary === undefined) return;
    const previous = lastPrimary;
    lastPrimary = primary.name;
    if (previous === undefined || previous === primary.name) return;
    const filled = await fillArchiveGap(backup, primary, log);
    log.info(
      { from: previous, to: primary.name, ...filled },
      `new primary ${primary.name}: pushed its ${filled.pushed} segments of earlier timelines (already archived ones are skipped)`,
    );
  };
}

/** What the HA cluster needs from backups: each node's archiving, and the schedule once the cluster serves. */
export function haBackups(
  config: LauncherConfig,
  runAs: { uid: number; gid: number },
  log: StackLog,
): { archiving: HaArchiving; schedule: (adminUrl: () => string) => BackupSchedule } | undefined {
  const backup = haBackupPlan(config, runAs, log);
  if (backup === undefined) return undefined;
  const nodes = backup.plan.haNodes!;
  return {
    archiving: {
      forNode: (name) =>
        nodeArchiving(
          backup.plan,
          nodes.find((node) => node.name === name)!,
        ),
      environment: nodeEnvironment(backup),
    },
    schedule: (adminUrl) =>
      new BackupSchedule({
        ...backup,
        config,
        adminUrl,
        log,
        backupArgs: () => backupSourceArgs(backup.plan),
        onTick: archiveGapWatch(backup, log),
      }),
  };
}
